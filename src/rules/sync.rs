//! What a stick table shared by a `peers` section offers the peers
//! thread: which entries changed here (workers mark them, the thread
//! collects them), the table's update log (each changed entry under its
//! latest update id, as HAProxy's update tree), and an entry's data in
//! the neutral form the peers codec encodes, both ways.
//!
//! Workers only flip an entry's `dirty` flag and, when it was clear, send
//! the entry on a channel: no lock is shared between workers for this.
//! The log lives with the table, so a reload that keeps the table keeps
//! where each peer was.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::table::{Datum, Entry, FreqCtr, Key, Stored, Table};
use crate::base::clock::now_ms;
use crate::config::{DataType, StickTable};

/// The top bit of an entry's update word: changed since last collected.
const DIRTY: u64 = 1 << 63;

/// A table's side of the peers protocol.
#[derive(Debug)]
pub(crate) struct Sync {
    tx: Sender<Arc<Entry>>,
    rx: Receiver<Arc<Entry>>,
    /// Kept by the peers thread.
    pub log: Mutex<UpdateLog>,
}

impl Default for Sync {
    fn default() -> Sync {
        let (tx, rx) = crossbeam_channel::unbounded();
        Sync {
            tx,
            rx,
            log: Mutex::default(),
        }
    }
}

/// Local updates in order (HAProxy's `updates` tree): an entry is under
/// the id of its last change only.
#[derive(Debug, Default)]
pub(crate) struct UpdateLog {
    /// The last update id given (HAProxy's `localupdate`); ids never
    /// wrap here, the wire carries their low 32 bits.
    pub last: u64,
    pub by_id: BTreeMap<u64, Arc<Entry>>,
    /// Per peer (by name): the last update it acknowledged.
    pub acked: HashMap<String, u64>,
    /// A full resync was done (or given up) for this table: a reload
    /// that keeps it asks for none.
    pub resynced: bool,
}

impl UpdateLog {
    /// The full id of a 32-bit id from the wire, taken as the nearest at
    /// or before `last`.
    pub(crate) fn widen(&self, id: u32) -> u64 {
        let back = (self.last as u32).wrapping_sub(id) as u64;
        self.last.saturating_sub(back)
    }
}

/// The encoding class of a data type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireKind {
    /// An integer (HAProxy's sint, uint, ull).
    Int,
    /// A frequency counter: age of its period, current and previous counts.
    Freq,
    /// A dictionary string (`server_key`).
    Dict,
}

/// One stored data type as a table definition message announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireType {
    /// HAProxy's data type number.
    pub id: u8,
    pub kind: WireKind,
    /// Elements of an array type (`gpc(N)`...); `None` for a scalar.
    pub elems: Option<usize>,
    /// A rate's period (ms).
    pub period: Option<u64>,
}

/// One value on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireValue {
    Int(u64),
    /// `elapsed`: ms since the current period began.
    Freq {
        elapsed: u64,
        curr: u64,
        prev: u64,
    },
    Dict(Option<Vec<u8>>),
}

/// A key as a sample, to be keyed again by another table.
pub(crate) fn key_sample(k: &Key) -> crate::rules::Sample {
    match k {
        Key::Bytes(b) => crate::rules::Sample::Bin(b.to_vec()),
        Key::Ip(ip) => crate::rules::Sample::Ip(*ip),
        Key::Int(n) => crate::rules::Sample::Int(*n),
    }
}

/// HAProxy never takes these from a peer: they describe this process.
fn is_local(t: DataType) -> bool {
    t == DataType::ConnCur
}

fn kind(t: DataType) -> WireKind {
    if t.is_rate() {
        WireKind::Freq
    } else if t == DataType::ServerKey {
        WireKind::Dict
    } else {
        WireKind::Int
    }
}

impl Table {
    /// Marks `e` as changed by this process, for the peers.
    pub(crate) fn changed(&self, e: &Arc<Entry>) {
        if let Some(sync) = &self.sync
            && e.update.fetch_or(DIRTY, Ordering::AcqRel) & DIRTY == 0
        {
            let _ = sync.tx.send(e.clone());
        }
    }

    /// Gives every entry changed since the last call its new update id in
    /// the log; returns the last id. Only the peers thread calls it.
    pub(crate) fn collect_updates(&self) -> u64 {
        let Some(sync) = &self.sync else { return 0 };
        let mut log = sync.log.lock();
        for e in sync.rx.try_iter() {
            // Cleared before the data is read: a change from now on marks
            // it again, and it is sent again.
            let old = e.update.fetch_and(!DIRTY, Ordering::AcqRel) & !DIRTY;
            if old != 0 {
                log.by_id.remove(&old);
            }
            log.last += 1;
            let id = log.last;
            // The id goes in beside the flag a racing change may have set.
            let _ = e
                .update
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    Some(u & DIRTY | id)
                });
            log.by_id.insert(id, e);
        }
        // Entries the table dropped are only held by the log now.
        if log.by_id.len() > 2 * self.used() + 64 {
            log.by_id.retain(|_, e| Arc::strong_count(e) > 1);
        }
        log.last
    }

    /// The update id of `e`'s last local change (0: none).
    pub(crate) fn update_of(e: &Entry) -> u64 {
        e.update.load(Ordering::Relaxed) & !DIRTY
    }

    /// Every stored entry (a full resync).
    pub(crate) fn snapshot(&self) -> Vec<Arc<Entry>> {
        let now = now_ms();
        let mut all = Vec::new();
        for s in &self.shards {
            for Stored(e) in s.lock().iter() {
                if self.alive(&e.data.lock(), now) {
                    all.push(e.clone());
                }
            }
        }
        all
    }

    /// The data types this table sends, in HAProxy's order.
    pub(crate) fn wire_layout(&self) -> Vec<WireType> {
        self.config
            .store
            .iter()
            .enumerate()
            .map(|(i, (t, _))| WireType {
                id: *t as u8,
                kind: kind(*t),
                elems: t.is_array().then(|| self.config.elems(*t)),
                period: t.is_rate().then(|| self.period(i)),
            })
            .collect()
    }

    /// An entry's values in [`Table::wire_layout`] order (array elements
    /// one after the other) and the ms left before it expires.
    pub(crate) fn export(&self, e: &Entry) -> (Vec<WireValue>, u64) {
        let now = now_ms();
        let d = e.data.lock();
        let values = d
            .values
            .iter()
            .map(|v| match v {
                Datum::Count(c) => WireValue::Int(*c),
                Datum::Rate(r) => {
                    let (elapsed, curr, prev) = r.to_wire(now);
                    WireValue::Freq {
                        elapsed,
                        curr,
                        prev,
                    }
                }
            })
            .collect::<Vec<_>>();
        // The values are already flat, element after element.
        let values = values
            .into_iter()
            .enumerate()
            .map(|(slot, v)| match (self.slot_of(DataType::ServerKey), v) {
                (Some(k), WireValue::Int(n)) if k == slot => {
                    WireValue::Dict(self.name_of(n).map(|s| s.as_bytes().to_vec()))
                }
                (_, v) => v,
            })
            .collect();
        let left = if d.uses > 0 {
            self.expire_ms()
        } else {
            self.expire_at(&d).saturating_sub(now)
        };
        (values, left.min(u32::MAX as u64))
    }

    /// Whether `other` is the same table: what a reload may keep as it is.
    pub(crate) fn same_as(&self, other: &StickTable) -> bool {
        let c = &self.config;
        (
            &c.name,
            c.key,
            c.size,
            c.expire,
            c.nopurge,
            &c.store,
            &c.arrays,
            &c.peers,
            &c.sync_name,
        ) == (
            &other.name,
            other.key,
            other.size,
            other.expire,
            other.nopurge,
            &other.store,
            &other.arrays,
            &other.peers,
            &other.sync_name,
        )
    }

    /// Takes the entries of `old` (a table of the same name the reload
    /// changed): each keeps the data both store; what is local to the old
    /// table's sessions (`conn_cur`) starts again from 0.
    pub(crate) fn adopt(&self, old: &Table) {
        let layout = old.wire_layout();
        for e in old.snapshot() {
            let (values, left) = old.export(&e);
            // An array's elements follow one another.
            let mut values = values.into_iter();
            let items: Vec<(u8, Vec<WireValue>)> = layout
                .iter()
                .map(|w| (w.id, values.by_ref().take(w.elems.unwrap_or(1)).collect()))
                .collect();
            let Some(key) = self.key(&key_sample(&e.key)) else {
                continue;
            };
            self.import(key, &items, Some(left));
        }
    }

    /// A peer's update: the entry of `key` (made if needed) takes the
    /// values of the types both sides store, except what is local to a
    /// process (`conn_cur`), and expires in `expire` ms (the table's own
    /// delay when the message has none). Not sent on to other peers.
    /// `false` when the table is full and may not purge.
    pub(crate) fn import(
        &self,
        key: Key,
        values: &[(u8, Vec<WireValue>)],
        expire: Option<u64>,
    ) -> bool {
        let now = now_ms();
        let Some(e) = self.entry(key, now) else {
            return false;
        };
        let mut d = e.data.lock();
        for (id, vals) in values {
            let Some(i) = self
                .config
                .store
                .iter()
                .position(|(t, _)| *t as u8 == *id && !is_local(*t))
            else {
                continue;
            };
            // An array's elements in order; a peer's longer array loses
            // its tail, a shorter one leaves ours.
            for (idx, v) in vals.iter().enumerate() {
                let Some(slot) = self.slot(i, idx) else { break };
                d.values[slot] = match (d.values[slot], v) {
                    (Datum::Count(_), WireValue::Int(n)) => Datum::Count(*n),
                    (
                        Datum::Rate(_),
                        WireValue::Freq {
                            elapsed,
                            curr,
                            prev,
                        },
                    ) => Datum::Rate(FreqCtr::from_wire(now, *elapsed, *curr, *prev)),
                    (Datum::Count(_), WireValue::Dict(Some(name))) => {
                        Datum::Count(self.name_id(&String::from_utf8_lossy(name)))
                    }
                    (Datum::Count(_), WireValue::Dict(None)) => Datum::Count(0),
                    (old, _) => old,
                };
            }
        }
        // Expires `expire` from now: its last change is put where the
        // table's own delay ends then.
        let until = now.saturating_add(expire.unwrap_or_else(|| self.expire_ms()));
        d.touched = until.saturating_sub(self.expire_ms());
        true
    }
}

/// A `type ip` table of `size` entries storing `store`, as `peers p`
/// shares it (for tests here and in the peers module).
#[cfg(test)]
pub(crate) fn shared_table(size: usize, store: &str) -> Arc<Table> {
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:1\n stick-table type ip size {size} expire 30s store {store}\n default_backend b\n\
         backend b\n server s 127.0.0.1:2\n"
    );
    let mut c = crate::config::parse_str("t.cfg", &text).unwrap().config;
    c.tables[0].peers = Some("p".into());
    Arc::new(Table::new(&c.tables[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Sample;

    fn table(store: &str) -> Arc<Table> {
        shared_table(10, store)
    }

    #[test]
    fn changes_are_logged_once_under_their_last_id() {
        let t = table("conn_cnt,gpc0");
        let key = t.key(&Sample::Str(b"127.0.0.9".to_vec())).unwrap();
        let held = t.track(key.clone()).unwrap();
        t.inc_gp(held.entry(), DataType::Gpc0, 0);
        assert_eq!(t.collect_updates(), 1, "two changes, one update");
        t.inc_gp(held.entry(), DataType::Gpc0, 0);
        assert_eq!(t.collect_updates(), 2);
        let log = t.sync.as_ref().unwrap().log.lock();
        assert_eq!(log.by_id.keys().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn exported_values_import_elsewhere_except_conn_cur() {
        let a = table("conn_cur,conn_cnt,conn_rate(10s),gpc0");
        let b = table("conn_cur,conn_cnt,conn_rate(10s),gpc0");
        let key = a.key(&Sample::Str(b"127.0.0.7".to_vec())).unwrap();
        let held: Vec<_> = (0..3).map(|_| a.track(key.clone()).unwrap()).collect();
        a.inc_gp(held[0].entry(), DataType::Gpc0, 0);
        let (vals, _) = a.export(held[0].entry());
        let items: Vec<(u8, Vec<WireValue>)> = a
            .wire_layout()
            .iter()
            .zip(vals)
            .map(|(w, v)| (w.id, vec![v]))
            .collect();
        assert!(b.import(key.clone(), &items, Some(5000)));
        let e = b.get(&key).unwrap();
        assert_eq!(b.read(&e, DataType::ConnCnt), Some(3));
        assert_eq!(b.read(&e, DataType::ConnRate), Some(3));
        assert_eq!(b.read(&e, DataType::Gpc0), Some(1));
        assert_eq!(b.read(&e, DataType::ConnCur), Some(0), "never learnt");
        assert!(b.sync.as_ref().unwrap().rx.is_empty(), "not sent on");
    }

    #[test]
    fn arrays_go_element_after_element() {
        let a = table("conn_cnt,gpt(2),gpc(3),gpc_rate(3,10s)");
        let layout = a.wire_layout();
        let wire = |id, kind, elems, period| WireType {
            id,
            kind,
            elems,
            period,
        };
        assert_eq!(
            layout,
            [
                wire(4, WireKind::Int, None, None),
                wire(22, WireKind::Int, Some(2), None),
                wire(23, WireKind::Int, Some(3), None),
                wire(24, WireKind::Freq, Some(3), Some(10_000)),
            ]
        );
        let key = a.key(&Sample::Str(b"127.0.0.7".to_vec())).unwrap();
        let held = a.track(key.clone()).unwrap();
        a.inc_gp(held.entry(), DataType::Gpc, 2);
        a.set_gp(held.entry(), DataType::Gpt, 1, 9);
        let (vals, _) = a.export(held.entry());
        let ints: Vec<Option<u64>> = vals
            .iter()
            .map(|v| match v {
                WireValue::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        assert_eq!(
            ints,
            [
                Some(1),
                Some(0),
                Some(9),
                Some(0),
                Some(0),
                Some(1),
                None,
                None,
                None
            ]
        );
        // Back in another table, grouped per type as the codec gives them.
        let mut items: Vec<(u8, Vec<WireValue>)> = Vec::new();
        let mut rest = vals.into_iter();
        for w in &layout {
            items.push((w.id, rest.by_ref().take(w.elems.unwrap_or(1)).collect()));
        }
        let b = table("conn_cnt,gpt(2),gpc(3),gpc_rate(3,10s)");
        assert!(b.import(key.clone(), &items, None));
        let e = b.get(&key).unwrap();
        assert_eq!(b.get_value(&e, DataType::Gpt, 1), Some(9));
        assert_eq!(b.get_value(&e, DataType::Gpc, 2), Some(1));
        assert_eq!(b.get_value(&e, DataType::GpcRate, 2), Some(1));
        assert_eq!(b.get_value(&e, DataType::GpcRate, 1), Some(0));
    }

    #[test]
    fn a_reload_that_resizes_an_array_keeps_its_elements() {
        let old = table("gpt(1),gpc(2)");
        let key = old.key(&Sample::Str(b"127.0.0.8".to_vec())).unwrap();
        let held = old.track(key.clone()).unwrap();
        old.inc_gp(held.entry(), DataType::Gpc, 1);
        old.set_gp(held.entry(), DataType::Gpt, 0, 4);
        let new = table("conn_cnt,gpt(1),gpc(3)");
        let resized = table("gpt(1),gpc(3)");
        assert!(!old.same_as(&resized.config), "gpc(2) is not gpc(3)");
        new.adopt(&old);
        let e = new.get(&key).unwrap();
        assert_eq!(new.get_value(&e, DataType::Gpc, 1), Some(1));
        assert_eq!(new.get_value(&e, DataType::Gpc, 2), Some(0));
        assert_eq!(new.get_value(&e, DataType::Gpt, 0), Some(4));
        assert_eq!(
            new.read(&e, DataType::ConnCnt),
            Some(0),
            "not stored before"
        );
    }

    #[test]
    fn ids_from_the_wire_widen_to_the_nearest_before() {
        let log = UpdateLog {
            last: (1 << 32) + 5,
            ..Default::default()
        };
        assert_eq!(log.widen(5), (1 << 32) + 5);
        assert_eq!(log.widen(3), (1 << 32) + 3);
        assert_eq!(log.widen(u32::MAX), (1 << 32) - 1);
    }
}
