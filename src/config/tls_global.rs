//! The TLS lines of the `global` section that binds and servers read:
//! `ca-base`, `crt-base`, `ssl-default-bind-*`, `ssl-default-server-*` and
//! `ssl-server-verify`, into the parser's [`TlsGlobal`]; and the OpenSSL
//! tunings HAProxy has that mean nothing with rustls (a warning). The
//! `tune.ssl.*` values the TLS layer uses are in `global.rs`.
//!
//! As in HAProxy, a default applies to the binds and servers read after
//! it: HAProxy copies them when it reads `ssl` on a line (and `crt-base` /
//! `ca-base` when it reads a path), so a `global` section placed after a
//! proxy, in a later file, does not reach that proxy. splicer takes them
//! when a proxy section starts, which comes to the same since a `global`
//! line cannot sit inside a proxy section.

use super::model::*;
use super::parser::Diags;
use super::tls::{self, Draft, Place, TlsGlobal};
use super::tls_names;

type Parse = fn(&mut TlsGlobal, &[String], &Location, &mut Diags);

/// The global TLS keywords read here. The order is the one typo
/// suggestions prefer on a tie.
const KEYWORDS: &[(&str, Parse)] = &[
    ("ca-base", |t, w, l, d| base(&mut t.ca_base, w, l, d)),
    ("crt-base", |t, w, l, d| base(&mut t.crt_base, w, l, d)),
    ("ssl-default-bind-options", |t, w, l, d| {
        options(&mut t.bind, Place::Bind, w, l, d)
    }),
    ("ssl-default-server-options", |t, w, l, d| {
        options(&mut t.server, Place::Server, w, l, d)
    }),
    ("ssl-default-bind-ciphers", |t, w, l, d| {
        if let Some(n) = one(w, l, d, "a cipher suite") {
            t.bind.ciphers = Some(names(tls_names::ciphers(&w[0], n), &w[0], l, d));
        }
    }),
    ("ssl-default-bind-ciphersuites", |t, w, l, d| {
        if let Some(n) = one(w, l, d, "a cipher suite") {
            t.bind.ciphersuites = Some(names(tls_names::ciphersuites(&w[0], n), &w[0], l, d));
        }
    }),
    ("ssl-default-bind-curves", |t, w, l, d| {
        if let Some(n) = one(w, l, d, "a curves suite") {
            t.bind.curves = Some(names(tls_names::curves(&w[0], n), &w[0], l, d));
        }
    }),
    ("ssl-default-server-ciphers", |t, w, l, d| {
        if let Some(n) = one(w, l, d, "a cipher suite") {
            t.server.ciphers = Some(names(tls_names::ciphers(&w[0], n), &w[0], l, d));
        }
    }),
    ("ssl-default-server-ciphersuites", |t, w, l, d| {
        if let Some(n) = one(w, l, d, "a cipher suite") {
            t.server.ciphersuites = Some(names(tls_names::ciphersuites(&w[0], n), &w[0], l, d));
        }
    }),
    ("ssl-server-verify", |t, w, l, d| {
        let expects = "'ssl-server-verify' expects 'none' or 'required' as argument.";
        match w.get(1).map(String::as_str) {
            Some("none") => t.server_verify = Verify::None,
            Some("required") => t.server_verify = Verify::Required,
            _ => return d.error(l, expects),
        }
        too_many(w, 2, l, d);
    }),
];

/// HAProxy 2.6's other TLS keywords of `global`: OpenSSL engines,
/// providers and tunings, the extra files its loader looks for. Accepted
/// with a warning.
const MEANINGLESS: &[&str] = &[
    "ssl-dh-param-file",
    "ssl-engine",
    "ssl-mode-async",
    "ssl-propquery",
    "ssl-provider",
    "ssl-provider-path",
    "ssl-skip-self-issued-ca",
    "ssl-load-extra-files",
    "ssl-load-extra-del-ext",
    // rustls's session cache has no expiry (its size bounds it) and its
    // tickets live 6 hours: HAProxy's lifetime cannot be applied.
    "tune.ssl.lifetime",
    "tune.ssl.default-dh-param",
    "tune.ssl.force-private-cache",
    "tune.ssl.hard-maxrecord",
    "tune.ssl.ssl-ctx-cache-size",
    "tune.ssl.capture-cipherlist-size",
    "tune.ssl.capture-buffer-size",
    "tune.ssl.keylog",
];

/// Whether `name` is read here.
pub(super) fn is_keyword(name: &str) -> bool {
    KEYWORDS.iter().any(|(k, _)| *k == name) || MEANINGLESS.contains(&name)
}

/// The words read here, for suggestions.
pub(super) fn vocabulary() -> impl Iterator<Item = &'static str> {
    KEYWORDS
        .iter()
        .map(|(k, _)| *k)
        .chain(MEANINGLESS.iter().copied())
}

/// Applies one line whose first word [`is_keyword`].
pub(super) fn keyword(t: &mut TlsGlobal, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    match KEYWORDS.iter().find(|(k, _)| *k == key) {
        Some((_, parse)) => parse(t, words, loc, d),
        None => d.warn(loc, format!("'{key}' has no meaning with rustls; ignored")),
    }
}

fn too_many(words: &[String], max: usize, loc: &Location, d: &mut Diags) {
    if let Some(extra) = words.get(max) {
        d.error(
            loc,
            format!("'{}' cannot handle unexpected argument '{extra}'", words[0]),
        );
    }
}

/// The one argument of `words`, or `None` after saying what it expects.
fn one<'w>(words: &'w [String], loc: &Location, d: &mut Diags, what: &str) -> Option<&'w str> {
    too_many(words, 2, loc, d);
    match words.get(1) {
        Some(v) if !v.is_empty() && words.len() == 2 => Some(v),
        Some(_) => None,
        None => {
            d.error(
                loc,
                format!(
                    "global statement '{}' expects {what} as an argument.",
                    words[0]
                ),
            );
            None
        }
    }
}

/// `ca-base DIR`, `crt-base DIR`: once.
fn base(slot: &mut Option<String>, words: &[String], loc: &Location, d: &mut Diags) {
    let key = &words[0];
    if slot.is_some() {
        return d.error(loc, format!("'{key}' already specified."));
    }
    if let Some(dir) = one(words, loc, d, "a directory path") {
        *slot = Some(dir.to_string());
    }
}

/// A global list of names: its warnings now, and what it came to. An empty
/// result is reported where a bind or server uses it, as HAProxy only
/// checks it then; a warning says so now.
fn names<T>(
    chosen: Result<tls_names::Chosen<T>, String>,
    key: &str,
    loc: &Location,
    d: &mut Diags,
) -> Result<Vec<T>, String> {
    match chosen {
        Ok(c) => {
            for w in c.warnings {
                d.warn(loc, w);
            }
            Ok(c.list)
        }
        Err(e) => {
            d.warn(
                loc,
                format!("'{key}': {e}; the lines that use it will be refused"),
            );
            Err(format!("'{key}' ({loc}): {e}"))
        }
    }
}

/// The words `ssl-default-bind-options` and `ssl-default-server-options`
/// take, as the bind and server options of the same names.
const OPTION_WORDS: &[&str] = &[
    "no-tls-tickets",
    "prefer-client-ciphers",
    "ssl-min-ver",
    "ssl-max-ver",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
];

/// `ssl-default-bind-options OPT...` / `ssl-default-server-options OPT...`.
fn options(draft: &mut Draft, place: Place, words: &[String], loc: &Location, d: &mut Diags) {
    let key = &words[0];
    if words.len() < 2 {
        return d.error(
            loc,
            format!("global statement '{key}' expects an option as an argument."),
        );
    }
    let global = TlsGlobal::default();
    let mut cx = tls::Ctx {
        global: &global,
        place,
        warnings: Vec::new(),
    };
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        let outcome = OPTION_WORDS
            .contains(&w)
            .then(|| tls::option(draft, w, words.get(i + 1).map(String::as_str), &mut cx))
            .flatten();
        match outcome {
            Some(tls::Outcome::Done(n)) => i += n,
            Some(tls::Outcome::Failed(n, e)) => {
                d.error(loc, format!("'{w}': {e} on global statement '{key}'."));
                i += n;
            }
            Some(tls::Outcome::Missing) => {
                d.error(
                    loc,
                    format!("'{w}' : missing the ssl/tls version on global statement '{key}'."),
                );
                i += 1;
            }
            None => {
                d.error(
                    loc,
                    format!("unknown option '{w}' on global statement '{key}'."),
                );
                i += 1;
            }
        }
    }
    for w in cx.warnings {
        d.warn(loc, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::Parser;

    /// The parser's TLS state after `text` (a global section), and its
    /// messages as `E: FILE:LINE: text` / `W: ...`.
    fn global(text: &str) -> (TlsGlobal, Vec<String>) {
        let env = |_: &str| None;
        let mut p = Parser::new(&env, &Default::default());
        p.feed(std::path::Path::new("g.cfg"), &format!("global\n{text}\n"));
        let mut out: Vec<String> = p.diags.errors.iter().map(|e| format!("E: {e}")).collect();
        out.extend(p.diags.warnings.iter().map(|w| format!("W: {w}")));
        (p.tls.clone(), out)
    }

    #[test]
    fn defaults_are_read() {
        let (t, msgs) = global(
            "    ca-base /etc/ssl/certs\n    crt-base /etc/ssl/private\n    \
             ssl-default-bind-ciphers ECDHE+AESGCM\n    \
             ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256\n    \
             ssl-default-bind-curves X25519:P-256\n    \
             ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets prefer-client-ciphers\n    \
             ssl-default-server-options no-tlsv13\n    \
             ssl-default-server-ciphers CHACHA20\n    ssl-server-verify none",
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(t.ca_base.as_deref(), Some("/etc/ssl/certs"));
        assert_eq!(t.crt_base.as_deref(), Some("/etc/ssl/private"));
        assert_eq!(t.bind.versions.min, Some(TlsVersion::Tls12));
        assert_eq!(t.bind.no_tickets, Some(true));
        assert!(t.bind.prefer_client_ciphers);
        assert_eq!(t.bind.curves, Some(Ok(vec![Group::X25519, Group::P256])));
        assert_eq!(t.bind.ciphersuites, Some(Ok(vec![Suite::Tls13Aes128Gcm])));
        assert_eq!(t.server.versions.no, 1 << TlsVersion::Tls13 as u8);
        assert_eq!(
            t.server.ciphers,
            Some(Ok(vec![Suite::EcdheEcdsaChacha20, Suite::EcdheRsaChacha20]))
        );
        assert_eq!(t.server_verify, Verify::None);
    }

    /// Messages checked against `haproxy -c` (2.6.12) where it has them.
    #[test]
    fn problems_are_reported() {
        let cases: &[(&str, &str)] = &[
            (
                "ca-base /a\n    ca-base /b",
                "E: g.cfg:3: 'ca-base' already specified.",
            ),
            (
                "crt-base",
                "E: g.cfg:2: global statement 'crt-base' expects a directory path as an argument.",
            ),
            (
                "crt-base /a /b",
                "E: g.cfg:2: 'crt-base' cannot handle unexpected argument '/b'",
            ),
            (
                "ssl-default-bind-options",
                "E: g.cfg:2: global statement 'ssl-default-bind-options' expects an option as an argument.",
            ),
            (
                "ssl-default-bind-options no-sslv4",
                "E: g.cfg:2: unknown option 'no-sslv4' on global statement 'ssl-default-bind-options'.",
            ),
            // Binds only.
            (
                "ssl-default-server-options prefer-client-ciphers",
                "E: g.cfg:2: unknown option 'prefer-client-ciphers' on global statement 'ssl-default-server-options'.",
            ),
            (
                "ssl-default-bind-options ssl-min-ver TLSv1.4",
                "E: g.cfg:2: 'ssl-min-ver': 'TLSv1.4' : unknown ssl/tls version on global statement 'ssl-default-bind-options'.",
            ),
            (
                "ssl-default-bind-options ssl-min-ver TLSv1.0",
                "W: g.cfg:2: 'ssl-min-ver TLSv1.0': rustls speaks TLSv1.2 and TLSv1.3 only; the minimum is TLSv1.2",
            ),
            (
                "ssl-server-verify sometimes",
                "E: g.cfg:2: 'ssl-server-verify' expects 'none' or 'required' as argument.",
            ),
            (
                "ssl-default-bind-ciphers",
                "E: g.cfg:2: global statement 'ssl-default-bind-ciphers' expects a cipher suite as an argument.",
            ),
            (
                "ssl-default-server-ciphers HIGH:DHE-RSA-AES128-SHA",
                "W: g.cfg:2: 'ssl-default-server-ciphers': 'DHE-RSA-AES128-SHA' has no equivalent in rustls; ignored",
            ),
            (
                "tune.ssl.keylog on",
                "W: g.cfg:2: 'tune.ssl.keylog' has no meaning with rustls; ignored",
            ),
            (
                "ssl-engine rdrand",
                "W: g.cfg:2: 'ssl-engine' has no meaning with rustls; ignored",
            ),
            (
                "ssl-nosuch 1",
                "E: g.cfg:2: unknown keyword 'ssl-nosuch' in 'global' section",
            ),
        ];
        for (text, want) in cases {
            let (_, msgs) = global(&format!("    {text}"));
            assert_eq!(
                msgs.first().map(String::as_str),
                Some(*want),
                "{text}: {msgs:?}"
            );
        }
        // A list that leaves nothing: refused where it is used.
        let (t, msgs) = global("    ssl-default-bind-ciphers FOO");
        assert_eq!(
            msgs,
            [
                "W: g.cfg:2: 'ssl-default-bind-ciphers': 'FOO' leaves no TLS 1.2 cipher suite rustls implements; the lines that use it will be refused"
            ]
        );
        assert_eq!(
            t.bind.ciphers,
            Some(Err(
                "'ssl-default-bind-ciphers' (g.cfg:2): 'FOO' leaves no TLS 1.2 cipher suite rustls implements".into()
            ))
        );
    }
}
