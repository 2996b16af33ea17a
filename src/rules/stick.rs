//! The stick-table fetches and converters evaluated: which entry a
//! `scN_*` / `sc_*(N)` / `src_*` fetch or a `table_*` converter names,
//! and what it answers there, following HAProxy 2.6's
//! `smp_fetch_sc_stkctr` and `sample_conv_table_*`:
//!
//! - a stick counter that tracks nothing: no value;
//! - a key the table does not hold: 0 (an increment or a clear through
//!   `src_` makes the entry first);
//! - a datum the table does not store: no value.

use std::sync::Arc;

use super::Sample;
use super::eval::{Engine, Facts};
use super::table::{Entry, Key, Table};
use crate::base::clock::now_ms;
use crate::config::{Fetch, StickOp, TableConv, TableCount, TableRef};

/// The entry a fetch names, or the table it is missing from (with the
/// key `src_` fetches may make it with).
enum Place<'a> {
    Found(&'a Table, Arc<Entry>),
    Absent(&'a Table, Option<Key>),
}

impl Engine {
    /// A `Fetch::Sc`, `Fetch::SrcData` or `Fetch::TableCount`.
    pub(super) fn stick_fetch(&self, fetch: &Fetch, f: &dyn Facts) -> Option<i64> {
        let (op, place) = match fetch {
            Fetch::Sc {
                counter,
                data,
                table,
            } => {
                let tracked = f.tracked(*counter)?;
                let place = match table {
                    // Another table: the tracked key looked up there.
                    Some(r) => {
                        let other = self.table(r)?;
                        match other.get(&tracked.entry().key) {
                            Some(e) => Place::Found(other, e),
                            None => Place::Absent(other, None),
                        }
                    }
                    None => Place::Found(tracked.table(), tracked.entry().clone()),
                };
                (*data, place)
            }
            Fetch::SrcData { data, table } => {
                let t = self.table(table)?;
                let key = t.key(&Sample::Ip(f.src()?.ip()))?;
                let place = match t.get(&key) {
                    Some(e) => Place::Found(t, e),
                    None => Place::Absent(t, Some(key)),
                };
                (*data, place)
            }
            Fetch::TableCount(c, table) => {
                let t = self.table(table)?;
                let used = t.live();
                return Some(match c {
                    TableCount::Used => used,
                    TableCount::Available => t.config.size.saturating_sub(used),
                } as i64);
            }
            _ => return None,
        };
        match (op, place) {
            (StickOp::Get(d, i), Place::Found(t, e)) => t.get_value(&e, d, i),
            (StickOp::Kbytes(d), Place::Found(t, e)) => t.kbytes(&e, d),
            (StickOp::Trackers, Place::Found(_, e)) => Some(Table::trackers(&e)),
            (StickOp::Get(..) | StickOp::Kbytes(_) | StickOp::Trackers, Place::Absent(..)) => {
                Some(0)
            }
            (StickOp::IncGpc(d, i), place) => match made(place) {
                Some((t, e)) => Some(t.inc_gp(&e, d, i)),
                None => Some(0),
            },
            (StickOp::ClrGpc(d, i), place) => match made(place) {
                Some((t, e)) => t.clr_gp(&e, d, i),
                None => Some(0),
            },
            (StickOp::UpdtConnCnt, place) => {
                let (t, e) = made(place)?;
                t.updt_conn_cnt(&e)
            }
        }
    }

    /// A `table_*` converter or `in_table` on sample `v`.
    pub(super) fn table_convert(
        &self,
        conv: TableConv,
        table: &TableRef,
        v: &Sample,
    ) -> Option<Sample> {
        let t = self.table(table)?;
        let e = t.get(&t.key(v)?);
        let int = |n: i64| Some(Sample::Int(n));
        match (conv, e) {
            (TableConv::InTable, e) => Some(Sample::Bool(e.is_some())),
            (TableConv::Expire(default) | TableConv::Idle(default), None) => {
                default.map(Sample::Int)
            }
            (TableConv::Expire(_), Some(e)) => int(t.expire_in(&e)),
            (TableConv::Idle(_), Some(e)) => int(t.idle(&e)),
            (_, None) => int(0),
            (TableConv::Get(d, i), Some(e)) => t.get_value(&e, d, i).map(Sample::Int),
            (TableConv::Kbytes(d), Some(e)) => t.kbytes(&e, d).map(Sample::Int),
            // HAProxy 2.6 reads the reference count its own lookup just
            // raised: one more than the sessions tracking the entry.
            (TableConv::Trackers, Some(e)) => int(Table::trackers(&e) + 1),
        }
    }
}

/// The entry of a place, made for a `src_` fetch that changes it
/// (HAProxy's `smp_create_src_stkctr`); `None` when it is missing from
/// another table than the counter's, or the table is full.
fn made(place: Place<'_>) -> Option<(&Table, Arc<Entry>)> {
    match place {
        Place::Found(t, e) => Some((t, e)),
        Place::Absent(t, Some(key)) => Some((t, t.entry(key, now_ms())?)),
        Place::Absent(_, None) => None,
    }
}
