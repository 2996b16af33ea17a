//! What the rules do to an entry's data beyond tracking it: the general
//! purpose counters and tags, scalar (`gpc0`, `gpc1`, `gpt0`) and arrays
//! (`gpc(N)`, `gpt(N)`, `gpc_rate(N,period)`), read, added to, cleared and
//! set as HAProxy 2.6 does; the expiry and idle time of an entry; and the
//! data part of a `show table` line.
//!
//! An entry's values hold the scalars in `store` order, then each array's
//! elements one after the other ([`Table::slot`]); the arrays come last in
//! HAProxy's order, so a scalar's slot is its place in `store`.

use std::sync::Arc;

use super::table::{Datum, Entry, EntryData, Table};
use crate::base::clock::now_ms;
use crate::config::DataType;

/// The array a legacy type reads when the table does not store it, and
/// the element (HAProxy 2.6's fallback: `gpc0` is `gpc[0]`...).
fn fallback(t: DataType) -> Option<(DataType, usize)> {
    Some(match t {
        DataType::Gpt0 => (DataType::Gpt, 0),
        DataType::Gpc0 => (DataType::Gpc, 0),
        DataType::Gpc1 => (DataType::Gpc, 1),
        DataType::Gpc0Rate => (DataType::GpcRate, 0),
        DataType::Gpc1Rate => (DataType::GpcRate, 1),
        _ => return None,
    })
}

/// The rate that goes with a counter.
fn rate_of(t: DataType) -> DataType {
    match t {
        DataType::Gpc0 => DataType::Gpc0Rate,
        DataType::Gpc1 => DataType::Gpc1Rate,
        _ => DataType::GpcRate,
    }
}

impl Table {
    /// Where element `idx` of `store[i]` is in an entry's values; `None`
    /// past the end of the array (or past 0 for a scalar).
    pub(super) fn slot(&self, i: usize, idx: usize) -> Option<usize> {
        let (t, _) = self.config.store.get(i)?;
        if idx >= self.config.elems(*t) {
            return None;
        }
        let before: usize = self.config.store[..i]
            .iter()
            .map(|(t, _)| self.config.elems(*t))
            .sum();
        Some(before + idx)
    }

    /// A datum as a number now: a count, or a rate over the period of
    /// `store[i]`.
    pub(super) fn value(&self, v: &Datum, i: usize, now: u64) -> i64 {
        match v {
            Datum::Count(c) => *c as i64,
            Datum::Rate(r) => r.read(now, self.period(i)) as i64,
        }
    }

    /// The store index and slot of element `idx` of `t`, the legacy types
    /// falling back to the arrays.
    fn locate(&self, t: DataType, idx: usize) -> Option<(usize, usize)> {
        let found = |t: DataType, idx: usize| {
            let i = self.index(t)?;
            Some((i, self.slot(i, idx)?))
        };
        match (self.index(t), fallback(t)) {
            (None, Some((array, n))) => found(array, n),
            (Some(_), Some(_)) => found(t, 0),
            _ => found(t, idx),
        }
    }

    /// Element `idx` of `t` as the fetches and converters read it (the
    /// legacy types falling back to the arrays); `None` when not stored.
    pub(crate) fn get_value(&self, e: &Entry, t: DataType, idx: usize) -> Option<i64> {
        let (i, slot) = self.locate(t, idx)?;
        let d = e.data.lock();
        Some(self.value(&d.values[slot], i, now_ms()))
    }

    /// `bytes_in_cnt` / `bytes_out_cnt` in kilobytes (`kbytes_in`...).
    pub(crate) fn kbytes(&self, e: &Entry, t: DataType) -> Option<i64> {
        self.read(e, t).map(|b| b >> 10)
    }

    /// Sessions tracking `e` now.
    pub(crate) fn trackers(e: &Entry) -> i64 {
        e.data.lock().uses as i64
    }

    /// The entry was changed by a rule: its expiry restarts (HAProxy's
    /// `stktable_touch_local`).
    fn touch(&self, d: &mut EntryData, now: u64) {
        d.touched = now;
    }

    /// One more on general purpose counter `t` (`Gpc0`, `Gpc1`: element
    /// `idx` of `Gpc`) and on its rate. The result is the counter's new
    /// value, or the rate's current period when only the rate is stored,
    /// or 0 when neither is (as HAProxy's `sc_inc_gpc*` answer).
    pub(crate) fn inc_gp(&self, e: &Arc<Entry>, t: DataType, idx: usize) -> i64 {
        let counter = self.locate(t, idx);
        let rate = self.locate(rate_of(t), idx);
        if counter.is_none() && rate.is_none() {
            return 0;
        }
        let now = now_ms();
        let mut d = e.data.lock();
        let mut out = 0;
        if let Some((i, slot)) = rate
            && let Datum::Rate(r) = &mut d.values[slot]
        {
            r.add(1, now, self.period(i));
            out = r.current() as i64;
        }
        if let Some((_, slot)) = counter
            && let Datum::Count(c) = &mut d.values[slot]
        {
            // HAProxy's counters are 32-bit and wrap.
            *c = (*c as u32).wrapping_add(1) as u64;
            out = *c as i64;
        }
        self.touch(&mut d, now);
        drop(d);
        self.changed(e);
        out
    }

    /// General purpose counter `t` back to 0; its value before, or `None`
    /// when not stored.
    pub(crate) fn clr_gp(&self, e: &Arc<Entry>, t: DataType, idx: usize) -> Option<i64> {
        let (_, slot) = self.locate(t, idx)?;
        let mut d = e.data.lock();
        let before = match &mut d.values[slot] {
            Datum::Count(c) => std::mem::take(c) as i64,
            Datum::Rate(_) => return None,
        };
        self.touch(&mut d, now_ms());
        drop(d);
        self.changed(e);
        Some(before)
    }

    /// `sc-set-gpt0` / `sc-set-gpt(IDX,N)`: general purpose tag `t`
    /// (`Gpt0`, or element `idx` of `Gpt`) takes `v` as HAProxy's 32-bit
    /// unsigned tag (-1 is 4294967295). Nothing when not stored.
    pub(crate) fn set_gp(&self, e: &Arc<Entry>, t: DataType, idx: usize, v: i64) {
        let Some((_, slot)) = self.locate(t, idx) else {
            return;
        };
        let mut d = e.data.lock();
        d.values[slot] = Datum::Count(v as u32 as u64);
        self.touch(&mut d, now_ms());
        drop(d);
        self.changed(e);
    }

    /// `src_updt_conn_cnt`: one more on `conn_cnt` (only), its new value;
    /// `None` when not stored.
    pub(crate) fn updt_conn_cnt(&self, e: &Arc<Entry>) -> Option<i64> {
        let (_, slot) = self.locate(DataType::ConnCnt, 0)?;
        let mut d = e.data.lock();
        let Datum::Count(c) = &mut d.values[slot] else {
            return None;
        };
        *c = (*c as u32).wrapping_add(1) as u64;
        let out = *c as i64;
        self.touch(&mut d, now_ms());
        drop(d);
        self.changed(e);
        Some(out)
    }

    /// Ms before the entry expires, as `show table`'s `exp=` (0 for a
    /// table without `expire`). A tracked entry counts from its last
    /// change, as in HAProxy, where the tracking keeps it from going.
    pub(super) fn expire_left(&self, d: &EntryData, now: u64) -> u64 {
        if self.config.expire.is_none() {
            return 0;
        }
        // A tracked entry counts from its last change too.
        self.expire_at(d).saturating_sub(now)
    }

    /// `table_expire`: ms before `e` expires.
    pub(crate) fn expire_in(&self, e: &Entry) -> i64 {
        self.expire_left(&e.data.lock(), now_ms()) as i64
    }

    /// `table_idle`: ms since `e` was last changed (the expire delay less
    /// what is left of it, as HAProxy computes it).
    pub(crate) fn idle(&self, e: &Entry) -> i64 {
        let left = self.expire_left(&e.data.lock(), now_ms());
        let delay = self.config.expire.map_or(0, |d| d.as_millis() as u64);
        delay.saturating_sub(left) as i64
    }

    /// Entries in use now (`table_cnt`, `haproxy_sticktable_used`): the
    /// expired ones are dropped first, at most once a second.
    pub(crate) fn live(&self) -> usize {
        let now = now_ms();
        let last = self.last_purge.load(std::sync::atomic::Ordering::Relaxed);
        if now >= last + 1000
            && self
                .last_purge
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
        {
            self.purge(now);
        }
        self.used()
    }

    /// The data of a `show table` line: ` NAME=V` per stored type, a
    /// rate with its period (` conn_rate(10000)=3`), an array one element
    /// after the other with its index after the name's first part
    /// (` gpc0=1 gpc1=0`, ` gpc0_rate(10000)=1`), as HAProxy 2.6 prints.
    pub(super) fn dump_data(&self, d: &EntryData, now: u64, line: &mut String) {
        use std::fmt::Write;
        for (i, (t, period)) in self.config.store.iter().enumerate() {
            let name = t.name();
            let (head, tail) = match (t.is_array(), name.find('_')) {
                (false, _) => (name, ""),
                (true, Some(u)) => (&name[..u], &name[u..]),
                (true, None) => (name, ""),
            };
            if *t == DataType::ServerKey {
                // A name, "-" for none (HAProxy's dictionary entry).
                let name = self.slot(i, 0).and_then(|s| match d.values[s] {
                    Datum::Count(n) => self.name_of(n),
                    Datum::Rate(_) => None,
                });
                let _ = write!(line, " server_key={}", name.as_deref().unwrap_or("-"));
                continue;
            }
            for idx in 0..self.config.elems(*t) {
                let Some(slot) = self.slot(i, idx) else { break };
                let v = self.value(&d.values[slot], i, now);
                let n = if t.is_array() {
                    idx.to_string()
                } else {
                    String::new()
                };
                let _ = match period {
                    Some(p) => write!(line, " {head}{n}{tail}({})={v}", p.as_millis()),
                    None => write!(line, " {head}{n}{tail}={v}"),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::rules::Sample;
    use crate::rules::table::Filter;

    fn table(store: &str) -> Arc<Table> {
        let text = format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             frontend f\n bind 127.0.0.1:1\n stick-table type ip size 10 expire 30s store {store}\n default_backend b\n\
             backend b\n server s 127.0.0.1:2\n"
        );
        let c = parse_str("t.cfg", &text).unwrap().config;
        Arc::new(Table::new(&c.tables[0]))
    }

    fn key(t: &Table, ip: &str) -> crate::rules::table::Key {
        t.key(&Sample::Str(ip.as_bytes().to_vec())).unwrap()
    }

    /// The data of `show table`'s only line.
    fn shown(t: &Table) -> String {
        let lines = t.dump(&Filter::All);
        let l = &lines[0];
        l[l.find(" exp=").unwrap()..]
            .split_once(' ')
            .map_or("", |(_, r)| r.split_once(' ').map_or("", |(_, r)| r))
            .to_string()
    }

    #[test]
    fn arrays_count_apart_and_print_as_haproxy() {
        let t = table("conn_cnt,gpt(2),gpc(3),gpc_rate(3,10s)");
        let held = t.track(key(&t, "127.0.0.1")).unwrap();
        let e = held.entry();
        assert_eq!(t.inc_gp(e, DataType::Gpc, 1), 1);
        assert_eq!(t.inc_gp(e, DataType::Gpc, 1), 2);
        assert_eq!(t.inc_gp(e, DataType::Gpc, 2), 1);
        assert_eq!(t.inc_gp(e, DataType::Gpc, 3), 0, "past the end");
        t.set_gp(e, DataType::Gpt, 1, -1);
        assert_eq!(
            shown(&t),
            "conn_cnt=1 gpt0=0 gpt1=4294967295 gpc0=0 gpc1=2 gpc2=1 \
             gpc0_rate(10000)=0 gpc1_rate(10000)=2 gpc2_rate(10000)=1"
        );
        assert_eq!(t.clr_gp(e, DataType::Gpc, 1), Some(2));
        assert_eq!(t.get_value(e, DataType::Gpc, 1), Some(0));
        assert_eq!(t.get_value(e, DataType::GpcRate, 1), Some(2), "rates stay");
    }

    #[test]
    fn legacy_types_fall_back_to_the_arrays() {
        let t = table("gpt(1),gpc(2),gpc_rate(2,10s)");
        let held = t.track(key(&t, "127.0.0.1")).unwrap();
        let e = held.entry();
        t.inc_gp(e, DataType::Gpc1, 0);
        t.set_gp(e, DataType::Gpt0, 0, 7);
        assert_eq!(t.get_value(e, DataType::Gpc1, 0), Some(1));
        assert_eq!(t.get_value(e, DataType::Gpc, 1), Some(1));
        assert_eq!(t.get_value(e, DataType::Gpc1Rate, 0), Some(1));
        assert_eq!(t.get_value(e, DataType::Gpt0, 0), Some(7));
        assert_eq!(t.get_value(e, DataType::Gpc0, 0), Some(0));
        // show table and set table name the types themselves.
        assert_eq!(t.read(e, DataType::Gpc1), None);
        // And the arrays never read the legacy types.
        let t = table("gpc0,gpc1");
        let held = t.track(key(&t, "127.0.0.1")).unwrap();
        t.inc_gp(held.entry(), DataType::Gpc0, 0);
        assert_eq!(t.get_value(held.entry(), DataType::Gpc, 0), None);
        assert_eq!(t.inc_gp(held.entry(), DataType::Gpc, 0), 0);
        assert_eq!(t.get_value(held.entry(), DataType::Gpc0, 0), Some(1));
    }

    #[test]
    fn an_increment_answers_the_rate_when_no_counter_is_stored() {
        let t = table("gpc0_rate(10s)");
        let held = t.track(key(&t, "127.0.0.1")).unwrap();
        assert_eq!(t.inc_gp(held.entry(), DataType::Gpc0, 0), 1);
        assert_eq!(t.inc_gp(held.entry(), DataType::Gpc0, 0), 2);
        assert_eq!(t.clr_gp(held.entry(), DataType::Gpc0, 0), None);
    }
}
