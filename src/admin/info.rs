//! `show info`: process-wide `Name: value` lines, HAProxy 2.6's fields in
//! its order; those splicer has no value for say HAProxy's "none".

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

/// `show info`'s lines as (name, value), in HAProxy 2.6's order; the stats
/// page and the process metrics read them too.
///
/// Every field HAProxy prints is here (but `description`, which splicer's
/// config does not keep). What splicer does not have is given HAProxy's
/// value for "none" and, where splicer simply does not count it, said so
/// below: a monitoring tool finds every name it knows, and no number that
/// splicer made up.
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
    let sessions = process.sessions.get();
    let zero = || "0".to_string();
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
        // No `-m` memory limit and no memory pools: HAProxy's values
        // without them.
        ("Memmax_MB", zero()),
        ("PoolAlloc_MB", zero()),
        ("PoolUsed_MB", zero()),
        ("PoolFailed", zero()),
    ];
    // HAProxy reports `ulimit-n` as configured (it never lowers the limit);
    // the descriptors splicer may open are the limit in effect.
    let nofile = crate::sys::nofile_limit().ok();
    if let Some(n) = rt.global.ulimit_n.or(nofile) {
        lines.push(("Ulimit-n", n.to_string()));
    }
    if let Some(n) = nofile {
        lines.push(("Maxsock", n.to_string()));
    }
    lines.extend([
        ("Maxconn", rt.maxconn.load(Ordering::Relaxed).to_string()),
        ("Hard_maxconn", rt.global.maxconn.to_string()),
        ("CurrConns", sessions.to_string()),
        (
            "CumConns",
            process.accepted.total(|s| &s.sessions).to_string(),
        ),
        // A TCP session is one HAProxy stream (request): those that got
        // past the connection and session rules, the frontends' `stot`.
        (
            "CumReq",
            sum(|f| f.counters.total(|s| &s.sessions)).to_string(),
        ),
        // `maxsslconn` is not supported (no limit: HAProxy's 0), and TLS
        // sessions are not counted apart from the others.
        ("MaxSslConns", zero()),
        ("CurrSslConns", zero()),
        ("CumSslConns", zero()),
        ("Maxpipes", process.maxpipes.to_string()),
        // Every pipe that exists, the idle ones in the workers' pools
        // included: those pools are not counted apart (`PipesFree`).
        ("PipesUsed", process.pipes.get().to_string()),
        ("PipesFree", zero()),
        ("ConnRate", process.conn_rate.value().to_string()),
        ("ConnRateLimit", rt.global.maxconnrate.to_string()),
        ("MaxConnRate", conn_rate_max.to_string()),
        // Without connection rules, every connection is a session.
        ("SessRate", process.conn_rate.value().to_string()),
        ("SessRateLimit", rt.global.maxsessrate.to_string()),
        ("MaxSessRate", conn_rate_max.to_string()),
        // No TLS rates, key rates or session cache counts are kept (nor
        // `maxsslrate`), and there is no HTTP compression.
        ("SslRate", zero()),
        ("SslRateLimit", zero()),
        ("MaxSslRate", zero()),
        ("SslFrontendKeyRate", zero()),
        ("SslFrontendMaxKeyRate", zero()),
        ("SslFrontendSessionReuse_pct", zero()),
        ("SslBackendKeyRate", zero()),
        ("SslBackendMaxKeyRate", zero()),
        ("SslCacheLookups", zero()),
        ("SslCacheMisses", zero()),
        ("CompressBpsIn", zero()),
        ("CompressBpsOut", zero()),
        ("CompressBpsRateLim", zero()),
        // Sessions are splicer's tasks; workers wake on events, with no
        // run queue (tools such as hatop require both lines).
        ("Tasks", sessions.to_string()),
        ("Run_queue", "0".into()),
        // Not measured: workers do not time their waits. An idle HAProxy
        // says 100.
        ("Idle_pct", "100".into()),
        ("node", node.trim().to_string()),
        // 1 from a soft stop (SIGUSR1, `-sf`) or a stop on.
        (
            "Stopping",
            u8::from(process.stopping.load(Ordering::Relaxed)).to_string(),
        ),
        // HAProxy's jobs are its listeners and connections; the runtime
        // API's own clients are not counted here.
        ("Jobs", (listeners + sessions).to_string()),
        ("Unstoppable Jobs", zero()),
        ("Listeners", listeners.to_string()),
        // As the peers thread last published them.
        (
            "ActivePeers",
            process.peers_active.load(Ordering::Relaxed).to_string(),
        ),
        (
            "ConnectedPeers",
            process.peers_connected.load(Ordering::Relaxed).to_string(),
        ),
        // Not counted by the loggers: 0.
        ("DroppedLogs", zero()),
        // `busy-polling` is not supported.
        ("BusyPolling", zero()),
        // Not counted by the resolvers.
        ("FailedResolutions", zero()),
        (
            "TotalBytesOut",
            sum(|f| f.counters.total(|s| &s.bytes_out)).to_string(),
        ),
        // Spliced bytes are not counted apart from copied ones, and no
        // byte rate is kept.
        ("TotalSplicdedBytesOut", zero()),
        ("BytesOutRate", zero()),
        // No debug commands, no log forwarding.
        ("DebugCommandsIssued", zero()),
        ("CumRecvLogs", zero()),
        ("Build info", env!("CARGO_PKG_VERSION").into()),
        ("Memmax_bytes", zero()),
        ("PoolAlloc_bytes", zero()),
        ("PoolUsed_bytes", zero()),
        ("Start_time_sec", process.started_unix.to_string()),
        // No experimental feature taints the process.
        ("Tainted", zero()),
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
