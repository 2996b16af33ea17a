//! `show sess`, `shutdown session` and `shutdown sessions server`: the
//! workers send views of their sessions (or close them), and the answers
//! are written in HAProxy 2.6's layout, with the fields splicer has.
//!
//! A session is named by a process-unique id printed in hex (`0x...`), as
//! HAProxy prints its stream pointers: scripts that take the first word of
//! a `show sess` line and pass it to `shutdown session` work unchanged.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::base::clock;
use crate::control::AdminOp;
use crate::control::{DirectionView, SessionView};

use super::cli::{Command, Ctx, cmd};
use super::commands::find_server;
use super::workers::ask_all;
use crate::config::Level;

/// `show sess`, `shutdown session` and `shutdown sessions server`.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "sess"],
        Level::Operator,
        "show sess [id]",
        "report the list of current sessions or dump this exact session",
        show_sess,
    ),
    cmd(
        &["shutdown", "session"],
        Level::Admin,
        "shutdown session [id]",
        "kill a specific session",
        shutdown_session,
    ),
    cmd(
        &["shutdown", "sessions", "server"],
        Level::Admin,
        "shutdown sessions server <bk>/<srv>",
        "kill sessions on a server",
        shutdown_server_sessions,
    ),
];

/// HAProxy's short durations: `42s`, `3m07s`, `2h05m`, `1d04h`, `120d`.
pub(super) fn human_time(d: Duration) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let t = d.as_secs();
    if t >= 100 * DAY {
        format!("{}d", t / DAY)
    } else if t >= DAY {
        format!("{}d{:02}h", t / DAY, t % DAY / HOUR)
    } else if t >= HOUR {
        format!("{}h{:02}m", t / HOUR, t % HOUR / MIN)
    } else if t >= MIN {
        format!("{}m{:02}s", t / MIN, t % MIN)
    } else {
        format!("{t}s")
    }
}

/// A session id as typed: hex with or without `0x`, as HAProxy reads a
/// pointer (`strtoul(.., 0)`: `0x` hex, a leading `0` octal, else decimal).
/// `None` for 0 or garbage.
fn parse_id(text: &str) -> Option<u64> {
    let n = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    };
    n.filter(|&n| n != 0)
}

/// `show sess [ID|all]`.
pub(super) fn show_sess(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let arg = args.get(2).map(String::as_str).unwrap_or("");
    let (id, detail) = match arg {
        "all" => (None, true),
        // As HAProxy: what does not read as a number lists them all.
        a => match parse_id(a) {
            Some(id) => (Some(id), true),
            None => (None, false),
        },
    };
    let answers = ask_all(ctx.workers, |reply| AdminOp::ShowSessions {
        id,
        detail,
        reply,
    });
    let mut views: Vec<SessionView> = answers.got.into_iter().flatten().collect();
    views.sort_by_key(|v| v.id);
    if id.is_some() && views.is_empty() {
        out.push_str("Session not found.\n");
        return;
    }
    for v in &views {
        if detail {
            write_detail(v, out);
        } else {
            write_line(v, out);
        }
    }
}

fn proto(v: &SessionView) -> &'static str {
    if v.local.is_ipv4() { "tcpv4" } else { "tcpv6" }
}

fn expires(v: &SessionView) -> String {
    v.expires.map(human_time).unwrap_or_default()
}

/// One line per session, HAProxy's short form: its leading fields as
/// HAProxy prints them (a proxy-less side is `<NONE>`, a server-less one
/// `<none>`), then splicer's own (`exp`, `rc`, phase and bytes).
fn write_line(v: &SessionView, out: &mut String) {
    let _ = writeln!(
        out,
        "{:#x}: proto={} src={} fe={} be={} srv={} ts=00 epoch=0 age={} exp={} rc={} phase={} \
         rq[total={},pipe={}] rp[total={},pipe={}]",
        v.id,
        proto(v),
        v.client,
        v.frontend.name,
        v.backend.as_ref().map_or("<NONE>", |b| b.name.as_str()),
        v.server.as_ref().map_or("<none>", |(s, _)| s.name.as_str()),
        human_time(v.age),
        expires(v),
        v.retries,
        v.phase,
        v.request.total,
        v.request.pending,
        v.response.total,
        v.response.pending,
    );
}

/// `show sess ID` / `show sess all`: HAProxy's multi-line dump, with the
/// lines that mean something in splicer.
fn write_detail(v: &SessionView, out: &mut String) {
    let _ = write!(out, "{:#x}: [", v.id);
    accept_date_us(v.accepted, out);
    let _ = writeln!(out, "] id={} proto={} source={}", v.id, proto(v), v.client);
    let _ = writeln!(
        out,
        "  conn_retries={} redispatched={} phase={}",
        v.retries,
        u8::from(v.redispatched),
        v.phase
    );
    let _ = writeln!(
        out,
        "  frontend={} (id={} mode=tcp) addr={}",
        v.frontend.name, v.frontend.id, v.local
    );
    match &v.backend {
        Some(b) => {
            let _ = write!(out, "  backend={} (id={} mode=tcp)", b.name, b.id);
            if let Some(src) = v.source {
                let _ = write!(out, " addr={src}");
            }
            out.push('\n');
        }
        None => out.push_str("  backend=<NONE> (id=-1 mode=-)\n"),
    }
    match &v.server {
        Some((s, addr)) => {
            let _ = writeln!(out, "  server={} (id={}) addr={addr}", s.name, s.id);
        }
        None => out.push_str("  server=<NONE> (id=-1)\n"),
    }
    let _ = writeln!(out, "  task=(age={} exp={})", human_time(v.age), {
        let e = expires(v);
        if e.is_empty() { "<NEVER>".into() } else { e }
    });
    direction("req", &v.request, out);
    direction("res", &v.response, out);
}

fn direction(name: &str, d: &DirectionView, out: &mut String) {
    let _ = writeln!(
        out,
        "  {name}=(total={} pending={} splice={} {})",
        d.total,
        d.pending,
        u8::from(d.splicing),
        d.half
    );
}

/// `21/Nov/2026:12:24:11.591351`, local time, as HAProxy dates a stream.
fn accept_date_us(t: SystemTime, out: &mut String) {
    clock::accept_date(t, out);
    let micros = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    let _ = write!(out, "{:03}", micros % 1000);
}

/// `shutdown session ID`: closes it, wherever it runs; HAProxy's answers.
pub(super) fn shutdown_session(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(id) = args.get(2).and_then(|a| parse_id(a)) else {
        return out.push_str("Session pointer expected (use 'show sess').\n");
    };
    let answers = ask_all(ctx.workers, |reply| AdminOp::ShutdownSession { id, reply });
    if !answers.got.iter().any(|found| *found) {
        out.push_str("No such session (use 'show sess').\n");
    }
}

/// `shutdown sessions server B/S`: closes every session on that server.
pub(super) fn shutdown_server_sessions(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let (b, s) = match find_server(ctx.rt, args.get(3)) {
        Ok(found) => found,
        Err(e) => return out.push_str(e),
    };
    let answers = ask_all(ctx.workers, |reply| AdminOp::ShutdownServer {
        backend: b.id,
        server: crate::base::ids::ServerId::new(s),
        reply,
    });
    let n: usize = answers.got.iter().sum();
    log::info!(
        "{n} sessions on server {}/{} killed (runtime API)",
        b.config.name,
        b.servers[s].name
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_haproxys() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (187, "3m07s"),
            (3600, "1h00m"),
            (7500, "2h05m"),
            (86_400 + 4 * 3600, "1d04h"),
            (120 * 86_400, "120d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_time(Duration::from_secs(*secs)), *want, "{secs}");
        }
    }

    #[test]
    fn ids_read_as_haproxy_reads_a_pointer() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0x10000000001", Some(0x100_0000_0001)),
            ("0X1f", Some(31)),
            ("42", Some(42)),
            ("010", Some(8)),
            ("0", None),
            ("0x", None),
            ("zz", None),
            ("", None),
            ("-1", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_id(text), *want, "{text:?}");
        }
    }
}
