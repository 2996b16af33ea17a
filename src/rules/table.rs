//! Stick tables as the running process holds them: entries by key, each
//! with the data its table stores (counters and HAProxy's sliding-window
//! rates), the sessions that track it, and its expiry.
//!
//! A table is split in shards, each a map behind its own lock, so workers
//! tracking different sources rarely meet; an entry's data has a small
//! lock of its own. An entry tracked by a live session never expires; the
//! others go when their expiry passes (looked at when the table is read or
//! full), or, when the table is full, the least recently used first
//! (unless `nopurge`: then new keys are not stored).
//!
//! An entry is kept small (a table may hold millions): one allocation for
//! the entry (its key, its lock, its last change, its peers flag and
//! update id), one for its data (16 bytes a datum), and 8 bytes in its
//! shard's hash set, which finds entries by the key they hold.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;

use super::Sample;
pub(crate) use super::freq::FreqCtr;
use crate::base::clock::now_ms;
use crate::config::{DataType, StickTable, TableKey};

/// Shards of a table (a power of two).
const SHARDS: usize = 16;

/// A key as a table stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    Ip(IpAddr),
    Int(i64),
    Bytes(Box<[u8]>),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Ip(ip) => write!(f, "{ip}"),
            Key::Int(i) => write!(f, "{i}"),
            Key::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b).trim_end_matches('\0')),
        }
    }
}

/// One datum of an entry.
#[derive(Debug, Clone, Copy)]
pub(super) enum Datum {
    Count(u64),
    Rate(FreqCtr),
}

/// What an entry stores, in its table's `store` order.
#[derive(Debug)]
pub(crate) struct Entry {
    pub key: Key,
    pub(super) data: Mutex<EntryData>,
    /// Its place in the table's update log (see [`super::sync`]), and in
    /// the top bit whether it changed here since the peers thread last
    /// sent it (tables shared by a peers section only).
    pub(super) update: AtomicU64,
}

#[derive(Debug)]
pub(super) struct EntryData {
    pub(super) values: Box<[Datum]>,
    /// Last change (ms): it expires the table's `expire` later, once no
    /// session uses it; the least recently changed go first from a full
    /// table.
    pub(super) touched: u64,
    /// Sessions tracking the entry now.
    pub(super) uses: u32,
}

/// An entry in its shard: found by the key it holds.
#[derive(Debug, Clone)]
pub(super) struct Stored(pub(super) Arc<Entry>);

impl Hash for Stored {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.key.hash(h)
    }
}

impl PartialEq for Stored {
    fn eq(&self, other: &Stored) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for Stored {}

impl Borrow<Key> for Stored {
    fn borrow(&self) -> &Key {
        &self.0.key
    }
}

/// A table and its entries.
#[derive(Debug)]
pub(crate) struct Table {
    pub config: StickTable,
    pub(super) shards: Vec<Mutex<HashSet<Stored>>>,
    /// What the peers thread needs, for a table with `peers`.
    pub(crate) sync: Option<super::sync::Sync>,
    /// When expired entries were last dropped for a count (ms).
    pub(super) last_purge: AtomicU64,
    /// The `server_key` values its entries hold.
    pub(super) names: Mutex<super::table_stick::Names>,
}

impl Table {
    pub(crate) fn new(config: &StickTable) -> Table {
        Table {
            config: config.clone(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            sync: config.peers.as_ref().map(|_| super::sync::Sync::default()),
            last_purge: AtomicU64::new(0),
            names: Mutex::default(),
        }
    }

    /// The key a sample gives in this table, if it has one.
    pub(crate) fn key(&self, s: &Sample) -> Option<Key> {
        match self.config.key {
            TableKey::Ip => match s.to_ip()? {
                IpAddr::V4(a) => Some(Key::Ip(IpAddr::V4(a))),
                IpAddr::V6(a) => a.to_ipv4_mapped().map(|a| Key::Ip(IpAddr::V4(a))),
            },
            TableKey::Ipv6 => match s.to_ip()? {
                IpAddr::V4(a) => Some(Key::Ip(IpAddr::V6(a.to_ipv6_mapped()))),
                v6 => Some(Key::Ip(v6)),
            },
            TableKey::Integer => s.to_int().map(Key::Int),
            TableKey::String(len) => {
                let mut b = s.to_bytes().into_owned();
                b.truncate(len);
                Some(Key::Bytes(b.into()))
            }
            TableKey::Binary(len) => {
                let mut b = s.to_bytes().into_owned();
                b.resize(len, 0);
                Some(Key::Bytes(b.into()))
            }
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<HashSet<Stored>> {
        // A fixed hasher: the shard must not change between calls.
        let mut fixed = std::hash::DefaultHasher::new();
        key.hash(&mut fixed);
        &self.shards[(fixed.finish() as usize) & (SHARDS - 1)]
    }

    pub(super) fn expire_ms(&self) -> u64 {
        self.config
            .expire
            .map_or(u64::MAX, |d| d.as_millis() as u64)
    }

    /// When an entry expires (ms), once no session uses it.
    pub(super) fn expire_at(&self, d: &EntryData) -> u64 {
        d.touched.saturating_add(self.expire_ms())
    }

    /// Whether an entry is still there at `now`: used, or not expired.
    pub(super) fn alive(&self, d: &EntryData, now: u64) -> bool {
        d.uses > 0 || self.expire_at(d) > now
    }

    /// The entry of `key`, if stored and not expired.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        self.get_at(key, now_ms())
    }

    /// [`Table::get`] at `now` (ms).
    pub(super) fn get_at(&self, key: &Key, now: u64) -> Option<Arc<Entry>> {
        let shard = self.shard(key).lock();
        let e = &shard.get(key)?.0;
        let d = e.data.lock();
        self.alive(&d, now).then(|| e.clone())
    }

    /// Entries stored now (expired ones not yet removed included).
    pub(crate) fn used(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Starts tracking `key` for a session: the entry (made if needed),
    /// its connection counters moved. `None` when the table is full and
    /// may not purge.
    pub(crate) fn track(self: &Arc<Self>, key: Key) -> Option<Tracked> {
        let entry = self.hold_at(key, now_ms())?;
        Some(Tracked(Arc::new(Hold {
            table: self.clone(),
            entry,
        })))
    }

    /// The tracking of [`Table::track`] at `now` (ms), without the guard
    /// that gives it back ([`Table::untrack_at`] does).
    pub(super) fn hold_at(&self, key: Key, now: u64) -> Option<Arc<Entry>> {
        let entry = self.entry(key, now)?;
        {
            let mut d = entry.data.lock();
            d.uses += 1;
            d.touched = now;
            self.bump(&mut d, now, &[DataType::ConnCnt, DataType::ConnRate]);
            self.set_cur(&mut d);
        }
        self.changed(&entry);
        Some(entry)
    }

    /// The entry of `key`, made if absent (purging a full table first).
    /// An expired entry the table still holds is made again: its data
    /// went with its expiry.
    pub(super) fn entry(&self, key: Key, now: u64) -> Option<Arc<Entry>> {
        let stale = match self.shard(&key).lock().get(&key) {
            Some(Stored(e)) => {
                if self.alive(&e.data.lock(), now) {
                    return Some(e.clone());
                }
                true
            }
            None => false,
        };
        if !stale && self.used() >= self.config.size {
            self.purge(now);
            if self.used() >= self.config.size {
                return None;
            }
        }
        let fresh = self.fresh(key, now);
        let mut shard = self.shard(&fresh.key).lock();
        // Unless another thread made it (again) meanwhile.
        if let Some(Stored(e)) = shard.get(&fresh.key)
            && self.alive(&e.data.lock(), now)
        {
            return Some(e.clone());
        }
        shard.replace(Stored(fresh.clone()));
        Some(fresh)
    }

    /// A new entry of `key`: every datum at 0, array elements one after
    /// the other after the scalars (see [`Table::slot`]).
    fn fresh(&self, key: Key, now: u64) -> Arc<Entry> {
        let mut values = Vec::with_capacity(self.config.store.len());
        for (t, _) in &self.config.store {
            let zero = if t.is_rate() {
                Datum::Rate(FreqCtr::new(now))
            } else {
                Datum::Count(0)
            };
            values.extend(std::iter::repeat_n(zero, self.config.elems(*t)));
        }
        Arc::new(Entry {
            key,
            data: Mutex::new(EntryData {
                values: values.into_boxed_slice(),
                touched: now,
                uses: 0,
            }),
            update: AtomicU64::new(0),
        })
    }

    /// Drops expired entries; a full table without `nopurge` also loses
    /// its least recently used unused entries, down to 3/4 of its size.
    pub(crate) fn purge(&self, now: u64) {
        for s in &self.shards {
            s.lock().retain(|Stored(e)| self.alive(&e.data.lock(), now));
        }
        if self.config.nopurge || self.used() < self.config.size {
            return;
        }
        let mut idle: Vec<(u64, Key)> = Vec::new();
        for s in &self.shards {
            for Stored(e) in s.lock().iter() {
                let d = e.data.lock();
                if d.uses == 0 {
                    idle.push((d.touched, e.key.clone()));
                }
            }
        }
        // Oldest first; the key decides between equals, so that a purge
        // is the same from run to run.
        idle.sort_unstable();
        let excess = self.used().saturating_sub(self.config.size * 3 / 4);
        for (_, k) in idle.into_iter().take(excess) {
            self.shard(&k).lock().remove(&k);
        }
    }

    /// The period (ms) of the rate at `store[i]`.
    pub(super) fn period(&self, i: usize) -> u64 {
        self.config.store[i]
            .1
            .map_or(1000, |d| d.as_millis() as u64)
    }

    /// Counts one event in each of `types` the table stores.
    pub(super) fn bump(&self, d: &mut EntryData, now: u64, types: &[DataType]) {
        self.add(d, now, types, 1);
    }

    pub(super) fn add(&self, d: &mut EntryData, now: u64, types: &[DataType], n: u64) {
        for (i, (t, _)) in self.config.store.iter().enumerate() {
            if !types.contains(t) {
                continue;
            }
            let period = self.period(i);
            let Some(slot) = self.slot(i, 0) else {
                continue;
            };
            match &mut d.values[slot] {
                Datum::Count(c) => *c = c.saturating_add(n),
                Datum::Rate(r) => r.add(n, now, period),
            }
        }
    }

    fn set_cur(&self, d: &mut EntryData) {
        if let Some(i) = self.index(DataType::ConnCur).and_then(|i| self.slot(i, 0)) {
            d.values[i] = Datum::Count(d.uses as u64);
        }
    }

    pub(crate) fn index(&self, t: DataType) -> Option<usize> {
        self.config.store.iter().position(|(s, _)| *s == t)
    }

    /// `t` of an entry now (an array's first element); `None` when the
    /// table does not store it.
    pub(crate) fn read(&self, e: &Entry, t: DataType) -> Option<i64> {
        let i = self.index(t)?;
        let d = e.data.lock();
        Some(self.value(&d.values[self.slot(i, 0)?], i, now_ms()))
    }

    /// A session that tracks an entry started (its session counters).
    pub(crate) fn session_started(&self, e: &Arc<Entry>) {
        let now = now_ms();
        self.bump(
            &mut e.data.lock(),
            now,
            &[DataType::SessCnt, DataType::SessRate],
        );
        self.changed(e);
    }

    /// Bytes a tracking session moved.
    pub(crate) fn bytes(&self, e: &Arc<Entry>, bytes_in: u64, bytes_out: u64) {
        let now = now_ms();
        let mut d = e.data.lock();
        self.add(
            &mut d,
            now,
            &[DataType::BytesInCnt, DataType::BytesInRate],
            bytes_in,
        );
        self.add(
            &mut d,
            now,
            &[DataType::BytesOutCnt, DataType::BytesOutRate],
            bytes_out,
        );
        drop(d);
        self.changed(e);
    }

    /// A tracking session ended: one use less, the expiry restarts.
    pub(crate) fn untrack(&self, e: &Arc<Entry>) {
        self.untrack_at(e, now_ms());
    }

    /// [`Table::untrack`] at `now` (ms).
    pub(super) fn untrack_at(&self, e: &Arc<Entry>, now: u64) {
        let mut d = e.data.lock();
        d.uses = d.uses.saturating_sub(1);
        d.touched = now;
        self.set_cur(&mut d);
        drop(d);
        self.changed(e);
    }

    /// `show table NAME`'s lines: `0xID: key=K use=N exp=MS DATA=V...`.
    pub(crate) fn dump(&self, filter: &Filter) -> Vec<String> {
        let now = now_ms();
        self.purge(now);
        let mut out = Vec::new();
        for s in &self.shards {
            for Stored(e) in s.lock().iter() {
                let k = &e.key;
                if !self.selects(filter, k, e) {
                    continue;
                }
                let d = e.data.lock();
                let mut line = format!(
                    "0x{:x}: key={k} use={} exp={}",
                    Arc::as_ptr(e) as usize,
                    d.uses,
                    self.expire_left(&d, now)
                );
                self.dump_data(&d, now, &mut line);
                out.push((k.clone(), line));
            }
        }
        // In key order, as HAProxy's tree lists them.
        out.sort();
        out.into_iter().map(|(_, l)| l).collect()
    }

    /// `clear table NAME [key K]`: drops unused entries.
    pub(crate) fn clear(&self, filter: &Filter) {
        for s in &self.shards {
            s.lock()
                .retain(|Stored(e)| !self.selects(filter, &e.key, e) || e.data.lock().uses > 0);
        }
    }

    /// Whether entry `e` of key `k` passes `filter`.
    fn selects(&self, filter: &Filter, k: &Key, e: &Entry) -> bool {
        match filter {
            Filter::All => true,
            Filter::Key(want) => want == k,
            Filter::Data(conds) => conds.iter().all(|(t, op, v)| {
                self.read(e, *t).is_some_and(|have| match op {
                    Op::Eq => have == *v,
                    Op::Ne => have != *v,
                    Op::Le => have <= *v,
                    Op::Ge => have >= *v,
                    Op::Lt => have < *v,
                    Op::Gt => have > *v,
                })
            }),
        }
    }

    /// `set table NAME key K data.TYPE V...`: the entry (made if needed)
    /// takes these values; a rate's current period gets the value.
    pub(crate) fn set(&self, key: Key, values: &[(DataType, i64)]) -> Result<(), &'static str> {
        self.set_at(key, values, now_ms())
    }

    /// [`Table::set`] at `now` (ms).
    pub(super) fn set_at(
        &self,
        key: Key,
        values: &[(DataType, i64)],
        now: u64,
    ) -> Result<(), &'static str> {
        let e = self
            .entry(key, now)
            .ok_or("Unable to allocate a new entry")?;
        let mut d = e.data.lock();
        for (t, v) in values {
            // An array's first element, as HAProxy.
            let Some(si) = self.index(*t) else { continue };
            let Some(i) = self.slot(si, 0) else { continue };
            let v = (*v).max(0) as u64;
            d.values[i] = match d.values[i] {
                Datum::Count(_) => Datum::Count(v),
                Datum::Rate(mut r) => {
                    r.set(v, now, self.period(si));
                    Datum::Rate(r)
                }
            };
        }
        d.touched = now;
        drop(d);
        self.changed(&e);
        Ok(())
    }
}

/// Which entries `show table` and `clear table` act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    Key(Key),
    /// `data.TYPE OP VALUE...`, all of them.
    Data(Vec<(DataType, Op, i64)>),
}

/// The operators of `data.TYPE` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

/// A session's hold on a table entry (HAProxy's stick counter); the
/// last copy dropped ends the tracking.
#[derive(Debug, Clone)]
pub(crate) struct Tracked(Arc<Hold>);

#[derive(Debug)]
struct Hold {
    table: Arc<Table>,
    entry: Arc<Entry>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.table.untrack(&self.entry);
    }
}

impl Tracked {
    pub(crate) fn table(&self) -> &Table {
        &self.0.table
    }
    pub(crate) fn entry(&self) -> &Arc<Entry> {
        &self.0.entry
    }
}

#[cfg(test)]
mod track_tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn tracking_counts_connections() {
        let text = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
            frontend f\n bind 127.0.0.1:1\n stick-table type ip size 10 expire 30s store conn_cur,conn_cnt,conn_rate(10s)\n\
            tcp-request connection track-sc0 src\n default_backend b\nbackend b\n server s 127.0.0.1:2\n";
        let c = parse_str("t.cfg", text).unwrap().config;
        let t = Arc::new(Table::new(&c.tables[0]));
        let key = t.key(&Sample::Str(b"127.0.0.4".to_vec())).unwrap();
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(t.track(key.clone()).unwrap());
        }
        let e = t.get(&key).unwrap();
        assert_eq!(t.read(&e, DataType::ConnCnt), Some(5));
        assert_eq!(t.read(&e, DataType::ConnCur), Some(5));
        assert_eq!(t.read(&e, DataType::ConnRate), Some(5));
        held.clear();
        assert_eq!(t.read(&e, DataType::ConnCur), Some(0));
        assert_eq!(t.used(), 1);
    }
}
