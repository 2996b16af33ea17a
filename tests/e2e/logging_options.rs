//! When a session's line goes out and at which level: `option logasap`,
//! `option dontlog-normal`, `option log-separate-errors` (the syslog
//! priority `<PRI>` of the line), `log-format-sd` in RFC 5424 lines and
//! `error-log-format` for a bad PROXY header. Every expectation here was
//! checked against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).
//!
//! Each proxy starts with `no log` and has its own target, so that the
//! lines HAProxy gets in validation mode (`log global`) do not double them,
//! and one worker, so that lines come in the order sessions end: a line
//! that comes after the one a test waits for would have come before it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
/// local0 (16) * 8 + info (6), + err (3).
const INFO: &str = "<134>";
const ERR: &str = "<131>";

/// A `listen fe` with one worker, its own stdout target in `format`, and
/// `lines`.
fn start(format: &str, lines: &str, servers: &[(&str, SocketAddr, &str)]) -> Splicer {
    let own = format!("    no log\n    log stdout format {format} local0\n{lines}");
    Splicer::start(
        &config("    nbthread 1", "", &listen(&own, servers)),
        &["fe"],
    )
}

/// Sends `data`, half-closes, reads everything back; returns the client port.
fn exchange(addr: SocketAddr, data: &[u8]) -> u16 {
    let mut c = TcpStream::connect(addr).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (got, end) = read_to_end_or_err(&c, WAIT);
    end.unwrap();
    assert_eq!(got, data);
    port
}

/// Echoes a byte, then resets: the session ends `CD`; returns the port.
fn client_reset(addr: SocketAddr) -> u16 {
    let mut c = TcpStream::connect(addr).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"a").unwrap();
    c.read_exact(&mut [0u8; 1]).unwrap();
    reset(c);
    port
}

/// The tcplog line of the client on `port`.
fn line_of(sp: &Splicer, port: u16) -> String {
    sp.wait_log(&[&format!("127.0.0.1:{port} [")], WAIT)
}

/// The tcplog fields after the date: frontend, backend/server, timers,
/// bytes, state, counts, queues.
fn fields(line: &str) -> Vec<String> {
    let after = line.split_once("] ").expect("a tcplog line").1;
    after.split(' ').map(String::from).collect()
}

/// Its line goes out as soon as the server connection is up, while the
/// client still holds the session: `+` before Tt and B (not final), the
/// session counted on its backend and server; no second line at the end.
#[test]
fn logasap_logs_once_the_server_answers() {
    let srv = Backend::echo();
    let sp = start(
        "raw",
        "    option tcplog\n    option logasap",
        &[("s1", srv.addr, "")],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    let f = fields(&line_of(&sp, port));
    assert_eq!(&f[..2], ["fe", "fe/s1"], "{f:?}");
    let timers: Vec<&str> = f[2].split('/').collect();
    assert!(
        timers[1] != "-1" && timers[2].starts_with('+'),
        "Tc known, +Tt: {f:?}"
    );
    assert_eq!(&f[3..], ["+0", "--", "1/1/1/1/0", "0/0"]);

    c.write_all(b"hello").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (got, _) = read_to_end_or_err(&c, WAIT);
    assert_eq!(got, b"hello");
    let next = exchange(sp.addr("fe"), b"x");
    line_of(&sp, next);
    assert_eq!(
        sp.log_lines(&format!("127.0.0.1:{port} [")).len(),
        1,
        "one line per session:\n{}",
        sp.log_text()
    );
}

/// A session that never connects is logged at its end, its totals still
/// marked `+`.
#[test]
fn logasap_session_that_never_connects_is_logged_at_the_end() {
    let sp = start(
        "raw",
        "    option tcplog\n    option logasap\n    retries 0",
        &[("s1", dead_addr(), "")],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let _ = read_to_end_or_err(&c, WAIT);
    let f = fields(&line_of(&sp, port));
    let timers: Vec<&str> = f[2].split('/').collect();
    assert!(timers[1] == "-1" && timers[2].starts_with('+'), "{f:?}");
    assert_eq!(&f[3..5], ["+0", "SC"], "{f:?}");
}

/// A format with nothing that waits for the end (no times, bytes, counts
/// or state) is logged once connected too, without `option logasap`.
#[test]
fn format_without_end_variables_logs_once_connected() {
    let srv = Backend::echo();
    let sp = start(
        "raw",
        "    log-format \"early %ci:%cp %b/%s\"",
        &[("s1", srv.addr, "")],
    );
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    let line = sp.wait_log(&[&format!("early 127.0.0.1:{port} ")], WAIT);
    assert_eq!(line, format!("early 127.0.0.1:{port} fe/s1"));
    drop(c);
}

/// `listen fe` (one server) and `listen retry` (a dead server first: each
/// session is redispatched to the live one, `+1`), both with `lines`, their
/// own stdout target in `format`, one worker.
fn start_two(format: &str, lines: &str, live: SocketAddr) -> Splicer {
    let own = format!("    no log\n    log stdout format {format} local0\n{lines}");
    let fe = listen(&own, &[("s1", live, "")]);
    let retry = listen(
        &format!("{own}\n    balance first\n    retries 1\n    option redispatch"),
        &[("dead", dead_addr(), ""), ("s1", live, "")],
    )
    .replace("listen fe\n", "listen retry\n");
    Splicer::start(
        &config("    nbthread 1", "", &format!("{fe}{retry}")),
        &["fe", "retry"],
    )
}

/// Normal sessions leave no line; an abort does, and so does a session
/// that needed a redispatch (with `option logasap` too: a session normal
/// when it connects is judged again at its end).
#[test]
fn dontlog_normal_keeps_only_errors() {
    let srv = Backend::echo();
    for asap in ["", "    option logasap\n"] {
        let lines = format!("{asap}    option tcplog\n    option dontlog-normal");
        let sp = start_two("raw", &lines, srv.addr);
        let retried = exchange(sp.addr("retry"), b"one");
        let normal = exchange(sp.addr("fe"), b"two");
        let aborted = client_reset(sp.addr("fe"));
        let f = fields(&line_of(&sp, aborted));
        assert_eq!((&*f[1], &*f[4]), ("fe/s1", "CD"), "{asap}{f:?}");
        let f = fields(&line_of(&sp, retried));
        assert_eq!((&*f[1], &*f[4]), ("retry/s1", "--"), "{asap}{f:?}");
        assert!(f[5].ends_with("/+1"), "redispatched: {f:?}");
        assert!(
            sp.log_lines(&format!("127.0.0.1:{normal} [")).is_empty(),
            "{asap}a normal session was logged:\n{}",
            sp.log_text()
        );
    }
}

/// Errors (an abort, a redispatch) at `err`, normal sessions at `info`;
/// without the option, everything at `info`.
#[test]
fn log_separate_errors_raises_errors_to_err() {
    let srv = Backend::echo();
    for (option, error_level) in [("    option log-separate-errors\n", ERR), ("", INFO)] {
        let sp = start_two("priority", &format!("{option}    option tcplog"), srv.addr);
        let retried = exchange(sp.addr("retry"), b"one");
        let normal = exchange(sp.addr("fe"), b"two");
        let aborted = client_reset(sp.addr("fe"));
        let cases = [
            ("redispatched", retried, error_level),
            ("normal", normal, INFO),
            ("client abort", aborted, error_level),
        ];
        for (what, port, level) in cases {
            let line = line_of(&sp, port);
            assert!(line.starts_with(level), "{option}{what}: {line}");
        }
    }
}

/// `log-format-sd` fills the structured data of RFC 5424 lines (after the
/// MSGID `-`) and nothing in other formats.
#[test]
fn log_format_sd_goes_to_rfc5424_targets_only() {
    let srv = Backend::echo();
    let lines = r#"    log stdout format raw local0
    log-tag edge
    option tcplog
    log-format-sd "[exampleSDID@1234\ client=\"%ci\"\ bytes=\"%B\"\ be=\"%b\"]""#;
    let sp = start("rfc5424", lines, &[("s1", srv.addr, "")]);
    let port = exchange(sp.addr("fe"), b"hello");
    let head = format!("127.0.0.1:{port} [");
    let rfc5424 = sp.wait_log(&["<134>1 ", &head], WAIT);
    // <PRI>1 TIMESTAMP HOST TAG PID MSGID SD MSG
    let f: Vec<&str> = rfc5424.splitn(7, ' ').collect();
    assert_eq!(&f[2..6], ["-", "edge", &sp.pid().to_string(), "-"]);
    let sd = r#"[exampleSDID@1234 client="127.0.0.1" bytes="5" be="fe"] "#;
    assert!(f[6].starts_with(&format!("{sd}{head}")), "{rfc5424}");
    sp.wait_log_count(&[&head], 2, WAIT);
    let raw = sp.log_lines(&head);
    assert!(
        raw.iter().any(|l| l.starts_with(&head)),
        "the raw line has no structured data: {raw:?}"
    );
}

/// A client that sends no PROXY header: its line follows
/// `error-log-format` (no backend, no server, `PR`, at `err` with
/// `log-separate-errors`); a frontend with no format at all logs nothing
/// about it (only its `Connect from` lines).
#[test]
fn error_log_format_for_a_bad_proxy_header() {
    let srv = Backend::echo();
    let ports = [free_port(), free_port(), free_port()];
    let proxy = |name: &str, port: u16, lines: &str| {
        format!(
            "listen {name}\n    bind 127.0.0.1:{port} accept-proxy\n    no log\n    log stdout format priority local0\n{lines}\n    server s1 {}\n",
            srv.addr
        )
    };
    let fmt = "ERR %ci:%cp %f %b/%s %Tw/%Tc/%Td %U %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
    let rest = [
        proxy(
            "fe",
            ports[0],
            &format!(
                "    option tcplog\n    option log-separate-errors\n    error-log-format \"{fmt}\""
            ),
        ),
        proxy(
            "quiet",
            ports[1],
            &format!("    bind 127.0.0.1:{}", ports[2]),
        ),
    ];
    let sp = Splicer::start(&config("    nbthread 1", "", &rest.concat()), &[]);
    let junk = |port: u16| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut conn = None;
        wait_for("the proxy to listen", WAIT, || {
            conn = TcpStream::connect(addr).ok();
            conn.is_some()
        });
        let mut c = conn.unwrap();
        let local = c.local_addr().unwrap().port();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let _ = read_to_end_or_err(&c, WAIT);
        local
    };
    let port = junk(ports[0]);
    let line = sp.wait_log(&[&format!("ERR 127.0.0.1:{port} ")], WAIT);
    assert_eq!(
        line,
        format!("{ERR}ERR 127.0.0.1:{port} fe fe/<NOSRV> -1/-1/-1 0 0 PR 1/1/0/0/0 0/0")
    );

    let ignored = junk(ports[1]);
    let c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], ports[2]))).unwrap();
    let after = c.local_addr().unwrap().port();
    sp.wait_log(&[&format!("Connect from 127.0.0.1:{after} ")], WAIT);
    assert!(
        sp.log_lines(&format!("127.0.0.1:{ignored} [")).is_empty(),
        "a frontend without a format logged a connection error:\n{}",
        sp.log_text()
    );
}
