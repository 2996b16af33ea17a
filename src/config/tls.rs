//! The TLS options that `bind` lines, crt-list lines and `server` lines
//! share (HAProxy's `ssl_bind_kws` and the SSL `server` keywords), read
//! into a [`Draft`], and how a draft becomes [`TlsSettings`].
//!
//! A draft keeps what the lines said and nothing more, so that the global
//! `ssl-default-*` lines, `default-server` and a crt-list line can lie
//! under or over one another as in HAProxy; [`Draft::resolve`] then works
//! out the versions with HAProxy's rules for `no-*`, `force-*`,
//! `ssl-min-ver` and `ssl-max-ver`, kept to what rustls speaks (TLS 1.2 and
//! 1.3, [`TLS_VERSION_FLOOR`]). Where the bind and server lines use these
//! is `tls_bind.rs` and `tls_server.rs`; the global lines, `tls_global.rs`.

use std::path::PathBuf;

use super::model::*;
use super::tls_names::{self, Chosen};

/// What `global` said about TLS, as binds and servers read it while they
/// are parsed (HAProxy applies it then too, see `tls_global.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TlsGlobal {
    /// `ca-base`: the directory of relative `ca-file` and `crl-file` paths.
    pub ca_base: Option<String>,
    /// `crt-base`: the directory of relative `crt` paths and crt-list lines.
    pub crt_base: Option<String>,
    /// `ssl-default-bind-*`: under every `bind ... ssl` line.
    pub bind: Draft,
    /// `ssl-default-server-*`: under every server with `ssl` or `check-ssl`.
    pub server: Draft,
    /// `ssl-server-verify`: a server's `verify` when it says none.
    pub server_verify: Verify,
}

impl Default for TlsGlobal {
    fn default() -> Self {
        TlsGlobal {
            ca_base: None,
            crt_base: None,
            bind: Draft::default(),
            server: Draft::default(),
            // HAProxy's default: servers are verified.
            server_verify: Verify::Required,
        }
    }
}

impl TlsGlobal {
    /// `path` under `base` when it is relative (HAProxy: not starting with `/`).
    fn based(base: &Option<String>, path: &str) -> PathBuf {
        match base {
            Some(dir) if !path.starts_with('/') => PathBuf::from(format!("{dir}/{path}")),
            _ => PathBuf::from(path),
        }
    }

    /// A `crt` path (or a crt-list line's) under `crt-base`.
    pub(super) fn crt_path(&self, path: &str) -> PathBuf {
        Self::based(&self.crt_base, path)
    }

    /// A `ca-file` or `crl-file` path under `ca-base`; `@system-ca` (the
    /// system's trusted CAs) stays as written.
    pub(super) fn ca_path(&self, path: &str) -> PathBuf {
        if path == SYSTEM_CA {
            return PathBuf::from(path);
        }
        Self::based(&self.ca_base, path)
    }
}

/// `ca-file @system-ca`: the system's trusted CAs (HAProxy 2.6).
pub(super) const SYSTEM_CA: &str = "@system-ca";

/// A list of names read where it was written: the error of one that left
/// nothing (a global default's, reported where it is used, as HAProxy
/// only checks it then).
type Names<T> = Result<Vec<T>, String>;

/// HAProxy's `tls_version_filter`: `no-*` flags and the `ssl-min-ver` /
/// `ssl-max-ver` / `force-*` bounds, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Versions {
    /// Bit `v as usize` for each `no-v`.
    pub no: u8,
    pub min: Option<TlsVersion>,
    pub max: Option<TlsVersion>,
}

/// Every version, in order.
const VERSIONS: [TlsVersion; 5] = [
    TlsVersion::Ssl3,
    TlsVersion::Tls10,
    TlsVersion::Tls11,
    TlsVersion::Tls12,
    TlsVersion::Tls13,
];

/// What a bind, crt-list or server line said of its TLS settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Draft {
    pub ca_file: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub verify: Option<Verify>,
    pub alpn: Option<Vec<Vec<u8>>>,
    pub versions: Versions,
    pub ciphers: Option<Names<Suite>>,
    pub ciphersuites: Option<Names<Suite>>,
    pub curves: Option<Names<Group>>,
    /// `ecdhe`: the curves when `curves` is not given (HAProxy).
    pub ecdhe: Option<Names<Group>>,
    /// `no-tls-tickets` (`tls-tickets` on a server: `Some(false)`).
    pub no_tickets: Option<bool>,
    pub prefer_client_ciphers: bool,
}

/// Something about the versions of a draft, for the caller to word as its
/// line is named.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Issue {
    /// `no-sslv3`/`no-tlsv1x` beside `ssl-min-ver`/`ssl-max-ver` (a
    /// warning: HAProxy ignores the flags).
    FlagsIgnored,
    /// No version left (an error).
    AllDisabled,
    /// Only versions below TLS 1.2 left (an error).
    BelowFloor,
    /// A global default that could not be read (an error).
    Global(String),
}

impl Draft {
    /// This draft over `base` (a global default, or `default-server`): what
    /// this one says wins; `no-*` flags add up, as in HAProxy.
    pub(super) fn over(&self, base: &Draft) -> Draft {
        let v = &self.versions;
        Draft {
            ca_file: self.ca_file.clone().or_else(|| base.ca_file.clone()),
            crl_file: self.crl_file.clone().or_else(|| base.crl_file.clone()),
            verify: self.verify.or(base.verify),
            alpn: self.alpn.clone().or_else(|| base.alpn.clone()),
            versions: Versions {
                no: v.no | base.versions.no,
                min: v.min.or(base.versions.min),
                max: v.max.or(base.versions.max),
            },
            ciphers: self.ciphers.clone().or_else(|| base.ciphers.clone()),
            ciphersuites: self
                .ciphersuites
                .clone()
                .or_else(|| base.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| base.curves.clone()),
            ecdhe: self.ecdhe.clone().or_else(|| base.ecdhe.clone()),
            no_tickets: self.no_tickets.or(base.no_tickets),
            prefer_client_ciphers: self.prefer_client_ciphers || base.prefer_client_ciphers,
        }
    }

    /// The settings this draft comes to. `default_min` is the minimum
    /// version when none is set (HAProxy: TLSv1.2 on binds, none on
    /// servers), `verify` the verification when none is said. Warnings
    /// go to `notes`; an error is returned.
    pub(super) fn resolve(
        &self,
        default_min: Option<TlsVersion>,
        verify: Verify,
        notes: &mut Vec<Issue>,
    ) -> Result<TlsSettings, Issue> {
        let (min_version, max_version) = self.versions.resolve(default_min, notes)?;
        let names = |n: &Option<Names<Suite>>| n.clone().transpose().map_err(Issue::Global);
        let curves = self.curves.as_ref().or(self.ecdhe.as_ref());
        Ok(TlsSettings {
            ca_file: self.ca_file.clone(),
            crl_file: self.crl_file.clone(),
            verify: self.verify.unwrap_or(verify),
            alpn: self.alpn.clone().unwrap_or_default(),
            min_version,
            max_version,
            ciphers: names(&self.ciphers)?,
            ciphersuites: names(&self.ciphersuites)?,
            curves: curves.cloned().transpose().map_err(Issue::Global)?,
            no_tickets: self.no_tickets.unwrap_or(false),
            prefer_client_ciphers: self.prefer_client_ciphers,
        })
    }
}

impl Versions {
    /// HAProxy's reading (`ssl_sock_prepare_ctx`): flags are ignored beside
    /// a bound; no minimum is `default_min` (or the maximum, when lower);
    /// the versions left are those between the bounds and not flagged,
    /// then the ones rustls speaks.
    fn resolve(
        &self,
        default_min: Option<TlsVersion>,
        notes: &mut Vec<Issue>,
    ) -> Result<(TlsVersion, TlsVersion), Issue> {
        let mut no = self.no;
        if no != 0 && (self.min.is_some() || self.max.is_some()) {
            notes.push(Issue::FlagsIgnored);
            no = 0;
        }
        let max = self.max.unwrap_or(TlsVersion::Tls13);
        let min = match (self.min, default_min) {
            (Some(min), _) => min,
            (None, Some(d)) => d.min(max),
            (None, None) => TlsVersion::Ssl3,
        };
        let left: Vec<TlsVersion> = VERSIONS
            .into_iter()
            .filter(|v| (min..=max).contains(v) && no & (1 << *v as u8) == 0)
            .collect();
        let spoken: Vec<TlsVersion> = left
            .iter()
            .copied()
            .filter(|v| *v >= TLS_VERSION_FLOOR)
            .collect();
        match (left.is_empty(), spoken.first(), spoken.last()) {
            (true, _, _) => Err(Issue::AllDisabled),
            (false, Some(lo), Some(hi)) => Ok((*lo, *hi)),
            _ => Err(Issue::BelowFloor),
        }
    }
}

/// Where an option is written: each place takes its own set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Bind,
    /// Between the `[` `]` of a crt-list line.
    CrtList,
    Server,
}

impl Place {
    fn bit(self) -> u8 {
        match self {
            Place::Bind => B,
            Place::CrtList => L,
            Place::Server => S,
        }
    }
}

const B: u8 = 1;
const L: u8 = 2;
const S: u8 = 4;

/// What an option reads besides its words: the bases of relative paths,
/// where it is, and where its warnings go.
pub(super) struct Ctx<'a> {
    pub global: &'a TlsGlobal,
    pub place: Place,
    /// Warnings, worded without the line's name (the caller adds it).
    pub warnings: Vec<String>,
}

type Apply = fn(&mut Draft, &str, &mut Ctx<'_>) -> Result<(), String>;

/// A TLS option: its name, whether it takes a value, where it may be
/// written, and what it does.
struct Opt {
    name: &'static str,
    value: bool,
    places: u8,
    apply: Apply,
}

const fn opt(name: &'static str, value: bool, places: u8, apply: Apply) -> Opt {
    Opt {
        name,
        value,
        places,
        apply,
    }
}

/// The order is the one typo suggestions prefer on a tie.
#[rustfmt::skip]
const OPTIONS: &[Opt] = &[
    opt("ca-file", true, B | L | S, |d, v, c| {
        d.ca_file = Some(c.global.ca_path(v));
        Ok(())
    }),
    opt("crl-file", true, B | L | S, |d, v, c| {
        d.crl_file = Some(c.global.ca_path(v));
        Ok(())
    }),
    opt("verify", true, B | L | S, verify),
    opt("alpn", true, B | L | S, |d, v, c| alpn(v, &mut c.warnings).map(|a| d.alpn = Some(a))),
    opt("npn", true, B | L | S, |_, _, c| {
        c.warnings.push("'npn' ignored: rustls has no NPN (use 'alpn')".into());
        Ok(())
    }),
    opt("ciphers", true, B | L | S, |d, v, c| {
        names(tls_names::ciphers("ciphers", v), c).map(|n| d.ciphers = Some(Ok(n)))
    }),
    opt("ciphersuites", true, B | L | S, |d, v, c| {
        names(tls_names::ciphersuites("ciphersuites", v), c).map(|n| d.ciphersuites = Some(Ok(n)))
    }),
    opt("curves", true, B | L, |d, v, c| {
        names(tls_names::curves("curves", v), c).map(|n| d.curves = Some(Ok(n)))
    }),
    opt("ecdhe", true, B | L, |d, v, c| {
        names(tls_names::curves("ecdhe", v), c).map(|n| d.ecdhe = Some(Ok(n)))
    }),
    opt("ssl-min-ver", true, B | L | S, |d, v, c| min_version(&mut d.versions, v, &mut c.warnings)),
    opt("ssl-max-ver", true, B | L | S, |d, v, _| max_version(&mut d.versions, v)),
    opt("no-sslv3", false, B | S, |d, _, _| no_version(&mut d.versions, TlsVersion::Ssl3)),
    opt("no-tlsv10", false, B | S, |d, _, _| no_version(&mut d.versions, TlsVersion::Tls10)),
    opt("no-tlsv11", false, B | S, |d, _, _| no_version(&mut d.versions, TlsVersion::Tls11)),
    opt("no-tlsv12", false, B | S, |d, _, _| no_version(&mut d.versions, TlsVersion::Tls12)),
    opt("no-tlsv13", false, B | S, |d, _, _| no_version(&mut d.versions, TlsVersion::Tls13)),
    opt("force-sslv3", false, B | S, |d, _, _| force(&mut d.versions, TlsVersion::Ssl3)),
    opt("force-tlsv10", false, B | S, |d, _, _| force(&mut d.versions, TlsVersion::Tls10)),
    opt("force-tlsv11", false, B | S, |d, _, _| force(&mut d.versions, TlsVersion::Tls11)),
    opt("force-tlsv12", false, B | S, |d, _, _| force(&mut d.versions, TlsVersion::Tls12)),
    opt("force-tlsv13", false, B | S, |d, _, _| force(&mut d.versions, TlsVersion::Tls13)),
    opt("no-tls-tickets", false, B | S, |d, _, _| {
        d.no_tickets = Some(true);
        Ok(())
    }),
    opt("tls-tickets", false, S, |d, _, _| {
        d.no_tickets = Some(false);
        Ok(())
    }),
    opt("prefer-client-ciphers", false, B, |d, _, _| {
        d.prefer_client_ciphers = true;
        Ok(())
    }),
    opt("allow-0rtt", false, B | L | S, |_, _, c| {
        let why = match c.place {
            Place::Server => "splicer sends no early data",
            _ => "0-RTT is not offered",
        };
        c.warnings.push(format!("'allow-0rtt' ignored: {why}"));
        Ok(())
    }),
    opt("no-ca-names", false, B | L, |_, _, _| Err("not supported yet".into())),
    opt("ca-verify-file", true, B | L, |_, _, _| Err("not supported yet".into())),
];

/// How an option of a line went.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// Applied; the number of words it took (1, or 2 with its value).
    Done(usize),
    /// It needs a value and the line ends.
    Missing,
    /// Refused, having taken this many words.
    Failed(usize, String),
}

/// Applies `key` (with `value`, the next word) if it is a TLS option of
/// `cx.place`; `None` if it is none.
pub(super) fn option(
    d: &mut Draft,
    key: &str,
    value: Option<&str>,
    cx: &mut Ctx<'_>,
) -> Option<Outcome> {
    let o = OPTIONS
        .iter()
        .find(|o| o.name == key && o.places & cx.place.bit() != 0)?;
    let (arg, used) = match (o.value, value) {
        (false, _) => ("", 1),
        (true, Some(v)) => (v, 2),
        (true, None) => return Some(Outcome::Missing),
    };
    Some(match (o.apply)(d, arg, cx) {
        Ok(()) => Outcome::Done(used),
        Err(e) => Outcome::Failed(used, e),
    })
}

/// The names of the options of `place`, for suggestions and for telling a
/// value from the next option.
pub(super) fn option_names(place: Place) -> impl Iterator<Item = &'static str> {
    OPTIONS
        .iter()
        .filter(move |o| o.places & place.bit() != 0)
        .map(|o| o.name)
}

/// Whether option `key` of `place` takes a value.
pub(super) fn takes_value(key: &str, place: Place) -> bool {
    OPTIONS
        .iter()
        .any(|o| o.name == key && o.value && o.places & place.bit() != 0)
}

fn names<T>(chosen: Result<Chosen<T>, String>, cx: &mut Ctx<'_>) -> Result<Vec<T>, String> {
    let chosen = chosen?;
    cx.warnings.extend(chosen.warnings);
    Ok(chosen.list)
}

fn verify(d: &mut Draft, v: &str, cx: &mut Ctx<'_>) -> Result<(), String> {
    d.verify = Some(match (v, cx.place) {
        ("none", _) => Verify::None,
        ("optional", Place::Bind | Place::CrtList) => Verify::Optional,
        ("required", _) => Verify::Required,
        (_, Place::Server) => {
            return Err(format!(
                "unknown verify method '{v}', only 'none' and 'required' are supported"
            ));
        }
        _ => {
            return Err(format!(
                "unknown verify method '{v}', only 'none', 'optional', and 'required' are supported"
            ));
        }
    });
    Ok(())
}

/// Longest ALPN protocol name (its length is one byte on the wire).
const MAX_ALPN_NAME: usize = 255;

/// `alpn h2,http/1.1`: names separated by commas. HAProxy sends an empty
/// name as it is; rustls cannot, so it is left out with a warning.
pub(super) fn alpn(v: &str, warnings: &mut Vec<String>) -> Result<Vec<Vec<u8>>, String> {
    if v.is_empty() {
        return Err("missing the comma-delimited ALPN protocol suite".into());
    }
    let mut out = Vec::new();
    for name in v.split(',') {
        if name.is_empty() {
            warnings.push(format!("'alpn': empty protocol name in '{v}' ignored"));
        } else if name.len() > MAX_ALPN_NAME {
            return Err(format!("ALPN protocol name too long : '{name}'"));
        } else {
            out.push(name.as_bytes().to_vec());
        }
    }
    if out.is_empty() {
        return Err(format!("no protocol name in '{v}'"));
    }
    Ok(out)
}

/// `ssl-min-ver`/`ssl-max-ver` words.
fn version(v: &str) -> Result<TlsVersion, String> {
    VERSIONS
        .into_iter()
        .find(|x| x.word() == v)
        .ok_or_else(|| format!("'{v}' : unknown ssl/tls version"))
}

const SPOKEN: &str = "rustls speaks TLSv1.2 and TLSv1.3 only";

pub(super) fn min_version(
    vs: &mut Versions,
    v: &str,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let min = version(v)?;
    if min < TLS_VERSION_FLOOR {
        warnings.push(format!(
            "'ssl-min-ver {v}': {SPOKEN}; the minimum is {}",
            TLS_VERSION_FLOOR.word()
        ));
    }
    vs.min = Some(min);
    Ok(())
}

pub(super) fn max_version(vs: &mut Versions, v: &str) -> Result<(), String> {
    let max = version(v)?;
    if max < TLS_VERSION_FLOOR {
        return Err(format!("'{v}': {SPOKEN}"));
    }
    vs.max = Some(max);
    Ok(())
}

pub(super) fn no_version(vs: &mut Versions, v: TlsVersion) -> Result<(), String> {
    vs.no |= 1 << v as u8;
    Ok(())
}

pub(super) fn force(vs: &mut Versions, v: TlsVersion) -> Result<(), String> {
    if v < TLS_VERSION_FLOOR {
        return Err(SPOKEN.into());
    }
    (vs.min, vs.max) = (Some(v), Some(v));
    Ok(())
}

#[cfg(test)]
mod tests;
