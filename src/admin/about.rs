//! The runtime API's commands about the process rather than its proxies:
//! `show version`, `show env`, `show errors`, `show activity` and `show
//! threads`, in HAProxy 2.6's words and shapes, so that the scripts written
//! for HAProxy parse them. They read the process's environment, the
//! per-worker counters of [`crate::runtime::Process`] and, for the threads,
//! what the kernel says of each worker thread in `/proc/self/task`; none
//! asks the workers anything, so a stuck worker cannot hold them up.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cli::{Command, Ctx, cmd};
use crate::base::clock;
use crate::config::Level;

/// The commands, in HAProxy's words (levels as in HAProxy: `show env` and
/// `show errors` need operator).
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "version"],
        Level::User,
        "show version",
        "show version of the current process",
        |_, _, out| {
            out.push_str(env!("CARGO_PKG_VERSION"));
            out.push('\n');
        },
    ),
    cmd(
        &["show", "env"],
        Level::Operator,
        "show env [var]",
        "dump environment variables known to the process",
        show_env,
    ),
    cmd(
        &["show", "errors"],
        Level::Operator,
        "show errors [<px>] [request|response]",
        "report last request and/or response errors for each proxy",
        show_errors,
    ),
    cmd(
        &["show", "activity"],
        Level::User,
        "show activity",
        "show per-thread activity stats (for support/developers)",
        show_activity,
    ),
    cmd(
        &["show", "threads"],
        Level::User,
        "show threads",
        "show some threads debugging information",
        show_threads,
    ),
];

/// `show env [NAME]`: the environment as `NAME=value` lines, in the
/// order of the process's `environ`.
fn show_env(_: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let environ: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    env_answer(&environ, args.get(2).map(String::as_str), out);
}

/// HAProxy's answer from `environ`: every line, or the first that starts
/// with `name` and `=` (HAProxy's test: a name is never matched as a
/// prefix).
fn env_answer(environ: &[String], name: Option<&str>, out: &mut String) {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        for line in environ {
            out.push_str(line);
            out.push('\n');
        }
        return;
    };
    let found = environ
        .iter()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b'='));
    match found {
        Some(line) => {
            out.push_str(line);
            out.push('\n');
        }
        None => out.push_str("Variable not found\n"),
    }
}

/// `show errors [<iid>|<proxy>] [request|response]`, in HAProxy 2.6's
/// layout. HAProxy captures the HTTP messages it could not parse, and in
/// TCP mode nothing; splicer captures, per frontend, the last PROXY
/// header it refused (splicer's own, as the runtime API issue asks: what
/// TCP mode can capture), as an "invalid request" with the client's bytes.
/// Frontends are listed as HAProxy lists proxies (the last declared
/// first). The arguments are checked as HAProxy checks them: a proxy
/// name, else a number that is not 0 (-1: all).
fn show_errors(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let mut iid = -1;
    if let Some(px) = args.get(2) {
        let uid = ctx
            .rt
            .frontends
            .iter()
            .map(|f| (&f.config.name, f.config.uid))
            .chain(
                ctx.rt
                    .backends
                    .iter()
                    .map(|b| (&b.config.name, b.config.uid)),
            )
            .find(|(n, _)| *n == px)
            .map(|(_, uid)| i64::from(uid));
        iid = uid.unwrap_or_else(|| atoi(px));
        if iid == 0 {
            out.push_str("No such proxy.\n");
            return;
        }
    }
    let responses_only = args.get(3).is_some_and(|a| a == "response");
    let process = &ctx.rt.process;
    let mut date = String::new();
    clock::accept_date(SystemTime::now(), &mut date);
    let total = process.error_events.load(Ordering::Relaxed);
    out.push_str(&format!("Total events captured on [{date}] : {total}\n"));
    if responses_only {
        return;
    }
    let captures = process.errors.lock().clone();
    let mut frontends: Vec<_> = ctx.rt.frontends.iter().map(|f| &f.config).collect();
    frontends.sort_by_key(|f| std::cmp::Reverse(f.order));
    let bufsize = ctx.rt.global.bufsize;
    for fe in frontends {
        if iid >= 0 && i64::from(fe.uid) != iid {
            continue;
        }
        let Some((_, c)) = captures.iter().find(|(n, _)| *n == fe.name) else {
            continue;
        };
        let mut when = String::new();
        clock::accept_date(c.when, &mut when);
        let len = c.bytes.len();
        out.push_str(&format!(
            " \n[{when}] frontend {} (#{}): invalid request\n  \
             backend <NONE> (#-1), server <NONE> (#-1), event #{}, src {}:{}\n  \
             buffer starts at 0 (including 0 out), {} free,\n  \
             len {len}, wraps at {bufsize}, error at position {}\n  \
             PROXY protocol header: {}\n  \n",
            fe.name,
            fe.uid,
            c.event,
            c.src.ip(),
            c.src.port(),
            bufsize.saturating_sub(len),
            c.error_at,
            c.reason,
        ));
        dump_text(&c.bytes, out);
    }
}

/// HAProxy's dump of captured bytes: lines of at most 80 characters, each
/// prefixed with the offset of its first byte, `+` after the offset when it
/// goes on from the line before (a long line broken), printable ASCII as
/// is, `\t \n \r \e \\` escaped with a backslash, other bytes `\xNN`; a
/// line ends after each `\n` of the input.
pub(super) fn dump_text(bytes: &[u8], out: &mut String) {
    let mut ptr = 0;
    let mut line_start = 0;
    while ptr < bytes.len() {
        let mark = if ptr == line_start { ' ' } else { '+' };
        let mut line = format!("  {ptr:05}{mark} ");
        while ptr < bytes.len() {
            let c = bytes[ptr];
            let text = match c {
                b'\t' => "\\t".to_string(),
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                0x1b => "\\e".to_string(),
                b'\\' => "\\\\".to_string(),
                0x20..=0x7e => (c as char).to_string(),
                _ => format!("\\x{c:02X}"),
            };
            // HAProxy's room check: the line so far, at most 78 - the
            // escape's extra characters.
            if line.len() + text.len() > 79 {
                break;
            }
            line.push_str(&text);
            ptr += 1;
            if c == b'\n' {
                line_start = ptr;
                break;
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
}

/// C's `atoi`: an optional sign and the digits that follow, 0 when there
/// are none (`12abc` is 12, `abc` is 0).
fn atoi(text: &str) -> i64 {
    let (neg, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let n = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
        });
    if neg { n.wrapping_neg() } else { n }
}

/// `show activity`'s counters, HAProxy 2.6's lines in its order. Only
/// `loops` (the workers' heartbeats: one per turn of their event loop) and
/// `accepted` (connections each worker accepted) are counted by splicer;
/// the others count what splicer has not (tasks, run queues, an accept
/// queue between threads, stolen CPU, loop timings) and stay 0.
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

fn show_activity(ctx: &mut Ctx<'_>, _: &[String], out: &mut String) {
    let p = &ctx.rt.process;
    let loops: Vec<u64> = p
        .heartbeats
        .iter()
        .map(|h| h.0.load(Ordering::Relaxed))
        .collect();
    let accepted: Vec<u64> = (0..p.nbthread)
        .map(|w| p.accepted.shard(w).sessions.load(Ordering::Relaxed))
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    write_activity(p.nbthread, now, &loops, &accepted, out);
}

/// The table for `nbthread` workers. HAProxy's `thread_id` is the thread
/// serving the command, one of its workers; splicer's runtime API has a
/// thread of its own, which is none of them: 0.
fn write_activity(
    nbthread: usize,
    now: Duration,
    loops: &[u64],
    accepted: &[u64],
    out: &mut String,
) {
    out.push_str(&format!("thread_id: 0 (1..{nbthread})\n"));
    out.push_str(&format!(
        "date_now: {}.{:06}\n",
        now.as_secs(),
        now.subsec_micros()
    ));
    let zeros = vec![0; nbthread];
    for name in ACTIVITY {
        let values = match *name {
            "loops" => loops,
            "accepted" => accepted,
            _ => &zeros,
        };
        let values: Vec<u64> = (0..nbthread)
            .map(|i| values.get(i).copied().unwrap_or(0))
            .collect();
        let total: u64 = values.iter().sum();
        out.push_str(name);
        out.push(':');
        if nbthread <= 1 {
            out.push_str(&format!(" {total}\n"));
            continue;
        }
        // The one average of the table: its total is the mean, rounded.
        let total = if *name == "avg_loop_us" {
            (total + nbthread as u64 / 2) / nbthread as u64
        } else {
            total
        };
        out.push_str(&format!(" {total} ["));
        for v in values {
            out.push_str(&format!(" {v}"));
        }
        out.push_str(" ]\n");
    }
}

/// What the kernel says of one worker thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ThreadView {
    /// Its thread id (0 if it was not found).
    tid: u32,
    /// Running or runnable (`R`), not waiting in its poll.
    running: bool,
    /// CPU time it used, in nanoseconds.
    cpu_ns: u64,
}

/// `show threads`: HAProxy's block per thread, one per worker. Real: the
/// id (the kernel's thread id, where HAProxy prints its pthread handle),
/// `act` (1 while the kernel has the thread running or runnable),
/// `harmless` (1 while it sleeps, in its poll) and `now` (the CPU time it
/// used). Not kept by splicer: the task and queue flags, `stuck` and
/// `prof` (0), and the CPU time at its last wake-up (`poll`, given as
/// `now`, so `diff` is 0). No line starts with `*`, HAProxy's mark for
/// the thread serving the command: splicer's is not a worker.
fn show_threads(ctx: &mut Ctx<'_>, _: &[String], out: &mut String) {
    let n = ctx.rt.process.nbthread;
    for (i, view) in worker_threads(n).iter().enumerate() {
        write_thread(i + 1, view, out);
    }
}

fn write_thread(n: usize, t: &ThreadView, out: &mut String) {
    out.push_str(&format!(
        "  Thread {n:<2}: id=0x{:x} act={} glob=0 wq=0 rq=0 tl=0 tlsz=0 rqsz=0\n",
        t.tid,
        u8::from(t.running)
    ));
    out.push_str(&format!(
        "     {:>2}/{n:<2}   stuck=0 prof=0 harmless={} wantrdv=0\n",
        1,
        u8::from(!t.running)
    ));
    out.push_str(&format!(
        "             cpu_ns: poll={0} now={0} diff=0\n",
        t.cpu_ns
    ));
}

/// The `nbthread` workers as `/proc/self/task` shows them, found by their
/// thread names ([`crate::control::worker_thread_name`]); one not found
/// (a worker that exited) reads as all zeros.
fn worker_threads(nbthread: usize) -> Vec<ThreadView> {
    let mut views = vec![ThreadView::default(); nbthread];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return views;
    };
    let names: Vec<String> = (0..nbthread)
        .map(crate::control::worker_thread_name)
        .collect();
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let Some(i) = names.iter().position(|n| n == comm.trim_end()) else {
            continue;
        };
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let sched = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        views[i] = ThreadView {
            tid,
            running: stat_state(&stat) == Some('R'),
            cpu_ns: sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        };
    }
    views
}

/// The state letter of a `/proc/.../stat` line: the first field after the
/// name in parentheses, which may itself hold spaces and parentheses.
fn stat_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[&str], name: Option<&str>) -> String {
        let environ: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        let mut out = String::new();
        env_answer(&environ, name, &mut out);
        out
    }

    #[test]
    fn env_lines_match_by_whole_name() {
        let environ = ["PATH=/bin", "PA=x", "EMPTY=", "EQ=a=b"];
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("all, in order", None, "PATH=/bin\nPA=x\nEMPTY=\nEQ=a=b\n"),
            (
                "empty name is all",
                Some(""),
                "PATH=/bin\nPA=x\nEMPTY=\nEQ=a=b\n",
            ),
            ("exact name", Some("PA"), "PA=x\n"),
            ("not a prefix", Some("PAT"), "Variable not found\n"),
            ("empty value", Some("EMPTY"), "EMPTY=\n"),
            ("value with '='", Some("EQ"), "EQ=a=b\n"),
            ("name with '=' as HAProxy", Some("EQ=a"), "EQ=a=b\n"),
            ("unknown", Some("NOPE"), "Variable not found\n"),
        ];
        for (what, name, want) in cases {
            assert_eq!(env(&environ, *name), *want, "{what}");
        }
    }

    #[test]
    fn atoi_reads_as_cs() {
        let cases = [
            ("12", 12),
            ("12abc", 12),
            ("abc", 0),
            ("0", 0),
            ("-1", -1),
            ("+7", 7),
            ("", 0),
            ("-", 0),
        ];
        for (text, want) in cases {
            assert_eq!(atoi(text), want, "{text:?}");
        }
    }

    #[test]
    fn activity_is_haproxys_table() {
        let mut out = String::new();
        let now = Duration::new(1_796_478_011, 761_546_000);
        write_activity(2, now, &[8, 5], &[4, 1], &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "thread_id: 0 (1..2)");
        assert_eq!(lines[1], "date_now: 1796478011.761546");
        assert_eq!(lines.len(), 2 + ACTIVITY.len());
        assert!(lines.contains(&"loops: 13 [ 8 5 ]"), "{out}");
        assert!(lines.contains(&"accepted: 5 [ 4 1 ]"), "{out}");
        assert!(lines.contains(&"ctxsw: 0 [ 0 0 ]"), "{out}");
        assert_eq!(lines.last(), Some(&"fd_takeover: 0 [ 0 0 ]"));

        // One thread: the total alone, as HAProxy prints it.
        let mut one = String::new();
        write_activity(1, now, &[3], &[2], &mut one);
        assert!(one.lines().any(|l| l == "loops: 3"), "{one}");
        assert!(one.lines().any(|l| l == "accepted: 2"), "{one}");
        assert!(one.lines().any(|l| l == "avg_loop_us: 0"), "{one}");
    }

    #[test]
    fn thread_blocks_are_haproxys_shape() {
        let mut out = String::new();
        let t = ThreadView {
            tid: 0x1a2b,
            running: false,
            cpu_ns: 2_265_474,
        };
        write_thread(1, &t, &mut out);
        write_thread(10, &ThreadView { running: true, ..t }, &mut out);
        let want = "  Thread 1 : id=0x1a2b act=0 glob=0 wq=0 rq=0 tl=0 tlsz=0 rqsz=0\n\
                    \x20     1/1    stuck=0 prof=0 harmless=1 wantrdv=0\n\
                    \x20            cpu_ns: poll=2265474 now=2265474 diff=0\n\
                    \x20 Thread 10: id=0x1a2b act=1 glob=0 wq=0 rq=0 tl=0 tlsz=0 rqsz=0\n\
                    \x20     1/10   stuck=0 prof=0 harmless=0 wantrdv=0\n\
                    \x20            cpu_ns: poll=2265474 now=2265474 diff=0\n";
        assert_eq!(out, want);
    }

    #[test]
    fn stat_state_skips_odd_thread_names() {
        let cases = [
            ("1234 (worker-0) S 1 2 3", Some('S')),
            ("1234 (a) b) R 1 2 3", Some('R')),
            ("1234 (x y) D 1", Some('D')),
            ("garbage", None),
            ("", None),
        ];
        for (stat, want) in cases {
            assert_eq!(stat_state(stat), want, "{stat:?}");
        }
    }

    #[test]
    fn worker_threads_are_found_by_name() {
        // The thread names itself once it runs: wait for it to say so.
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let named = std::thread::Builder::new()
            .name(crate::control::worker_thread_name(0))
            .spawn(move || {
                let _ = ready_tx.send(());
                let _ = stop_rx.recv();
            })
            .unwrap();
        ready.recv().unwrap();
        let views = worker_threads(1);
        drop(stop);
        let _ = named.join();
        assert_ne!(views[0].tid, 0, "a thread named as worker 0 is found");
    }
}
