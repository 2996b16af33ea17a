//! Half-close: a FIN from one side is forwarded only after its data, and the
//! other direction keeps flowing until it is shut too.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
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
