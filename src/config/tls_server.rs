//! The TLS parameters of `server` and `default-server` lines (`ssl`,
//! `check-ssl`, `sni`, `verifyhost`, `crt`... and the options of `tls.rs`),
//! read into a [`ServerDraft`] that `default-server` passes on like the
//! other parameters, then resolved into the server's [`ServerTls`] with
//! the global `ssl-default-server-*` under it ([`finish`]).
//!
//! As in HAProxy, a server that speaks TLS (`ssl` or `check-ssl`)
//! verifies its peer's certificate unless told `verify none` (or
//! `ssl-server-verify none`), and that needs a `ca-file`.

use std::path::PathBuf;

use super::model::*;
use super::parser::Diags;
use super::pattern::MatchMethod;
use super::sample::{self, MapFiles, Stage};
use super::server::ParamIssue;
use super::tls::{self, Draft, Issue, Outcome, Place, TlsGlobal};

/// What a server line (over its `default-server`) said of TLS.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerDraft {
    pub enabled: bool,
    pub settings: Draft,
    pub verifyhost: Option<String>,
    pub sni: Option<SampleExpr>,
    pub crt: Option<PathBuf>,
    pub no_reuse: bool,
    pub check_ssl: bool,
    pub check_sni: Option<String>,
    pub check_alpn: Vec<Vec<u8>>,
}

impl ServerDraft {
    /// Whether any connection to the server speaks TLS.
    fn speaks_tls(&self) -> bool {
        self.enabled || self.check_ssl
    }
}

/// The server-only TLS words, and whether each takes a value.
const OWN: &[(&str, bool)] = &[
    ("ssl", false),
    ("no-ssl", false),
    ("verifyhost", true),
    ("sni", true),
    ("crt", true),
    ("no-ssl-reuse", false),
    ("ssl-reuse", false),
    ("check-ssl", false),
    ("no-check-ssl", false),
    ("check-sni", true),
    ("check-alpn", true),
];

/// Every TLS word of a server line; `true` = takes a value.
pub(super) fn params() -> impl Iterator<Item = (&'static str, bool)> {
    OWN.iter()
        .copied()
        .chain(tls::option_names(Place::Server).map(|n| (n, tls::takes_value(n, Place::Server))))
}

/// Applies `key` (`value`: the next word) if it is a TLS parameter of a
/// server line: the number of words it took; `None` if it is none.
/// Problems go to `issues`, worded with `who` as `server.rs` words its own.
pub(super) fn param(
    t: &mut ServerDraft,
    global: &TlsGlobal,
    key: &str,
    value: Option<&str>,
    who: &str,
    issues: &mut Vec<ParamIssue>,
) -> Option<usize> {
    let flag = |t: &mut ServerDraft| match key {
        "ssl" => t.enabled = true,
        "no-ssl" => t.enabled = false,
        "no-ssl-reuse" => t.no_reuse = true,
        "ssl-reuse" => t.no_reuse = false,
        "check-ssl" => t.check_ssl = true,
        "no-check-ssl" => t.check_ssl = false,
        _ => {}
    };
    let own = OWN.iter().find(|(k, _)| *k == key).map(|(_, takes)| *takes);
    let result: Result<(), String> = match (own, value) {
        (Some(false), _) => {
            flag(t);
            return Some(1);
        }
        (Some(true), None) => {
            issues.push(ParamIssue::Error(format!(
                "{who}: '{key}' expects an argument"
            )));
            return Some(1);
        }
        (Some(true), Some(v)) => {
            match key {
                "verifyhost" => {
                    t.verifyhost = Some(v.to_string());
                    Ok(())
                }
                "sni" => match sni(v) {
                    Ok(expr) => {
                        t.sni = Some(expr);
                        Ok(())
                    }
                    // HAProxy's words.
                    Err(e) => {
                        issues.push(ParamIssue::Error(format!(
                            "{who}: error detected while parsing sni expression : {e}"
                        )));
                        return Some(2);
                    }
                },
                "crt" => {
                    t.crt = Some(global.crt_path(v));
                    Ok(())
                }
                "check-sni" => {
                    t.check_sni = Some(v.to_string());
                    Ok(())
                }
                _ => {
                    let mut warnings = Vec::new();
                    let got = tls::alpn(v, &mut warnings).map(|a| t.check_alpn = a);
                    issues.extend(warnings.into_iter().map(|w| {
                        ParamIssue::Warning(format!(
                            "{who}: {}",
                            w.replace("'alpn'", "'check-alpn'")
                        ))
                    }));
                    got
                }
            }
        }
        (None, _) => {
            let mut cx = tls::Ctx {
                global,
                place: Place::Server,
                warnings: Vec::new(),
            };
            let outcome = tls::option(&mut t.settings, key, value, &mut cx)?;
            issues.extend(
                cx.warnings
                    .into_iter()
                    .map(|w| ParamIssue::Warning(format!("{who}: {w}"))),
            );
            match outcome {
                Outcome::Done(n) => return Some(n),
                Outcome::Missing => {
                    issues.push(ParamIssue::Error(format!(
                        "{who}: '{key}' expects an argument"
                    )));
                    return Some(1);
                }
                Outcome::Failed(n, e) => {
                    issues.push(ParamIssue::Error(format!("{who}: '{key}': {e}")));
                    return Some(n);
                }
            }
        }
    };
    if let Err(e) = result {
        issues.push(ParamIssue::Error(format!("{who}: '{key}': {e}")));
    }
    Some(2)
}

/// Map converters would need the config's pattern lists, which a server
/// line does not reach.
struct NoMaps;

impl MapFiles for NoMaps {
    fn map_file(&mut self, _: &str, _: MatchMethod) -> Result<PatternRefId, String> {
        Err("map converters are not supported in 'sni' yet".into())
    }
}

/// `sni EXPR`: a sample expression evaluated when the server connection is
/// made, so anything the client said before is there; the server's own
/// bytes are not.
fn sni(text: &str) -> Result<SampleExpr, String> {
    let parsed = sample::parse(text, &mut NoMaps)?;
    if parsed.stage == Stage::Response {
        return Err(format!("'{text}' fetches response data"));
    }
    Ok(parsed.expr)
}

/// The server's TLS once its line is read: the global server defaults
/// under it when it speaks TLS (HAProxy applies them on `ssl` and
/// `check-ssl`), and HAProxy's checks of its context.
pub(super) fn finish(
    t: &ServerDraft,
    global: &TlsGlobal,
    who: &str,
    loc: &Location,
    d: &mut Diags,
) -> ServerTls {
    let uses = t.speaks_tls();
    let draft = if uses {
        t.settings.over(&global.server)
    } else {
        t.settings.clone()
    };
    let mut notes = Vec::new();
    let settings = match draft.resolve(None, global.server_verify, &mut notes) {
        Ok(s) => s,
        Err(issue) => {
            if uses {
                d.error(loc, issue_text(issue, who));
            }
            TlsSettings::default()
        }
    };
    if uses {
        if notes.contains(&Issue::FlagsIgnored) {
            d.warn(loc, format!("{who}: no-sslv3/no-tlsv1x are ignored for this server. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."));
        }
        if settings.verify == Verify::Required && settings.ca_file.is_none() {
            // HAProxy 2.6's words (ssl_sock_prepare_srv_ctx), which go by
            // the global setting even when the line says `verify required`.
            let msg = if global.server_verify == Verify::Required {
                "verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."
            } else {
                "verify is enabled but no CA file specified."
            };
            d.error(loc, format!("{who}: {msg}"));
        }
    }
    ServerTls {
        enabled: t.enabled,
        settings,
        verifyhost: t.verifyhost.clone(),
        sni: t.sni.clone(),
        crt: t.crt.clone(),
        no_reuse: t.no_reuse,
        check_ssl: t.check_ssl,
        check_sni: t.check_sni.clone(),
        check_alpn: t.check_alpn.clone(),
        switched_off: false,
    }
}

fn issue_text(issue: Issue, who: &str) -> String {
    match issue {
        Issue::AllDisabled | Issue::FlagsIgnored => {
            format!("{who}: all SSL/TLS versions are disabled.")
        }
        Issue::BelowFloor => format!(
            "{who}: only versions below {} are left, and rustls does not speak them.",
            TLS_VERSION_FLOOR.word()
        ),
        Issue::Global(e) => format!("{who}: {e}"),
    }
}
