//! `show info` (process-wide `Name: value` lines, in HAProxy's order, for
//! the fields that mean something in splicer) and `show servers state`
//! (HAProxy's version 1 format, the one its `server-state-file` uses).

use std::sync::atomic::Ordering;

use crate::base::clock;
use crate::base::clock::now_ms;
use crate::runtime::{BackendState, Oper, ServerStatus, admin};

use super::cli::Ctx;
use super::commands::find_backend;
use super::status::{Checks, checks};

/// HAProxy's `show info` uptime: `1d 2h03m04s`.
pub(super) fn uptime(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// `Release_date`: splicer has none of its own, so the date its binary
/// was built (written), as HAProxy's `YYYY/MM/DD`; empty if unknown.
fn build_date() -> String {
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified());
    match built {
        Ok(t) => {
            let c = clock::utc(clock::unix_secs(t));
            format!("{:04}/{:02}/{:02}", c.year, c.month, c.day)
        }
        Err(_) => String::new(),
    }
}

pub(super) fn show_info(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    if args[2..]
        .iter()
        .any(|a| matches!(a.as_str(), "typed" | "json" | "desc" | "float"))
    {
        out.push_str("show info: typed, json, desc and float output are not supported yet.\n");
        return;
    }
    for (name, value) in fields(ctx.rt) {
        out.push_str(&format!("{name}: {value}\n"));
    }
}

/// `show info`'s lines as (name, value), in HAProxy's order; the stats
/// page and the process metrics read them too.
pub(super) fn fields(rt: &crate::runtime::Runtime) -> Vec<(&'static str, String)> {
    let process = &rt.process;
    let up = process.started.elapsed().as_secs();
    let sum =
        |f: fn(&crate::runtime::FrontendState) -> u64| rt.frontends.iter().map(f).sum::<u64>();
    let listeners = rt
        .frontends
        .iter()
        .filter(|f| !f.config.disabled)
        .map(|f| f.config.binds.len())
        .sum::<usize>()
        + rt.global.stats_sockets.len();
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut lines: Vec<(&str, String)> = vec![
        ("Name", "splicer".into()),
        ("Version", env!("CARGO_PKG_VERSION").into()),
        ("Release_date", build_date()),
        ("Nbthread", process.nbthread.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", std::process::id().to_string()),
        ("Uptime", uptime(up)),
        ("Uptime_sec", up.to_string()),
    ];
    if let Ok(n) = crate::sys::nofile_limit() {
        lines.push(("Ulimit-n", n.to_string()));
    }
    lines.extend([
        ("Maxconn", rt.maxconn.load(Ordering::Relaxed).to_string()),
        ("Hard_maxconn", rt.global.maxconn.to_string()),
        ("CurrConns", process.sessions.get().to_string()),
        (
            "CumConns",
            process.accepted.total(|s| &s.sessions).to_string(),
        ),
        ("Maxpipes", process.maxpipes.to_string()),
        ("PipesUsed", process.pipes.get().to_string()),
        (
            "ConnRate",
            sum(|f| f.counters.rate.value().into()).to_string(),
        ),
        (
            "SessRate",
            sum(|f| f.counters.rate.value().into()).to_string(),
        ),
        // Sessions are splicer's tasks; workers wake on events, with no
        // run queue (tools such as hatop require both lines).
        ("Tasks", process.sessions.get().to_string()),
        ("Run_queue", "0".into()),
        ("node", node.trim().to_string()),
        ("Listeners", listeners.to_string()),
        (
            "TotalBytesOut",
            sum(|f| f.counters.total(|s| &s.bytes_out)).to_string(),
        ),
        ("Start_time_sec", process.started_unix.to_string()),
    ]);
    lines
}

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
    if flags & admin::MAINT != 0 {
        adm |= 0x1;
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
        srv.addr.ip().to_string(),
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
        "-".into(),
        srv.addr.port().to_string(),
        "-".into(),
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
    fn uptime_reads_as_haproxys() {
        let cases = [
            (0, "0d 0h00m00s"),
            (4, "0d 0h00m04s"),
            (3_725, "0d 1h02m05s"),
            (90_061, "1d 1h01m01s"),
        ];
        for (secs, want) in cases {
            assert_eq!(uptime(secs), want);
        }
    }

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
