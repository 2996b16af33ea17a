//! Property test of a table's expiry and purge: random sequences of
//! track, untrack, `set table` and clock steps against a plain model of
//! the rules the table promises: an entry tracked by a live session never
//! expires; an untracked one is gone exactly when its expire delay has
//! passed (and comes back empty); a full table makes room by dropping the
//! expired entries, then (unless `nopurge`) its least recently used
//! unused ones, down to 3/4 of its size, or refuses the new key.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::Sample;
use super::table::{Entry, Key, Table};
use crate::config::{DataType, parse_str};

#[derive(Debug, Clone)]
enum Op {
    Track(u8),
    /// Ends the n-th hold (modulo their number).
    Untrack(usize),
    /// `set table KEY data.conn_cnt V`.
    Set(u8, u16),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..8).prop_map(Op::Track),
        2 => any::<usize>().prop_map(Op::Untrack),
        1 => (0u8..8, any::<u16>()).prop_map(|(k, v)| Op::Set(k, v)),
        3 => (0u64..40).prop_map(Op::Advance),
    ]
}

/// An entry as the model sees it.
#[derive(Debug, Clone, Copy)]
struct M {
    uses: u32,
    expire_at: u64,
    touched: u64,
    conn_cnt: u64,
}

struct Model {
    size: usize,
    expire: u64,
    nopurge: bool,
    entries: BTreeMap<u8, M>,
}

impl Model {
    fn live(m: &M, now: u64) -> bool {
        m.uses > 0 || m.expire_at > now
    }

    fn fresh(&self, now: u64) -> M {
        M {
            uses: 0,
            expire_at: now.saturating_add(self.expire),
            touched: now,
            conn_cnt: 0,
        }
    }

    fn entry(&mut self, k: u8, now: u64) -> Option<&mut M> {
        match self.entries.get(&k) {
            Some(m) if Self::live(m, now) => {}
            Some(_) => {
                let f = self.fresh(now);
                self.entries.insert(k, f);
            }
            None => {
                if self.entries.len() >= self.size {
                    self.purge(now);
                    if self.entries.len() >= self.size {
                        return None;
                    }
                }
                let f = self.fresh(now);
                self.entries.insert(k, f);
            }
        }
        self.entries.get_mut(&k)
    }

    fn purge(&mut self, now: u64) {
        self.entries.retain(|_, m| Self::live(m, now));
        if self.nopurge || self.entries.len() < self.size {
            return;
        }
        let mut idle: Vec<(u64, u8)> = self
            .entries
            .iter()
            .filter(|(_, m)| m.uses == 0)
            .map(|(k, m)| (m.touched, *k))
            .collect();
        idle.sort();
        let excess = self.entries.len().saturating_sub(self.size * 3 / 4);
        for (_, k) in idle.into_iter().take(excess) {
            self.entries.remove(&k);
        }
    }
}

fn table(size: usize, expire: Option<u64>, nopurge: bool) -> Arc<Table> {
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:1\n stick-table type ip size {size} {} {} store conn_cnt\n\
         default_backend b\nbackend b\n server s 127.0.0.1:2\n",
        expire.map_or(String::new(), |e| format!("expire {e}ms")),
        if nopurge { "nopurge" } else { "" },
    );
    let c = parse_str("t.cfg", &text).unwrap().config;
    Arc::new(Table::new(&c.tables[0]))
}

fn key(t: &Table, k: u8) -> Key {
    t.key(&Sample::Str(format!("127.0.0.{}", k + 1).into_bytes()))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn expiry_and_purge_follow_the_model(
        size in 1usize..6,
        expire in proptest::option::of(1u64..60),
        nopurge in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let t = table(size, expire, nopurge);
        let mut m = Model {
            size,
            expire: expire.unwrap_or(u64::MAX),
            nopurge,
            entries: BTreeMap::new(),
        };
        // The clock starts late enough for every entry to start at a
        // time of its own.
        let mut now = 1_000u64;
        let mut holds: Vec<(u8, Arc<Entry>)> = Vec::new();
        for op in ops {
            match op {
                Op::Track(k) => {
                    let got = t.hold_at(key(&t, k), now);
                    let want = m.entry(k, now).map(|e| {
                        e.uses += 1;
                        e.touched = now;
                        e.conn_cnt += 1;
                    });
                    prop_assert_eq!(got.is_some(), want.is_some(), "track {} at {}", k, now);
                    if let Some(e) = got {
                        holds.push((k, e));
                    }
                }
                Op::Untrack(i) if !holds.is_empty() => {
                    let (k, e) = holds.remove(i % holds.len());
                    t.untrack_at(&e, now);
                    let me = m.entries.get_mut(&k).expect("a held entry stays");
                    me.uses -= 1;
                    me.touched = now;
                    me.expire_at = now.saturating_add(m.expire);
                }
                Op::Untrack(_) => {}
                Op::Set(k, v) => {
                    let got = t.set_at(key(&t, k), &[(DataType::ConnCnt, v as i64)], now);
                    let want = m.entry(k, now).map(|e| {
                        e.conn_cnt = v as u64;
                        e.touched = now;
                    });
                    let expire = m.expire;
                    if want.is_some() {
                        let e = m.entries.get_mut(&k).unwrap();
                        e.expire_at = now.saturating_add(expire);
                    }
                    prop_assert_eq!(got.is_ok(), want.is_some(), "set {} at {}", k, now);
                }
                Op::Advance(ms) => now += ms,
            }
            // Held entries never expire.
            for (k, _) in &holds {
                prop_assert!(t.get_at(&key(&t, *k), now).is_some(), "held {} gone at {}", k, now);
            }
            for k in 0..8u8 {
                let got = t.get_at(&key(&t, k), now);
                let want = m.entries.get(&k).filter(|e| Model::live(e, now));
                prop_assert_eq!(got.is_some(), want.is_some(), "key {} at {}", k, now);
                if let (Some(g), Some(w)) = (got, want) {
                    prop_assert_eq!(t.read(&g, DataType::ConnCnt), Some(w.conn_cnt as i64), "conn_cnt of {}", k);
                }
            }
            prop_assert!(t.used() <= size);
        }
    }
}
