//! The certificates of one config, one [`CertSlot`] per file: a file named
//! by several binds is read once and shared, as in HAProxy. The runtime API
//! changes a certificate in a transaction, as HAProxy's does: `set ssl
//! cert` edits a copy of the file's [`Parts`] ([`Store::set`], one file at
//! a time), `commit ssl cert` checks it and swaps the slot's certificate
//! ([`Store::commit`]), `abort ssl cert` drops it. Handshakes read the
//! slot each time, so the next handshake uses the new certificate and
//! sessions already up keep theirs. A reload builds a new store from the
//! files: a transaction not committed is lost, as in HAProxy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::load::{self, BuildError, Loaded, Parts, PemError};

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
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub path: PathBuf,
    pub parts: Parts,
}

/// Which part of a certificate file a `set ssl cert` name changes, by its
/// extension (HAProxy's `cert_exts`): `a.pem.key` is the key of `a.pem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The PEM: certificate, chain and key (also `.crt`).
    Pem,
    Key,
    Ocsp,
    Issuer,
    /// Signed certificate timestamps: rustls staples none, so refused.
    Sctl,
}

impl Part {
    /// The certificate file `name` is about, and the part it names.
    /// HAProxy 2.6 takes `.crt` off too, so a file named `x.crt` is
    /// reached as `x.crt.crt`; splicer does the same.
    pub(crate) fn of(name: &str) -> (&str, Part) {
        const EXTENSIONS: &[(&str, Part)] = &[
            ("crt", Part::Pem),
            ("key", Part::Key),
            ("ocsp", Part::Ocsp),
            ("sctl", Part::Sctl),
            ("issuer", Part::Issuer),
        ];
        name.rsplit_once('.')
            .and_then(|(base, ext)| {
                EXTENSIONS
                    .iter()
                    .find(|(e, _)| *e == ext)
                    .map(|(_, p)| (base, *p))
            })
            .unwrap_or((name, Part::Pem))
    }
}

/// Whether `set ssl cert` opened the transaction or changed it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    Created,
    Updated,
}

/// Why `set ssl cert` changed nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetError {
    /// The open transaction is about this other file.
    Busy(PathBuf),
    /// No certificate of the config has that name.
    Unknown,
    Pem(PemError),
    /// No private key in the payload.
    Key,
    /// The payload is not base64.
    Ocsp,
    /// No certificate in the payload.
    Issuer,
    Sctl,
}

/// Why `commit ssl cert` committed nothing. The first four keep the
/// transaction open (HAProxy checks them before it starts);
/// [`CommitError::Failed`] drops it, as a failure while HAProxy builds the
/// new contexts does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CommitError {
    NoTransaction,
    /// The open transaction is about this other file.
    Other(PathBuf),
    NoKey,
    Mismatch,
    Failed(String),
}

/// Why `abort ssl cert` aborted nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AbortError {
    NoTransaction,
    Other(PathBuf),
}

/// What a commit did.
#[derive(Debug)]
pub(crate) struct Committed {
    pub slot: Arc<CertSlot>,
    /// The OCSP response was not stapled, and why (HAProxy warns and
    /// commits all the same).
    pub ocsp_ignored: Option<String>,
}

/// Every certificate of a config, in the order first named.
#[derive(Debug, Default)]
pub(crate) struct Store {
    slots: RwLock<Vec<Arc<CertSlot>>>,
    /// The runtime API's open transaction: HAProxy allows one at a time.
    pending: Mutex<Option<Pending>>,
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

    /// The slot the runtime API names `name`, spelled exactly as its path
    /// (HAProxy compares the strings).
    pub(crate) fn named(&self, name: &str) -> Option<Arc<CertSlot>> {
        self.slots
            .read()
            .iter()
            .find(|s| s.path.as_os_str() == name)
            .cloned()
    }

    /// Every slot, in the order first named.
    pub(crate) fn all(&self) -> Vec<Arc<CertSlot>> {
        self.slots.read().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.read().len()
    }

    /// A copy of the open transaction.
    pub(crate) fn pending(&self) -> Option<Pending> {
        self.pending.lock().clone()
    }

    /// `set ssl cert NAME` with `payload`: the open transaction (for that
    /// file only), else a new one from the file's current parts, gets the
    /// part `NAME`'s extension says. Returns the file's path.
    pub(crate) fn set(&self, name: &str, payload: &[u8]) -> Result<(Opened, PathBuf), SetError> {
        let (base, part) = Part::of(name);
        let mut pending = self.pending.lock();
        let (opened, path, mut parts) = match pending.as_ref() {
            Some(p) if p.path.as_os_str() == base => {
                (Opened::Updated, p.path.clone(), p.parts.clone())
            }
            // HAProxy 2.6.12 updates the open transaction with the other
            // file's payload here (fixed upstream in 3.1, "'set ssl cert'
            // does not check the transaction name correctly", and
            // backported): splicer refuses, as the fixed versions do.
            Some(p) => return Err(SetError::Busy(p.path.clone())),
            None => {
                let slot = self.named(base).ok_or(SetError::Unknown)?;
                (Opened::Created, slot.path.clone(), slot.current().parts())
            }
        };
        match part {
            Part::Pem => parts.set_pem(payload).map_err(SetError::Pem)?,
            Part::Key => parts.set_key(payload).then_some(()).ok_or(SetError::Key)?,
            Part::Ocsp => parts
                .set_ocsp(payload)
                .then_some(())
                .ok_or(SetError::Ocsp)?,
            Part::Issuer => parts
                .set_issuer(payload)
                .then_some(())
                .ok_or(SetError::Issuer)?,
            Part::Sctl => return Err(SetError::Sctl),
        }
        *pending = Some(Pending {
            path: path.clone(),
            parts,
        });
        Ok((opened, path))
    }

    /// `commit ssl cert NAME`: the transaction's certificate replaces the
    /// slot's for the next handshakes, everywhere the file is used.
    pub(crate) fn commit(&self, name: &str) -> Result<Committed, CommitError> {
        let mut pending = self.pending.lock();
        let p = pending.as_ref().ok_or(CommitError::NoTransaction)?;
        if p.path.as_os_str() != name {
            return Err(CommitError::Other(p.path.clone()));
        }
        if p.parts.key.is_none() {
            return Err(CommitError::NoKey);
        }
        let built = p.parts.build();
        if built.as_ref().err() == Some(&BuildError::Mismatch) {
            return Err(CommitError::Mismatch);
        }
        // From here on a failure ends the transaction.
        let Some(p) = pending.take() else {
            return Err(CommitError::NoTransaction);
        };
        let mut loaded = built.map_err(|e| {
            CommitError::Failed(format!(
                "unable to load SSL private key into SSL Context '{}': {e}.\n",
                p.path.display()
            ))
        })?;
        let ocsp_ignored = match &p.parts.ocsp {
            None => None,
            Some(der) => staple(&p, der, &mut loaded)?,
        };
        let slot = self.named(name).ok_or(CommitError::NoTransaction)?;
        slot.replace(loaded);
        Ok(Committed { slot, ocsp_ignored })
    }

    /// `abort ssl cert NAME`: the transaction is dropped.
    pub(crate) fn abort(&self, name: &str) -> Result<(), AbortError> {
        let mut pending = self.pending.lock();
        match pending.as_ref() {
            None => Err(AbortError::NoTransaction),
            Some(p) if p.path.as_os_str() != name => Err(AbortError::Other(p.path.clone())),
            Some(_) => {
                *pending = None;
                Ok(())
            }
        }
    }
}

/// Checks an OCSP response given over the runtime API before `loaded`
/// staples it, as HAProxy does when it builds the new contexts: the
/// certificate's issuer must be known (in the chain or `.issuer`), else the
/// commit fails; a response that is not about this certificate is not
/// stapled (`Some(why)`), and the commit goes on.
fn staple(p: &Pending, der: &[u8], loaded: &mut Loaded) -> Result<Option<String>, CommitError> {
    if p.parts.leaf_issuer().is_none() {
        return Err(CommitError::Failed(format!(
            " '{}.ocsp' is present and activates OCSP but it is impossible to compute the OCSP certificate ID (maybe the issuer could not be found)'.\n",
            p.path.display()
        )));
    }
    let leaf_serial = p
        .parts
        .chain
        .first()
        .and_then(|c| super::info::raw_serial(c))
        .unwrap_or_default();
    let why = match super::ocsp::read(der) {
        Err(e) => e.to_string(),
        Ok(r) => match r.refusal(&leaf_serial) {
            Some(why) => why,
            None => return Ok(None),
        },
    };
    let mut key = (*loaded.key).clone();
    key.ocsp = None;
    loaded.key = Arc::new(key);
    Ok(Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_file_and_the_part() {
        let cases = [
            ("/a/x.pem", ("/a/x.pem", Part::Pem)),
            ("/a/x.pem.key", ("/a/x.pem", Part::Key)),
            ("/a/x.pem.ocsp", ("/a/x.pem", Part::Ocsp)),
            ("/a/x.pem.issuer", ("/a/x.pem", Part::Issuer)),
            ("/a/x.pem.sctl", ("/a/x.pem", Part::Sctl)),
            ("/a/x.crt", ("/a/x", Part::Pem)),
            ("/a/x.pem.foo", ("/a/x.pem.foo", Part::Pem)),
            ("noext", ("noext", Part::Pem)),
        ];
        for (name, want) in cases {
            assert_eq!(Part::of(name), want, "{name}");
        }
    }
}
