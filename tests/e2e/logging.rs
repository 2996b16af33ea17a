//! Connection logs with the real binary: the tcplog line of a session and
//! its termination state, `dontlognull`, `log-format`, HAProxy's default
//! `Connect from` line, a UDP syslog receiver, and log targets that are
//! missing or full while traffic goes on. Every expectation here was
//! checked against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`), except where a
//! test says otherwise.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
const STDOUT_LOG: &str = "    log stdout format raw local0";

/// One `option tcplog` line, split into its fields.
#[derive(Debug)]
struct Tcplog {
    client: SocketAddr,
    frontend: String,
    backend: String,
    server: String,
    /// Tw, Tc, Tt
    timers: [i64; 3],
    bytes: u64,
    term: String,
    /// ac, fc, bc, sc
    conns: [u64; 4],
    retries: String,
    /// sq, bq
    queues: [u64; 2],
}

fn parse_tcplog(line: &str) -> Tcplog {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 9, "not a tcplog line: {line}");
    assert!(
        f[1].starts_with('[') && f[1].ends_with(']') && f[1].len() == 26,
        "date field {} in {line}",
        f[1]
    );
    let nums = |s: &str| -> Vec<i64> { s.split('/').map(|n| n.parse().unwrap()).collect() };
    let (backend, server) = f[3].split_once('/').unwrap();
    let t = nums(f[4]);
    let c: Vec<&str> = f[7].split('/').collect();
    let q = nums(f[8]);
    Tcplog {
        client: f[0].parse().unwrap(),
        frontend: f[2].into(),
        backend: backend.into(),
        server: server.into(),
        timers: [t[0], t[1], t[2]],
        bytes: f[5].parse().unwrap(),
        term: f[6].into(),
        conns: [0, 1, 2, 3].map(|i| c[i].parse().unwrap()),
        retries: c[4].into(),
        queues: [q[0] as u64, q[1] as u64],
    }
}

/// The tcplog line of the session whose client port is `port`.
fn session_line(sp: &Splicer, port: u16) -> Tcplog {
    parse_tcplog(&sp.wait_log(&[&format!("127.0.0.1:{port} [")], WAIT))
}

/// Sends `data`, half-closes, reads everything back.
fn exchange(addr: SocketAddr, data: &[u8]) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (got, end) = read_to_end_or_err(&c, WAIT);
    end.unwrap();
    (port, got)
}

fn tcplog_config(global: &str, lines: &str, servers: &[(&str, SocketAddr, &str)]) -> String {
    config(
        &format!("{STDOUT_LOG}\n{global}"),
        "    log global",
        &listen(&format!("    option tcplog\n{lines}"), servers),
    )
}

#[test]
fn tcplog_line_of_a_normal_session() {
    let srv = Backend::echo();
    let sp = Splicer::start(&tcplog_config("", "", &[("s1", srv.addr, "")]), &["fe"]);
    let (port, got) = exchange(sp.addr("fe"), &[b'x'; 1234]);
    assert_eq!(got.len(), 1234);
    let l = session_line(&sp, port);
    assert_eq!(l.client, SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!((&*l.frontend, &*l.backend, &*l.server), ("fe", "fe", "s1"));
    // HAProxy 2.6 prints Tw one higher in TCP mode (1 when nothing
    // queued); splicer prints the time spent queued.
    assert!(l.timers.iter().all(|t| *t >= 0), "{l:?}");
    assert!(l.timers[2] < 5000, "{l:?}");
    assert_eq!(l.bytes, 1234);
    assert_eq!(l.term, "--");
    assert_eq!(
        l.conns,
        [1, 1, 0, 0],
        "the session counts itself in ac and fc only"
    );
    assert_eq!(l.retries, "0");
    assert_eq!(l.queues, [0, 0]);
}

#[test]
fn client_reset_during_data_is_cd() {
    let srv = Backend::echo();
    let sp = Splicer::start(&tcplog_config("", "", &[("s1", srv.addr, "")]), &["fe"]);
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let mut buf = [0u8; 3];
    c.read_exact(&mut buf).unwrap();
    reset(c);
    let l = session_line(&sp, port);
    assert_eq!(l.term, "CD", "{l:?}");
    assert_eq!((l.bytes, &*l.server), (3, "s1"));
}

#[test]
fn server_reset_during_data_is_sd() {
    let srv = Backend::spawn(|mut s| {
        let mut b = [0u8; 3];
        let _ = s.read_exact(&mut b);
        reset(s);
    });
    let sp = Splicer::start(&tcplog_config("", "", &[("s1", srv.addr, "")]), &["fe"]);
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let _ = read_to_end_or_err(&c, WAIT);
    let l = session_line(&sp, port);
    assert_eq!((&*l.term, l.bytes), ("SD", 0), "{l:?}");
}

#[test]
fn refused_server_is_sc_with_retries() {
    let dead = dead_addr();
    let sp = Splicer::start(
        &tcplog_config("", "    retries 2", &[("s1", dead, "")]),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let _ = read_to_end_or_err(&c, WAIT);
    let l = session_line(&sp, port);
    assert_eq!(
        (&*l.term, &*l.server, &*l.retries),
        ("SC", "s1", "2"),
        "{l:?}"
    );
    assert_eq!(l.timers[1], -1, "never connected: Tc is -1");
    assert!(l.timers[0] >= 0);
}

#[test]
fn no_usable_server_is_sc_nosrv() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &tcplog_config("", "", &[("s1", srv.addr, "disabled")]),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let _ = read_to_end_or_err(&c, WAIT);
    let l = session_line(&sp, port);
    assert_eq!((&*l.term, &*l.server), ("SC", "<NOSRV>"), "{l:?}");
    assert_eq!(&l.timers[..2], &[-1, -1]);
}

/// One worker, so one queue: the second client waits for the first.
#[test]
fn queued_session_reports_its_wait_and_position() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &tcplog_config("    nbthread 1", "", &[("s1", srv.addr, "maxconn 1")]),
        &["fe"],
    );
    let mut first = TcpStream::connect(sp.addr("fe")).unwrap();
    first.write_all(b"a").unwrap();
    first.read_exact(&mut [0u8; 1]).unwrap();
    let mut second = TcpStream::connect(sp.addr("fe")).unwrap();
    let port2 = second.local_addr().unwrap().port();
    second.write_all(b"b").unwrap();
    let held = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    first.shutdown(Shutdown::Write).unwrap();
    let _ = read_to_end_or_err(&first, WAIT);
    second.read_exact(&mut [0u8; 1]).unwrap();
    let waited = held.elapsed().as_millis() as i64;
    second.shutdown(Shutdown::Write).unwrap();
    let _ = read_to_end_or_err(&second, WAIT);
    let l = session_line(&sp, port2);
    assert_eq!(l.term, "--");
    assert_eq!(l.queues, [0, 1], "first in the backend queue: {l:?}");
    assert!(
        l.timers[0] >= 250 && l.timers[0] <= waited + 50,
        "Tw {} for a wait of about {waited} ms",
        l.timers[0]
    );
}

#[test]
fn dontlognull_skips_sessions_without_client_data() {
    let srv = Backend::echo();
    for (dontlognull, logged) in [(false, true), (true, false)] {
        let lines = if dontlognull {
            "    option dontlognull"
        } else {
            ""
        };
        let sp = Splicer::start(
            &tcplog_config("    nbthread 1", lines, &[("s1", srv.addr, "")]),
            &["fe"],
        );
        let (null_port, _) = exchange(sp.addr("fe"), b"");
        let (data_port, _) = exchange(sp.addr("fe"), b"hello");
        // One worker logs in order: once the second line is there, the
        // first one would be too.
        session_line(&sp, data_port);
        let null = sp.log_lines(&format!("127.0.0.1:{null_port} ["));
        assert_eq!(
            !null.is_empty(),
            logged,
            "dontlognull={dontlognull}: {null:?}"
        );
    }
}

#[test]
fn log_format_renders_the_common_variables() {
    let srv = Backend::echo();
    let fmt = r#"    log-format "%ci:%cp>%fi:%fp %f %b/%s %si:%sp %ts %U/%B %ac/%fc/%bc/%sc/%rc %{+Q}ft end""#;
    let sp = Splicer::start(
        &config(
            STDOUT_LOG,
            "    log global",
            &listen(fmt, &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    let (port, _) = exchange(fe, b"12345");
    let line = sp.wait_log(&[&format!("127.0.0.1:{port}>")], WAIT);
    let expected = format!(
        "127.0.0.1:{port}>{fe} fe fe/s1 {} -- 5/5 1/1/0/0/0 \"fe\" end",
        srv.addr
    );
    assert_eq!(line, expected);
}

#[test]
fn default_format_logs_connect_from_at_start() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config(
            STDOUT_LOG,
            "    log global",
            &listen("", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    // The line comes while the session is still open.
    let c = TcpStream::connect(fe).unwrap();
    let port = c.local_addr().unwrap().port();
    let line = sp.wait_log(&["Connect from"], WAIT);
    assert_eq!(
        line,
        format!("Connect from 127.0.0.1:{port} to {fe} (fe/TCP)")
    );
}

#[test]
fn udp_syslog_gets_rfc3164_with_priority() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(WAIT)).unwrap();
    let target = rx.local_addr().unwrap();
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config(
            &format!("    log {target} format rfc3164 local3\n    log-tag edge"),
            "    log global",
            &listen("    option tcplog", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let (port, _) = exchange(sp.addr("fe"), b"hi");
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + WAIT;
    let msg = loop {
        let n = rx.recv(&mut buf).expect("a syslog datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(&format!("127.0.0.1:{port} [")) {
            break msg;
        }
        assert!(Instant::now() < deadline, "no datagram for the session");
    };
    // local3 (19) * 8 + info (6)
    let (head, line) = msg.split_once(": ").unwrap();
    assert!(head.starts_with("<158>"), "{msg}");
    let head: Vec<&str> = head[5..].split_whitespace().collect();
    assert_eq!(head.len(), 5, "Mmm dd hh:mm:ss host tag[pid]: {msg}");
    assert_eq!(
        head[3], "localhost",
        "HAProxy's host without log-send-hostname"
    );
    assert_eq!(head[4], format!("edge[{}]", sp.pid()));
    assert!(line.ends_with(" -- 1/1/0/0/0 0/0\n"), "{msg}");
    assert_eq!(parse_tcplog(line.trim_end()).bytes, 2);
}

/// Traffic goes on when the log targets do not: a unix socket path that
/// does not exist, and one whose reader never reads (its queue fills).
#[test]
fn missing_or_full_log_targets_never_stop_traffic() {
    let dir = scratch_dir("logsock");
    let full = dir.join("full.sock");
    let _reader = UnixDatagram::bind(&full).unwrap();
    let missing = dir.join("nowhere/log.sock");
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config(
            &format!(
                "    log {} local0\n    log {} local0",
                missing.display(),
                full.display()
            ),
            "    log global",
            &listen("    option tcplog", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    for i in 0..500 {
        let (_, got) = exchange(fe, format!("session {i}").as_bytes());
        assert_eq!(got, format!("session {i}").as_bytes());
    }
    if !haproxy::enabled() {
        // Splicer says so on its own log (HAProxy counts them silently).
        sp.wait_log(&["log target", "lines lost so far"], WAIT);
    }
}

/// Stdout to a pipe nobody reads: the logger blocks on it, workers do not.
#[test]
fn unread_stdout_never_stops_traffic() {
    if haproxy::enabled() {
        return; // needs splicer's own listening lines on stderr
    }
    let srv = Backend::echo();
    let dir = scratch_dir("stdout");
    let path = dir.join("splicer.cfg");
    let fmt = format!(
        "    log-format \"{}\"",
        "%ci:%cp %t %ft %b/%s %Tw/%Tc/%Tt".repeat(8)
    );
    std::fs::write(
        &path,
        config(
            STDOUT_LOG,
            "    log global",
            &listen(&fmt, &[("s1", srv.addr, "")]),
        ),
    )
    .unwrap();
    let mut child = ChildGuard::spawn(
        "splicer",
        Command::new(splicer_bin())
            .arg("-f")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let fe = listening_addr(&mut child);
    // ~800 bytes a line: the pipe (64 KiB) is full after ~80 sessions.
    for i in 0..1000 {
        let (_, got) = exchange(fe, format!("s{i}").as_bytes());
        assert_eq!(got, format!("s{i}").as_bytes());
    }
    assert!(child.exited().is_none(), "splicer died");
}

/// Reads splicer's stderr until it says where frontend `fe` listens.
fn listening_addr(child: &mut ChildGuard) -> SocketAddr {
    use std::io::BufRead;
    let stderr = child.child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("splicer's stderr").unwrap();
        if let Some(a) = line.split("frontend fe listening on ").nth(1) {
            break a.trim().parse().unwrap();
        }
    };
    // Keep draining stderr so that warnings never block splicer.
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

/// A client and a server that both stay silent: the client's timeout
/// strikes first on a tie, and a shorter server timeout is the server's.
#[test]
fn idle_timeouts_are_cd_or_sd() {
    let srv = Backend::spawn(|s| {
        let _ = read_to_end_or_err(&s, WAIT);
    });
    for (timeouts, expected) in [
        ("    timeout client 300ms\n    timeout server 300ms", "cD"),
        ("    timeout client 5s\n    timeout server 300ms", "sD"),
        ("    timeout tunnel 300ms", "cD"),
    ] {
        let sp = Splicer::start(
            &tcplog_config("", timeouts, &[("s1", srv.addr, "")]),
            &["fe"],
        );
        let c = TcpStream::connect(sp.addr("fe")).unwrap();
        let port = c.local_addr().unwrap().port();
        let l = session_line(&sp, port);
        assert_eq!(l.term, expected, "{timeouts}: {l:?}");
        assert!(l.timers[2] >= 250, "{l:?}");
    }
}

/// The only slot is taken: the second client expires in the queue.
#[test]
fn queue_timeout_is_sq_nosrv() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &tcplog_config(
            "    nbthread 1",
            "    timeout queue 300ms",
            &[("s1", srv.addr, "maxconn 1")],
        ),
        &["fe"],
    );
    let mut first = TcpStream::connect(sp.addr("fe")).unwrap();
    first.write_all(b"a").unwrap();
    first.read_exact(&mut [0u8; 1]).unwrap();
    let second = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = second.local_addr().unwrap().port();
    let l = session_line(&sp, port);
    assert_eq!((&*l.term, &*l.server), ("sQ", "<NOSRV>"), "{l:?}");
    assert!(l.timers[0] >= 250 && l.timers[1] == -1, "{l:?}");
    assert_eq!(l.queues, [0, 1]);
    assert_eq!(l.conns[2], 1, "the first session is still on the backend");
}

/// A server whose accept queue is full never answers the SYN: a connect
/// timeout (`sC`); a client that resets meanwhile is `CD`, as HAProxy 2.6
/// logs it (not the documentation's `CC`).
#[test]
fn connect_timeout_is_sc_and_client_abort_while_connecting_is_cd() {
    let (blackhole, _fillers) = unanswered_server();
    let sp = Splicer::start(
        &tcplog_config(
            "",
            "    retries 0\n    timeout connect 300ms",
            &[("s1", blackhole, "")],
        ),
        &["fe"],
    );
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    let l = session_line(&sp, port);
    assert_eq!(
        (&*l.term, &*l.server, l.timers[1]),
        ("sC", "s1", -1),
        "{l:?}"
    );

    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    std::thread::sleep(Duration::from_millis(50));
    reset(c);
    let l = session_line(&sp, port);
    // CD, not sC: the client's reset ended it, not the connect timeout.
    assert_eq!((&*l.term, l.timers[1]), ("CD", -1), "{l:?}");
}

/// A client that sends no PROXY header: HAProxy's connection error line.
#[test]
fn bad_proxy_header_logs_a_connection_error() {
    let srv = Backend::echo();
    // Fixed ports: splicer names a bind by the address it was given.
    let ports = [free_port(), free_port()];
    let binds = format!(
        "listen fe\n    bind 127.0.0.1:{} accept-proxy\n    bind 127.0.0.1:{} accept-proxy name second\n",
        ports[0], ports[1]
    );
    let sp = Splicer::start(
        &config(
            STDOUT_LOG,
            "    log global",
            &listen("    option tcplog", &[("s1", srv.addr, "")])
                .replace("listen fe\n    bind 127.0.0.1:0\n", &binds),
        ),
        &[],
    );
    // The bind's name, else its number (HAProxy's listener name).
    for (port, bind) in ports.into_iter().zip(["fe/1", "fe/second"]) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut conn = None;
        wait_for("the proxy to listen", WAIT, || {
            conn = TcpStream::connect(addr).ok();
            conn.is_some()
        });
        let mut c = conn.unwrap();
        let port = c.local_addr().unwrap().port();
        c.write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
            .unwrap();
        let _ = read_to_end_or_err(&c, WAIT);
        let line = sp.wait_log(&[&format!("127.0.0.1:{port} [")], WAIT);
        let tail = line.split_once("] ").unwrap().1;
        assert_eq!(
            tail,
            format!("{bind}: Received something which does not look like a PROXY protocol header")
        );
    }
}

/// `hard-stop-after` cuts what is left: `K-` (a kill while forwarding).
#[test]
fn hard_stop_logs_killed_sessions() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &tcplog_config("    hard-stop-after 200ms", "", &[("s1", srv.addr, "")]),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"a").unwrap();
    c.read_exact(&mut [0u8; 1]).unwrap();
    sp.signal("USR1");
    let l = session_line(&sp, port);
    assert_eq!((&*l.term, l.bytes), ("K-", 1), "{l:?}");
}

/// `on-marked-down shutdown-sessions` cuts the session: `D-`.
#[test]
fn sessions_cut_by_a_server_going_down_are_d() {
    let srv = Backend::echo();
    let sp = Splicer::start(
        &tcplog_config(
            "",
            "",
            &[(
                "s1",
                srv.addr,
                "check inter 100ms fall 1 on-marked-down shutdown-sessions",
            )],
        ),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"a").unwrap();
    c.read_exact(&mut [0u8; 1]).unwrap();
    // Stops listening; the session's connection stays up.
    drop(srv);
    let l = session_line(&sp, port);
    assert_eq!((&*l.term, &*l.server, l.bytes), ("D-", "s1", 1), "{l:?}");
}

/// `/dev/log`-style targets: a unix datagram socket, here in RFC 5424.
#[test]
fn unix_datagram_target_gets_rfc5424() {
    let dir = scratch_dir("devlog");
    let path = dir.join("log.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(WAIT)).unwrap();
    let srv = Backend::echo();
    let sp = Splicer::start(
        &config(
            &format!(
                "    log {} format rfc5424 local0\n    log-tag edge\n    log-send-hostname lb1",
                path.display()
            ),
            "    log global",
            &listen("    option tcplog", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let (port, _) = exchange(sp.addr("fe"), b"hi");
    let mut buf = [0u8; 2048];
    let msg = loop {
        let n = rx.recv(&mut buf).expect("a datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(&format!("127.0.0.1:{port} [")) {
            break msg;
        }
    };
    // <local0 * 8 + info>1 TIMESTAMP HOST TAG PID - - MSG
    let f: Vec<&str> = msg.splitn(8, ' ').collect();
    assert_eq!(f[0], "<134>1", "{msg}");
    assert!(f[1].len() == 32 && f[1].contains('T'), "timestamp {}", f[1]);
    assert_eq!(&f[2..7], ["lb1", "edge", &sp.pid().to_string(), "-", "-"]);
    assert!(f[7].ends_with(" -- 1/1/0/0/0 0/0\n"), "{msg}");
}

/// `%U` counts what the client sent even when no server took it (and so
/// `dontlognull` keeps this line), as HAProxy does.
#[test]
fn uploaded_bytes_count_before_any_server() {
    // A server that never answers: the bytes are surely there before the
    // connect timeout ends the session.
    let (blackhole, _fillers) = unanswered_server();
    let sp = Splicer::start(
        &config(
            STDOUT_LOG,
            "    log global",
            &listen(
                "    log-format \"%cp %U %B %ts\"\n    option dontlognull\n    retries 0\n    timeout connect 300ms",
                &[("s1", blackhole, "")],
            ),
        ),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    let port = c.local_addr().unwrap().port();
    c.write_all(b"abc").unwrap();
    let _ = read_to_end_or_err(&c, WAIT);
    assert_eq!(
        sp.wait_log(&[&format!("{port} ")], WAIT),
        format!("{port} 3 0 sC")
    );
}
