//! The server side of a `bind ... ssl`: which certificate and which
//! settings answer a ClientHello.
//!
//! Each certificate source of the bind is an [`Entry`]: a slot of the
//! store, the names it answers for (its own CN/SAN, or a crt-list line's
//! filters) and the index of its rustls config (one per distinct settings:
//! the bind's, and each crt-list line's). [`BindContext::choose`] runs on
//! the ClientHello before any config is committed to (rustls's
//! `Acceptor`), so a crt-list line's `verify` or `alpn` applies to its
//! names only. An exact name wins over a wildcard; no SNI, or no match,
//! takes the first certificate unless `strict-sni`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SignatureScheme};

use super::names::sni_matches;
use super::store::{CertSlot, Store};
use crate::config::{BindTls, CrtListText, Global, TlsSettings, Verify};

/// Files of a `crt DIR` that are not certificates but companions of one.
const COMPANION_SUFFIXES: &[&str] = &[".key", ".ocsp", ".issuer", ".sctl"];

#[derive(Debug)]
struct Entry {
    slot: Arc<CertSlot>,
    /// crt-list filters; empty: the certificate's own names.
    filters: Vec<String>,
    /// crt-list `!name` filters.
    excluded: Vec<String>,
    config: usize,
}

/// How well an entry answers a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Exact,
    Wildcard,
}

impl Entry {
    fn fit(&self, name: &str) -> Option<Fit> {
        if self.excluded.iter().any(|x| sni_matches(x, name)) {
            return None;
        }
        let own;
        let names = if self.filters.is_empty() {
            own = self.slot.current().info.names();
            &own
        } else {
            &self.filters
        };
        let mut best = None;
        for n in names {
            if n == name {
                return Some(Fit::Exact);
            }
            if sni_matches(n, name) {
                best = Some(Fit::Wildcard);
            }
        }
        best
    }
}

/// A crt-list file or a `crt` directory, as `show ssl crt-list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CrtList {
    /// The file, or the directory without a trailing `/` (HAProxy's name).
    pub path: String,
    pub lines: Vec<ListLine>,
}

/// A certificate of a [`CrtList`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListLine {
    pub cert: PathBuf,
    /// Its line in the file; 0 in a directory.
    pub line: usize,
    /// The line's options and filters as written (none in a directory).
    pub text: CrtListText,
}

/// The certificates and settings of one TLS bind.
pub(crate) struct BindContext {
    entries: Arc<Vec<Entry>>,
    /// Per settings: the config, and the same without ALPN for a client
    /// whose offer shares no protocol with `alpn` (OpenSSL, and so
    /// HAProxy, then go on without ALPN; rustls would refuse).
    configs: Vec<(Arc<ServerConfig>, Arc<ServerConfig>)>,
    strict_sni: bool,
    /// Its crt-lists and directories, in the order named.
    lists: Vec<CrtList>,
}

impl std::fmt::Debug for BindContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindContext")
            .field("entries", &self.entries.len())
            .field("strict_sni", &self.strict_sni)
            .finish()
    }
}

impl BindContext {
    /// Reads the bind's certificates (through `store`) and builds its
    /// rustls configs; errors name the config or crt-list line.
    pub(crate) fn build(t: &BindTls, global: &Global, store: &Store) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut settings: Vec<&TlsSettings> = vec![&t.settings];
        let mut entries = Vec::new();
        let mut lists: Vec<CrtList> = Vec::new();
        for c in &t.certs {
            let s = c.list.as_ref().map_or(&t.settings, |l| &l.settings);
            let config = match settings.iter().position(|x| *x == s) {
                Some(i) => i,
                None => {
                    settings.push(s);
                    settings.len() - 1
                }
            };
            let (filters, excluded) = c.list.as_ref().map_or((vec![], vec![]), |l| {
                let (neg, pos): (Vec<_>, Vec<_>) =
                    l.filters.iter().partition(|f| f.starts_with('!'));
                (
                    pos.into_iter().map(|f| f.to_lowercase()).collect(),
                    neg.into_iter().map(|f| f[1..].to_lowercase()).collect(),
                )
            });
            let files = match files_of(&c.path) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(format!("{}: {e}", c.location));
                    continue;
                }
            };
            list_lines(&mut lists, c, &files);
            for file in files {
                match store.slot(&file) {
                    Ok(slot) => entries.push(Entry {
                        slot,
                        filters: filters.clone(),
                        excluded: excluded.clone(),
                        config,
                    }),
                    Err(e) => errors.push(format!("{}: {e}", c.location)),
                }
            }
        }
        if entries.is_empty() && errors.is_empty() {
            let at = t
                .certs
                .first()
                .map(|c| c.location.to_string())
                .unwrap_or_default();
            errors.push(format!("{at}: no certificate found for this bind"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let entries = Arc::new(entries);
        let cache = rustls::server::ServerSessionMemoryCache::new(global.tls_cache_size.max(1));
        let ticketer = super::backend::Ticketer::new().map_err(|e| vec![e.to_string()])?;
        let mut configs = Vec::new();
        let at = t.certs[0].location.to_string();
        for (i, s) in settings.iter().enumerate() {
            let resolver = Arc::new(Resolver {
                entries: entries.clone(),
                config: i,
                strict_sni: t.strict_sni,
            });
            match server_config(s, global, resolver, cache.clone(), ticketer.clone()) {
                Ok(c) => {
                    let mut bare = c.clone();
                    bare.alpn_protocols.clear();
                    configs.push((Arc::new(c), Arc::new(bare)));
                }
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(BindContext {
            entries,
            configs,
            strict_sni: t.strict_sni,
            lists,
        })
    }

    /// How many of this bind's certificates come from `slot` (HAProxy's
    /// instances of a certificate: one per `crt` and per crt-list line).
    pub(crate) fn uses(&self, slot: &CertSlot) -> usize {
        self.entries
            .iter()
            .filter(|e| std::ptr::eq(Arc::as_ptr(&e.slot), slot))
            .count()
    }

    /// The crt-lists and `crt` directories of this bind.
    pub(crate) fn lists(&self) -> &[CrtList] {
        &self.lists
    }

    /// The rustls config that answers a ClientHello naming `sni` and
    /// offering `alpn` (`None`: no ALPN extension); `None` refuses the
    /// handshake (`strict-sni` and no certificate for it).
    pub(crate) fn choose(
        &self,
        sni: Option<&str>,
        alpn: Option<&[&[u8]]>,
    ) -> Option<Arc<ServerConfig>> {
        let entry = match sni {
            Some(name) => best(&self.entries, &name.to_lowercase(), None),
            None => None,
        };
        let entry = match entry {
            Some(e) => e,
            None if self.strict_sni => return None,
            None => self.entries.first()?,
        };
        let (with, bare) = &self.configs[entry.config];
        let shared = alpn.is_none_or(|offer| {
            with.alpn_protocols.is_empty()
                || offer
                    .iter()
                    .any(|p| with.alpn_protocols.iter().any(|q| q == p))
        });
        Some(if shared { with.clone() } else { bare.clone() })
    }
}

/// The entry for `name`: exact names first, then wildcards, in order;
/// `config` limits the search to one config's entries.
fn best<'a>(entries: &'a [Entry], name: &str, config: Option<usize>) -> Option<&'a Entry> {
    let mut wildcard = None;
    for e in entries
        .iter()
        .filter(|e| config.is_none_or(|c| e.config == c))
    {
        match e.fit(name) {
            Some(Fit::Exact) => return Some(e),
            Some(Fit::Wildcard) if wildcard.is_none() => wildcard = Some(e),
            _ => {}
        }
    }
    wildcard
}

/// Picks the certificate inside one config: the entry SNI chose, or
/// another for the same name whose key the client can use (an ECDSA and
/// an RSA certificate for one name), else the config's first.
#[derive(Debug)]
struct Resolver {
    entries: Arc<Vec<Entry>>,
    config: usize,
    strict_sni: bool,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        let usable = |e: &Entry| {
            let key = e.slot.current().key.clone();
            usable_with(&key, schemes).then_some(key)
        };
        let mine = || self.entries.iter().filter(|e| e.config == self.config);
        if let Some(name) = hello.server_name().map(str::to_lowercase) {
            let exact = mine().filter(|e| e.fit(&name) == Some(Fit::Exact));
            let wild = mine().filter(|e| e.fit(&name) == Some(Fit::Wildcard));
            if let Some(k) = exact.chain(wild).find_map(usable) {
                return Some(k);
            }
            if self.strict_sni {
                return None;
            }
        } else if self.strict_sni {
            return None;
        }
        mine()
            .find_map(usable)
            .or_else(|| mine().next().map(|e| e.slot.current().key.clone()))
    }
}

fn usable_with(key: &CertifiedKey, schemes: &[SignatureScheme]) -> bool {
    key.key.choose_scheme(schemes).is_some()
}

/// Notes where the certificates `files` of `c` come from, when a crt-list
/// line or a directory: the lines of its [`CrtList`].
fn list_lines(lists: &mut Vec<CrtList>, c: &crate::config::CertRef, files: &[PathBuf]) {
    let (path, lines): (String, Vec<ListLine>) = match &c.list {
        Some(l) => (
            l.file.display().to_string(),
            vec![ListLine {
                cert: c.path.clone(),
                line: c.location.line,
                text: l.text.clone(),
            }],
        ),
        None if c.path.is_dir() => {
            let dir = c.path.display().to_string();
            (
                dir.trim_end_matches('/').to_string(),
                files
                    .iter()
                    .map(|f| ListLine {
                        cert: f.clone(),
                        line: 0,
                        text: CrtListText::default(),
                    })
                    .collect(),
            )
        }
        None => return,
    };
    match lists.iter_mut().find(|l| l.path == path) {
        // HAProxy reads a crt-list or a directory once, however many
        // times it is named.
        Some(l) => {
            for line in lines {
                if !l.lines.contains(&line) {
                    l.lines.push(line);
                }
            }
        }
        None => lists.push(CrtList { path, lines }),
    }
}

/// A `crt` path: the file, or every certificate file of the directory in
/// name order (HAProxy's order), leaving out companions (`.key`...).
fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path)
        .map_err(|e| format!("unable to scan directory '{}': {e}", path.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with('.')
                && !COMPANION_SUFFIXES.iter().any(|s| name.ends_with(s))
                && !p.is_dir()
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no certificate in directory '{}'", path.display()));
    }
    Ok(files)
}

/// One rustls config of a bind.
fn server_config(
    s: &TlsSettings,
    global: &Global,
    resolver: Arc<Resolver>,
    cache: Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
) -> Result<ServerConfig, String> {
    let provider = Arc::new(super::provider(s)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&super::versions(s))
        .map_err(|e| super::error_text(&e))?;
    let builder = match s.verify {
        Verify::None => builder.with_no_client_auth(),
        v => {
            let ca = s
                .ca_file
                .as_ref()
                .ok_or("verify is enabled but no CA file specified (ca-file)")?;
            let roots = Arc::new(super::load::roots(ca)?);
            let mut vb = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if let Some(crl) = &s.crl_file {
                vb = vb.with_crls(super::load::crls(crl)?);
            }
            if v == Verify::Optional {
                vb = vb.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(vb.build().map_err(|e| e.to_string())?)
        }
    };
    let mut cfg = builder.with_cert_resolver(resolver);
    cfg.alpn_protocols = s.alpn.clone();
    cfg.ignore_client_order = !s.prefer_client_ciphers;
    cfg.session_storage = cache;
    if !s.no_tickets {
        cfg.ticketer = ticketer;
    }
    if global.tls_max_record > 0 {
        cfg.max_fragment_size = Some(global.tls_max_record.clamp(32, 16384));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CertRef, Location};

    /// A bind over certificates for these names (first: the default).
    fn bind(names: &[(&str, &str)], strict_sni: bool) -> Option<(BindContext, tempdir::Dir)> {
        let dir = tempdir::Dir::new();
        let mut certs = Vec::new();
        for (i, (cn, san)) in names.iter().enumerate() {
            let (c, k) = super::super::load::tests::openssl_pem_for(&format!("/CN={cn}"), san)?;
            let path = dir.0.join(format!("{i}.pem"));
            std::fs::write(&path, [c, k].concat()).ok()?;
            certs.push(CertRef {
                path,
                location: Location::default(),
                list: None,
            });
        }
        let t = BindTls {
            certs,
            settings: TlsSettings::default(),
            strict_sni,
        };
        let ctx = BindContext::build(&t, &Global::default(), &Store::default()).ok()?;
        Some((ctx, dir))
    }

    mod tempdir {
        pub(super) struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir()
                    .join(format!("splicer-tls-bind-{}-{n}", std::process::id()));
                let _ = std::fs::create_dir_all(&p);
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_the_first() {
        let names = [
            ("default.test", "DNS:default.test"),
            ("wild", "DNS:*.b.test"),
            ("x.b.test", "DNS:x.b.test"),
        ];
        let Some((ctx, _dir)) = bind(&names, false) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "openssl is missing under CI"
            );
            eprintln!("skipped: the openssl CLI is missing");
            return;
        };
        let pick = |sni: Option<&str>| {
            let e = match sni {
                Some(n) => best(&ctx.entries, n, None),
                None => None,
            };
            e.map(|e| e.slot.current().info.common_names[0].clone())
        };
        assert_eq!(
            pick(Some("x.b.test")).as_deref(),
            Some("x.b.test"),
            "exact wins"
        );
        assert_eq!(pick(Some("y.b.test")).as_deref(), Some("wild"));
        assert_eq!(
            pick(Some("z.y.b.test")),
            None,
            "a wildcard covers one label"
        );
        assert!(
            ctx.choose(Some("nothing.test"), None).is_some(),
            "the default answers"
        );
        assert!(ctx.choose(None, None).is_some());
        let Some((strict, _d)) = bind(&names, true) else {
            return;
        };
        assert!(
            strict.choose(Some("nothing.test"), None).is_none(),
            "strict-sni refuses"
        );
        assert!(strict.choose(None, None).is_none());
        assert!(
            strict.choose(Some("Y.B.TEST"), None).is_some(),
            "names compare without case"
        );
    }
}
