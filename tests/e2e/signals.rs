//! Stopping: SIGUSR1 (soft stop: no new clients, sessions finish),
//! `hard-stop-after`, SIGTERM (now).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::*;

fn echo_once(c: &mut TcpStream, msg: &[u8]) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(msg).unwrap();
    let mut b = vec![0u8; msg.len()];
    c.read_exact(&mut b).expect("session stopped working");
    assert_eq!(b, msg);
}

fn start(global: &str) -> (Backend, Splicer) {
    let echo = Backend::echo();
    let sp = Splicer::start(
        &config(global, "", &listen("", &[("s1", echo.addr, "")])),
        &["fe"],
    );
    (echo, sp)
}

#[test]
fn soft_stop_lets_sessions_finish() {
    let (echo, mut sp) = start("");
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    echo_once(&mut c, b"before");
    sp.signal("USR1");
    wait_for(
        "new connections to be refused",
        Duration::from_secs(5),
        || TcpStream::connect(fe).is_err(),
    );
    // The open session goes on, and keeps the process alive.
    for i in 0..5u8 {
        echo_once(&mut c, &[b'a' + i; 100]);
    }
    assert!(
        sp.is_running(),
        "exited with a session open:\n{}",
        sp.log_text()
    );
    // Connections that raced the signal may have been served; none after.
    for _ in 0..5 {
        assert!(
            TcpStream::connect(fe).is_err(),
            "a connection was accepted after the soft stop"
        );
    }
    wait_for("raced connections to end", Duration::from_secs(5), || {
        echo.open() == 1
    });
    drop(c);
    let st = sp.wait_exit(Duration::from_secs(5));
    assert!(st.success(), "exit status {st}");
}

#[test]
fn soft_stop_without_sessions_exits_at_once() {
    let (_echo, mut sp) = start("");
    let t0 = Instant::now();
    sp.signal("USR1");
    let st = sp.wait_exit(Duration::from_secs(3));
    assert!(st.success(), "exit status {st}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn hard_stop_after_caps_soft_stop() {
    let (_echo, mut sp) = start("    hard-stop-after 500ms");
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    echo_once(&mut c, b"hi");
    let t0 = Instant::now();
    sp.signal("USR1");
    sp.wait_exit(Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "exited after {took:?}, before hard-stop-after"
    );
    // The cut session ends for the client too.
    let (_, end) = read_to_end_or_err(&c, Duration::from_secs(5));
    if let Err(e) = end {
        assert!(!is_timeout(&e), "client left open after exit");
    }
}

#[test]
fn sigterm_stops_now() {
    let (_echo, mut sp) = start("");
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    echo_once(&mut c, b"hi");
    let t0 = Instant::now();
    sp.signal("TERM");
    sp.wait_exit(Duration::from_secs(2));
    assert!(t0.elapsed() < Duration::from_secs(2));
    let (_, end) = read_to_end_or_err(&c, Duration::from_secs(5));
    if let Err(e) = end {
        assert!(!is_timeout(&e), "client left open after exit");
    }
}

#[test]
fn sigttou_pauses_listeners_and_sigttin_resumes_them() {
    let (_echo, sp) = start("");
    let fe = sp.addr("fe");
    let mut c = TcpStream::connect(fe).unwrap();
    echo_once(&mut c, b"before");
    sp.signal("TTOU");
    wait_for(
        "new connections to be refused",
        Duration::from_secs(5),
        || TcpStream::connect(fe).is_err(),
    );
    // The open session is not touched by the pause.
    echo_once(&mut c, b"during the pause");
    sp.signal("TTIN");
    wait_for(
        "connections to be accepted again",
        Duration::from_secs(5),
        || {
            TcpStream::connect(fe).is_ok_and(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut b = [0u8; 2];
                c.write_all(b"ok").is_ok() && c.read_exact(&mut b).is_ok() && &b == b"ok"
            })
        },
    );
    echo_once(&mut c, b"after");
}

/// Under systemd (`Type=notify`), splicer says READY once it listens.
#[test]
fn tells_systemd_when_ready() {
    let dir = scratch_dir("notify");
    let path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let echo = Backend::echo();
    let sp = Splicer::start_wrapped(
        &config("", "", &listen("", &[("s1", echo.addr, "")])),
        &["fe"],
        &format!("export NOTIFY_SOCKET='{}'", path.display()),
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("no notification within 10 s");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert_eq!(msg, format!("READY=1\nMAINPID={}", sp.pid()));
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    echo_once(&mut c, b"ready means ready");
    let _ = std::fs::remove_dir_all(dir);
}
