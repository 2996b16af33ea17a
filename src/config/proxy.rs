//! Proxy sections (`defaults`, `frontend`, `backend`, `listen`) as drafts:
//! every keyword line is applied to a [`ProxyDraft`]; a new proxy starts as a
//! copy of its defaults draft. `validate.rs` turns drafts into the model.

use super::checks::CheckDraft;
use super::keywords::*;
use super::logs::{FormatKeyword, LogDraft};
use super::model::*;
use super::parser::Diags;
use super::server::{self, ParamIssue, ServerParams};
use super::stats_page::StatsDraft;
use super::values::parse_int;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Kind {
    #[default]
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    pub(super) fn front(self) -> bool {
        self != Kind::Backend
    }
    pub(super) fn back(self) -> bool {
        self != Kind::Frontend
    }
}

/// How HAProxy words the warning for an HTTP-only directive in a TCP proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpStyle {
    /// `'option httplog' not usable with ... (needs 'mode http')`.
    HttpLog,
    /// `'http-request' rules ignored for ... as they require HTTP mode.`
    Rules,
    /// `'option forwardfor' ignored for ... as it requires HTTP mode.`
    Directive,
}

/// An HTTP-only directive, kept to warn about once the proxy's mode is known.
#[derive(Debug, Clone)]
pub(super) struct HttpOnly {
    pub what: String,
    pub style: HttpStyle,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub queue: Option<Duration>,
    pub check: Option<Duration>,
    /// `timeout http-request`: only stats frontends use it.
    pub http_request: Option<Duration>,
}

/// One section as written, after inheriting from its defaults.
#[derive(Debug, Clone, Default)]
pub(super) struct ProxyDraft {
    pub kind: Kind,
    pub name: String,
    pub location: Location,
    /// Where `mode http` was set, when it is in effect.
    pub mode_http: Option<Location>,
    pub binds: Vec<Bind>,
    /// `unix-bind` as it stood when the section began (it applies to the
    /// binds declared after it).
    pub unix_bind: UnixBind,
    /// The global TLS defaults and bases as they stood when the section
    /// began (they apply to the binds and servers declared after them).
    pub tls: super::tls::TlsGlobal,
    pub default_backend: Option<(String, Location)>,
    pub maxconn: Option<usize>,
    /// `load-server-state-from-file global|local|none`.
    pub state_from: Option<String>,
    /// `server-state-file-name NAME`; `None` = the backend's name.
    pub state_file_name: Option<String>,
    /// `rate-limit sessions`; `None` = no limit.
    pub rate_limit: Option<u32>,
    /// `fullconn`; `None` or 0: computed from the frontends (validate).
    pub fullconn: Option<usize>,
    pub balance: Balance,
    pub hash_type: HashType,
    pub servers: Vec<Server>,
    pub default_server: ServerParams,
    pub timeouts: Timeouts,
    pub retries: Option<u32>,
    pub redispatch: bool,
    pub allbackups: bool,
    pub splice: SpliceOptions,
    pub disabled: bool,
    pub source: Option<IpAddr>,
    /// `source ADDR:PORT`: one source port for every connection.
    pub source_ports: Option<(u16, u16)>,
    /// `log`, `log-format`, `log-tag`, `option tcplog`, `option dontlognull`.
    pub log: LogDraft,
    pub http_only: Vec<HttpOnly>,
    /// Check options and `http-check` / `tcp-check` rules.
    pub checks: CheckDraft,
    /// `option log-health-checks`.
    pub log_health_checks: bool,
    /// `id`: the proxy's number in statistics.
    pub id: Option<u32>,
    /// `stats ...` and `http-request use-service prometheus-exporter`.
    pub stats: StatsDraft,
    /// `option clitcpka` (or `tcpka` with a frontend side) and `clitcpka-*`.
    pub cli_ka: Keepalive,
    /// `option srvtcpka` (or `tcpka` with a backend side) and `srvtcpka-*`.
    pub srv_ka: Keepalive,
    /// `option nolinger`.
    pub nolinger: bool,
    /// `option tcp-smart-accept`.
    pub smart_accept: bool,
    /// `option tcp-smart-connect`.
    pub smart_connect: bool,
    /// `backlog`: for the binds that set none.
    pub backlog: Option<i32>,
    /// `acl` lines (named and anonymous).
    pub acls: super::acl::AclTable,
    /// `tcp-request`, `tcp-response`, `use_backend`, `use-server`; its
    /// `acls` are filled from [`Self::acls`] by validation.
    pub rules: RuleSet,
    /// `stick-table`.
    pub table: Option<StickTable>,
    /// `mysql-role ... cluster NAME` (splicer's extension).
    pub mysql: Option<super::mysql::RoleDraft>,
}

/// Applies one keyword line to the section's draft.
type Parse = fn(&mut ProxyDraft, &[String], &Location, &mut Diags);

/// A proxy keyword splicer implements: its side, whether a `defaults`
/// section may hold it, and its parser.
pub(super) struct ProxyKeyword {
    pub name: &'static str,
    side: Side,
    in_defaults: bool,
    parse: Parse,
}

const fn kw(name: &'static str, side: Side, in_defaults: bool, parse: Parse) -> ProxyKeyword {
    ProxyKeyword {
        name,
        side,
        in_defaults,
        parse,
    }
}

/// The first words of a proxy line that splicer implements. The order is
/// the one typo suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const PROXY_KEYWORDS: &[ProxyKeyword] = &[
    kw("mode", Side::Both, true, ProxyDraft::mode),
    kw("bind", Side::Front, false, super::bind::parse),
    kw("default_backend", Side::Front, true, ProxyDraft::default_backend),
    kw("mysql-role", Side::Back, false, super::mysql::backend_line),
    kw("maxconn", Side::Front, true, ProxyDraft::maxconn),
    kw("rate-limit", Side::Front, true, |p, words, loc, d| {
        match words.get(1).map(String::as_str) {
            Some("sessions") => {
                if let Some(v) = words.get(2) {
                    p.rate_limit = value(parse_int(v, 0, u32::MAX), "rate-limit sessions", loc, d).or(p.rate_limit);
                } else {
                    d.error(loc, "'rate-limit sessions' expects an integer value.");
                }
            }
            Some(other) => d.error(loc, format!("'rate-limit' only supports 'sessions' (got '{other}')")),
            None => d.error(loc, "'rate-limit' only supports 'sessions' (got '')"),
        }
    }),
    kw("load-server-state-from-file", Side::Back, true, |p, words, loc, d| {
        match words.get(1).map(String::as_str) {
            Some(w @ ("global" | "local" | "none")) => p.state_from = Some(w.to_string()),
            other => d.error(
                loc,
                format!(
                    "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got '{}'",
                    other.unwrap_or("")
                ),
            ),
        }
    }),
    kw("server-state-file-name", Side::Back, true, |p, words, _, _| {
        // No name, or `use-backend-name`: the backend's name (HAProxy).
        p.state_file_name = words
            .get(1)
            .filter(|w| *w != "use-backend-name")
            .cloned();
    }),
    kw("fullconn", Side::Back, true, |p, words, loc, d| {
        if let Some(v) = one_arg(words, "an integer", loc, d) {
            p.fullconn = value(parse_int(v, 0, usize::MAX), &words[0], loc, d).or(p.fullconn);
        }
    }),
    kw("balance", Side::Back, true, ProxyDraft::balance),
    kw("hash-type", Side::Back, true, ProxyDraft::hash_type),
    kw("server", Side::Back, false, ProxyDraft::server),
    kw("server-template", Side::Back, false, ProxyDraft::server_template),
    kw("default-server", Side::Back, true, ProxyDraft::default_server),
    kw("retries", Side::Back, true, ProxyDraft::retries),
    kw("source", Side::Back, true, ProxyDraft::source),
    kw("timeout", Side::Both, true, ProxyDraft::timeout),
    kw("option", Side::Both, true, |p, words, loc, d| p.option(words, 1, true, loc, d)),
    kw("no", Side::Both, true, ProxyDraft::no),
    kw("disabled", Side::Both, true, |p, words, loc, d| p.set_disabled(true, words, loc, d)),
    kw("enabled", Side::Both, true, |p, words, loc, d| p.set_disabled(false, words, loc, d)),
    kw("http-check", Side::Back, true, |p, words, loc, d| p.checks.http_check(words, loc, d)),
    kw("tcp-check", Side::Back, true, |p, words, loc, d| p.checks.tcp_check(words, loc, d)),
    // Free text that nothing shows yet: any words are accepted.
    kw("description", Side::Both, false, |_, _, _, _| {}),
    kw("id", Side::Both, false, ProxyDraft::id),
    kw("log", Side::Both, true, |p, words, loc, d| p.log.log(words, loc, d)),
    kw("log-format", Side::Both, true, |p, words, loc, d| {
        p.log_format(FormatKeyword::LogFormat, words, loc, d)
    }),
    kw("log-format-sd", Side::Both, true, |p, words, loc, d| {
        p.log_format(FormatKeyword::LogFormatSd, words, loc, d)
    }),
    kw("error-log-format", Side::Both, true, |p, words, loc, d| {
        p.log_format(FormatKeyword::ErrorLogFormat, words, loc, d)
    }),
    kw("log-tag", Side::Both, true, |p, words, loc, d| p.log.tag(words, loc, d)),
    kw("stats", Side::Both, true, |p, words, loc, d| p.stats.keyword(words, p.kind, loc, d)),
    kw("backlog", Side::Front, true, super::tcp::backlog),
    // Their side is checked by the parser, in HAProxy's words.
    kw("clitcpka-cnt", Side::Both, true, super::tcp::tcpka),
    kw("clitcpka-idle", Side::Both, true, super::tcp::tcpka),
    kw("clitcpka-intvl", Side::Both, true, super::tcp::tcpka),
    kw("srvtcpka-cnt", Side::Both, true, super::tcp::tcpka),
    kw("srvtcpka-idle", Side::Both, true, super::tcp::tcpka),
    kw("srvtcpka-intvl", Side::Both, true, super::tcp::tcpka),
];

impl ProxyDraft {
    /// A new section, inheriting what `defaults` set.
    pub(super) fn start(
        kind: Kind,
        name: String,
        location: Location,
        defaults: Option<&ProxyDraft>,
    ) -> Self {
        let mut draft = defaults.cloned().unwrap_or_default();
        draft.kind = kind;
        draft.name = name;
        draft.location = location;
        draft.binds.clear();
        draft.servers.clear();
        draft.id = None;
        // Only the inspect delays and `option persist` come from defaults.
        draft.rules = RuleSet {
            inspect_delay: draft.rules.inspect_delay,
            response_delay: draft.rules.response_delay,
            persist: draft.rules.persist,
            ..RuleSet::default()
        };
        draft.acls = Default::default();
        draft.table = None;
        draft.checks.inherit();
        draft
    }

    /// `frontend 'x'`, `backend 'x'`, `proxy 'x'` (listen), as HAProxy says.
    pub(super) fn who(&self) -> String {
        match self.kind {
            Kind::Listen => format!("proxy '{}'", self.name),
            k => format!("{} '{}'", k.word(), self.name),
        }
    }

    /// Applies one keyword line.
    pub(super) fn keyword(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let key = words[0].as_str();
        if let Some((_, msg)) = REMOVED_PROXY.iter().find(|(k, _)| *k == key) {
            return d.error(loc, *msg);
        }
        if UNSUPPORTED_PROXY.contains(&key) {
            return d.error(loc, format!("'{key}' is not supported yet"));
        }
        if key == "http-request"
            && words.get(1).is_some_and(|w| w == "use-service")
            && self.kind.front()
        {
            return self.stats.use_service(words, self.kind, loc, d);
        }
        if key == "monitor-uri" {
            // Served on a mode http frontend (cloud load balancers' health
            // probes); a TCP proxy warns about it as about any HTTP keyword.
            match words.get(1) {
                Some(uri) if !uri.is_empty() => self.stats.monitor_uri = Some(uri.clone()),
                _ => return d.error(loc, "'monitor-uri' expects an URI."),
            }
        }
        if let Some((_, rules)) = HTTP_KEYWORDS.iter().find(|(k, _)| *k == key) {
            let style = if *rules {
                HttpStyle::Rules
            } else {
                HttpStyle::Directive
            };
            self.http_only.push(HttpOnly {
                what: format!("'{key}'"),
                style,
                location: loc.clone(),
            });
            return;
        }
        let Some(kw) = PROXY_KEYWORDS.iter().find(|k| k.name == key) else {
            let hint = did_you_mean(key, proxy_vocabulary());
            return d.error(
                loc,
                format!(
                    "unknown keyword '{key}' in '{}' section{hint}",
                    self.kind.word()
                ),
            );
        };
        if self.kind == Kind::Defaults && !kw.in_defaults {
            return d.error(loc, format!("'{key}' not allowed in 'defaults' section."));
        }
        if self.side_allows(kw.side, &format!("'{key}'"), loc, d) {
            (kw.parse)(self, words, loc, d);
        }
    }

    fn default_backend(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if let Some(name) = one_arg(words, "a backend name", loc, d) {
            self.default_backend = Some((name.to_string(), loc.clone()));
        }
    }

    fn maxconn(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if let Some(v) = one_arg(words, "an integer", loc, d) {
            self.maxconn = value(parse_int(v, 0, usize::MAX), &words[0], loc, d).or(self.maxconn);
        }
    }

    fn default_server(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let issues = server::apply(
            &mut self.default_server,
            &words[1..],
            "default-server",
            Some(&self.tls),
        );
        report(issues, loc, d);
    }

    fn retries(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if let Some(v) = one_arg(words, "an integer", loc, d) {
            self.retries = value(parse_int(v, 0, u32::MAX), &words[0], loc, d).or(self.retries);
        }
    }

    fn no(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        match words.get(1).map(String::as_str) {
            Some("option") => self.option(words, 2, false, loc, d),
            Some("log") => self.log.no_log(&words[1..], loc, d),
            _ => d.error(loc, "'no' expects 'option' (as in 'no option redispatch')"),
        }
    }

    fn set_disabled(&mut self, disabled: bool, words: &[String], loc: &Location, d: &mut Diags) {
        if no_arg(words, loc, d) {
            self.disabled = disabled;
        }
    }

    fn id(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if let Some(v) = one_arg(words, "an integer", loc, d) {
            self.id = value(parse_int::<u32>(v, 1, u32::MAX), &words[0], loc, d);
        }
    }

    fn log_format(&mut self, kw: FormatKeyword, words: &[String], loc: &Location, d: &mut Diags) {
        let (who, backend) = (self.who(), !self.kind.front());
        self.log.format_line(kw, words, &who, backend, loc, d);
    }

    /// HAProxy's rule for a keyword of the other side: `server` is an error,
    /// others are ignored with a warning.
    pub(super) fn side_allows(
        &self,
        side: Side,
        what: &str,
        loc: &Location,
        d: &mut Diags,
    ) -> bool {
        let (ok, missing) = match side {
            Side::Both => (true, ""),
            Side::Front => (self.kind.front(), "frontend"),
            Side::Back => (self.kind.back(), "backend"),
        };
        if ok {
            return true;
        }
        let who = self.who();
        match what {
            "'server'" => d.error(loc, format!("'server' not allowed because {who} has no backend capability.")),
            "'maxconn'" => d.warn(
                loc,
                format!("'maxconn' ignored because {who} has no frontend capability. Maybe you want 'fullconn' instead ?"),
            ),
            _ => d.warn(loc, format!("{what} ignored because {who} has no {missing} capability.")),
        }
        false
    }

    fn mode(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        match one_arg(words, "'tcp'", loc, d) {
            Some("tcp") => self.mode_http = None,
            Some("http") => self.mode_http = Some(loc.clone()),
            Some("health") => {
                d.error(loc, "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.")
            }
            Some(other) => d.error(loc, format!("unknown proxy mode '{other}' (splicer supports 'mode tcp')")),
            None => {}
        }
    }

    fn balance(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(algo) = one_arg(words, "an algorithm", loc, d) else {
            return;
        };
        let balance = match algo {
            "roundrobin" => Balance::RoundRobin,
            "static-rr" => Balance::StaticRr,
            "leastconn" => Balance::LeastConn,
            "first" => Balance::First,
            "source" => Balance::Source,
            "random" => Balance::Random {
                draws: DEFAULT_RANDOM_DRAWS,
            },
            _ if algo.starts_with("random(") && algo.ends_with(')') => {
                match parse_int(&algo[7..algo.len() - 1], 1, u32::MAX) {
                    Ok(draws) => Balance::Random { draws },
                    Err(_) => {
                        return d
                            .error(loc, "balance random : number of draws must be at least 1.");
                    }
                }
            }
            _ if ["uri", "url_param"].contains(&algo) || algo.starts_with("hdr(") => {
                return d.error(
                    loc,
                    format!("'balance {algo}' needs HTTP mode; splicer is a TCP load balancer"),
                );
            }
            _ if algo.starts_with("rdp-cookie") || algo == "hash" => {
                return d.error(loc, format!("'balance {algo}' is not supported yet"));
            }
            _ => {
                return d.error(
                    loc,
                    format!("unknown balance algorithm '{algo}' (splicer supports roundrobin, static-rr, leastconn, first, source, random, random(N))"),
                );
            }
        };
        self.balance = balance;
    }

    fn hash_type(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let kind = match words.get(1).map(String::as_str) {
            Some("consistent") => HashType::Consistent,
            Some("map-based") => HashType::MapBased,
            _ => {
                return d.error(
                    loc,
                    "'hash-type' only supports 'consistent' and 'map-based'.",
                );
            }
        };
        match words.get(2..).unwrap_or_default() {
            [] => {}
            // sdbm is HAProxy's default function: the same as saying nothing.
            [f] if f == "sdbm" => {}
            [f, ..] => return d.error(
                loc,
                format!(
                    "'hash-type': hash function '{f}' is not supported yet (only the default, sdbm)"
                ),
            ),
        }
        self.hash_type = kind;
    }
}

/// Exactly one argument, or an error naming what was expected.
pub(super) fn one_arg<'w>(
    words: &'w [String],
    expected: &str,
    loc: &Location,
    d: &mut Diags,
) -> Option<&'w str> {
    let key = &words[0];
    match words {
        [_] => {
            d.error(loc, format!("'{key}' expects {expected} as argument."));
            None
        }
        [_, v] => Some(v.as_str()),
        [_, _, extra, ..] => {
            d.error(
                loc,
                format!("'{key}' cannot handle unexpected argument '{extra}'."),
            );
            None
        }
        [] => None,
    }
}

fn no_arg(words: &[String], loc: &Location, d: &mut Diags) -> bool {
    if let Some(extra) = words.get(1) {
        d.error(
            loc,
            format!(
                "'{}' cannot handle unexpected argument '{extra}'.",
                words[0]
            ),
        );
        return false;
    }
    true
}

/// A parsed value, or an error `'KEY': reason` at `loc`.
pub(super) fn value<T>(
    r: Result<T, String>,
    key: &str,
    loc: &Location,
    d: &mut Diags,
) -> Option<T> {
    r.map_err(|e| d.error(loc, format!("'{key}': {e}"))).ok()
}

pub(super) fn report(issues: Vec<ParamIssue>, loc: &Location, d: &mut Diags) {
    for issue in issues {
        match issue {
            ParamIssue::Error(e) => d.error(loc, e),
            ParamIssue::Warning(w) => d.warn(loc, w),
        }
    }
}
