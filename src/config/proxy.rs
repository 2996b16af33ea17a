//! Proxy sections (`defaults`, `frontend`, `backend`, `listen`) as drafts:
//! every keyword line is applied to a [`ProxyDraft`]; a new proxy starts as a
//! copy of its defaults draft. `validate.rs` turns drafts into the model.

use super::checks::CheckDraft;
use super::keywords::*;
use super::logs::LogDraft;
use super::model::*;
use super::parser::Diags;
use super::server::{self, ParamIssue, ServerParams};
use super::stats_page::StatsDraft;
use super::values::{parse_int, parse_time};
use std::net::IpAddr;
use std::time::Duration;

/// Bare numbers in timeouts are milliseconds (HAProxy).
const TIMEOUT_UNIT_US: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
    pub fn front(self) -> bool {
        self != Kind::Backend
    }
    pub fn back(self) -> bool {
        self != Kind::Frontend
    }
}

/// How HAProxy words the warning for an HTTP-only directive in a TCP proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStyle {
    /// `'option httplog' not usable with ... (needs 'mode http')`.
    HttpLog,
    /// `'http-request' rules ignored for ... as they require HTTP mode.`
    Rules,
    /// `'option forwardfor' ignored for ... as it requires HTTP mode.`
    Directive,
}

/// An HTTP-only directive, kept to warn about once the proxy's mode is known.
#[derive(Debug, Clone)]
pub struct HttpOnly {
    pub what: String,
    pub style: HttpStyle,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Timeouts {
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
pub struct ProxyDraft {
    pub kind: Kind,
    pub name: String,
    pub location: Location,
    /// Where `mode http` was set, when it is in effect.
    pub mode_http: Option<Location>,
    pub binds: Vec<Bind>,
    pub default_backend: Option<(String, Location)>,
    pub maxconn: Option<usize>,
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
}

impl ProxyDraft {
    /// A new section, inheriting what `defaults` set.
    pub fn start(
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
        draft.checks.inherit();
        draft
    }

    /// `frontend 'x'`, `backend 'x'`, `proxy 'x'` (listen), as HAProxy says.
    pub fn who(&self) -> String {
        match self.kind {
            Kind::Listen => format!("proxy '{}'", self.name),
            k => format!("{} '{}'", k.word(), self.name),
        }
    }

    /// Applies one keyword line.
    pub fn keyword(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
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
        let Some(kw) = proxy_keyword(key) else {
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
        if !self.side_allows(kw.side, &format!("'{key}'"), loc, d) {
            return;
        }
        match key {
            "mode" => self.mode(words, loc, d),
            "bind" => super::bind::parse(self, words, loc, d),
            "default_backend" => {
                if let Some(name) = one_arg(words, "a backend name", loc, d) {
                    self.default_backend = Some((name.to_string(), loc.clone()));
                }
            }
            "maxconn" => {
                if let Some(v) = one_arg(words, "an integer", loc, d) {
                    self.maxconn = value(parse_int(v, 0, usize::MAX), key, loc, d).or(self.maxconn);
                }
            }
            "balance" => self.balance(words, loc, d),
            "hash-type" => self.hash_type(words, loc, d),
            "server" => self.server(words, loc, d),
            "default-server" => {
                let issues = server::apply(&mut self.default_server, &words[1..], "default-server");
                report(issues, loc, d);
            }
            "retries" => {
                if let Some(v) = one_arg(words, "an integer", loc, d) {
                    self.retries = value(parse_int(v, 0, u32::MAX), key, loc, d).or(self.retries);
                }
            }
            "source" => self.source(words, loc, d),
            "timeout" => self.timeout(words, loc, d),
            "option" => self.option(words, 1, true, loc, d),
            "no" => match words.get(1).map(String::as_str) {
                Some("option") => self.option(words, 2, false, loc, d),
                Some("log") => self.log_keyword(&words[1..], true, loc, d),
                _ => d.error(loc, "'no' expects 'option' (as in 'no option redispatch')"),
            },
            "log" | "log-format" | "log-tag" => self.log_keyword(words, false, loc, d),
            "disabled" | "enabled" => {
                if no_arg(words, loc, d) {
                    self.disabled = key == "disabled";
                }
            }
            "http-check" => self.checks.http_check(words, loc, d),
            "tcp-check" => self.checks.tcp_check(words, loc, d),
            "stats" => self.stats.keyword(words, self.kind, loc, d),
            "description" => {}
            "id" => {
                if let Some(v) = one_arg(words, "an integer", loc, d) {
                    self.id = value(parse_int::<u32>(v, 1, u32::MAX), key, loc, d);
                }
            }
            _ => unreachable!("keyword table and match disagree on '{key}'"),
        }
    }

    fn log_keyword(&mut self, words: &[String], no: bool, loc: &Location, d: &mut Diags) {
        let (who, backend) = (self.who(), !self.kind.front());
        self.log.keyword(words, no, &who, backend, loc, d);
    }

    /// HAProxy's rule for a keyword of the other side: `server` is an error,
    /// others are ignored with a warning.
    fn side_allows(&self, side: Side, what: &str, loc: &Location, d: &mut Diags) -> bool {
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

    fn server(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let (Some(name), Some(addr)) = (words.get(1), words.get(2)) else {
            return d.error(
                loc,
                "'server' expects <name> and <addr>[:<port>] as arguments.",
            );
        };
        let who = format!("server '{}/{name}'", self.name);
        if let Some(first) = self.servers.iter().find(|s| s.name == *name) {
            d.error(
                loc,
                format!(
                    "{}, another server named '{name}' was already defined at line {}, please use distinct names.",
                    self.who(),
                    first.location.line
                ),
            );
        }
        let mut params = self.default_server.clone();
        let issues = server::apply(&mut params, &words[3..], &who);
        let failed = issues.iter().any(|i| matches!(i, ParamIssue::Error(_)));
        report(issues, loc, d);
        let addr = match super::values::parse_server_addr(addr) {
            Ok(a) => a,
            Err(e) => return d.error(loc, format!("{who}: {e}")),
        };
        if failed {
            return;
        }
        self.servers.push(Server {
            name: name.clone(),
            location: loc.clone(),
            addr,
            weight: params.weight,
            backup: params.backup,
            maxconn: params.maxconn,
            disabled: params.disabled,
            send_proxy: params.send_proxy,
            source: params.source,
            check: params.check,
        });
    }

    fn source(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(addr) = words.get(1) else {
            return d.error(loc, "'source' expects <addr>[:<port>] as argument.");
        };
        if let Some(extra) = words.get(2) {
            return d.error(loc, format!("'source': '{extra}' is not supported yet"));
        }
        match server::parse_source(addr) {
            Ok(ip) => self.source = Some(ip),
            Err(e) => d.error(loc, format!("'source': {e}")),
        }
    }

    fn timeout(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(which) = words.get(1).map(String::as_str) else {
            return d.error(
                loc,
                "'timeout' expects a type ('client', 'server', 'connect', ...) and a value",
            );
        };
        if HTTP_TIMEOUTS.contains(&which) {
            if which == "http-request"
                && let Some(v) = words.get(2)
            {
                let t = value(
                    parse_time(v, TIMEOUT_UNIT_US),
                    "timeout http-request",
                    loc,
                    d,
                );
                self.timeouts.http_request = t.filter(|t| !t.is_zero());
            }
            let what = format!("'timeout {which}'");
            self.http_only.push(HttpOnly {
                what,
                style: HttpStyle::Directive,
                location: loc.clone(),
            });
            return;
        }
        let Some((_, side)) = TIMEOUTS.iter().find(|(t, _)| *t == which) else {
            let hint = did_you_mean(which, TIMEOUTS.iter().map(|(t, _)| *t));
            return d.error(loc, format!("'timeout' does not know '{which}'{hint} (splicer supports connect, client, server, tunnel, client-fin, server-fin, queue, check)"));
        };
        let key = format!("timeout {which}");
        let Some(v) = words.get(2) else {
            return d.error(
                loc,
                format!("'{key}' expects an integer value (in milliseconds)"),
            );
        };
        if let Some(extra) = words.get(3) {
            return d.error(
                loc,
                format!("'{key}' cannot handle unexpected argument '{extra}'"),
            );
        }
        let Some(t) = value(parse_time(v, TIMEOUT_UNIT_US), &key, loc, d) else {
            return;
        };
        if !self.side_allows_timeout(*side, &key, loc, d) {
            return;
        }
        let t = Some(t).filter(|t| !t.is_zero());
        let slot = &mut self.timeouts;
        match which {
            "connect" => slot.connect = t,
            "client" => slot.client = t,
            "server" => slot.server = t,
            "tunnel" => slot.tunnel = t,
            "client-fin" => slot.client_fin = t,
            "server-fin" => slot.server_fin = t,
            "queue" => slot.queue = t,
            _ => slot.check = t,
        }
    }

    /// Same rule as [`Self::side_allows`], HAProxy's timeout wording.
    fn side_allows_timeout(&self, side: Side, key: &str, loc: &Location, d: &mut Diags) -> bool {
        let missing = match side {
            Side::Front if !self.kind.front() => "frontend",
            Side::Back if !self.kind.back() => "backend",
            _ => return true,
        };
        d.warn(
            loc,
            format!(
                "'{key}' will be ignored because {} has no {missing} capability",
                self.who()
            ),
        );
        false
    }

    /// `option NAME` (`on`) or `no option NAME`; `at` is the index of NAME.
    fn option(&mut self, words: &[String], at: usize, on: bool, loc: &Location, d: &mut Diags) {
        let Some(name) = words.get(at).map(String::as_str) else {
            return d.error(loc, "'option' expects an option name");
        };
        let what = format!("'option {name}'");
        if CHECK_OPTIONS.contains(&name) {
            if !on {
                return d.error(
                    loc,
                    format!("negation is not supported for option '{name}'."),
                );
            }
            if self.side_allows(Side::Back, &what, loc, d) {
                self.checks.option(name, &words[at + 1..], loc, d);
            }
            return;
        }
        if name == "tcplog" && words.len() == at + 1 {
            let (who, backend) = (self.who(), !self.kind.front());
            return self.log.tcplog(on, &who, backend, loc, d);
        }
        let known_elsewhere = HTTP_OPTIONS.contains(&name) || UNSUPPORTED_OPTIONS.contains(&name);
        if let Some(extra) = words.get(at + 1).filter(|_| !known_elsewhere) {
            return d.error(
                loc,
                format!("{what} cannot handle unexpected argument '{extra}'"),
            );
        }
        if UNSUPPORTED_OPTIONS.contains(&name) {
            return d.error(loc, format!("{what} is not supported yet"));
        }
        if let Some((_, why)) = NOOP_OPTIONS.iter().find(|(o, _)| *o == name) {
            return d.warn(loc, format!("{what} has no effect: {why}"));
        }
        if HTTP_OPTIONS.contains(&name) {
            let style = if name == "httplog" {
                // HAProxy falls back to tcplog in a TCP proxy.
                if on && self.kind.front() {
                    self.log.format = Some(super::logs::FormatChoice::Tcplog);
                }
                HttpStyle::HttpLog
            } else {
                HttpStyle::Directive
            };
            self.http_only.push(HttpOnly {
                what,
                style,
                location: loc.clone(),
            });
            return;
        }
        let Some((_, side)) = OPTIONS.iter().find(|(o, _)| *o == name) else {
            let hint = did_you_mean(name, option_vocabulary());
            return d.error(loc, format!("unknown option '{name}'{hint}"));
        };
        // HAProxy names the option alone here: "'redispatch' ignored because ...".
        if !self.side_allows(*side, &format!("'{name}'"), loc, d) {
            return;
        }
        match name {
            "redispatch" => self.redispatch = on,
            "allbackups" => self.allbackups = on,
            "log-health-checks" => self.log_health_checks = on,
            "dontlognull" => self.log.dontlognull = on,
            "splice-auto" => self.splice.auto = Some(on),
            "splice-request" => self.splice.request = Some(on),
            _ => self.splice.response = Some(on),
        }
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
fn value<T>(r: Result<T, String>, key: &str, loc: &Location, d: &mut Diags) -> Option<T> {
    r.map_err(|e| d.error(loc, format!("'{key}': {e}"))).ok()
}

fn report(issues: Vec<ParamIssue>, loc: &Location, d: &mut Diags) {
    for issue in issues {
        match issue {
            ParamIssue::Error(e) => d.error(loc, e),
            ParamIssue::Warning(w) => d.warn(loc, w),
        }
    }
}
