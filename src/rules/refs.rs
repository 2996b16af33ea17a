//! Pattern lists as the running process holds them: the config's lists
//! ([`PatternRef`]) compiled into one index per way of matching, behind a
//! lock that workers take for reading while they match and the runtime API
//! takes for writing when it adds, sets, deletes or clears entries (`add
//! acl`, `set map`...). An edit rebuilds the list's indexes and applies to
//! the next match on every worker.

use parking_lot::RwLock;

use super::pattern::Compiled;
use crate::config::pattern::{MatchMethod, parse_pattern};
use crate::config::{PatternEntry, PatternRef, PatternUse};

/// One entry and the number the runtime API shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: u64,
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug)]
struct State {
    entries: Vec<Entry>,
    /// One index per way, over `entries` in order.
    compiled: Vec<Compiled>,
    next_id: u64,
}

/// A pattern list the runtime API can edit.
#[derive(Debug)]
pub(crate) struct LiveRef {
    pub uid: u32,
    pub file: Option<String>,
    pub description: String,
    pub used: PatternUse,
    pub ways: Vec<(MatchMethod, bool)>,
    state: RwLock<State>,
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditError {
    /// The key does not parse for one of the list's ways.
    BadKey(String),
    NotFound,
}

fn compile(ways: &[(MatchMethod, bool)], entries: &[Entry]) -> Result<Vec<Compiled>, String> {
    ways.iter()
        .map(|&(method, icase)| {
            let patterns = entries
                .iter()
                .map(|e| parse_pattern(method, None, icase, &e.key))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Compiled::build(method, icase, &patterns))
        })
        .collect()
}

impl LiveRef {
    /// The list as the config has it. Its entries were checked by the
    /// config parser for every way.
    pub(crate) fn new(r: &PatternRef) -> LiveRef {
        let entries: Vec<Entry> = r
            .entries
            .iter()
            .enumerate()
            .map(|(i, PatternEntry { key, value })| Entry {
                id: i as u64,
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        let compiled = compile(&r.ways, &entries).unwrap_or_else(|e| {
            log::error!("pattern list #{}: {e}", r.uid);
            r.ways
                .iter()
                .map(|&(m, i)| Compiled::build(m, i, &[]))
                .collect()
        });
        LiveRef {
            uid: r.uid,
            file: r.file.clone(),
            description: r.description.clone(),
            used: r.used,
            ways: r.ways.clone(),
            state: RwLock::new(State {
                next_id: entries.len() as u64,
                entries,
                compiled,
            }),
        }
    }

    /// The first entry matching `sample` the way `way` matches, with its
    /// value: `f` gets it while the list is locked for reading.
    pub(crate) fn lookup<R>(
        &self,
        way: usize,
        sample: &super::Sample,
        f: impl FnOnce(Option<&Entry>) -> R,
    ) -> R {
        let state = self.state.read();
        let hit = state
            .compiled
            .get(way)
            .and_then(|c| c.lookup(sample))
            .and_then(|i| state.entries.get(i));
        f(hit)
    }

    /// Whether `sample` matches the list the way `way` matches (`found`
    /// and `bool` look at the sample alone).
    pub(crate) fn matches(&self, way: usize, sample: &super::Sample) -> bool {
        let state = self.state.read();
        state.compiled.get(way).is_some_and(|c| c.matches(sample))
    }

    /// A copy of the entries, for `show acl`/`show map`.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.state.read().entries.clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.state.read().entries.len()
    }

    fn edit(&self, f: impl FnOnce(&mut Vec<Entry>, &mut u64) -> bool) -> Result<(), EditError> {
        let mut state = self.state.write();
        let mut entries = state.entries.clone();
        let mut next = state.next_id;
        if !f(&mut entries, &mut next) {
            return Err(EditError::NotFound);
        }
        let compiled = compile(&self.ways, &entries).map_err(EditError::BadKey)?;
        *state = State {
            entries,
            compiled,
            next_id: next,
        };
        Ok(())
    }

    /// `add acl`/`add map`: appends an entry.
    pub(crate) fn add(&self, key: &str, value: Option<&str>) -> Result<(), EditError> {
        self.edit(|entries, next| {
            entries.push(Entry {
                id: *next,
                key: key.to_string(),
                value: value.map(str::to_string),
            });
            *next += 1;
            true
        })
    }

    /// `del acl`/`del map`: removes every entry with this key, or the
    /// entry `#ID`.
    pub(crate) fn delete(&self, which: &str) -> Result<(), EditError> {
        self.edit(|entries, _| {
            let before = entries.len();
            entries.retain(|e| !selects(e, which));
            entries.len() != before
        })
    }

    /// `set map`: the value of every entry with this key, or of `#ID`.
    pub(crate) fn set(&self, which: &str, value: &str) -> Result<(), EditError> {
        self.edit(|entries, _| {
            let mut found = false;
            for e in entries.iter_mut().filter(|e| selects(e, which)) {
                e.value = Some(value.to_string());
                found = true;
            }
            found
        })
    }

    /// `clear acl`/`clear map`.
    pub(crate) fn clear(&self) {
        let _ = self.edit(|entries, _| {
            entries.clear();
            true
        });
    }
}

/// `#ID` names an entry by number; anything else is a key.
fn selects(e: &Entry, which: &str) -> bool {
    let id = which
        .strip_prefix('#')
        .and_then(|n| match n.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => n.parse::<u64>().ok(),
        });
    match id {
        Some(id) => e.id == id,
        None => e.key == which,
    }
}

/// Every pattern list of one config.
#[derive(Debug, Default)]
pub(crate) struct PatternStore {
    pub refs: Vec<LiveRef>,
}

impl PatternStore {
    pub(crate) fn new(refs: &[PatternRef]) -> PatternStore {
        PatternStore {
            refs: refs.iter().map(LiveRef::new).collect(),
        }
    }

    /// The list a runtime API argument names: `#UID` or a file name;
    /// `map` chooses between ACL and map lists.
    pub(crate) fn find(&self, name: &str, map: bool) -> Option<&LiveRef> {
        let used = |r: &&LiveRef| if map { r.used.map } else { r.used.acl };
        match name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()) {
            Some(uid) => self.refs.iter().filter(used).find(|r| r.uid == uid),
            None => self
                .refs
                .iter()
                .filter(used)
                .find(|r| r.file.as_deref() == Some(name)),
        }
    }
}
