//! Health-check settings of a proxy section: the check options (`option
//! httpchk`, `option tcp-check`, `option mysql-check`...) and the rule lines
//! (`http-check ...`, `tcp-check ...`), each registered in a table with its
//! parser. `options.rs` and `proxy.rs` hand each line to the section's
//! [`CheckDraft`]; `validate.rs` asks the draft for the backend's
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

use super::keywords::{did_you_mean, word_list};
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

/// The check type an option chooses, or the message for its line.
type Choice = Result<Chosen, String>;

/// A check option (`option NAME ARGS...`): they take arguments and have no
/// `no` form.
pub(super) struct CheckOption {
    pub name: &'static str,
    choose: fn(&mut CheckDraft, &[String], &Location, &mut Diags) -> Choice,
}

const fn check(
    name: &'static str,
    choose: fn(&mut CheckDraft, &[String], &Location, &mut Diags) -> Choice,
) -> CheckOption {
    CheckOption { name, choose }
}

/// The options choosing a backend's check type. The order is the one
/// typo suggestions prefer on a tie.
pub(super) const CHECK_OPTIONS: &[CheckOption] = &[
    check("httpchk", CheckDraft::httpchk_option),
    check("mysql-check", |_, args, _, _| {
        mysql_check(args).map(Chosen::Fixed)
    }),
    check("pgsql-check", |_, args, _, _| {
        pgsql_check(args).map(Chosen::Fixed)
    }),
    check("redis-check", |_, args, _, _| {
        no_args("redis-check", args).map(|()| Chosen::Fixed(CheckKind::Redis))
    }),
    check("ssl-hello-chk", |_, args, _, _| {
        no_args("ssl-hello-chk", args).map(|()| Chosen::Fixed(CheckKind::SslHello))
    }),
    check("tcp-check", CheckDraft::tcp_check_option),
];

pub(super) fn check_option(name: &str) -> Option<&'static CheckOption> {
    CHECK_OPTIONS.iter().find(|o| o.name == name)
}

/// An `http-check` action, given the words after it.
type HttpAction = fn(&mut CheckDraft, &[String], &Location, &mut Diags);

/// The `http-check` actions splicer implements, in the order messages
/// list them.
pub(super) const HTTP_CHECK_ACTIONS: &[(&str, HttpAction)] = &[
    ("send", CheckDraft::http_send),
    ("expect", CheckDraft::http_expect),
    ("disable-on-404", CheckDraft::disable_on_404),
    ("comment", CheckDraft::http_comment),
];

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
pub(super) struct CheckDraft {
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
    pub(super) fn inherit(&mut self) {
        self.http.inherited = true;
        self.tcp.inherited = true;
        self.unused_http = None;
        self.unused_tcp = None;
        self.lost_request = None;
    }

    /// `option NAME ARGS...` for one of [`CHECK_OPTIONS`].
    pub(super) fn option(
        &mut self,
        option: &CheckOption,
        args: &[String],
        loc: &Location,
        d: &mut Diags,
    ) {
        match (option.choose)(self, args, loc, d) {
            Ok(chosen) => self.chosen = chosen,
            Err(e) => return d.error(loc, e),
        }
        self.unused_http = None;
        self.unused_tcp = None;
    }

    fn httpchk_option(&mut self, args: &[String], loc: &Location, d: &mut Diags) -> Choice {
        let (request, hidden) = rules::httpchk_request(args)?;
        if hidden {
            d.warn(loc, "'option httpchk' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.");
        }
        self.httpchk(request);
        Ok(Chosen::Http)
    }

    fn tcp_check_option(&mut self, args: &[String], _: &Location, _: &mut Diags) -> Choice {
        no_args("tcp-check", args)?;
        if self.chosen != Chosen::Tcp && self.tcp.inherited {
            self.tcp = TcpRules::default();
        }
        Ok(Chosen::Tcp)
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
    pub(super) fn http_check(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let names = || HTTP_CHECK_ACTIONS.iter().map(|(name, _)| *name);
        let Some(action) = words.get(1).map(String::as_str) else {
            let expected = word_list(names().map(|name| format!("'{name}'")), "or");
            return d.error(loc, format!("'http-check' expects {expected}."));
        };
        if let Some((_, apply)) = HTTP_CHECK_ACTIONS.iter().find(|(name, _)| *name == action) {
            return apply(self, &words[2..], loc, d);
        }
        if rules::is_unsupported_action(action, &["connect", "send-state"]) {
            return d.error(loc, format!("'http-check {action}' is not supported yet"));
        }
        let hint = did_you_mean(action, names());
        let supported = word_list(names(), "and");
        d.error(
            loc,
            format!("'http-check' does not know '{action}'{hint} (splicer supports {supported})"),
        );
    }

    fn http_send(&mut self, args: &[String], loc: &Location, d: &mut Diags) {
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

    fn http_expect(&mut self, args: &[String], loc: &Location, d: &mut Diags) {
        match rules::http_expect(args) {
            Ok(expect) => {
                self.own_http_rule(loc);
                self.http.expect.push(expect);
            }
            Err(e) => d.error(loc, format!("'http-check expect': {e}")),
        }
    }

    fn disable_on_404(&mut self, args: &[String], loc: &Location, d: &mut Diags) {
        match args.first() {
            Some(extra) => d.error(
                loc,
                format!("'http-check disable-on-404' cannot handle unexpected argument '{extra}'."),
            ),
            None => self.disable_on_404 = true,
        }
    }

    fn http_comment(&mut self, args: &[String], loc: &Location, d: &mut Diags) {
        if args.is_empty() {
            return d.error(loc, "'http-check comment' expects a string as argument.");
        }
        self.own_http_rule(loc);
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
    pub(super) fn tcp_check(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(action) = words.get(1).map(String::as_str) else {
            let names = rules::TCP_CHECK_ACTIONS
                .iter()
                .map(|(name, _)| format!("'{name}'"));
            let expected = word_list(names, "or");
            return d.error(loc, format!("'tcp-check' expects {expected}."));
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
    pub(super) fn resolve(&self) -> CheckKind {
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
    pub(super) fn warn(&self, who: &str, disabled: bool, d: &mut Diags) {
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

/// `option mysql-check [user NAME [post-41|pre-41]]`.
fn mysql_check(args: &[String]) -> Result<CheckKind, String> {
    let word = |i: usize| args.get(i).map(String::as_str);
    match (word(0), word(1), word(2), word(3)) {
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
    }
}

/// `option pgsql-check user NAME`.
fn pgsql_check(args: &[String]) -> Result<CheckKind, String> {
    let word = |i: usize| args.get(i).map(String::as_str);
    match (word(0), word(1), word(2)) {
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
    }
}
