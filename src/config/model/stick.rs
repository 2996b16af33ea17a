//! What the stick-table fetches and converters do with an entry (HAProxy
//! 2.6 configuration manual, 7.3.1's `table_*` and `in_table`, 7.3.2's
//! `table_cnt`/`table_avl`, 7.3.3's `sc*_`/`src_`): read a datum, count,
//! clear. The fetch or converter names the entry (a stick counter, the
//! client's address, the input sample); this says what is done there.

use super::DataType;

/// What a `scN_*`, `sc_*(N)` or `src_*` fetch does with its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickOp {
    /// Reads element `idx` of a datum (0 for a scalar). `gpt0`, `gpc0`,
    /// `gpc1` and their rates read element 0 or 1 of the arrays when the
    /// table does not store them (HAProxy 2.6's fallback).
    Get(DataType, usize),
    /// `kbytes_in` / `kbytes_out`: `bytes_in_cnt` / `bytes_out_cnt` in
    /// units of 1024 bytes.
    Kbytes(DataType),
    /// `trackers`: the sessions tracking the entry now.
    Trackers,
    /// `inc_gpc0`, `inc_gpc1`, `inc_gpc(IDX)`: one more on the counter
    /// and its rate (`gpc0` / `gpc1` / `gpc`, with the fallback of
    /// [`StickOp::Get`]); `src_` makes the entry.
    IncGpc(DataType, usize),
    /// `clr_gpc0`, `clr_gpc1`, `clr_gpc(IDX)`: the counter back to 0, its
    /// value before as the result.
    ClrGpc(DataType, usize),
    /// `src_updt_conn_cnt`: one more connection counted (`conn_cnt`)
    /// without tracking the entry.
    UpdtConnCnt,
}

/// What a `table_*` converter or `in_table` answers for the entry of
/// its input sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableConv {
    /// `in_table`: whether the key is stored.
    InTable,
    /// `table_conn_cnt`, `table_gpc(IDX)`...: a datum, as [`StickOp::Get`].
    Get(DataType, usize),
    /// `table_kbytes_in` / `table_kbytes_out`.
    Kbytes(DataType),
    /// `table_trackers`: the sessions tracking the entry, plus one (HAProxy
    /// 2.6 counts the converter's own reference).
    Trackers,
    /// `table_expire([default])`: ms before the entry expires.
    Expire(Option<i64>),
    /// `table_idle([default])`: ms since the entry was last updated.
    Idle(Option<i64>),
}

/// `table_cnt` / `table_avl`: entries used, places left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCount {
    Used,
    Available,
}
