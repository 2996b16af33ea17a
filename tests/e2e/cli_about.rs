//! The runtime API's commands about the process: `show version`, `show
//! env`, `show errors`, `show activity`, `show threads` and the whole list
//! of `show info`'s fields. What differs between splicer and HAProxy (the
//! version, thread ids, counts) is checked for its shape only; everything
//! else is HAProxy 2.6's word for word, and every test passes against
//! HAProxy itself (`SPLICER_TEST_BIN=haproxy`).

use std::os::unix::net::UnixStream;
use std::time::Duration;

use regex::Regex;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// The variable the config sets with `setenv`.
const VAR: &str = "SPLICER_ABOUT_TEST";

/// A splicer (or HAProxy) with the three stats sockets of [`Api`], a
/// frontend on a UNIX socket (no TCP port) and a backend whose one server
/// is never reached (nothing listens on its port).
fn start() -> (Api, std::path::PathBuf) {
    let dir = scratch_dir("about");
    let fe = dir.join("fe.sock");
    let api = Api::start(
        &format!("    setenv {VAR} hello\n"),
        &format!(
            "frontend fe\n    bind unix@{}\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:28899\n",
            fe.display()
        ),
        &[],
    );
    wait_for("the frontend's socket", LIMIT, || {
        UnixStream::connect(&fe).is_ok()
    });
    (api, fe)
}

#[test]
fn version_and_environment() {
    let (api, _) = start();
    let version = api.ask("show version");
    assert!(
        Regex::new(r"\A[^\n]+\n\n\z").unwrap().is_match(&version),
        "{version:?}"
    );
    if !haproxy::enabled() {
        assert_eq!(version, format!("{}\n\n", env!("CARGO_PKG_VERSION")));
    }
    assert_eq!(
        api.ask(&format!("show env {VAR}")),
        format!("{VAR}=hello\n\n")
    );
    assert_eq!(
        api.ask(&format!("show env {VAR} extra")),
        format!("{VAR}=hello\n\n")
    );
    let all = api.ask("show env");
    assert!(all.lines().any(|l| l == format!("{VAR}=hello")), "{all}");
    assert!(all.ends_with("\n\n"));
    // A name matches whole, never as a prefix.
    let prefix = &VAR[..VAR.len() - 1];
    assert_eq!(
        api.ask(&format!("show env {prefix}")),
        "Variable not found\n\n"
    );
    assert_eq!(
        api.ask("show env SPLICER_ABOUT_NOPE"),
        "Variable not found\n\n"
    );
    // Operator level at least.
    assert_eq!(
        ask(&api.sock("oper"), &format!("show env {VAR}")),
        format!("{VAR}=hello\n\n")
    );
    assert_eq!(
        ask(&api.sock("user"), &format!("show env {VAR}")),
        "Permission denied\n\n"
    );
    assert_eq!(ask(&api.sock("user"), "show version"), version, "any level");
}

#[test]
fn errors_header_and_arguments() {
    let (api, _) = start();
    let header = Regex::new(
        r"\ATotal events captured on \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] : 0\n\n\z",
    )
    .unwrap();
    for line in [
        "show errors",
        "show errors fe",
        "show errors be",
        "show errors be request",
        "show errors fe response",
        "show errors fe bogus",
        "show errors 99",
        "show errors 2abc",
        "show errors -1",
    ] {
        let out = api.ask(line);
        assert!(header.is_match(&out), "{line}: {out:?}");
    }
    assert!(header.is_match(&ask(&api.sock("oper"), "show errors")));
    for line in ["show errors nope", "show errors 0", "show errors x1"] {
        assert_eq!(api.ask(line), "No such proxy.\n\n", "{line}");
    }
    assert_eq!(
        ask(&api.sock("user"), "show errors"),
        "Permission denied\n\n"
    );
}

/// HAProxy 2.6's `show activity` lines after `thread_id` and `date_now`.
const ACTIVITY: &[&str] = &[
    "ctxsw",
    "tasksw",
    "empty_rq",
    "long_rq",
    "loops",
    "wake_tasks",
    "wake_signal",
    "poll_io",
    "poll_exp",
    "poll_drop_fd",
    "poll_skip_fd",
    "conn_dead",
    "stream_calls",
    "pool_fail",
    "buf_wait",
    "cpust_ms_tot",
    "cpust_ms_1s",
    "cpust_ms_15s",
    "avg_loop_us",
    "accepted",
    "accq_pushed",
    "accq_full",
    "accq_ring",
    "fd_takeover",
];

/// A counter of `show activity` as (total, per thread).
fn counter(out: &str, name: &str) -> (u64, Vec<u64>) {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in\n{out}"));
    let (total, rest) = line.split_once(" [ ").expect("two threads");
    let per: Vec<u64> = rest
        .trim_end_matches(" ]")
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    (total.parse().unwrap(), per)
}

#[test]
fn activity_and_threads_shapes() {
    let (api, fe) = start();
    // One client on the frontend: a connection some worker accepts (its
    // session then fails to reach the server).
    drop(UnixStream::connect(&fe).unwrap());
    // Every worker turns its loop at least every half second, idle or not.
    wait_for(
        "an accepted connection and every loop turned",
        LIMIT,
        || {
            let out = api.ask("show activity");
            counter(&out, "accepted").0 >= 1 && counter(&out, "loops").1.iter().all(|&n| n > 0)
        },
    );
    let out = api.ask("show activity");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        Regex::new(r"^thread_id: \d+ \(1\.\.2\)$")
            .unwrap()
            .is_match(lines[0]),
        "{out}"
    );
    assert!(
        Regex::new(r"^date_now: \d{10}\.\d{6}$")
            .unwrap()
            .is_match(lines[1]),
        "{out}"
    );
    let names: Vec<&str> = lines[2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(names, ACTIVITY, "{out}");
    let row = Regex::new(r"^[a-z_0-9]+: \d+ \[ \d+ \d+ \]$").unwrap();
    for l in &lines[2..2 + ACTIVITY.len()] {
        assert!(row.is_match(l), "{l}");
    }
    assert!(out.ends_with(" ]\n\n"), "{out:?}");
    let (loops, per) = counter(&out, "loops");
    assert_eq!(loops, per.iter().sum::<u64>());
    let (accepted, per) = counter(&out, "accepted");
    assert_eq!(accepted, per.iter().sum::<u64>());

    let threads = api.ask("show threads");
    let head = Regex::new(
        r"^[ *][ >]Thread \d+ *: id=0x[0-9a-f]+ act=[01] glob=[01] wq=[01] rq=[01] tl=[01] tlsz=\d+ rqsz=\d+$",
    )
    .unwrap();
    let flags =
        Regex::new(r"^ +\d+/\d+ +stuck=[01] prof=[01] harmless=[01] wantrdv=[01]$").unwrap();
    let cpu = Regex::new(r"^ +cpu_ns: poll=\d+ now=\d+ diff=\d+$").unwrap();
    let lines: Vec<&str> = threads.lines().collect();
    let heads: Vec<usize> = (0..lines.len())
        .filter(|&i| head.is_match(lines[i]))
        .collect();
    assert_eq!(heads.len(), 2, "one block per thread:\n{threads}");
    for (n, &i) in heads.iter().enumerate() {
        assert!(
            lines[i].contains(&format!("Thread {:<2}:", n + 1)),
            "{}",
            lines[i]
        );
        assert!(flags.is_match(lines[i + 1]), "{}", lines[i + 1]);
        assert!(cpu.is_match(lines[i + 2]), "{}", lines[i + 2]);
        assert!(
            !lines[i].contains(" id=0x0 "),
            "a thread found: {}",
            lines[i]
        );
    }
    assert!(threads.ends_with("\n\n"));
}

/// `show info`'s names as HAProxy 2.6.12 prints them, in its order, for a
/// config without `description`.
const INFO: &[&str] = &[
    "Name",
    "Version",
    "Release_date",
    "Nbthread",
    "Nbproc",
    "Process_num",
    "Pid",
    "Uptime",
    "Uptime_sec",
    "Memmax_MB",
    "PoolAlloc_MB",
    "PoolUsed_MB",
    "PoolFailed",
    "Ulimit-n",
    "Maxsock",
    "Maxconn",
    "Hard_maxconn",
    "CurrConns",
    "CumConns",
    "CumReq",
    "MaxSslConns",
    "CurrSslConns",
    "CumSslConns",
    "Maxpipes",
    "PipesUsed",
    "PipesFree",
    "ConnRate",
    "ConnRateLimit",
    "MaxConnRate",
    "SessRate",
    "SessRateLimit",
    "MaxSessRate",
    "SslRate",
    "SslRateLimit",
    "MaxSslRate",
    "SslFrontendKeyRate",
    "SslFrontendMaxKeyRate",
    "SslFrontendSessionReuse_pct",
    "SslBackendKeyRate",
    "SslBackendMaxKeyRate",
    "SslCacheLookups",
    "SslCacheMisses",
    "CompressBpsIn",
    "CompressBpsOut",
    "CompressBpsRateLim",
    "Tasks",
    "Run_queue",
    "Idle_pct",
    "node",
    "Stopping",
    "Jobs",
    "Unstoppable Jobs",
    "Listeners",
    "ActivePeers",
    "ConnectedPeers",
    "DroppedLogs",
    "BusyPolling",
    "FailedResolutions",
    "TotalBytesOut",
    "TotalSplicdedBytesOut",
    "BytesOutRate",
    "DebugCommandsIssued",
    "CumRecvLogs",
    "Build info",
    "Memmax_bytes",
    "PoolAlloc_bytes",
    "PoolUsed_bytes",
    "Start_time_sec",
    "Tainted",
];

#[test]
fn info_fields_are_haproxys() {
    let (api, _) = start();
    let out = api.ask("show info");
    let fields: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(": ")).collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, INFO, "{out}");
    let text = [
        "Name",
        "Version",
        "Release_date",
        "Uptime",
        "node",
        "Build info",
        "Tainted",
    ];
    for (name, value) in &fields {
        if !text.contains(name) {
            assert!(value.parse::<u64>().is_ok(), "{name}: {value:?}");
        }
    }
    let get = |n: &str| fields.iter().find(|(f, _)| *f == n).unwrap().1;
    assert_eq!(get("Version"), get("Build info"));
    assert_eq!(get("Stopping"), "0");
    assert_eq!(get("BusyPolling"), "0");
}

/// The help lines of these commands, as HAProxy 2.6 prints them.
#[test]
fn help_lists_them_as_haproxy() {
    let (api, _) = start();
    let help = api.ask("help");
    for line in [
        "  show activity                           : show per-thread activity stats (for support/developers)",
        "  show env [var]                          : dump environment variables known to the process",
        "  show errors [<px>] [request|response]   : report last request and/or response errors for each proxy",
        "  show threads                            : show some threads debugging information",
        "  show version                            : show version of the current process",
    ] {
        assert!(help.lines().any(|l| l == line), "{line}\nnot in\n{help}");
    }
}
