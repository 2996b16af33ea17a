//! Servers changed by automation without a reload: `add server`, `del
//! server`, `enable|disable agent` and the `set server` words beyond
//! state, weight and address (`health`, `agent`, `check-addr`,
//! `check-port`, `agent-addr`, `agent-port`, `agent-send`, `ssl`). Answers
//! are HAProxy 2.6's, word for word.
//!
//! What changes the config (a new server, one less, a check's address)
//! goes to the main thread, which parses the files again with every such
//! change and switches all workers at once, as a reload does
//! ([`crate::runtime::edits`]); such changes outlive a reload. What only
//! changes a server's state (`health`, `agent`) goes through the health
//! checker, which owns the check counters.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::base::ids::ServerId;
use crate::config::{AddedServer, Balance, HashType, Level, ServerChange, Setting};
use crate::runtime::edits::Edit;
use crate::runtime::events::{force_oper, forced};
use crate::runtime::{BackendState, Runtime, ServerStatus};

use super::cli::{Command, Ctx, cmd};
use super::commands::{find_backend, find_server, with_server};

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["disable", "agent"],
        Level::Admin,
        "disable agent",
        "disable agent checks",
        |ctx, args, out| {
            with_server(ctx.rt, args.get(2), out, |b, s| {
                b.servers[s].agent_disabled.store(true, Ordering::Relaxed)
            })
        },
    ),
    cmd(
        &["enable", "agent"],
        Level::Admin,
        "enable agent",
        "enable agent checks",
        enable_agent,
    ),
    cmd(
        &["add", "server"],
        Level::Admin,
        "add server <bk>/<srv>",
        "create a new server",
        add_server,
    ),
    cmd(
        &["del", "server"],
        Level::Admin,
        "del server <bk>/<srv>",
        "remove a dynamically added server",
        del_server,
    ),
];

/// HAProxy's answer to a `set server` word it does not know.
pub(super) const SET_SERVER_USAGE: &str = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";

fn enable_agent(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    match find_server(ctx.rt, args.get(2)) {
        Ok((b, s)) if agent_configured(b, s) => {
            b.servers[s].agent_disabled.store(false, Ordering::Relaxed);
        }
        Ok(_) => out.push_str("Agent was not configured on this server, cannot enable.\n"),
        Err(e) => out.push_str(e),
    }
}

fn agent_configured(b: &BackendState, s: usize) -> bool {
    let p = &b.config.servers[s].check;
    p.agent && p.agent_port.is_some()
}

fn agent_enabled(b: &BackendState, s: usize) -> bool {
    agent_configured(b, s) && !b.servers[s].agent_disabled.load(Ordering::Relaxed)
}

fn health_enabled(b: &BackendState, s: usize) -> bool {
    b.config.servers[s].check.enabled && !b.servers[s].check_disabled.load(Ordering::Relaxed)
}

/// The `set server` words of this file; `false` for a word it does not
/// know.
pub(super) fn set_server(
    rt: &Runtime,
    b: &BackendState,
    s: usize,
    args: &[String],
    out: &mut String,
) -> bool {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let setting = |change| {
        Edit::Set(Setting {
            backend: b.config.name.clone(),
            server: b.servers[s].name.clone(),
            change,
        })
    };
    match arg(3) {
        "health" => health(rt, b, s, arg(4), out),
        "agent" => agent(rt, b, s, arg(4), out),
        "agent-addr" | "check-addr" => {
            let agent = arg(3) == "agent-addr";
            if arg(4).is_empty() {
                return say(
                    out,
                    &format!(
                        "set server <b>/<s> {} requires an address and optionally a port.\n",
                        arg(3)
                    ),
                );
            }
            let port = (arg(5) == "port").then(|| arg(6));
            match addr_port(b, s, agent, Some(arg(4)), port) {
                Ok((a, p)) => {
                    apply(rt, setting(change(agent, a, p)), out);
                }
                Err(e) => out.push_str(&e),
            }
        }
        "agent-port" | "check-port" => {
            let agent = arg(3) == "agent-port";
            if arg(4).is_empty() {
                return say(
                    out,
                    &format!("set server <b>/<s> {} requires a port.\n", arg(3)),
                );
            }
            match addr_port(b, s, agent, None, Some(arg(4))) {
                Ok((a, p)) => {
                    apply(rt, setting(change(agent, a, p)), out);
                }
                Err(e) => out.push_str(&e),
            }
        }
        "agent-send" => {
            if !agent_enabled(b, s) {
                return say(out, "agent checks are not enabled on this server.\n");
            }
            apply(
                rt,
                setting(ServerChange::AgentSend(arg(4).to_string())),
                out,
            );
        }
        "ssl" => {
            if rt.tls.server(b.id.index(), s).is_none() {
                return say(
                    out,
                    "'set server <srv> ssl' cannot be set.  default-server should define ssl settings\n",
                );
            }
            let on = match arg(4) {
                "on" => true,
                "off" => false,
                _ => return say(out, "'set server <srv> ssl' expects 'on' or 'off'.\n"),
            };
            if apply(rt, setting(ServerChange::Ssl(on)), out) {
                out.push_str("server ssl setting updated.\n");
            }
        }
        _ => return false,
    }
    true
}

fn say(out: &mut String, text: &str) -> bool {
    out.push_str(text);
    true
}

fn change(agent: bool, addr: Option<IpAddr>, port: Option<u16>) -> ServerChange {
    if agent {
        ServerChange::AgentAddr(addr, port)
    } else {
        ServerChange::CheckAddr(addr, port)
    }
}

/// HAProxy's `srv_update_agent_addr_port` / `srv_update_check_addr_port`
/// checks, in its order; the message has no line end, as HAProxy's.
fn addr_port(
    b: &BackendState,
    s: usize,
    agent: bool,
    addr: Option<&str>,
    port: Option<&str>,
) -> Result<(Option<IpAddr>, Option<u16>), String> {
    if agent && !agent_enabled(b, s) {
        return Err("agent checks are not enabled on this server".into());
    }
    if !agent && !health_enabled(b, s) {
        return Err("health checks are not enabled on this server".into());
    }
    let addr = match addr {
        Some(a) => Some(
            a.parse::<IpAddr>()
                .map_err(|_| format!("invalid addr '{a}'"))?,
        ),
        None => None,
    };
    let port = match port {
        Some(p) => {
            let n: i64 = p
                .trim_start()
                .parse()
                .map_err(|_| "provided port is not an integer".to_string())?;
            let n = u16::try_from(n).map_err(|_| "provided port is invalid".to_string())?;
            if !agent && n == 0 && b.servers[s].port_mode != crate::config::PortMode::Fixed {
                return Err("can't unset 'port' since MAPPORTS is in use".into());
            }
            Some(n)
        }
        None => None,
    };
    Ok((addr, port))
}

/// Sends a change to the main thread; its errors are the answer.
fn apply(rt: &Runtime, edit: Edit, out: &mut String) -> bool {
    match rt.process.edits.apply(edit) {
        Ok(()) => true,
        Err(errors) => {
            for e in errors {
                out.push_str(&e);
                out.push('\n');
            }
            false
        }
    }
}

/// `set server B/S health up|stopping|down`.
fn health(rt: &Runtime, b: &BackendState, s: usize, word: &str, out: &mut String) {
    if b.config.servers[s].track.is_some() {
        return out.push_str("cannot change health on a tracking server.\n");
    }
    let what = match word {
        "up" => forced::HEALTH_UP,
        "stopping" => forced::HEALTH_STOPPING,
        "down" => forced::HEALTH_DOWN,
        _ => {
            return out
                .push_str("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n");
        }
    };
    force(rt, b, s, what);
}

/// `set server B/S agent up|down`.
fn agent(rt: &Runtime, b: &BackendState, s: usize, word: &str, out: &mut String) {
    if !agent_enabled(b, s) {
        return out.push_str("agent checks are not enabled on this server.\n");
    }
    let what = match word {
        "up" => forced::AGENT_UP,
        "down" => forced::AGENT_DOWN,
        _ => return out.push_str("'set server <srv> agent' expects 'up' or 'down'.\n"),
    };
    force(rt, b, s, what);
}

/// How long the answer waits for the health checker to apply a forced
/// state (it does so as soon as it wakes: well under a millisecond).
const FORCE_WAIT: Duration = Duration::from_secs(1);

/// Leaves the request for the health checker and waits until it took it,
/// so that the next command sees the new state; with no checker running,
/// applies it here.
fn force(rt: &Runtime, b: &BackendState, s: usize, what: u8) {
    let srv = &b.servers[s];
    srv.forced.store(what, Ordering::Release);
    if !rt.process.wake_health() {
        if srv.forced.swap(0, Ordering::AcqRel) != 0 {
            force_oper(rt, b, ServerId::new(s), what);
        }
        return;
    }
    let until = Instant::now() + FORCE_WAIT;
    while srv.forced.load(Ordering::Acquire) != 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// `B/S` of `add server` and `del server`: the backend and the server's
/// name, or HAProxy's answer (no line end: the answer's end adds it).
fn backend_and_name<'a, 'r>(
    rt: &'r Runtime,
    arg: Option<&'a String>,
    out: &mut String,
) -> Option<(&'r BackendState, &'a str)> {
    let Some((bname, name)) = arg
        .and_then(|a| a.split_once('/'))
        .filter(|(_, s)| !s.is_empty())
    else {
        out.push_str("Require 'backend/server'.");
        return None;
    };
    let Some(b) = find_backend(rt, bname) else {
        out.push_str("No such backend.");
        return None;
    };
    Some((b, name))
}

/// `add server B/S ADDR[:PORT] [keywords]`.
fn add_server(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some((b, name)) = backend_and_name(ctx.rt, args.get(2), out) else {
        return;
    };
    let dynamic = match b.config.balance {
        Balance::StaticRr => false,
        Balance::Source => b.config.hash_type == HashType::Consistent,
        _ => true,
    };
    if !dynamic {
        return out
            .push_str("Backend must use a dynamic load balancing to support dynamic servers.");
    }
    let Some(addr) = args.get(3) else {
        return out.push_str("'server' expects <name> and <addr>[:<port>] as arguments.\n");
    };
    if b.servers.iter().any(|s| s.name == name) {
        return out.push_str("Already exists a server with the same name in backend.\n");
    }
    let edit = Edit::Add(AddedServer {
        backend: b.config.name.clone(),
        name: name.to_string(),
        addr: addr.clone(),
        params: args[4..].to_vec(),
    });
    match ctx.rt.process.edits.apply(edit) {
        Ok(()) => out.push_str("New server registered.\n"),
        Err(errors) => {
            for e in errors {
                out.push_str(&keyword_error(&e));
                out.push('\n');
            }
        }
    }
}

/// `del server B/S`: only a server in maintenance with no session, that
/// nothing else names (`track`, `use-server`), as HAProxy requires.
fn del_server(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some((b, name)) = backend_and_name(ctx.rt, args.get(2), out) else {
        return;
    };
    let Some(s) = b.servers.iter().position(|x| x.name == name) else {
        return out.push_str("No such server.");
    };
    let id = ServerId::new(s);
    let tracked = ctx
        .rt
        .backends
        .iter()
        .any(|x| x.config.servers.iter().any(|c| c.track == Some((b.id, id))));
    let named = ctx.rt.backends.iter().any(|x| {
        x.id == b.id
            && x.config
                .rules
                .use_server
                .iter()
                .any(|u| u.server == Some(id))
    });
    if tracked || named {
        return out.push_str("This server cannot be removed at runtime due to other configuration elements pointing to it.");
    }
    if b.servers[s].status() != ServerStatus::Maint {
        return out.push_str("Only servers in maintenance mode can be deleted.");
    }
    if b.servers[s].active.get() > 0 {
        return out.push_str("Server still has connections attached to it, cannot remove it.");
    }
    let edit = Edit::Delete {
        backend: b.config.name.clone(),
        server: name.to_string(),
    };
    if apply(ctx.rt, edit, out) {
        out.push_str("Server deleted.");
    }
}

/// The config's word for a keyword it does not know, in HAProxy's CLI
/// wording (`unknown keyword 'x'.`); other errors as they are.
fn keyword_error(e: &str) -> String {
    let unknown = e
        .split_once("unknown parameter '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(word, _)| word);
    match unknown {
        Some(word) => format!("unknown keyword '{word}'."),
        None => e.to_string(),
    }
}
