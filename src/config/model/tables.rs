//! Stick tables (HAProxy 2.6 configuration manual, `stick-table` in section
//! 4.2 and 7.3.3's `sc_*`/`src_*` fetches): a table's key and the data it
//! stores, and what rules and fetches name in them.

use std::time::Duration;

use super::Location;

/// What a table is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKey {
    Ip,
    Ipv6,
    Integer,
    /// Strings of at most this many bytes (HAProxy's `len`, default 32).
    String(usize),
    /// Binary keys of exactly this many bytes (padded with zeros).
    Binary(usize),
}

impl TableKey {
    /// HAProxy's name in `show table`.
    pub fn name(self) -> &'static str {
        match self {
            TableKey::Ip => "ip",
            TableKey::Ipv6 => "ipv6",
            TableKey::Integer => "integer",
            TableKey::String(_) => "string",
            TableKey::Binary(_) => "binary",
        }
    }
}

/// One kind of data a table stores (`store`), in HAProxy's order, which
/// `show table` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataType {
    ServerId,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    ServerKey,
    HttpFailCnt,
    HttpFailRate,
    /// Arrays (`gpt(N)`, `gpc(N)`, `gpc_rate(N,period)`, HAProxy 2.6):
    /// distinct from `gpt0`, `gpc0`, `gpc1` and their rates.
    Gpt,
    Gpc,
    GpcRate,
}

/// Every data type with its name, in HAProxy's order.
pub const DATA_TYPES: &[(&str, DataType)] = &[
    ("server_id", DataType::ServerId),
    ("gpt0", DataType::Gpt0),
    ("gpc0", DataType::Gpc0),
    ("gpc0_rate", DataType::Gpc0Rate),
    ("conn_cnt", DataType::ConnCnt),
    ("conn_rate", DataType::ConnRate),
    ("conn_cur", DataType::ConnCur),
    ("sess_cnt", DataType::SessCnt),
    ("sess_rate", DataType::SessRate),
    ("http_req_cnt", DataType::HttpReqCnt),
    ("http_req_rate", DataType::HttpReqRate),
    ("http_err_cnt", DataType::HttpErrCnt),
    ("http_err_rate", DataType::HttpErrRate),
    ("bytes_in_cnt", DataType::BytesInCnt),
    ("bytes_in_rate", DataType::BytesInRate),
    ("bytes_out_cnt", DataType::BytesOutCnt),
    ("bytes_out_rate", DataType::BytesOutRate),
    ("gpc1", DataType::Gpc1),
    ("gpc1_rate", DataType::Gpc1Rate),
    ("server_key", DataType::ServerKey),
    ("http_fail_cnt", DataType::HttpFailCnt),
    ("http_fail_rate", DataType::HttpFailRate),
    ("gpt", DataType::Gpt),
    ("gpc", DataType::Gpc),
    ("gpc_rate", DataType::GpcRate),
];

impl DataType {
    pub fn name(self) -> &'static str {
        DATA_TYPES
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether it is a rate (stored with its period).
    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }

    /// Whether it is an array (its element count given in `store`).
    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }
}

/// A `stick-table` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickTable {
    /// The proxy that declares it.
    pub name: String,
    pub location: Location,
    pub key: TableKey,
    pub size: usize,
    pub expire: Option<Duration>,
    pub nopurge: bool,
    /// What it stores, in HAProxy's order; rates with their period.
    pub store: Vec<(DataType, Option<Duration>)>,
    /// The element count of each array type in `store` (HAProxy's
    /// `data_nbelem`, 1 to 100).
    pub arrays: Vec<(DataType, usize)>,
    /// `srvkey`: what `stick` rules store to find their server again.
    pub srvkey: SrvKey,
    /// `peers NAME`: the peers section that shares it (`None`: kept to
    /// this process).
    pub peers: Option<String>,
    /// The name peers know it by: the proxy's name, or for a `table`
    /// line of a peers section `/TABLE` (its `name` is then
    /// `SECTION/TABLE`; HAProxy's `id` and `nid`, so that HAProxy peers
    /// find the table).
    pub sync_name: String,
}

impl StickTable {
    /// Elements of `t` in an entry: its array length, 1 for a scalar.
    pub fn elems(&self, t: DataType) -> usize {
        self.arrays
            .iter()
            .find(|(a, _)| *a == t)
            .map_or(1, |(_, n)| *n)
    }
}

/// The number of a table in [`Config::tables`](super::Config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableId(pub usize);

/// A table named by a rule or fetch (`table NAME`, or the proxy's own),
/// resolved after every section is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Empty: the table of the proxy the line is in.
    pub name: String,
    pub id: Option<TableId>,
}

/// The number of the stick counters (`track-sc0` to `track-sc2`; HAProxy's
/// `tune.stick-counters` default).
pub const STICK_COUNTERS: usize = 3;

/// `stick-table ... srvkey name|addr`: a stuck server is found by its
/// name (the default) or by its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrvKey {
    #[default]
    Name,
    Addr,
}
