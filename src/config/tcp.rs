//! Proxy keywords about TCP sockets that take a value: `backlog` and the
//! keep-alive tuning `clitcpka-cnt|idle|intvl` (frontend side) and
//! `srvtcpka-cnt|idle|intvl` (backend side). The on/off options
//! (`option tcpka`, `nolinger`, `tcp-smart-*`) are in `options.rs`; what
//! they become is the model's `tcp.rs`.

use super::model::Location;
use super::parser::Diags;
use super::proxy::{ProxyDraft, one_arg, value};
use super::values::{parse_int, parse_time};
use std::time::Duration;

/// Bare keep-alive times are seconds (HAProxy's TIME_UNIT_S).
const SECOND_US: u64 = 1_000_000;

/// Which keep-alive setting a keyword sets.
#[derive(Clone, Copy)]
enum Knob {
    Count,
    Idle,
    Interval,
}

/// `clitcpka-*` / `srvtcpka-*`: `words[0]` names the side and the knob.
pub(super) fn tcpka(p: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    let (client, knob) = match key {
        "clitcpka-cnt" => (true, Knob::Count),
        "clitcpka-idle" => (true, Knob::Idle),
        "clitcpka-intvl" => (true, Knob::Interval),
        "srvtcpka-cnt" => (false, Knob::Count),
        "srvtcpka-idle" => (false, Knob::Idle),
        _ => (false, Knob::Interval),
    };
    let Some(v) = words.get(1) else {
        return d.error(loc, format!("'{key}' expects an integer value"));
    };
    if let Some(extra) = words.get(2) {
        return d.error(
            loc,
            format!("'{key}' cannot handle unexpected argument '{extra}'."),
        );
    }
    let mut ka = if client { p.cli_ka } else { p.srv_ka };
    match knob {
        Knob::Count => match parse_count(key, v) {
            Ok(n) => ka.count = (n != 0).then_some(n),
            Err(e) => return d.error(loc, e),
        },
        Knob::Idle | Knob::Interval => {
            let Some(t) = value(parse_time(v, SECOND_US).map(whole_seconds), key, loc, d) else {
                return;
            };
            let t = (!t.is_zero()).then_some(t);
            match knob {
                Knob::Idle => ka.idle = t,
                _ => ka.interval = t,
            }
        }
    }
    // HAProxy words this warning its own way (no quotes, "will be").
    let (ok, missing) = if client {
        (p.kind.front(), "frontend")
    } else {
        (p.kind.back(), "backend")
    };
    if !ok {
        let who = p.who();
        return d.warn(
            loc,
            format!("{key} will be ignored because {who} has no {missing} capability"),
        );
    }
    if client {
        p.cli_ka = ka;
    } else {
        p.srv_ka = ka;
    }
}

/// A probe count; 0 leaves the system's value (HAProxy).
fn parse_count(key: &str, v: &str) -> Result<u32, String> {
    if let Some(bad) = v.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "'{key}' : unexpected character '{bad}' in integer value '{v}'"
        ));
    }
    parse_int(v, 0, i32::MAX as u32).map_err(|e| format!("'{key}' : {e}"))
}

/// HAProxy keeps keep-alive times in whole seconds, rounding up.
fn whole_seconds(t: Duration) -> Duration {
    Duration::from_secs(t.as_micros().div_ceil(u128::from(SECOND_US)) as u64)
}

/// `backlog N`: the listen backlog of the frontend's binds that set none;
/// 0 = unset (HAProxy: the frontend's maxconn).
pub(super) fn backlog(p: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    if let Some(v) = one_arg(words, "an integer", loc, d) {
        let n = value(parse_int(v, 0, i32::MAX), "backlog", loc, d);
        if let Some(n) = n {
            p.backlog = (n != 0).then_some(n);
        }
    }
}
