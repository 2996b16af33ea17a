//! `option NAME`, `no option NAME` and `timeout NAME VALUE` in a proxy
//! section. Each option and timeout splicer implements is registered once
//! below, with its side and what it sets; the names HAProxy has that
//! splicer refuses or ignores are the lists in `keywords.rs`, and the check
//! options are `checks.rs`'s.

use super::checks::check_option;
use super::keywords::*;
use super::model::Location;
use super::parser::Diags;
use super::proxy::{HttpOnly, HttpStyle, ProxyDraft, Timeouts, value};
use super::values::parse_time;
use std::time::Duration;

/// Bare numbers in timeouts are milliseconds (HAProxy).
const TIMEOUT_UNIT_US: u64 = 1000;

/// An on/off option splicer implements (all accept `no option`).
pub(super) struct ProxyOption {
    pub name: &'static str,
    side: Side,
    set: fn(&mut ProxyDraft, bool),
}

const fn opt(name: &'static str, side: Side, set: fn(&mut ProxyDraft, bool)) -> ProxyOption {
    ProxyOption { name, side, set }
}

/// The order is the one typo suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const OPTIONS: &[ProxyOption] = &[
    opt("redispatch", Side::Back, |p, on| p.redispatch = on),
    opt("allbackups", Side::Back, |p, on| p.allbackups = on),
    opt("persist", Side::Back, |p, on| p.rules.persist = on),
    opt("splice-auto", Side::Both, |p, on| p.splice.auto = Some(on)),
    opt("splice-request", Side::Both, |p, on| p.splice.request = Some(on)),
    opt("splice-response", Side::Both, |p, on| p.splice.response = Some(on)),
    opt("log-health-checks", Side::Back, |p, on| p.log_health_checks = on),
    opt("dontlognull", Side::Front, |p, on| p.log.dontlognull = on),
    // What HAProxy's contstats asks (byte counters that move along with a
    // long session, not at its end) is how splicer always counts.
    opt("contstats", Side::Front, |_, _| {}),
    opt("clitcpka", Side::Front, |p, on| p.cli_ka.enabled = on),
    opt("srvtcpka", Side::Back, |p, on| p.srv_ka.enabled = on),
    // HAProxy: each side the section has (never negated, see `option`).
    opt("tcpka", Side::Both, |p, on| {
        if p.kind.front() {
            p.cli_ka.enabled = on;
        }
        if p.kind.back() {
            p.srv_ka.enabled = on;
        }
    }),
    opt("nolinger", Side::Both, |p, on| p.nolinger = on),
    opt("tcp-smart-accept", Side::Front, |p, on| p.smart_accept = on),
    opt("tcp-smart-connect", Side::Back, |p, on| p.smart_connect = on),
    opt("dontlog-normal", Side::Front, |p, on| p.log.dontlog_normal = on),
    opt("log-separate-errors", Side::Front, |p, on| p.log.separate_errors = on),
    opt("logasap", Side::Front, |p, on| p.log.logasap = on),
];

/// Options HAProxy has no `no option` form for.
const NOT_NEGATABLE: &[&str] = &["tcpka"];

/// Applies `option NAME` (`true`) or `no option NAME`.
type LogOption = fn(&mut ProxyDraft, bool, &Location, &mut Diags);

/// Options about the log line, with their own rules for sides and `no`
/// (`logs.rs`); only a bare `option NAME` line reaches them.
pub(super) const LOG_OPTIONS: &[(&str, LogOption)] = &[("tcplog", |p, on, loc, d| {
    let (who, backend) = (p.who(), !p.kind.front());
    p.log.tcplog(on, &who, backend, loc, d)
})];

/// A timeout splicer implements, with its side and its slot.
pub(super) struct Timeout {
    pub name: &'static str,
    side: Side,
    set: fn(&mut Timeouts, Option<Duration>),
}

const fn timeout(
    name: &'static str,
    side: Side,
    set: fn(&mut Timeouts, Option<Duration>),
) -> Timeout {
    Timeout { name, side, set }
}

/// The order is the one of the "splicer supports" list in messages.
pub(super) const TIMEOUTS: &[Timeout] = &[
    timeout("connect", Side::Back, |t, v| t.connect = v),
    timeout("client", Side::Front, |t, v| t.client = v),
    timeout("server", Side::Back, |t, v| t.server = v),
    timeout("tunnel", Side::Back, |t, v| t.tunnel = v),
    timeout("client-fin", Side::Front, |t, v| t.client_fin = v),
    timeout("server-fin", Side::Back, |t, v| t.server_fin = v),
    timeout("queue", Side::Back, |t, v| t.queue = v),
    timeout("check", Side::Back, |t, v| t.check = v),
];

impl ProxyDraft {
    /// A `timeout` line.
    pub(super) fn timeout(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
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
        let Some(timeout) = TIMEOUTS.iter().find(|t| t.name == which) else {
            let names = || TIMEOUTS.iter().map(|t| t.name);
            let hint = did_you_mean(which, names());
            let supported = names().collect::<Vec<_>>().join(", ");
            return d.error(
                loc,
                format!("'timeout' does not know '{which}'{hint} (splicer supports {supported})"),
            );
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
        if !self.side_allows_timeout(timeout.side, &key, loc, d) {
            return;
        }
        (timeout.set)(&mut self.timeouts, Some(t).filter(|t| !t.is_zero()));
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
    pub(super) fn option(
        &mut self,
        words: &[String],
        at: usize,
        on: bool,
        loc: &Location,
        d: &mut Diags,
    ) {
        let Some(name) = words.get(at).map(String::as_str) else {
            return d.error(loc, "'option' expects an option name");
        };
        let what = format!("'option {name}'");
        if let Some(check) = check_option(name) {
            if !on {
                return d.error(
                    loc,
                    format!("negation is not supported for option '{name}'."),
                );
            }
            if self.side_allows(Side::Back, &what, loc, d) {
                self.checks.option(check, &words[at + 1..], loc, d);
            }
            return;
        }
        if words.len() == at + 1
            && let Some((_, apply)) = LOG_OPTIONS.iter().find(|(o, _)| *o == name)
        {
            return apply(self, on, loc, d);
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
        if !on && NOT_NEGATABLE.contains(&name) {
            return d.error(
                loc,
                format!("negation/default is not supported for option '{name}'."),
            );
        }
        let Some(option) = OPTIONS.iter().find(|o| o.name == name) else {
            let hint = did_you_mean(name, option_vocabulary());
            return d.error(loc, format!("unknown option '{name}'{hint}"));
        };
        // HAProxy names the option alone here: "'redispatch' ignored because ...".
        if self.side_allows(option.side, &format!("'{name}'"), loc, d) {
            (option.set)(self, on);
        }
    }
}
