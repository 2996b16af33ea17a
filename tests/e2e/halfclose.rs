//! Half-close: a FIN from one side is forwarded only after its data, and the
//! other direction keeps flowing until it is shut too.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;

const MODES: [&str; 3] = [
    "",
    "    option splice-request\n    option splice-response",
    "    no option splice-auto",
];

/// The client sends a request and shuts its write side; the server reads to
/// EOF, then answers with a large response. The client gets all of it, then EOF.
#[test]
fn client_fin_then_server_response() {
    for mode in MODES {
        let srv = Backend::spawn(|mut s| {
            let mut req = Vec::new();
            s.read_to_end(&mut req).unwrap();
            assert_eq!(req, b"request after which I shut my write side");
            write_stream(&mut s, 5, 8 * 1024 * 1024).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        });
        let sp = Splicer::start(
            &config("", "", &listen(mode, &[("s1", srv.addr, "")])),
            &["fe"],
        );
        let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
        c.write_all(b"request after which I shut my write side")
            .unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let (data, end) = read_to_end_or_err(&c, Duration::from_secs(20));
        end.unwrap_or_else(|e| panic!("mode {mode:?}: response ended with {e}"));
        let mut check = StreamCheck::new(5);
        check.check(&data);
        assert_eq!(data.len(), 8 * 1024 * 1024, "mode {mode:?}");
    }
}

/// The server shuts its write side first (after a greeting); the client keeps
/// sending 8 MiB and the server receives all of it, then the client's FIN.
#[test]
fn server_fin_then_client_keeps_sending() {
    for mode in MODES {
        let (tx, rx) = mpsc::channel::<usize>();
        let tx = std::sync::Mutex::new(tx);
        let srv = Backend::spawn(move |mut s| {
            s.write_all(b"bye").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut check = StreamCheck::new(9);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                check.check(&buf[..n]);
            }
            tx.lock().unwrap().send(check.seen).unwrap();
        });
        let sp = Splicer::start(
            &config("", "", &listen(mode, &[("s1", srv.addr, "")])),
            &["fe"],
        );
        let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
        // The server's FIN arrives first: the client sees "bye" then EOF...
        let (data, end) = read_to_end_or_err(&c, Duration::from_secs(10));
        end.unwrap_or_else(|e| panic!("mode {mode:?}: greeting ended with {e}"));
        assert_eq!(data, b"bye");
        // ...and can still send everything the other way.
        write_stream(&mut c, 9, 8 * 1024 * 1024).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server never saw the client's FIN");
        assert_eq!(got, 8 * 1024 * 1024, "mode {mode:?}");
    }
}

/// A half-closed session with data still in flight: a slow server reader must
/// not cause the FIN to overtake the data (haproxy#3457).
#[test]
fn fin_waits_for_slow_reader() {
    let (tx, rx) = mpsc::channel::<usize>();
    let tx = std::sync::Mutex::new(tx);
    let srv = Backend::spawn(move |mut s| {
        // Let the client's data and FIN pile up in splicer first.
        std::thread::sleep(Duration::from_millis(300));
        let mut check = StreamCheck::new(11);
        let mut buf = vec![0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            check.check(&buf[..n]);
        }
        tx.lock().unwrap().send(check.seen).unwrap();
    });
    let sp = Splicer::start(
        &config(
            "",
            "",
            &listen("    option splice-request", &[("s1", srv.addr, "")]),
        ),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    write_stream(&mut c, 11, 4 * 1024 * 1024).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server never saw EOF");
    assert_eq!(got, 4 * 1024 * 1024);
}

/// Whether a socket on this host is in SYN_SENT towards `to` (from
/// /proc/net/tcp: the proxy's connect waits for an answer).
fn connecting_to(to: SocketAddr) -> bool {
    let port = format!(":{:04X}", to.port());
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((*f.get(2)?, *f.get(3)?))
        })
        .any(|(rem, st)| rem.ends_with(&port) && st == "02")
}

/// The client sends its request and its FIN (or its FIN alone) while the
/// connection to the server is not up yet (the server's accept queue is
/// full, so its SYN is dropped and sent again a second later). Once it is
/// up, the server gets the request, then the end of it, and its answer
/// reaches the client: the early bytes wait for the handshake, and the
/// FIN waits for them (a shutdown of a socket still connecting would
/// abort the connection).
#[test]
fn request_and_fin_sent_before_the_server_is_up_arrive_in_order() {
    use socket2::{Domain, Socket, Type};
    let modes = MODES
        .iter()
        .map(|m| (*m, &b"sent before the server was up"[..]));
    for (mode, request) in modes.chain([("", &b""[..])]) {
        let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        l.listen(0).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        // Fills the accept queue of length 0 (Linux takes one more).
        let filler = TcpStream::connect(addr).unwrap();
        let sp = Splicer::start(
            &config(
                "",
                "    timeout connect 10s",
                &listen(mode, &[("s1", addr, "")]),
            ),
            &["fe"],
        );
        let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
        c.write_all(request).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        wait_for("the proxy's SYN", Duration::from_secs(5), || {
            connecting_to(addr)
        });
        drop(l.accept().unwrap());
        drop(filler);
        // The SYN sent again finds room.
        l.set_nonblocking(true).unwrap();
        let mut accepted = None;
        wait_for("the proxy's connection", Duration::from_secs(10), || {
            accepted = l.accept().ok();
            accepted.is_some()
        });
        let mut s: TcpStream = accepted.unwrap().0.into();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req)
            .unwrap_or_else(|e| panic!("mode {mode:?}: request ended with {e}"));
        assert_eq!(req, request, "mode {mode:?}");
        s.write_all(b"answer").unwrap();
        drop(s);
        let (data, end) = read_to_end_or_err(&c, Duration::from_secs(10));
        end.unwrap_or_else(|e| panic!("mode {mode:?}: answer ended with {e}"));
        assert_eq!(data, b"answer", "mode {mode:?}");
    }
}
