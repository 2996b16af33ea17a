//! TLS with rustls: what a `bind ... ssl` and a `server ... ssl` need.
//!
//! [`Contexts::load`] reads every certificate, key and CA file a config
//! names (at start, at `-c`, at a reload: a bad file is a FILE:LINE error
//! and a reload keeps the old config) and builds one [`BindContext`] per
//! TLS bind and one [`ServerContext`] per TLS server. Certificates live in
//! the [`Store`], one [`CertSlot`] per file, which the runtime API can
//! replace (`set/commit ssl cert`, a transaction of the store): a
//! handshake always reads the slot's current certificate. A session's TLS side is a [`TlsConn`] over its
//! non-blocking socket; the flows read and write plaintext through it
//! (`forward`), so nothing else in the data path knows about records.
//!
//! Everything is in user space (rustls); [`TlsConn`] keeps the record layer
//! behind four calls (read, write, flush, close), the seam where a kTLS
//! path would hand the socket to the kernel after the handshake.

mod bind;
pub(crate) mod conn;
mod info;
mod load;
mod names;
mod ocsp;
mod server;
mod store;

use std::sync::Arc;

pub(crate) use bind::{BindContext, CrtList};
pub(crate) use conn::TlsConn;
pub(crate) use info::{CertInfo, chain_names, describe};
pub(crate) use load::PemError;
pub(crate) use ocsp::read as read_ocsp;
pub(crate) use server::ServerContext;
pub(crate) use store::{
    AbortError, CertSlot, CommitError, Committed, Opened, Part, SetError, Store,
};

use crate::config::{Config, Group, Suite, TlsSettings, TlsVersion};

#[cfg(feature = "aws-lc-rs")]
use rustls::crypto::aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use rustls::crypto::ring as backend;

/// The crypto library rustls runs on (`show version`, logs).
#[cfg(feature = "aws-lc-rs")]
pub(crate) const PROVIDER: &str = "aws-lc-rs";
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) const PROVIDER: &str = "ring";

/// The TLS state of one config: its certificates and the contexts of its
/// binds and servers, by position.
#[derive(Default)]
pub(crate) struct Contexts {
    pub store: Arc<Store>,
    /// `binds[frontend][bind]`.
    binds: Vec<Vec<Option<Arc<BindContext>>>>,
    /// `servers[backend][server]`.
    servers: Vec<Vec<Option<Arc<ServerContext>>>>,
}

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contexts")
            .field("certs", &self.store.len())
            .finish()
    }
}

impl Contexts {
    /// Reads the files of `config`'s TLS binds and servers; every problem
    /// is reported, each with the config line that named the file.
    pub(crate) fn load(config: &Config) -> Result<Contexts, Vec<String>> {
        Contexts::load_into(config, Arc::new(Store::default()))
    }

    /// [`Contexts::load`] over the certificates of `store`: files already
    /// there (committed at run time included) are not read again. A
    /// runtime API change to the servers keeps the running store.
    pub(crate) fn load_into(config: &Config, store: Arc<Store>) -> Result<Contexts, Vec<String>> {
        let mut errors = Vec::new();
        let mut binds = Vec::new();
        for fe in &config.frontends {
            let mut row = Vec::new();
            for b in &fe.binds {
                row.push(b.tls.as_ref().and_then(|t| {
                    BindContext::build(t, &config.global, &store)
                        .map_err(|e| errors.extend(e.into_iter().map(|e| e.to_string())))
                        .ok()
                        .map(Arc::new)
                }));
            }
            binds.push(row);
        }
        let mut servers = Vec::new();
        for be in &config.backends {
            let mut row = Vec::new();
            for s in &be.servers {
                let wanted = s.tls.enabled || s.tls.check_ssl || s.tls.switched_off;
                row.push(
                    wanted
                        .then(|| {
                            ServerContext::build(&s.tls, &store)
                                .map_err(|e| {
                                    errors.push(format!(
                                        "{}: server '{}/{}': {e}",
                                        s.location, be.name, s.name
                                    ))
                                })
                                .ok()
                                .map(Arc::new)
                        })
                        .flatten(),
                );
            }
            servers.push(row);
        }
        if errors.is_empty() {
            if store.len() > 0 {
                log::debug!("TLS: {} certificate(s), rustls on {PROVIDER}", store.len());
            }
            Ok(Contexts {
                store,
                binds,
                servers,
            })
        } else {
            Err(errors)
        }
    }

    /// The context of bind `bind` of frontend `fe`, when it speaks TLS.
    pub(crate) fn bind(&self, fe: usize, bind: usize) -> Option<&Arc<BindContext>> {
        self.binds.get(fe)?.get(bind)?.as_ref()
    }

    /// How many certificates of the binds and servers come from `slot`:
    /// what a commit rebuilds (HAProxy prints a dot for each).
    pub(crate) fn uses(&self, slot: &CertSlot) -> usize {
        let binds: usize = self
            .binds
            .iter()
            .flatten()
            .flatten()
            .map(|b| b.uses(slot))
            .sum();
        binds + self.servers_using(slot).count()
    }

    fn servers_using<'a>(&'a self, slot: &'a CertSlot) -> impl Iterator<Item = &'a ServerContext> {
        self.servers
            .iter()
            .flatten()
            .flatten()
            .map(|s| &**s)
            .filter(move |s| s.uses(slot))
    }

    /// `commit ssl cert NAME` ([`Store::commit`]); the servers that show
    /// that certificate forget their sessions, as HAProxy's commit flushes
    /// them. Returns how many certificates were rebuilt too.
    pub(crate) fn commit(&self, name: &str) -> Result<(Committed, usize), CommitError> {
        let done = self.store.commit(name)?;
        for s in self.servers_using(&done.slot) {
            s.flush_sessions();
        }
        let uses = self.uses(&done.slot);
        Ok((done, uses))
    }

    /// The crt-lists and `crt` directories of every bind, by path (a list
    /// named by several binds once).
    pub(crate) fn crt_lists(&self) -> Vec<CrtList> {
        let mut out: Vec<CrtList> = Vec::new();
        for list in self
            .binds
            .iter()
            .flatten()
            .flatten()
            .flat_map(|b| b.lists())
        {
            if !out.iter().any(|l| l.path == list.path) {
                out.push(list.clone());
            }
        }
        out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        out
    }

    /// The context of server `server` of backend `be` (`ssl` or `check-ssl`).
    pub(crate) fn server(&self, be: usize, server: usize) -> Option<&Arc<ServerContext>> {
        self.servers.get(be)?.get(server)?.as_ref()
    }
}

/// The crypto provider narrowed to what `s` allows (`ciphers`,
/// `ciphersuites`, `curves`), in the order given.
fn provider(s: &TlsSettings) -> Result<rustls::crypto::CryptoProvider, String> {
    use backend::cipher_suite as cs;
    let mut p = backend::default_provider();
    let suite = |x: Suite| match x {
        Suite::Tls13Aes128Gcm => cs::TLS13_AES_128_GCM_SHA256,
        Suite::Tls13Aes256Gcm => cs::TLS13_AES_256_GCM_SHA384,
        Suite::Tls13Chacha20 => cs::TLS13_CHACHA20_POLY1305_SHA256,
        Suite::EcdheEcdsaAes128Gcm => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        Suite::EcdheEcdsaAes256Gcm => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        Suite::EcdheEcdsaChacha20 => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        Suite::EcdheRsaAes128Gcm => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Suite::EcdheRsaAes256Gcm => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        Suite::EcdheRsaChacha20 => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    };
    let is13 = |x: &rustls::SupportedCipherSuite| x.version() == &rustls::version::TLS13;
    if s.ciphers.is_some() || s.ciphersuites.is_some() {
        let (old13, old12): (Vec<_>, Vec<_>) = p.cipher_suites.iter().copied().partition(is13);
        let pick = |list: &Option<Vec<Suite>>, default: Vec<rustls::SupportedCipherSuite>| {
            list.as_ref()
                .map_or(default, |l| l.iter().map(|x| suite(*x)).collect())
        };
        let mut suites = pick(&s.ciphersuites, old13);
        suites.extend(pick(&s.ciphers, old12));
        p.cipher_suites = suites;
    }
    if let Some(curves) = &s.curves {
        p.kx_groups = curves
            .iter()
            .map(|g| match g {
                Group::X25519 => backend::kx_group::X25519,
                Group::P256 => backend::kx_group::SECP256R1,
                Group::P384 => backend::kx_group::SECP384R1,
            })
            .collect();
    }
    let versions = versions(s);
    if !p
        .cipher_suites
        .iter()
        .any(|c| versions.iter().any(|v| c.version() == *v))
    {
        return Err("no cipher left for the TLS versions allowed".into());
    }
    Ok(p)
}

/// The protocol versions `s` allows, among those rustls speaks.
fn versions(s: &TlsSettings) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut v = Vec::new();
    if s.min_version <= TlsVersion::Tls13 && s.max_version >= TlsVersion::Tls13 {
        v.push(&rustls::version::TLS13);
    }
    if s.min_version <= TlsVersion::Tls12 && s.max_version >= TlsVersion::Tls12 {
        v.push(&rustls::version::TLS12);
    }
    v
}

/// A message for a rustls error, for logs and the runtime API.
fn error_text(e: &rustls::Error) -> String {
    e.to_string()
}
