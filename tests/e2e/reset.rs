//! A reset on one side becomes a reset on the other: an aborted transfer must
//! never look complete to the peer.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// The server sends part of a response, then resets: the client's read ends
/// in ConnectionReset after the partial data, not in a clean EOF.
#[test]
fn server_reset_reaches_client() {
    let srv = Backend::spawn(|mut s| {
        let mut b = [0u8; 5];
        let _ = s.read_exact(&mut b);
        s.write_all(b"partial").unwrap();
        // Let splicer forward the bytes before the reset.
        std::thread::sleep(Duration::from_millis(100));
        reset(s);
    });
    let sp = Splicer::start(
        &config("", "", &listen("", &[("s1", srv.addr, "")])),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.write_all(b"hello").unwrap();
    let (data, end) = read_to_end_or_err(&c, Duration::from_secs(10));
    assert!(data.is_empty() || data == b"partial", "got {data:?}");
    match end {
        Ok(()) => panic!("server reset looked like a clean EOF to the client (after {data:?})"),
        Err(e) => assert!(is_reset(&e), "expected a reset, got {e}"),
    }
}

/// The client resets mid-upload: the server sees an error, not a clean EOF.
#[test]
fn client_reset_reaches_server() {
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<()>)>();
    let tx = std::sync::Mutex::new(tx);
    let srv = Backend::spawn(move |s| {
        let r = read_to_end_or_err(&s, Duration::from_secs(10));
        tx.lock().unwrap().send((r.0.len(), r.1)).unwrap();
    });
    let sp = Splicer::start(
        &config("", "", &listen("", &[("s1", srv.addr, "")])),
        &["fe"],
    );
    let mut c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.write_all(&[7u8; 10_000]).unwrap();
    wait_for("server connection", Duration::from_secs(5), || {
        srv.accepted() == 1
    });
    std::thread::sleep(Duration::from_millis(100)); // let the bytes reach the server
    reset(c);
    let (n, end) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server read never ended");
    match end {
        Ok(()) => panic!("client reset looked like a clean EOF to the server (after {n} bytes)"),
        Err(e) => assert!(is_reset(&e), "expected a reset, got {e}"),
    }
}

/// A 64 MiB download cut by a server reset half-way must not look complete,
/// in every forwarding mode.
#[test]
fn large_transfer_cut_by_server_reset() {
    const TOTAL: usize = 64 * 1024 * 1024;
    for mode in [
        "",
        "    option splice-response",
        "    no option splice-auto",
    ] {
        let srv = Backend::spawn(|mut s| {
            write_stream(&mut s, 3, TOTAL / 2).unwrap();
            reset(s);
        });
        let sp = Splicer::start(
            &config("", "", &listen(mode, &[("s1", srv.addr, "")])),
            &["fe"],
        );
        let c = TcpStream::connect(sp.addr("fe")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut check = StreamCheck::new(3);
        let mut buf = vec![0u8; 64 * 1024];
        let end = loop {
            match (&c).read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => check.check(&buf[..n]),
                Err(e) => break Some(e),
            }
        };
        match end {
            None => panic!(
                "mode {mode:?}: cut transfer ended in a clean EOF after {} bytes",
                check.seen
            ),
            Some(e) => assert!(is_reset(&e), "mode {mode:?}: expected a reset, got {e}"),
        }
        assert!(check.seen <= TOTAL / 2);
    }
}
