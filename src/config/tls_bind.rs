//! The TLS parameters of a `bind` line (`ssl`, `crt`, `crt-list`,
//! `strict-sni` and the options of `tls.rs`), read into a [`BindDraft`],
//! then checked and resolved into the bind's [`BindTls`] once the whole
//! line is read ([`finish`]), as HAProxy does when it prepares the bind.
//!
//! A crt-list file is read when the line is: each line `PATH [opts]
//! [filters]` becomes a [`CertRef`] whose settings are the bind's with
//! the line's options over them. Certificates are not read here: the
//! `tls` module loads them.

use std::path::PathBuf;

use super::model::*;
use super::parser::Diags;
use super::tls::{self, Draft, Issue, Outcome, Place, TlsGlobal, Versions};

/// What a bind line said of TLS.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct BindDraft {
    pub ssl: bool,
    pub certs: Vec<CertDraft>,
    pub settings: Draft,
    pub strict_sni: bool,
}

/// A `crt` or a crt-list line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CertDraft {
    path: PathBuf,
    location: Location,
    list: Option<ListLine>,
}

/// What a crt-list line adds to its certificate.
#[derive(Debug, Clone, PartialEq)]
struct ListLine {
    file: PathBuf,
    settings: Draft,
    filters: Vec<String>,
    text: CrtListText,
}

/// Parameters of HAProxy's that splicer does not implement, and whether
/// each takes a value.
const UNSUPPORTED: &[(&str, bool)] = &[
    ("generate-certificates", false),
    ("crt-ignore-err", true),
    ("ca-ignore-err", true),
    ("ca-sign-file", true),
    ("ca-sign-pass", true),
    ("tls-ticket-keys", true),
];

/// The bind-only TLS words, and whether each takes a value.
const OWN: &[(&str, bool)] = &[
    ("ssl", false),
    ("crt", true),
    ("crt-list", true),
    ("strict-sni", false),
];

/// Every TLS word of a bind line, for suggestions; `true` = takes a value.
pub(super) fn params() -> impl Iterator<Item = (&'static str, bool)> {
    OWN.iter()
        .chain(UNSUPPORTED)
        .copied()
        .chain(tls::option_names(Place::Bind).map(|n| (n, tls::takes_value(n, Place::Bind))))
}

/// Where a bind line is, for messages: `'bind ADDR'` for a parameter,
/// and the proxy and address for what HAProxy says of the whole bind.
pub(super) struct Line<'a> {
    pub ctx: &'a str,
    pub loc: &'a Location,
}

/// Applies `key` (`value`: the next word) if it is a TLS parameter of a
/// bind line: the number of words it took; `None` if it is none.
pub(super) fn param(
    t: &mut BindDraft,
    global: &TlsGlobal,
    key: &str,
    value: Option<&str>,
    line: &Line<'_>,
    d: &mut Diags,
) -> Option<usize> {
    let Line { ctx, loc } = *line;
    if let Some(&(_, takes)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
        d.error(loc, format!("{ctx}: '{key}' is not supported yet"));
        return Some(if takes && value.is_some() { 2 } else { 1 });
    }
    let used = match (key, value) {
        ("ssl", _) => {
            t.ssl = true;
            1
        }
        ("strict-sni", _) => {
            t.strict_sni = true;
            1
        }
        ("crt" | "crt-list", None) => {
            d.error(
                loc,
                format!("{ctx}: '{key}' : missing certificate location"),
            );
            1
        }
        ("crt", Some(v)) => {
            t.certs.push(CertDraft {
                path: global.crt_path(v),
                location: loc.clone(),
                list: None,
            });
            2
        }
        ("crt-list", Some(v)) => {
            crt_list(t, global, v, line, d);
            2
        }
        _ => {
            let mut cx = tls::Ctx {
                global,
                place: Place::Bind,
                warnings: Vec::new(),
            };
            let used = match tls::option(&mut t.settings, key, value, &mut cx)? {
                Outcome::Done(n) => n,
                Outcome::Missing => {
                    d.error(loc, format!("{ctx}: '{key}' expects an argument"));
                    1
                }
                Outcome::Failed(n, e) => {
                    d.error(loc, format!("{ctx}: '{key}': {e}"));
                    n
                }
            };
            for w in cx.warnings {
                d.warn(loc, format!("{ctx}: {w}"));
            }
            used
        }
    };
    Some(used)
}

/// `crt-list FILE`: reads the file now (its path as written: HAProxy puts
/// no `crt-base` before it, only before the certificates it names).
fn crt_list(t: &mut BindDraft, global: &TlsGlobal, file: &str, line: &Line<'_>, d: &mut Diags) {
    let Line { ctx, loc } = *line;
    let path = PathBuf::from(file);
    let text = match crate::host::read_file(&path) {
        Ok(text) => text,
        Err(e) => {
            return d.error(
                loc,
                format!("{ctx}: 'crt-list' : cannot open file '{file}' : {e}"),
            );
        }
    };
    let mut pieces: Vec<&str> = text.split('\n').collect();
    // The empty piece after the last newline.
    if pieces.last() == Some(&"") {
        pieces.pop();
    }
    let count = pieces.len();
    for (n, raw) in pieces.into_iter().enumerate() {
        let at = Location {
            file: path.clone(),
            line: n + 1,
        };
        if n + 1 == count && !text.ends_with('\n') {
            d.error(
                &at,
                format!(
                    "{ctx}: Missing LF on last line, file might have been truncated at position {}.",
                    raw.len() + 1
                ),
            );
            continue;
        }
        if raw.is_empty() || raw.starts_with(['#', '\r']) {
            continue;
        }
        match list_line(raw, global, &path, &at) {
            Ok((cert, warnings)) => {
                for w in warnings {
                    d.warn(&at, format!("{ctx}: {w}"));
                }
                t.certs.extend(cert);
            }
            Err(e) => d.error(&at, format!("{ctx}: {e}")),
        }
    }
}

/// One crt-list line: `None` for a line of blanks.
fn list_line(
    raw: &str,
    global: &TlsGlobal,
    file: &std::path::Path,
    at: &Location,
) -> Result<(Option<CertDraft>, Vec<String>), String> {
    // HAProxy's reading: blanks separate words, `[` and `]` too, and say
    // where the options start and end (word indices).
    let mut args: Vec<String> = Vec::new();
    let (mut open, mut close) = (None, None);
    let mut fresh = true;
    for c in raw.chars() {
        match c {
            c if c.is_ascii_whitespace() => fresh = true,
            '[' => {
                if open.is_some() {
                    return Err("too many '['".into());
                }
                if args.is_empty() {
                    return Err("file must start with a cert".into());
                }
                open = Some(args.len());
                fresh = true;
            }
            ']' => {
                if close.is_some() {
                    return Err("too many ']'".into());
                }
                if open.is_none() {
                    return Err("missing '['".into());
                }
                close = Some(args.len());
                fresh = true;
            }
            c => {
                if fresh {
                    args.push(String::new());
                    fresh = false;
                }
                if let Some(last) = args.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    let Some(cert) = args.first() else {
        return Ok((None, Vec::new()));
    };
    let mut warnings = Vec::new();
    let mut settings = Draft::default();
    let mut options = None;
    let filters_from = match (open, close) {
        (None, _) => 1,
        // HAProxy would read the options as SNI filters.
        (Some(_), None) => return Err("missing ']'".into()),
        (Some(o), Some(c)) => {
            // HAProxy 2.6.12's warning; it drops those words too.
            if o > 1 {
                warnings.push(format!(
                    "malformated line, filters can't be between filename and options! ('{}' ignored)",
                    args[1..o].join(" ")
                ));
            }
            let mut cx = tls::Ctx {
                global,
                place: Place::CrtList,
                warnings: Vec::new(),
            };
            let mut i = o;
            let mut written = Vec::new();
            while i < c {
                let key = args[i].as_str();
                let value = args.get(i + 1).filter(|_| i + 1 < c).map(String::as_str);
                match tls::option(&mut settings, key, value, &mut cx) {
                    None => return Err(format!("unknown ssl keyword {key}")),
                    Some(Outcome::Missing) => {
                        return Err(format!("ssl args out of '[]' for {key}"));
                    }
                    Some(Outcome::Failed(_, e)) => return Err(format!("'{key}' : {e}")),
                    Some(Outcome::Done(n)) => {
                        // Files as HAProxy keeps them: after `ca-base`.
                        let as_kept = match (key, value.filter(|_| n == 2)) {
                            ("ca-file" | "crl-file", Some(v)) => {
                                global.ca_path(v).display().to_string()
                            }
                            (_, v) => v.unwrap_or_default().to_string(),
                        };
                        written.push((key.to_string(), as_kept));
                        i += n;
                    }
                }
            }
            options = Some(written);
            warnings.extend(cx.warnings);
            c
        }
    };
    // HAProxy matches SNI names in lower case.
    let filters = args[filters_from..]
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let text = CrtListText {
        options,
        filters: args[filters_from..].to_vec(),
    };
    let cert = CertDraft {
        path: global.crt_path(cert),
        location: at.clone(),
        list: Some(ListLine {
            file: file.to_path_buf(),
            settings,
            filters,
            text,
        }),
    };
    Ok((Some(cert), warnings))
}

/// The bind's TLS once its line is read: `None` without `ssl` (or after
/// an error). `proxy` and `addr` name the bind as HAProxy's messages do.
pub(super) fn finish(
    t: &BindDraft,
    global: &TlsGlobal,
    proxy: &str,
    addr: &str,
    line: &Line<'_>,
    d: &mut Diags,
) -> Option<BindTls> {
    let Line { ctx, loc } = *line;
    let who = format!("Proxy '{proxy}'");
    let bind = format!("bind '{addr}'");
    if !t.ssl {
        // HAProxy 2.6 has this warning but never reaches it: it loads the
        // certificates and listens in clear.
        if !t.certs.is_empty() {
            d.warn(
                loc,
                format!("{ctx}: a certificate was specified but SSL was not enabled (use 'ssl'); the bind listens in clear"),
            );
        }
        return None;
    }
    let draft = t.settings.over(&global.bind);
    let settings = resolve(&draft, Some(TLS_VERSION_FLOOR), loc, &who, &bind, d)?;
    let mut ok = checked(&settings, loc, &who, &bind, d);
    if t.certs.is_empty() {
        if t.strict_sni {
            d.warn(loc, format!("{who}: no SSL certificate specified for {bind}, ssl connections will fail (use 'crt')."));
        } else {
            d.error(
                loc,
                format!("{who}: no SSL certificate specified for {bind} (use 'crt')."),
            );
            ok = false;
        }
    }
    let mut certs = Vec::with_capacity(t.certs.len());
    for c in &t.certs {
        let list = match &c.list {
            None => None,
            Some(l) => {
                // The line's bounds over the bind's resolved ones (HAProxy's
                // crt-list contexts); its other options over the bind's.
                let lv = l.settings.versions;
                let line_draft = Draft {
                    versions: Versions {
                        no: 0,
                        min: lv.min.or(Some(settings.min_version)),
                        max: lv.max.or(Some(settings.max_version)),
                    },
                    ..l.settings.over(&draft)
                };
                let s = resolve(&line_draft, None, &c.location, &who, &bind, d);
                let Some(s) = s.filter(|s| checked(s, &c.location, &who, &bind, d)) else {
                    ok = false;
                    continue;
                };
                Some(CrtListEntry {
                    file: l.file.clone(),
                    settings: s,
                    filters: l.filters.clone(),
                    text: l.text.clone(),
                })
            }
        };
        certs.push(CertRef {
            path: c.path.clone(),
            location: c.location.clone(),
            list,
        });
    }
    ok.then_some(BindTls {
        certs,
        settings,
        strict_sni: t.strict_sni,
    })
}

/// Resolves a bind's (or a crt-list line's) draft, saying what HAProxy
/// would.
fn resolve(
    draft: &Draft,
    default_min: Option<TlsVersion>,
    loc: &Location,
    who: &str,
    bind: &str,
    d: &mut Diags,
) -> Option<TlsSettings> {
    let mut notes = Vec::new();
    let got = draft.resolve(default_min, Verify::None, &mut notes);
    if notes.contains(&Issue::FlagsIgnored) {
        d.warn(loc, format!("{who}: no-sslv3/no-tlsv1x are ignored for {bind}. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."));
    }
    match got {
        Ok(s) => Some(s),
        Err(issue) => {
            let msg = match issue {
                Issue::AllDisabled | Issue::FlagsIgnored => {
                    format!("{who}: all SSL/TLS versions are disabled for {bind}.")
                }
                Issue::BelowFloor => format!(
                    "{who}: only versions below {} are left for {bind}, and rustls does not speak them.",
                    TLS_VERSION_FLOOR.word()
                ),
                Issue::Global(e) => format!("{who}: {bind}: {e}"),
            };
            d.error(loc, msg);
            None
        }
    }
}

/// HAProxy's check of a bind's context: client certificates are verified
/// against a CA file.
fn checked(s: &TlsSettings, loc: &Location, who: &str, bind: &str, d: &mut Diags) -> bool {
    if s.verify != Verify::None && s.ca_file.is_none() {
        d.error(
            loc,
            format!("{who}: verify is enabled but no CA file specified for {bind}."),
        );
        return false;
    }
    true
}

#[cfg(test)]
mod tests;
