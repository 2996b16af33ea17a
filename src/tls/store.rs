//! The certificates of one config, one [`CertSlot`] per file: a file named
//! by several binds is read once and shared, as in HAProxy. The runtime API
//! swaps a slot's certificate (`commit ssl cert`); handshakes read the
//! slot each time, so the next handshake uses the new one and sessions
//! already up keep theirs.
// The runtime API's `set/commit ssl cert` is the user of `replace`,
// `pending` and `all` (it lands right after this module).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::load::{self, Loaded};

/// A certificate file and what it holds now.
#[derive(Debug)]
pub(crate) struct CertSlot {
    /// The path as the config (after `crt-base`) or a directory listing
    /// named it: the name the runtime API uses.
    pub path: PathBuf,
    current: RwLock<Arc<Loaded>>,
}

impl CertSlot {
    pub(crate) fn new(path: PathBuf, loaded: Loaded) -> Self {
        CertSlot {
            path,
            current: RwLock::new(Arc::new(loaded)),
        }
    }

    /// The certificate handshakes use now.
    pub(crate) fn current(&self) -> Arc<Loaded> {
        self.current.read().clone()
    }

    /// Puts `loaded` in use for the next handshakes.
    pub(crate) fn replace(&self, loaded: Loaded) {
        *self.current.write() = Arc::new(loaded);
    }
}

/// A change of a certificate under way (`set ssl cert`, not committed).
#[derive(Debug)]
pub(crate) struct Pending {
    pub path: PathBuf,
    pub loaded: Loaded,
}

/// Every certificate of a config, in the order first named.
#[derive(Debug, Default)]
pub(crate) struct Store {
    slots: RwLock<Vec<Arc<CertSlot>>>,
    /// The runtime API's open transaction: HAProxy allows one at a time.
    pub pending: Mutex<Option<Pending>>,
}

impl Store {
    /// The slot of `path`, reading the file the first time it is named.
    pub(crate) fn slot(&self, path: &Path) -> Result<Arc<CertSlot>, String> {
        if let Some(s) = self.get(path) {
            return Ok(s);
        }
        let loaded = load::read(path)?;
        let slot = Arc::new(CertSlot::new(path.to_path_buf(), loaded));
        self.slots.write().push(slot.clone());
        Ok(slot)
    }

    pub(crate) fn get(&self, path: &Path) -> Option<Arc<CertSlot>> {
        self.slots.read().iter().find(|s| s.path == path).cloned()
    }

    /// Every slot, in the order first named.
    pub(crate) fn all(&self) -> Vec<Arc<CertSlot>> {
        self.slots.read().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.read().len()
    }
}
