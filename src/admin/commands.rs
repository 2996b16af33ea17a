//! The runtime API's small commands, with their table ([`COMMANDS`]): the
//! ones that read or change backends, servers and limits, and the CLI
//! session's level and timeout. Answers, including error
//! texts, are HAProxy 2.6's (checked against it), so that scripts written
//! for HAProxy read splicer the same way. Handlers change state only
//! through the runtime's atomics; nothing here blocks a worker.

use std::sync::atomic::Ordering;

use crate::base::ids::ServerId;
use crate::config::{Balance, HashType, Level, MAX_WEIGHT, parse_time};
use crate::runtime::events::{set_drain, set_maint};
use crate::runtime::{BackendState, Runtime, admin};

use super::cli::{Command, Ctx, PERMISSION_DENIED, cmd};

/// The commands of this file, in matching order.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "backend"],
        Level::User,
        "show backend",
        "list backends in the current running config",
        show_backend,
    ),
    cmd(
        &["show", "cli", "level"],
        Level::User,
        "show cli level",
        "display the level of the current CLI session",
        |ctx, _, out| {
            out.push_str(ctx.session.level.name());
            out.push('\n');
        },
    ),
    cmd(
        &["user"],
        Level::User,
        "user",
        "lower the level of the current CLI session to user",
        |ctx, _, out| lower(ctx, Level::User, out),
    ),
    cmd(
        &["operator"],
        Level::User,
        "operator",
        "lower the level of the current CLI session to operator",
        |ctx, _, out| lower(ctx, Level::Operator, out),
    ),
    cmd(
        &["clear", "counters"],
        Level::Operator,
        "clear counters [all]",
        "clear max statistics counters (or all counters)",
        clear_counters,
    ),
    cmd(
        &["get", "weight"],
        Level::User,
        "get weight <bk>/<srv>",
        "report a server's current weight",
        get_weight,
    ),
    cmd(
        &["set", "weight"],
        Level::Admin,
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
        |ctx, args, out| set_weight(ctx.rt, args.get(2), args.get(3), out),
    ),
    cmd(
        &["set", "server"],
        Level::Admin,
        "set server <bk>/<srv> [opts]",
        "change a server's state, weight or address",
        set_server,
    ),
    cmd(
        &["set", "maxconn", "server"],
        Level::Admin,
        "set maxconn server <bk>/<srv>",
        "change a server's maxconn setting",
        set_maxconn_server,
    ),
    cmd(
        &["set", "maxconn", "frontend"],
        Level::Admin,
        "set maxconn frontend <frontend> <value>",
        "change a frontend's maxconn setting",
        set_maxconn_frontend,
    ),
    cmd(
        &["set", "maxconn", "global"],
        Level::Admin,
        "set maxconn global <value>",
        "change the per-process maxconn setting",
        set_maxconn_global,
    ),
    cmd(
        &["disable", "server"],
        Level::Admin,
        "disable server (DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
        |ctx, args, out| with_server(ctx.rt, args.get(2), out, |b, s| maint(ctx.rt, b, s, true)),
    ),
    cmd(
        &["enable", "server"],
        Level::Admin,
        "enable server  (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
        |ctx, args, out| with_server(ctx.rt, args.get(2), out, |b, s| maint(ctx.rt, b, s, false)),
    ),
    cmd(
        &["set", "timeout"],
        Level::User,
        "set timeout [cli] <delay>",
        "change a timeout setting",
        set_timeout,
    ),
];

fn show_backend(ctx: &mut Ctx<'_>, _: &[String], out: &mut String) {
    out.push_str("# name\n");
    for b in &ctx.rt.backends {
        out.push_str(&b.config.name);
        out.push('\n');
    }
}

/// `user` / `operator`: a session may only lower its level.
fn lower(ctx: &mut Ctx<'_>, to: Level, out: &mut String) {
    if ctx.session.level < to {
        out.push_str(PERMISSION_DENIED);
    } else {
        ctx.session.level = to;
    }
}

fn clear_counters(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let all = args.get(2).is_some_and(|a| a == "all");
    if all && ctx.session.level < Level::Admin {
        out.push_str(PERMISSION_DENIED);
        return;
    }
    let rt = ctx.rt;
    let counters = rt
        .frontends
        .iter()
        .map(|f| &f.counters)
        .chain(rt.backends.iter().map(|b| &b.counters))
        .chain(
            rt.backends
                .iter()
                .flat_map(|b| &b.servers)
                .map(|s| &s.counters),
        );
    for c in counters {
        if all {
            c.clear_all();
        } else {
            c.clear_max();
        }
    }
    for b in &rt.backends {
        b.queued.clear_peak();
    }
    if all {
        for s in rt.backends.iter().flat_map(|b| &b.servers) {
            if let Some(check) = &s.check {
                let mut c = check.lock();
                c.failures = 0;
                c.downs = 0;
            }
        }
        for b in &rt.backends {
            b.downs.store(0, Ordering::Relaxed);
        }
    }
}

/// Finds `backend/server` (each a name or `#id`), or says why not.
pub(crate) fn find_server<'a>(
    rt: &'a Runtime,
    arg: Option<&String>,
) -> Result<(&'a BackendState, usize), &'static str> {
    const REQUIRE: &str = "Require 'backend/server'.\n";
    let (b, s) = arg.and_then(|a| a.split_once('/')).ok_or(REQUIRE)?;
    if s.is_empty() {
        return Err(REQUIRE);
    }
    let backend = find_backend(rt, b).ok_or("No such backend.\n")?;
    let server = match s.strip_prefix('#') {
        Some(id) => id
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1 && n <= backend.servers.len())
            .map(|n| n - 1),
        None => backend.servers.iter().position(|srv| srv.name == s),
    };
    server.map(|i| (backend, i)).ok_or("No such server.\n")
}

/// A backend by name or `#id`.
pub(crate) fn find_backend<'a>(rt: &'a Runtime, name: &str) -> Option<&'a BackendState> {
    match name.strip_prefix('#') {
        Some(id) => {
            let id: u32 = id.parse().ok()?;
            rt.backends.iter().find(|b| b.config.uid == id)
        }
        None => rt.backends.iter().find(|b| b.config.name == name),
    }
}

/// Runs `f` on `backend/server`, or writes why it cannot.
pub(super) fn with_server(
    rt: &Runtime,
    arg: Option<&String>,
    out: &mut String,
    f: impl FnOnce(&BackendState, usize),
) {
    match find_server(rt, arg) {
        Ok((b, s)) => f(b, s),
        Err(e) => out.push_str(e),
    }
}

fn get_weight(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    match find_server(ctx.rt, args.get(2)) {
        Ok((b, s)) => {
            let srv = &b.servers[s];
            out.push_str(&format!(
                "{} (initial {})\n",
                srv.weight.load(Ordering::Relaxed),
                srv.initial_weight
            ));
        }
        Err(e) => out.push_str(e),
    }
}

/// Weights only go to 0 or back to the initial value where the balancer
/// computed its table once (HAProxy's static algorithms).
fn static_weights(b: &BackendState) -> bool {
    matches!(
        (b.config.balance, b.config.hash_type),
        (Balance::StaticRr, _) | (Balance::Source, HashType::MapBased)
    )
}

/// `set weight B/S W[%]`, also `set server B/S weight W[%]`.
fn set_weight(rt: &Runtime, target: Option<&String>, value: Option<&String>, out: &mut String) {
    let (b, s) = match find_server(rt, target) {
        Ok(found) => found,
        Err(e) => return out.push_str(e),
    };
    let srv = &b.servers[s];
    match parse_weight(
        value.map(String::as_str),
        srv.initial_weight,
        static_weights(b),
    ) {
        Ok(w) => srv.weight.store(w, Ordering::Relaxed),
        Err(e) => out.push_str(e),
    }
    b.refresh_state();
}

/// A new weight from `W` or `W%` (of the initial weight), or HAProxy's
/// complaint.
pub(crate) fn parse_weight(
    text: Option<&str>,
    initial: u32,
    static_lb: bool,
) -> Result<u32, &'static str> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or("Require <weight> or <weight%>.\n")?;
    let (digits, relative) = match text.strip_suffix('%') {
        Some(d) => (d, true),
        None => (text, false),
    };
    let value: i64 = digits
        .parse()
        .map_err(|_| "Empty weight string empty or preceded by garbage\n")?;
    let weight = if relative {
        if value < 0 {
            return Err("Relative weight must be positive.\n");
        }
        (i64::from(initial) * value / 100).min(i64::from(MAX_WEIGHT))
    } else {
        if !(0..=i64::from(MAX_WEIGHT)).contains(&value) {
            return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
        }
        value
    } as u32;
    if static_lb && weight != 0 && weight != initial {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    Ok(weight)
}

fn set_server(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let (b, s) = match find_server(ctx.rt, args.get(2)) {
        Ok(found) => found,
        Err(e) => return out.push_str(e),
    };
    let rt = ctx.rt;
    match args.get(3).map(String::as_str) {
        Some("weight") => set_weight(rt, args.get(2), args.get(4), out),
        Some("addr") => super::server_addr::set_addr(b, s, args, out),
        Some("fqdn") => super::server_addr::set_fqdn(rt, b, s, args, out),
        Some("state") => match args.get(4).map(String::as_str) {
            Some("ready") => {
                maint(rt, b, s, false);
                set_drain(rt, b, ServerId::new(s), false);
            }
            Some("drain") => {
                maint(rt, b, s, false);
                set_drain(rt, b, ServerId::new(s), true);
            }
            Some("maint") => {
                set_drain(rt, b, ServerId::new(s), false);
                maint(rt, b, s, true);
            }
            _ => out.push_str("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"),
        },
        _ => {
            if !super::dynamic::set_server(rt, b, s, args, out) {
                out.push_str(super::dynamic::SET_SERVER_USAGE);
            }
        }
    }
}

/// Enters or leaves forced maintenance; leaving also clears the config's
/// `disabled`, as HAProxy's `enable server` does.
fn maint(rt: &Runtime, b: &BackendState, s: usize, on: bool) {
    set_maint(rt, b, ServerId::new(s), on, admin::MAINT);
}

fn set_maxconn_server(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let (b, s) = match find_server(ctx.rt, args.get(3)) {
        Ok(found) => found,
        Err(e) => return out.push_str(e),
    };
    match args.get(4).map(|v| v.parse::<u32>()) {
        None => out.push_str("Require <maxconn>.\n"),
        Some(Err(_)) => out.push_str("maxconn string empty or preceded by garbage\n"),
        // 0 means no limit, as `maxconn` unset in the config.
        Some(Ok(n)) => b.servers[s].maxconn.store(n, Ordering::Relaxed),
    }
}

fn set_maxconn_frontend(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(3) else {
        return out.push_str("A frontend name is expected.\n");
    };
    let found = match name.strip_prefix('#') {
        Some(id) => ctx
            .rt
            .frontends
            .iter()
            .find(|f| id.parse() == Ok(f.config.uid)),
        None => ctx.rt.frontends.iter().find(|f| f.config.name == *name),
    };
    let Some(fe) = found else {
        return out.push_str("No such frontend.\n");
    };
    match args.get(4).map(|v| v.parse::<usize>()) {
        Some(Ok(n)) => fe.maxconn.store(n, Ordering::Relaxed),
        _ => out.push_str("Integer value expected.\n"),
    }
}

/// `set timeout cli DELAY`: this connection's idle timeout (seconds
/// unless a unit follows, as HAProxy reads it).
fn set_timeout(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    if args.get(2).is_none_or(|w| w != "cli") {
        return out.push_str("'set timeout' only supports 'cli'.\n");
    }
    let Some(v) = args.get(3) else {
        return out.push_str("Expects an integer value.\n");
    };
    match parse_time(v, 1_000_000) {
        Ok(t) if !t.is_zero() => ctx.session.timeout = Some(t),
        _ => out.push_str("Invalid timeout value.\n"),
    }
}

fn set_maxconn_global(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(v) = args.get(3) else {
        return out.push_str("Expects an integer value.\n");
    };
    // The configured maxconn is the ceiling: descriptors and pipes were
    // sized for it at start-up.
    match v.parse::<usize>() {
        Ok(n) if n > ctx.rt.global.maxconn => out.push_str("Value out of range.\n"),
        Ok(0) => ctx
            .rt
            .maxconn
            .store(ctx.rt.global.maxconn, Ordering::Relaxed),
        Ok(n) => ctx.rt.maxconn.store(n, Ordering::Relaxed),
        Err(_) => out.push_str("Expects an integer value.\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_as_haproxy() {
        // (text, initial, static LB, result)
        type Case<'a> = (Option<&'a str>, u32, bool, Result<u32, &'a str>);
        let cases: &[Case] = &[
            (Some("7"), 10, false, Ok(7)),
            (Some("0"), 10, false, Ok(0)),
            (Some("256"), 1, false, Ok(256)),
            (Some("50%"), 10, false, Ok(5)),
            (Some("200%"), 10, false, Ok(20)),
            (Some("5000%"), 4, false, Ok(200)),
            (Some("9000%"), 4, false, Ok(256)),
            (Some("3%"), 4, false, Ok(0)),
            (None, 1, false, Err("Require <weight> or <weight%>.\n")),
            (
                Some("257"),
                1,
                false,
                Err("Absolute weight can only be between 0 and 256 inclusive.\n"),
            ),
            (
                Some("-1"),
                1,
                false,
                Err("Absolute weight can only be between 0 and 256 inclusive.\n"),
            ),
            (
                Some("-5%"),
                1,
                false,
                Err("Relative weight must be positive.\n"),
            ),
            (
                Some("abc"),
                1,
                false,
                Err("Empty weight string empty or preceded by garbage\n"),
            ),
            (
                Some("2"),
                4,
                true,
                Err(
                    "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
                ),
            ),
            (Some("0%"), 4, true, Ok(0)),
            (Some("100%"), 4, true, Ok(4)),
        ];
        for (text, initial, st, want) in cases {
            assert_eq!(
                parse_weight(*text, *initial, *st),
                *want,
                "{text:?} of {initial}"
            );
        }
    }
}
