//! `show servers state`: HAProxy's version 1 format, the one its
//! `server-state-file` uses.

use std::sync::atomic::Ordering;

use crate::base::clock::now_ms;
use crate::runtime::{BackendState, Oper, ServerStatus, admin};

use super::cli::{Command, Ctx, cmd};
use super::commands::find_backend;
use super::status::{Checks, checks};
use crate::config::Level;

/// `show servers state`.
pub(super) const COMMANDS: &[Command] = &[cmd(
    &["show", "servers", "state"],
    Level::User,
    "show servers state [<backend>]",
    "dump volatile server information (all or for a single backend)",
    show_servers_state,
)];

/// `show servers state` columns (format version 1).
const STATE_HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

pub(super) fn show_servers_state(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let backends: Vec<&BackendState> = match args.get(3) {
        Some(name) => match find_backend(ctx.rt, name) {
            Some(b) => vec![b],
            None => return out.push_str("Can't find backend.\n"),
        },
        None => ctx.rt.backends.iter().collect(),
    };
    out.push_str("1\n");
    out.push_str(STATE_HEADER);
    out.push('\n');
    for b in backends {
        for s in 0..b.servers.len() {
            server_state_line(b, s, out);
        }
    }
}

/// HAProxy's numbers for a check result (its `enum healthcheck_status`).
fn check_status_number(code: &str) -> u32 {
    match code {
        "" | "INI" => 1,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        _ => 0,
    }
}

/// HAProxy's check result: 0 unknown, 2 failed, 3 passed, 4 passed
/// conditionally.
fn check_result_number(code: &str) -> u32 {
    match code {
        "" | "INI" => 0,
        "L4OK" | "L6OK" | "L7OK" => 3,
        "L7OKC" => 4,
        _ => 2,
    }
}

/// Check state bits: configured 0x2, enabled 0x4, agent 0x10.
fn check_state(configured: bool, enabled: bool, agent: bool) -> u32 {
    if !configured {
        return 0;
    }
    2 | if enabled { 4 } else { 0 } | if agent { 0x10 } else { 0 }
}

fn server_state_line(b: &BackendState, s: usize, out: &mut String) {
    let srv = &b.servers[s];
    let cfg = &b.config.servers[s];
    let Checks {
        health,
        agent,
        info,
    } = checks(b, s);
    // HAProxy: stopped (0) while down or in maintenance, starting (1)
    // during slowstart, stopping (3) when a check asks to drain, else
    // running (2).
    let op = match (srv.status(), srv.oper()) {
        (ServerStatus::Down | ServerStatus::Maint, _) => 0,
        (_, Oper::NoLb) => 3,
        _ if srv.ramping() => 1,
        _ => 2,
    };
    let flags = srv.admin_flags();
    let mut adm = 0;
    if flags & (admin::CONFIG_MAINT | admin::FORCED_MAINT) != 0 {
        adm |= 0x1;
    }
    if flags & admin::RESOLUTION_MAINT != 0 {
        adm |= 0x20;
    }
    if cfg.disabled {
        adm |= 0x4;
    }
    if flags & admin::FORCED_DRAIN != 0 {
        adm |= 0x8;
    }
    let since = now_ms().saturating_sub(srv.last_change_ms.load(Ordering::Relaxed)) / 1000;
    let p = &cfg.check;
    let line = [
        b.config.uid.to_string(),
        b.config.name.clone(),
        (s + 1).to_string(),
        srv.name.clone(),
        srv.addr.get().ip().to_string(),
        op.to_string(),
        adm.to_string(),
        srv.weight.load(Ordering::Relaxed).to_string(),
        srv.initial_weight.to_string(),
        since.to_string(),
        check_status_number(if health { info.status } else { "" }).to_string(),
        check_result_number(if health { info.status } else { "" }).to_string(),
        if health { info.health } else { 0 }.to_string(),
        check_state(p.enabled, health, false).to_string(),
        check_state(agent, agent, true).to_string(),
        "0".into(),
        "0".into(),
        srv.hostname.lock().clone().unwrap_or_else(|| "-".into()),
        srv.addr.get().port().to_string(),
        srv.srvrecord.clone().unwrap_or_else(|| "-".into()),
        "0".into(),
        p.port.unwrap_or(0).to_string(),
        p.addr.map_or("-".into(), |a| a.to_string()),
        p.agent_addr.map_or("-".into(), |a| a.to_string()),
        p.agent_port.filter(|_| agent).unwrap_or(0).to_string(),
    ];
    out.push_str(&line.join(" "));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_numbers_are_haproxys() {
        // Observed in `show servers state`: refused connect 8/2, L4 pass
        // 6/3, no check 1/0.
        assert_eq!(
            (check_status_number("L4CON"), check_result_number("L4CON")),
            (8, 2)
        );
        assert_eq!(
            (check_status_number("L4OK"), check_result_number("L4OK")),
            (6, 3)
        );
        assert_eq!((check_status_number(""), check_result_number("")), (1, 0));
        assert_eq!(check_state(true, true, false), 6);
        assert_eq!(check_state(true, false, false), 2);
        assert_eq!(check_state(true, true, true), 22);
        assert_eq!(check_state(false, false, false), 0);
    }
}
