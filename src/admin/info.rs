//! `show info`: process-wide `Name: value` lines, in HAProxy's order, for
//! the fields that mean something in splicer.

use std::sync::atomic::Ordering;

use crate::base::clock;

use super::cli::{Command, Ctx, cmd};
use crate::config::Level;

/// `show info`.
pub(super) const COMMANDS: &[Command] = &[cmd(
    &["show", "info"],
    Level::User,
    "show info",
    "report information about the running process",
    show_info,
)];

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
    let node = rt
        .global
        .node
        .clone()
        .or_else(crate::sys::hostname)
        .unwrap_or_default();
    let conn_rate_max = process.conn_rate.max.load(Ordering::Relaxed);
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
    // HAProxy reports `ulimit-n` as configured (it never lowers the limit).
    if let Some(n) = rt
        .global
        .ulimit_n
        .or_else(|| crate::sys::nofile_limit().ok())
    {
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
        ("ConnRate", process.conn_rate.value().to_string()),
        ("ConnRateLimit", rt.global.maxconnrate.to_string()),
        ("MaxConnRate", conn_rate_max.to_string()),
        // Without connection rules, every connection is a session.
        ("SessRate", process.conn_rate.value().to_string()),
        ("SessRateLimit", rt.global.maxsessrate.to_string()),
        ("MaxSessRate", conn_rate_max.to_string()),
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
}
