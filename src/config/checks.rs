//! Health-check settings of a proxy section: the check options (`option
//! httpchk`, `option tcp-check`, `option mysql-check`...) and the rule lines
//! (`http-check ...`, `tcp-check ...`). `proxy.rs` hands each line to the
//! section's [`CheckDraft`]; `validate.rs` asks the draft for the backend's
//! [`CheckKind`] once every file is read. Rule syntax is parsed in `rules.rs`.
//!
//! How HAProxy 2.6 combines these lines (checked with `haproxy -c` and by
//! watching what its checks send):
//! - The last check option of a section chooses the check type.
//! - `http-check` and `tcp-check` rules are kept apart whatever the option;
//!   rules of the other kind are ignored, with a warning when written after
//!   the last check option (or with no option at all).
//! - A section inherits its defaults' rules, but its first own rule of a kind
//!   drops every inherited rule of that kind; for HTTP that includes the
//!   request set by the defaults' `option httpchk`. `option httpchk` in the
//!   section also drops the inherited HTTP rules, while `option tcp-check`
//!   keeps the inherited TCP rules when tcp-check was already in effect.
//! - `option httpchk` and `http-check send` both shape the one request, in
//!   either order; each line overrides what it names, except that an `option
//!   httpchk` replaces the whole request of an earlier one as long as no
//!   `http-check send` was written.
//! - `http-check disable-on-404` is a flag of the section, always inherited.

use super::keywords::did_you_mean;
use super::lexer::word_text;
use super::model::*;
use super::parser::Diags;
use super::rules::{self, Request};

/// Which check type the last check option chose. HTTP and TCP take their
/// rules from the draft when resolved.
#[derive(Debug, Clone, Default, PartialEq)]
enum Chosen {
    #[default]
    Connect,
    Http,
    Tcp,
    /// A type without rules (mysql, pgsql, redis, ssl-hello).
    Fixed(CheckKind),
}

#[derive(Debug, Clone, Default)]
struct HttpRules {
    request: Request,
    /// An `http-check send` was written: a second request would need an
    /// `http-check connect` before it.
    sent: bool,
    expect: Vec<HttpExpect>,
    /// Still the defaults' rules: the section's first own rule drops them.
    inherited: bool,
}

#[derive(Debug, Clone, Default)]
struct TcpRules {
    rules: Vec<TcpCheckRule>,
    inherited: bool,
}

/// The check settings of one section as written, after inheriting from its
/// defaults section.
#[derive(Debug, Clone, Default)]
pub struct CheckDraft {
    chosen: Chosen,
    http: HttpRules,
    tcp: TcpRules,
    disable_on_404: bool,
    /// First rule line written while another check type was in effect.
    unused_http: Option<Location>,
    unused_tcp: Option<Location>,
    /// Where this section's own `http-check` rules dropped an inherited
    /// request line (HAProxy's behaviour, easy to miss), and that line.
    /// An `option httpchk` in the section clears it.
    lost_request: Option<(Location, String)>,
}

impl CheckDraft {
    /// Called when a section starts from a copy of its defaults' draft.
    pub fn inherit(&mut self) {
        self.http.inherited = true;
        self.tcp.inherited = true;
        self.unused_http = None;
        self.unused_tcp = None;
        self.lost_request = None;
    }

    /// `option NAME ARGS...` for a name in `CHECK_OPTIONS`.
    pub fn option(&mut self, name: &str, args: &[String], loc: &Location, d: &mut Diags) {
        let chosen = match name {
            "httpchk" => match rules::httpchk_request(args) {
                Ok((request, hidden)) => {
                    if hidden {
                        d.warn(loc, "'option httpchk' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.");
                    }
                    self.httpchk(request);
                    Chosen::Http
                }
                Err(e) => return d.error(loc, e),
            },
            "tcp-check" => {
                if let Err(e) = no_args(name, args) {
                    return d.error(loc, e);
                }
                if self.chosen != Chosen::Tcp && self.tcp.inherited {
                    self.tcp = TcpRules::default();
                }
                Chosen::Tcp
            }
            _ => match fixed_kind(name, args) {
                Ok(kind) => Chosen::Fixed(kind),
                Err(e) => return d.error(loc, e),
            },
        };
        self.chosen = chosen;
        self.unused_http = None;
        self.unused_tcp = None;
    }

    fn httpchk(&mut self, request: Request) {
        if self.http.inherited {
            self.http = HttpRules::default();
        }
        if self.http.sent {
            self.http.request.overlay(request);
        } else {
            self.http.request = request;
        }
        self.lost_request = None;
    }

    /// An `http-check` line (`words[0]` is `http-check`).
    pub fn http_check(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(action) = words.get(1).map(String::as_str) else {
            return d.error(
                loc,
                "'http-check' expects 'send', 'expect', 'disable-on-404' or 'comment'.",
            );
        };
        let args = &words[2..];
        match action {
            "disable-on-404" => match args.first() {
                Some(extra) => d.error(
                    loc,
                    format!(
                        "'http-check disable-on-404' cannot handle unexpected argument '{extra}'."
                    ),
                ),
                None => self.disable_on_404 = true,
            },
            "comment" => {
                if args.is_empty() {
                    return d.error(loc, "'http-check comment' expects a string as argument.");
                }
                self.own_http_rule(loc);
            }
            "send" => {
                let request = match rules::http_send(args) {
                    Ok(r) => r,
                    Err(e) => return d.error(loc, format!("'http-check send': {e}")),
                };
                self.own_http_rule(loc);
                if self.http.sent || !self.http.expect.is_empty() {
                    let after = if self.http.sent { "send" } else { "expect" };
                    return d.error(
                        loc,
                        format!("'http-check send': a request after an 'http-check {after}' needs an 'http-check connect' before it, which is not supported yet."),
                    );
                }
                self.http.request.overlay(request);
                self.http.sent = true;
            }
            "expect" => match rules::http_expect(args) {
                Ok(expect) => {
                    self.own_http_rule(loc);
                    self.http.expect.push(expect);
                }
                Err(e) => d.error(loc, format!("'http-check expect': {e}")),
            },
            _ if rules::is_unsupported_action(action, &["connect", "send-state"]) => {
                d.error(loc, format!("'http-check {action}' is not supported yet"))
            }
            _ => {
                let known = ["send", "expect", "disable-on-404", "comment"];
                let hint = did_you_mean(action, known.into_iter());
                d.error(
                    loc,
                    format!("'http-check' does not know '{action}'{hint} (splicer supports send, expect, disable-on-404 and comment)"),
                );
            }
        }
    }

    /// Bookkeeping for a rule line this section writes itself.
    fn own_http_rule(&mut self, loc: &Location) {
        if self.http.inherited {
            let dropped = std::mem::take(&mut self.http);
            if dropped.request != Request::default() {
                self.lost_request = Some((loc.clone(), dropped.request.line()));
            }
        }
        if self.chosen != Chosen::Http {
            self.unused_http.get_or_insert_with(|| loc.clone());
        }
    }

    /// A `tcp-check` line (`words[0]` is `tcp-check`).
    pub fn tcp_check(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(action) = words.get(1).map(String::as_str) else {
            return d.error(
                loc,
                "'tcp-check' expects 'connect', 'send', 'send-binary', 'expect' or 'comment'.",
            );
        };
        let rule = match rules::tcp_rule(action, &words[2..]) {
            Ok(rule) => rule,
            Err(e) => return d.error(loc, e),
        };
        if self.tcp.inherited {
            self.tcp = TcpRules::default();
        }
        if self.chosen != Chosen::Tcp {
            self.unused_tcp.get_or_insert_with(|| loc.clone());
        }
        let Some(rule) = rule else { return };
        let first_is_connect = matches!(
            self.tcp.rules.first(),
            None | Some(TcpCheckRule::Connect { .. })
        );
        if matches!(rule, TcpCheckRule::Connect { .. }) && !first_is_connect {
            return d.error(
                loc,
                "'tcp-check connect': when the rules hold a 'connect', the first rule must be a 'connect' too (only comments may come before it).",
            );
        }
        self.tcp.rules.push(rule);
    }

    /// The backend's check, as the section leaves it.
    pub fn resolve(&self) -> CheckKind {
        match &self.chosen {
            Chosen::Connect => CheckKind::Connect,
            Chosen::Tcp => CheckKind::Tcp(self.tcp.rules.clone()),
            Chosen::Fixed(kind) => kind.clone(),
            Chosen::Http => {
                let r = &self.http.request;
                let or =
                    |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.into());
                CheckKind::Http(HttpCheck {
                    method: or(&r.method, DEFAULT_HTTPCHK_METHOD),
                    uri: or(&r.uri, DEFAULT_HTTPCHK_URI),
                    version: or(&r.version, DEFAULT_HTTPCHK_VERSION),
                    headers: r.headers.clone().unwrap_or_default(),
                    body: r.body.clone(),
                    expect: self.http.expect.clone(),
                    disable_on_404: self.disable_on_404,
                })
            }
        }
    }

    /// Warnings about rules that do nothing, for a backend-side section
    /// named `who` (HAProxy gives the first two, without a line).
    pub fn warn(&self, who: &str, disabled: bool, d: &mut Diags) {
        if disabled {
            return;
        }
        if let Some(loc) = &self.unused_http {
            d.warn(
                loc,
                format!("{who} uses http-check rules without 'option httpchk', so the rules are ignored."),
            );
        }
        if let Some(loc) = &self.unused_tcp {
            d.warn(
                loc,
                format!("{who} uses tcp-check rules without 'option tcp-check', so the rules are ignored."),
            );
        }
        let now = self.http.request.line();
        if let (Chosen::Http, Some((loc, lost))) = (&self.chosen, &self.lost_request) {
            if *lost == now {
                return;
            }
            d.warn(
                loc,
                format!(
                    "{who}: its own 'http-check' rules replace all those inherited from defaults, including the request '{lost}' (as in HAProxy): the check sends '{now}'. Repeat 'option httpchk' in this section to keep the request."
                ),
            );
        }
    }
}

fn no_args(name: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(extra) => Err(format!(
            "'option {name}' cannot handle unexpected argument '{extra}'."
        )),
        None => Ok(()),
    }
}

/// The check types without rules: mysql, pgsql, redis, ssl-hello.
fn fixed_kind(name: &str, args: &[String]) -> Result<CheckKind, String> {
    let word = |i: usize| args.get(i).map(String::as_str);
    match name {
        "mysql-check" => match (word(0), word(1), word(2), word(3)) {
            // post-41 is HAProxy's default; without a user nothing is sent.
            (None, ..) => Ok(CheckKind::Mysql {
                user: None,
                post41: true,
            }),
            (Some("user"), None, ..) => {
                Err("'option mysql-check user' expects <username> as argument.".into())
            }
            (Some("user"), Some(user), version, None) => {
                let post41 = match version {
                    None | Some("post-41") => true,
                    Some("pre-41") => false,
                    Some(other) => {
                        return Err(format!(
                            "'option mysql-check': keyword 'user' only supports 'post-41' and 'pre-41' (got '{other}')."
                        ));
                    }
                };
                Ok(CheckKind::Mysql {
                    user: Some(word_text(user)),
                    post41,
                })
            }
            (Some("user"), _, _, Some(extra)) => Err(format!(
                "'option mysql-check' cannot handle unexpected argument '{extra}'."
            )),
            (Some(other), ..) => Err(format!(
                "'option mysql-check' only supports optional values: 'user' (got '{other}')."
            )),
        },
        "pgsql-check" => match (word(0), word(1), word(2)) {
            (Some("user"), Some(user), None) => Ok(CheckKind::Pgsql {
                user: word_text(user),
            }),
            (Some("user"), Some(_), Some(extra)) => Err(format!(
                "'option pgsql-check' cannot handle unexpected argument '{extra}'."
            )),
            (None | Some("user"), ..) => {
                Err("'option pgsql-check' expects 'user <username>' as argument.".into())
            }
            (Some(other), ..) => Err(format!(
                "'option pgsql-check' only supports optional values: 'user' (got '{other}')."
            )),
        },
        "redis-check" => no_args(name, args).map(|()| CheckKind::Redis),
        "ssl-hello-chk" => no_args(name, args).map(|()| CheckKind::SslHello),
        _ => unreachable!("CHECK_OPTIONS and fixed_kind disagree on '{name}'"),
    }
}
