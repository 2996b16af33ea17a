//! What `stick` rules keep in a table: for a key, the server its
//! sessions went to, by number (`server_id`, the server's `id`) and by
//! name or address (`server_key`, as `srvkey` says), as HAProxy stores
//! them. A `server_key` is a small number into the table's list of the
//! names it has seen, so an entry keeps 16 bytes for it like any datum.

use std::collections::HashMap;
use std::sync::Arc;

use super::table::{Datum, Entry, Key, Table};
use crate::base::clock::now_ms;
use crate::config::DataType;

/// The server names (or addresses) a table stored, numbered from 1.
#[derive(Debug, Default)]
pub(crate) struct Names {
    list: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u64>,
}

impl Names {
    fn id(&mut self, name: &str) -> u64 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let name: Arc<str> = name.into();
        self.list.push(name.clone());
        let i = self.list.len() as u64;
        self.index.insert(name, i);
        i
    }

    fn name(&self, id: u64) -> Option<Arc<str>> {
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        self.list.get(i).cloned()
    }
}

/// The server a stored key points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stuck {
    /// `server_key`: its name or address when stored.
    pub key: Option<Arc<str>>,
    /// `server_id`: its number.
    pub id: i64,
}

impl Table {
    /// The number a `server_key` value is kept under.
    pub(super) fn name_id(&self, name: &str) -> u64 {
        self.names.lock().id(name)
    }

    /// The `server_key` value kept under `id` (0: none).
    pub(super) fn name_of(&self, id: u64) -> Option<Arc<str>> {
        self.names.lock().name(id)
    }

    /// `stick match`: the server `key` was stored with, if it is there;
    /// the entry's expiry starts again (HAProxy touches it).
    pub(crate) fn stuck(&self, key: &Key) -> Option<Stuck> {
        let e = self.get(key)?;
        let now = now_ms();
        let found = {
            let mut d = e.data.lock();
            let id = self.slot_of(DataType::ServerId).map(|s| &d.values[s]);
            let name = self.slot_of(DataType::ServerKey).map(|s| &d.values[s]);
            let found = match (id, name) {
                (Some(Datum::Count(id)), name) => Some(Stuck {
                    id: *id as i64,
                    key: match name {
                        Some(Datum::Count(n)) => self.name_of(*n),
                        _ => None,
                    },
                }),
                _ => None,
            };
            d.touched = now;
            found
        };
        self.changed(&e);
        found.filter(|s| s.id != 0 || s.key.is_some())
    }

    /// `stick store-request`/`on`/`store-response`: `key` now points at
    /// the server numbered `id` whose `server_key` is `name`. `false`
    /// when a full table may not purge.
    pub(crate) fn stick(&self, key: Key, id: i64, name: &str) -> bool {
        let now = now_ms();
        let Some(e) = self.entry(key, now) else {
            return false;
        };
        let n = self.name_id(name);
        self.put_server(&e, id, n, now);
        true
    }

    fn put_server(&self, e: &Arc<Entry>, id: i64, name: u64, now: u64) {
        {
            let mut d = e.data.lock();
            if let Some(s) = self.slot_of(DataType::ServerId) {
                d.values[s] = Datum::Count(id.max(0) as u64);
            }
            if let Some(s) = self.slot_of(DataType::ServerKey) {
                d.values[s] = Datum::Count(name);
            }
            d.touched = now;
        }
        self.changed(e);
    }

    /// Where datum `t` sits in an entry's data.
    pub(super) fn slot_of(&self, t: DataType) -> Option<usize> {
        self.slot(self.index(t)?, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::rules::Sample;

    #[test]
    fn a_key_finds_its_server_again() {
        let text = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
            frontend f\n bind 127.0.0.1:1\n default_backend b\n\
            backend b\n stick-table type ip size 10 expire 30s\n stick on src\n server s1 127.0.0.1:2\n server s2 127.0.0.1:3\n";
        let c = parse_str("t.cfg", text).unwrap().config;
        let t = Arc::new(Table::new(&c.tables[0]));
        let k = t.key(&Sample::Str(b"127.0.0.3".to_vec())).unwrap();
        assert_eq!(t.stuck(&k), None);
        assert!(t.stick(k.clone(), 2, "s2"));
        assert_eq!(
            t.stuck(&k),
            Some(Stuck {
                key: Some("s2".into()),
                id: 2
            })
        );
        assert!(t.stick(k.clone(), 1, "s1"), "a store overwrites");
        assert_eq!(t.stuck(&k).map(|s| s.id), Some(1));
        let line = t.dump(&crate::rules::table::Filter::All).join("\n");
        assert!(line.ends_with(" server_id=1 server_key=s1"), "{line}");
    }
}
