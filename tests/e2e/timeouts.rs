//! Connect and inactivity timeouts, as the client feels them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::*;

/// A listener whose accept queue is full, so SYNs to it are dropped and a
/// connect to it hangs. Keeps the sockets alive.
struct Blackhole {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
}

fn blackhole() -> Blackhole {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    // Fill the accept queue until a connect times out: then SYNs are dropped.
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let r = s.connect_timeout(&addr.into(), Duration::from_millis(200));
        fillers.push(s);
        if r.is_err() {
            return Blackhole {
                addr,
                _listener: l,
                _fillers: fillers,
            };
        }
    }
    panic!("could not fill the accept queue of {addr}");
}

/// Reads until the session ends; returns how long that took. Fails if the
/// client is left open for `limit`.
fn time_to_close(c: &TcpStream, limit: Duration) -> (Duration, std::io::Result<()>, Vec<u8>) {
    let t0 = Instant::now();
    let (data, end) = read_to_end_or_err(c, limit);
    if let Err(e) = &end {
        assert!(!is_timeout(e), "session still open after {limit:?}");
    }
    (t0.elapsed(), end, data)
}

#[test]
fn connect_timeout_closes_client() {
    let hole = blackhole();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen(
                "    timeout connect 300ms\n    retries 0",
                &[("s1", hole.addr, "")],
            ),
        ),
        &["fe"],
    );
    let t0 = Instant::now();
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let (_, _, data) = time_to_close(&c, Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(data.is_empty());
    assert!(
        took >= Duration::from_millis(250),
        "closed after {took:?}, before timeout connect"
    );
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

/// `retries 2` with a connect timeout: three attempts, each waiting it out.
#[test]
fn connect_timeout_is_per_attempt() {
    let hole = blackhole();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen(
                "    timeout connect 200ms\n    retries 2",
                &[("s1", hole.addr, "")],
            ),
        ),
        &["fe"],
    );
    let t0 = Instant::now();
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    let _ = time_to_close(&c, Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(550),
        "3 attempts of 200ms ended after {took:?}"
    );
}

fn idle_cfg(lines: &str) -> (Backend, Splicer) {
    let echo = Backend::echo();
    let sp = Splicer::start(
        &config("", "", &listen(lines, &[("s1", echo.addr, "")])),
        &["fe"],
    );
    (echo, sp)
}

#[test]
fn idle_session_closed_by_client_and_server_timeouts() {
    for lines in [
        "    timeout client 300ms\n    timeout server 300ms",
        "    timeout client 300ms",
        "    timeout server 300ms",
    ] {
        let (echo, sp) = idle_cfg(lines);
        let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        let (took, end, _) = time_to_close(&c, Duration::from_secs(5));
        assert!(
            end.is_ok(),
            "{lines:?}: a timeout should close, not reset: {end:?}"
        );
        assert!(
            took >= Duration::from_millis(250),
            "{lines:?}: closed after {took:?}"
        );
        wait_for("server side to close", Duration::from_secs(5), || {
            echo.open() == 0
        });
    }
}

/// Traffic every 100 ms keeps a session with 300 ms timeouts alive.
#[test]
fn active_session_is_not_closed() {
    let (_echo, sp) = idle_cfg("    timeout client 300ms\n    timeout server 300ms");
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..10u8 {
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(&[i; 3]).unwrap();
        let mut b = [0u8; 3];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("round {i}: {e}"));
        assert_eq!(b, [i; 3]);
    }
}

/// Traffic only one way still counts as activity on the session.
#[test]
fn one_way_traffic_keeps_session_alive() {
    let (echo, sp) = {
        let srv = Backend::spawn(|mut s| {
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        });
        let sp = Splicer::start(
            &config(
                "",
                "",
                &listen(
                    "    timeout client 300ms\n    timeout server 300ms",
                    &[("s1", srv.addr, "")],
                ),
            ),
            &["fe"],
        );
        (srv, sp)
    };
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(b"x").unwrap();
    }
    assert_eq!(
        echo.open(),
        1,
        "session closed although the client kept sending"
    );
    c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut b = [0u8; 1];
    match c.read(&mut b) {
        Err(e) if is_timeout(&e) => {}
        other => panic!("session ended: {other:?}"),
    }
}

/// `timeout tunnel` replaces client/server timeouts once connected.
#[test]
fn tunnel_timeout_replaces_idle_timeouts() {
    let (_echo, sp) =
        idle_cfg("    timeout client 200ms\n    timeout server 200ms\n    timeout tunnel 1s");
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(b"still here").unwrap();
    let mut b = [0u8; 10];
    c.read_exact(&mut b)
        .expect("session closed before timeout tunnel");
    assert_eq!(&b, b"still here");
    // And the tunnel timeout itself still closes an idle session.
    let (took, _, _) = time_to_close(&c, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
}

/// Once the client shut its side, `timeout client-fin` bounds the wait for the
/// server.
#[test]
fn client_fin_timeout_after_half_close() {
    let srv = Backend::spawn(|s| {
        // Reads the request and EOF, then never answers nor closes.
        let _ = read_to_end_or_err(&s, Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(10));
    });
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen("    timeout client-fin 300ms", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.write_all(b"req").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let (took, _, _) = time_to_close(&c, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
}
