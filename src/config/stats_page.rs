//! The stats page and Prometheus keywords of a proxy: `stats enable`,
//! `stats uri`, `stats auth`, ... and `http-request use-service
//! prometheus-exporter`. They are read into a [`StatsDraft`] (inherited
//! from `defaults` as in HAProxy); a `mode http` frontend that holds
//! nothing else becomes a [`StatsPage`], which the admin thread serves.
//! Elsewhere they are ignored with HAProxy's warning (see `validate.rs`).

use std::net::IpAddr;
use std::time::Duration;

use super::model::Location;
use super::parser::Diags;
use super::proxy::Kind;
use super::values::{parse_ip, parse_time};

/// `stats uri` when not set (HAProxy).
pub const DEFAULT_STATS_URI: &str = "/haproxy?stats";
/// `stats realm` when not set (HAProxy).
pub const DEFAULT_STATS_REALM: &str = "HAProxy Statistics";
/// Time to receive a whole request when neither `timeout http-request`
/// nor `timeout client` is set (HAProxy would wait forever).
pub const DEFAULT_STATS_TIMEOUT: Duration = Duration::from_secs(10);

/// What a stats frontend serves.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsPage {
    /// The HTML page (and its `;csv` form); `None`: only `/metrics`.
    pub ui: Option<StatsUi>,
    /// `http-request use-service prometheus-exporter [if ...]`: which
    /// requests get the Prometheus metrics.
    pub metrics: Option<PathRule>,
    /// `monitor-uri URI`: a request for exactly this URI gets HAProxy's
    /// `200 OK` "Service ready." page (cloud load balancers' probes).
    pub monitor_uri: Option<String>,
    /// `timeout http-request`, else `timeout client`, else
    /// [`DEFAULT_STATS_TIMEOUT`]: time to receive a whole request.
    pub request_timeout: Duration,
    /// `timeout client`, else [`DEFAULT_STATS_TIMEOUT`]: how long a client
    /// may leave the answer unread.
    pub send_timeout: Duration,
}

/// The `stats` lines of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsUi {
    /// `stats uri`: a prefix, as in HAProxy.
    pub uri: String,
    pub realm: String,
    /// `stats refresh`: the page reloads itself this often.
    pub refresh: Option<Duration>,
    /// `stats auth user:password` lines; empty: no authentication.
    pub auth: Vec<(String, String)>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-node [name]`: `Some("")` = the host name.
    pub show_node: Option<String>,
    /// `stats show-desc [text]`.
    pub show_desc: Option<String>,
    /// `stats scope`: only these proxies (`.` = this one); empty: all.
    pub scope: Vec<String>,
    /// `stats admin if|unless ...`: who may change server states.
    pub admin: Option<SrcRule>,
}

/// A condition on the client's address (`TRUE`, `FALSE`, `LOCALHOST`,
/// `{ src NET ... }`), possibly negated (`unless`).
#[derive(Debug, Clone, PartialEq)]
pub struct SrcRule {
    pub negate: bool,
    /// `None`: any address (`TRUE`).
    pub nets: Option<Vec<(IpAddr, u8)>>,
}

impl SrcRule {
    pub fn matches(&self, ip: IpAddr) -> bool {
        let hit = match &self.nets {
            None => true,
            Some(nets) => nets.iter().any(|(net, len)| in_net(ip, *net, *len)),
        };
        hit != self.negate
    }
}

/// Whether `ip` is in `net/len` (an IPv4-mapped IPv6 client counts as IPv4).
fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// A condition on the request path, possibly negated (`unless`).
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    pub negate: bool,
    pub matcher: PathMatch,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathMatch {
    /// No condition, or `TRUE`.
    Any,
    /// `{ path P ... }`, `{ path -m str P ... }`.
    Exact(Vec<String>),
    /// `{ path_beg P ... }`, `{ path -m beg P ... }`.
    Prefix(Vec<String>),
}

impl PathRule {
    pub fn matches(&self, path: &str) -> bool {
        let hit = match &self.matcher {
            PathMatch::Any => true,
            PathMatch::Exact(ps) => ps.iter().any(|p| p == path),
            PathMatch::Prefix(ps) => ps.iter().any(|p| path.starts_with(p.as_str())),
        };
        hit != self.negate
    }
}

/// Directives of HTTP mode that change nothing for a stats frontend:
/// accepted there with a warning (any other is an error).
const NO_EFFECT_IN_STATS: &[&str] = &[
    "'timeout http-keep-alive'",
    "'option httplog'",
    "'option forwardfor'",
    "'option http-server-close'",
    "'option httpclose'",
    "'option http-keep-alive'",
    "'option http-no-delay'",
    "'option http-buffer-request'",
    "'option http-ignore-probes'",
];

/// Why a directive of [`NO_EFFECT_IN_STATS`] or [`OWN_ERRORS_IN_STATS`]
/// changes nothing there.
const NO_EFFECT_WHY: &str = "splicer answers one request per connection and logs none";

/// Error page directives, which the stock `defaults` of Debian and RHEL
/// carry: the stats page answers with its own error pages.
const OWN_ERRORS_IN_STATS: &[&str] = &[
    "'errorfile'",
    "'errorfiles'",
    "'errorloc'",
    "'errorloc302'",
    "'errorloc303'",
    "'http-error'",
];

/// Whether an HTTP-mode directive (as `HttpOnly::what` words it) may sit
/// in a stats frontend: `Some(None)` used, `Some(Some(why))` no effect
/// (a warning says why), `None` refused.
pub(super) fn allowed_in_stats(what: &str) -> Option<Option<&'static str>> {
    if what == "'timeout http-request'" || what == "'monitor-uri'" {
        Some(None)
    } else if NO_EFFECT_IN_STATS.contains(&what) {
        Some(Some(NO_EFFECT_WHY))
    } else if OWN_ERRORS_IN_STATS.contains(&what) {
        Some(Some("the stats page answers with its own error pages"))
    } else {
        None
    }
}

/// `stats` and `use-service` lines as written, after inheriting `defaults`.
#[derive(Debug, Clone, Default)]
pub(super) struct StatsDraft {
    /// Where the first `stats` line was; any of them enables the page,
    /// as in HAProxy.
    pub enabled: Option<Location>,
    uri: Option<String>,
    realm: Option<String>,
    refresh: Option<Duration>,
    auth: Vec<(String, String)>,
    hide_version: bool,
    show_legends: bool,
    show_node: Option<String>,
    show_desc: Option<String>,
    scope: Vec<String>,
    admin: Option<SrcRule>,
    /// The `use-service prometheus-exporter` rule and its line.
    pub metrics: Option<(PathRule, Location)>,
    /// `monitor-uri URI`.
    pub monitor_uri: Option<String>,
}

/// HAProxy's list in its message for an unknown `stats` word.
const STATS_WORDS: &str = "'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'";

impl StatsDraft {
    /// Whether the proxy serves the page or the metrics.
    pub(super) fn serves(&self) -> bool {
        self.enabled.is_some() || self.metrics.is_some() || self.monitor_uri.is_some()
    }

    /// One `stats ...` line of a proxy section.
    pub(super) fn keyword(&mut self, words: &[String], kind: Kind, loc: &Location, d: &mut Diags) {
        let sub = words.get(1).map_or("", String::as_str);
        let arg = words.get(2).map(String::as_str);
        // Words taken by the sub-keyword, to report what follows.
        let mut used = 2;
        match (sub, arg) {
            ("enable", _) => {}
            ("hide-version", _) => self.hide_version = true,
            ("show-legends", _) => self.show_legends = true,
            ("uri", Some(u)) if !u.is_empty() => (self.uri, used) = (Some(u.into()), 3),
            ("uri", _) => return d.error(loc, "'uri' needs an URI prefix."),
            ("realm", Some(r)) if !r.is_empty() && !r.contains('"') => {
                (self.realm, used) = (Some(r.into()), 3)
            }
            ("realm", Some(_)) => {
                return d.error(loc, "'stats realm' cannot contain a double quote.");
            }
            ("realm", None) => return d.error(loc, "'realm' needs an realm name."),
            ("refresh", Some(t)) => match parse_time(t, 1000) {
                Ok(t) => (self.refresh, used) = (Some(t).filter(|t| !t.is_zero()), 3),
                Err(e) => return d.error(loc, format!("'stats refresh': {e}")),
            },
            ("refresh", None) => return d.error(loc, "'refresh' needs a refresh interval."),
            ("auth", Some(a)) => match a.split_once(':') {
                Some((user, pass)) if !user.is_empty() => {
                    self.auth.push((user.into(), pass.into()));
                    used = 3;
                }
                _ => {
                    return d.error(
                        loc,
                        format!("'stats auth' expects <user>:<password> (got '{a}')"),
                    );
                }
            },
            ("auth", None) => return d.error(loc, "'auth' needs a user:password account."),
            ("scope", Some(s)) => {
                self.scope.push(s.into());
                used = 3;
            }
            ("scope", None) => return d.error(loc, "'scope' needs a proxy name."),
            ("show-node", a) => {
                self.show_node = Some(a.unwrap_or("").into());
                used += usize::from(a.is_some());
            }
            ("show-desc", _) => {
                // HAProxy joins every word after it into the description.
                self.show_desc = Some(words[2..].join(" "));
                used = words.len();
            }
            ("admin", _) => {
                if kind == Kind::Defaults {
                    return d.error(loc, "'stats admin' not allowed in 'defaults' section.");
                }
                match src_rule(&words[2..]) {
                    Ok(rule) => (self.admin, used) = (Some(rule), words.len()),
                    Err(e) => return d.error(loc, e),
                }
            }
            ("http-request", _) => {
                return d.error(loc, "'stats http-request' is not supported yet");
            }
            ("bind-process", _) => {
                return d.warn(
                    loc,
                    "'stats bind-process' ignored: splicer runs a single process",
                );
            }
            (other, _) => {
                return d.error(
                    loc,
                    format!("unknown stats parameter '{other}', expects {STATS_WORDS}."),
                );
            }
        }
        if let Some(extra) = words.get(used) {
            return d.error(
                loc,
                format!("'stats {sub}' cannot handle unexpected argument '{extra}'"),
            );
        }
        self.enabled.get_or_insert_with(|| loc.clone());
    }

    /// `http-request use-service prometheus-exporter [if|unless COND]`.
    pub(super) fn use_service(
        &mut self,
        words: &[String],
        kind: Kind,
        loc: &Location,
        d: &mut Diags,
    ) {
        if kind == Kind::Defaults {
            return d.error(
                loc,
                "'http-request use-service' not allowed in a 'defaults' section.",
            );
        }
        match words.get(2).map(String::as_str) {
            Some("prometheus-exporter") => {}
            Some(other) => {
                return d.error(
                    loc,
                    format!("'http-request use-service' : unknown service '{other}' (splicer has 'prometheus-exporter')"),
                );
            }
            None => return d.error(loc, "'http-request use-service' expects a service name."),
        }
        match path_rule(&words[3..]) {
            Ok(rule) => self.metrics = Some((rule, loc.clone())),
            Err(e) => d.error(
                loc,
                format!("'http-request use-service prometheus-exporter' : {e}"),
            ),
        }
    }

    /// The model, for a proxy that serves (see [`StatsDraft::serves`]).
    pub(super) fn resolve(&self, request: Option<Duration>, client: Option<Duration>) -> StatsPage {
        let ui = self.enabled.as_ref().map(|_| StatsUi {
            uri: self.uri.clone().unwrap_or_else(|| DEFAULT_STATS_URI.into()),
            realm: self
                .realm
                .clone()
                .unwrap_or_else(|| DEFAULT_STATS_REALM.into()),
            refresh: self.refresh,
            auth: self.auth.clone(),
            hide_version: self.hide_version,
            show_legends: self.show_legends,
            show_node: self.show_node.clone(),
            show_desc: self.show_desc.clone(),
            scope: self.scope.clone(),
            admin: self.admin.clone(),
        });
        StatsPage {
            ui,
            metrics: self.metrics.as_ref().map(|(r, _)| r.clone()),
            monitor_uri: self.monitor_uri.clone(),
            request_timeout: request.or(client).unwrap_or(DEFAULT_STATS_TIMEOUT),
            send_timeout: client.unwrap_or(DEFAULT_STATS_TIMEOUT),
        }
    }
}

/// `if|unless COND` after `stats admin`: `{ src NET ... }`, `TRUE`,
/// `FALSE` or `LOCALHOST`.
fn src_rule(words: &[String]) -> Result<SrcRule, String> {
    let (negate, cond) = split_cond(words)
        .ok_or("'stats admin' requires either 'if' or 'unless' followed by a condition.")?;
    let nets = match cond {
        [] => {
            return Err(
                "'stats admin' requires either 'if' or 'unless' followed by a condition.".into(),
            );
        }
        [w] if w == "TRUE" => None,
        [w] if w == "FALSE" => Some(Vec::new()),
        [w] if w == "LOCALHOST" => Some(vec![(IpAddr::from([127, 0, 0, 1]), 8)]),
        [open, fetch, nets @ .., close]
            if open == "{" && fetch == "src" && close == "}" && plain(nets) =>
        {
            Some(
                nets.iter()
                    .map(|n| parse_net(n))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            return Err(format!(
                "'stats admin' : condition '{}' is not supported (splicer knows TRUE, FALSE, LOCALHOST and {{ src ADDR[/LEN] ... }})",
                cond.join(" ")
            ));
        }
    };
    Ok(SrcRule { negate, nets })
}

/// The condition after `use-service prometheus-exporter`: none, `TRUE`,
/// `{ path P ... }`, `{ path -m str|beg P ... }` or `{ path_beg P ... }`.
fn path_rule(words: &[String]) -> Result<PathRule, String> {
    if words.is_empty() {
        return Ok(PathRule {
            negate: false,
            matcher: PathMatch::Any,
        });
    }
    let (negate, cond) = split_cond(words).ok_or(format!(
        "unexpected '{}' (expects 'if' or 'unless')",
        words[0]
    ))?;
    let strings = |ps: &[String]| ps.to_vec();
    let matcher = match cond {
        [w] if w == "TRUE" => PathMatch::Any,
        [open, fetch, dash_m, how, ps @ .., close]
            if open == "{" && fetch == "path" && dash_m == "-m" && close == "}" && plain(ps) =>
        {
            match how.as_str() {
                "str" => PathMatch::Exact(strings(ps)),
                "beg" => PathMatch::Prefix(strings(ps)),
                m => {
                    return Err(format!(
                        "match method '-m {m}' is not supported (splicer has 'str' and 'beg')"
                    ));
                }
            }
        }
        [open, fetch, ps @ .., close] if open == "{" && close == "}" && plain(ps) => {
            match fetch.as_str() {
                "path" => PathMatch::Exact(strings(ps)),
                "path_beg" => PathMatch::Prefix(strings(ps)),
                f => {
                    return Err(format!(
                        "condition on '{f}' is not supported (splicer has 'path' and 'path_beg')"
                    ));
                }
            }
        }
        _ => {
            return Err(format!(
                "condition '{}' is not supported (splicer has {{ path P }}, {{ path_beg P }}, {{ path -m beg P }} and TRUE)",
                cond.join(" ")
            ));
        }
    };
    Ok(PathRule { negate, matcher })
}

/// `if COND` / `unless COND`: whether negated, and the condition's words.
fn split_cond(words: &[String]) -> Option<(bool, &[String])> {
    match words.split_first() {
        Some((w, rest)) if w == "if" => Some((false, rest)),
        Some((w, rest)) if w == "unless" => Some((true, rest)),
        _ => None,
    }
}

/// Values of one ACL block: at least one, and no word of a condition
/// combining several blocks (`||`, `!`, braces), which splicer does not
/// evaluate.
fn plain(values: &[String]) -> bool {
    !values.is_empty()
        && values
            .iter()
            .all(|w| !matches!(w.as_str(), "{" | "}" | "||" | "or" | "!"))
}

/// `ADDR` or `ADDR/LEN`.
fn parse_net(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip = parse_ip(addr).map_err(|e| format!("'stats admin' : {e}"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or(format!("'stats admin' : invalid prefix length in '{text}'"))?,
    };
    Ok((ip, len))
}

#[cfg(test)]
mod tests;
