//! What the keyword tables share: the [`Side`] of a proxy keyword, the
//! names HAProxy has that splicer does not implement (an error), those that
//! only make sense in HTTP mode (a warning, as HAProxy gives for a TCP
//! proxy) or that HAProxy removed, and typo suggestions.
//!
//! Each keyword splicer implements is registered once, in a table beside
//! its parser: proxy keywords in `proxy.rs`, `option` and `timeout` names
//! in `options.rs`, check options in `checks.rs`, global keywords in
//! `global.rs` (and the parameters of `server`, `bind`, `stats socket`,
//! `vrrp`, `http-check` and `tcp-check` in their own files; `peers`
//! sections and `localpeer` in `peers.rs`; the TLS lines of `global` in
//! `tls_global.rs`, the TLS parameters of binds and servers in `tls.rs`,
//! `tls_bind.rs` and `tls_server.rs`). The
//! vocabularies for suggestions below are built from those tables.

use super::checks::CHECK_OPTIONS;
use super::global::GLOBAL_KEYWORDS;
use super::options::{LOG_OPTIONS, OPTIONS};
use super::proxy::PROXY_KEYWORDS;

/// Which side of a proxy a keyword configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Frontend side (needs a frontend or listen).
    Front,
    /// Backend side (needs a backend or listen).
    Back,
    /// Any proxy.
    Both,
}

/// Timeouts that only exist for HTTP: a warning in a TCP proxy.
pub(super) const HTTP_TIMEOUTS: &[&str] = &["http-request", "http-keep-alive", "tarpit"];

/// Options that only act in HTTP mode: ignored with a warning.
pub(super) const HTTP_OPTIONS: &[&str] = &[
    "httplog",
    "forwardfor",
    "http-server-close",
    "httpclose",
    "http-keep-alive",
    "http-pretend-keepalive",
    "http-no-delay",
    "http-buffer-request",
    "http-ignore-probes",
    "http-use-proxy-header",
    "http-restrict-req-hdr-names",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
    "originalto",
    "forceclose",
    "abortonclose",
    "checkcache",
    "httpslog",
    "prefer-last-server",
    "disable-h2-upgrade",
];

/// Options HAProxy has in TCP mode that change behaviour but splicer does
/// not implement yet: an error.
pub(super) const UNSUPPORTED_OPTIONS: &[&str] = &[
    "smtpchk",
    "ldap-check",
    "spop-check",
    "external-check",
    "transparent",
    "independent-streams",
    "socket-stats",
];

/// Options accepted with a warning because they cannot change anything yet.
pub(super) const NOOP_OPTIONS: &[(&str, &str)] = &[];

/// Proxy keywords that only act in HTTP mode; `true` = a rule list
/// (HAProxy words those warnings "rules ... as they require").
pub(super) const HTTP_KEYWORDS: &[(&str, bool)] = &[
    ("http-request", true),
    ("http-response", true),
    ("http-after-response", true),
    ("redirect", true),
    ("http-reuse", false),
    ("http-send-name-header", false),
    ("http-error", false),
    ("errorfile", false),
    ("errorfiles", false),
    ("errorloc", false),
    ("errorloc302", false),
    ("errorloc303", false),
    ("capture", false),
    ("cookie", false),
    ("compression", false),
    ("monitor-uri", false),
    ("unique-id-format", false),
    ("unique-id-header", false),
    ("max-keep-alive-queue", false),
    ("email-alert", false),
];

/// Proxy keywords HAProxy supports in TCP mode that splicer does not
/// implement yet: an error, never silently ignored.
pub(super) const UNSUPPORTED_PROXY: &[&str] = &[
    "external-check",
    "persist",
    "force-persist",
    "ignore-persist",
    "dispatch",
    "bind-process",
    "dynamic-cookie-key",
    "declare",
    "filter",
    "grace",
    "guid",
    "monitor-net",
];

/// Keywords HAProxy removed, with its message.
pub(super) const REMOVED_PROXY: &[(&str, &str)] = &[
    (
        "contimeout",
        "the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.",
    ),
    (
        "clitimeout",
        "the 'clitimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'.",
    ),
    (
        "srvtimeout",
        "the 'srvtimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout server'.",
    ),
    (
        "redispatch",
        "keyword 'redispatch' is not supported anymore since HAProxy 2.1. Use 'option redispatch'.",
    ),
    (
        "reqadd",
        "the 'reqadd' directive is not supported anymore since HAProxy 2.1. Use 'http-request add-header' instead.",
    ),
    (
        "rspadd",
        "the 'rspadd' directive is not supported anymore since HAProxy 2.1. Use 'http-response add-header' instead.",
    ),
];

/// Global keywords that change behaviour and are not implemented yet.
pub(super) const UNSUPPORTED_GLOBAL: &[&str] = &[
    "lua-load",
    "external-check",
    "maxsslconn",
    "noepoll",
    "nogetaddrinfo",
    "busy-polling",
    "insecure-fork-wanted",
];

/// Global keywords HAProxy removed, with its message.
pub(super) const REMOVED_GLOBAL: &[(&str, &str)] = &[(
    "nbproc",
    "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.",
)];

/// Section names.
pub(super) const SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];

/// Sections HAProxy has and splicer does not (yet).
pub(super) const UNSUPPORTED_SECTIONS: &[&str] = &[
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
];

/// Every word that may start a line in a proxy section, for suggestions.
pub(super) fn proxy_vocabulary() -> impl Iterator<Item = &'static str> {
    PROXY_KEYWORDS
        .iter()
        .map(|k| k.name)
        .chain(UNSUPPORTED_PROXY.iter().copied())
        .chain(super::tcp_rules::RULE_KEYWORDS.iter().copied())
        .chain(HTTP_KEYWORDS.iter().map(|(k, _)| *k))
        .chain(SECTIONS.iter().copied())
}

/// Every word that may start a line in `global`, for suggestions.
pub(super) fn global_vocabulary() -> impl Iterator<Item = &'static str> {
    GLOBAL_KEYWORDS
        .iter()
        .map(|k| k.name)
        .chain(UNSUPPORTED_GLOBAL.iter().copied())
        .chain(super::peers::GLOBAL_KEYWORDS.iter().copied())
        .chain(super::tls_global::vocabulary())
        .chain(SECTIONS.iter().copied())
}

/// Every `option` name, for suggestions.
pub(super) fn option_vocabulary() -> impl Iterator<Item = &'static str> {
    OPTIONS
        .iter()
        .map(|o| o.name)
        .chain(HTTP_OPTIONS.iter().copied())
        .chain(UNSUPPORTED_OPTIONS.iter().copied())
        .chain(CHECK_OPTIONS.iter().map(|o| o.name))
        .chain(NOOP_OPTIONS.iter().map(|(o, _)| *o))
        .chain(LOG_OPTIONS.iter().map(|(o, _)| *o))
}

/// The closest candidate to `word`, when it is close enough to be a typo.
pub(super) fn suggest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let max = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean 'X'?` or nothing.
pub(super) fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    suggest(word, candidates)
        .map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default()
}

/// `a, b, c and d` (`last` = "and"), as messages list keywords.
pub(super) fn word_list(words: impl Iterator<Item = impl AsRef<str>>, last: &str) -> String {
    let words: Vec<String> = words.map(|w| w.as_ref().to_string()).collect();
    match words.split_last() {
        Some((final_word, rest)) if !rest.is_empty() => {
            format!("{} {last} {final_word}", rest.join(", "))
        }
        _ => words.concat(),
    }
}

/// Levenshtein distance (insert, delete, substitute), two rows.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let cases = [
            ("", "", 0),
            ("abc", "abc", 0),
            ("balanse", "balance", 1),
            ("kitten", "sitting", 3),
            ("", "ab", 2),
        ];
        for (a, b, d) in cases {
            assert_eq!(edit_distance(a, b), d, "{a} / {b}");
        }
    }

    #[test]
    fn suggestions() {
        let cases: &[(&str, Option<&str>)] = &[
            ("balanse", Some("balance")),
            ("servr", Some("server")),
            ("default-backend", Some("default_backend")),
            ("timout", Some("timeout")),
            ("bnd", Some("bind")),
            ("frobnicate", None),
            ("xy", None),
        ];
        for (word, expected) in cases {
            assert_eq!(suggest(word, proxy_vocabulary()), *expected, "{word}");
        }
        assert_eq!(
            suggest("redispach", option_vocabulary()),
            Some("redispatch")
        );
        assert_eq!(suggest("nbthreads", global_vocabulary()), Some("nbthread"));
    }
}
