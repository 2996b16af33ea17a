//! A [`Flow`] between real loopback sockets: what reaches the far side,
//! and the socket options the flow sets on the way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::*;
use crate::base::slot::Gauge;

/// A connected pair: the proxy's end (non-blocking, for the flow) and
/// the peer's (blocking, for the test).
fn pair() -> (TcpStream, StdStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = StdStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (TcpStream::from_std(ours), peer)
}

/// Pumps `flow` from `src` to `dst` until `want` bytes went through (the
/// sockets' readiness is taken as set: the flow stops at EAGAIN).
fn pump_until(flow: &mut Flow, src: &TcpStream, dst: &TcpStream, want: u64) {
    let mut pipes = PipePool::new(Arc::new(Gauge::default()), 4, 0);
    let mut scratch = vec![0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(5);
    while flow.bytes < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} bytes went through",
            flow.bytes
        );
        let (mut rs, mut rd) = (Ready::connected(), Ready::connected());
        rs.readable = true;
        let src = End {
            sock: src,
            ready: &mut rs,
            tls: None,
        };
        let dst = End {
            sock: dst,
            ready: &mut rd,
            tls: None,
        };
        let mut shared = Shared {
            pipes: &mut pipes,
            scratch: &mut scratch,
        };
        flow.pump(src, dst, &mut shared).expect("pump");
    }
    flow.release(&mut pipes);
}

fn nodelay(s: &TcpStream) -> bool {
    socket2::SockRef::from(s).tcp_nodelay().unwrap()
}

#[test]
fn nodelay_is_set_before_the_second_write_and_only_then() {
    for mode in [SpliceMode::Never, SpliceMode::Always] {
        let (client_side, mut client) = pair();
        let (server_side, mut server) = pair();
        socket2::SockRef::from(&server_side)
            .set_tcp_nodelay(false)
            .unwrap();
        let mut flow = Flow::new(mode);
        flow.nodelay = NoDelay::BeforeSecondWrite;
        let mut got = [0u8; 5];

        client.write_all(b"first").unwrap();
        pump_until(&mut flow, &client_side, &server_side, 5);
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"first", "{mode:?}");
        assert!(
            !nodelay(&server_side),
            "{mode:?}: one write needs no TCP_NODELAY"
        );

        client.write_all(b"again").unwrap();
        pump_until(&mut flow, &client_side, &server_side, 10);
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"again", "{mode:?}");
        assert!(
            nodelay(&server_side),
            "{mode:?}: the second write goes with TCP_NODELAY"
        );
    }
}

#[test]
fn a_flow_made_with_nodelay_set_leaves_the_socket_alone() {
    let (client_side, mut client) = pair();
    let (server_side, mut server) = pair();
    socket2::SockRef::from(&server_side)
        .set_tcp_nodelay(false)
        .unwrap();
    let mut flow = Flow::new(SpliceMode::Never);
    let mut got = [0u8; 2];
    for (i, chunk) in [b"ab", b"cd"].into_iter().enumerate() {
        client.write_all(chunk).unwrap();
        pump_until(&mut flow, &client_side, &server_side, 2 * (i as u64 + 1));
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, chunk);
    }
    // Set at connect (or inherited): the flow makes no call of its own.
    assert!(!nodelay(&server_side));
}

/// The early path: what is read ahead (more than a pipe holds, so the
/// read stops at a full pipe) and written by `write_held` leaves the flow
/// able to read on; the whole stream arrives.
#[test]
fn read_ahead_then_write_held_then_pump_moves_everything() {
    const TOTAL: usize = 1 << 20;
    for mode in [SpliceMode::Never, SpliceMode::Always] {
        let (client_side, mut client) = pair();
        let (server_side, mut server) = pair();
        let sent: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            std::thread::spawn(move || client.write_all(&sent).unwrap())
        };
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; TOTAL];
            server.read_exact(&mut got).map(|()| got)
        });
        let mut pipes = PipePool::new(Arc::new(Gauge::default()), 4, 0);
        let mut scratch = vec![0u8; 16384];
        let mut flow = Flow::new(mode);
        let mut rs = Ready::connected();
        // Wait for a pipe's worth to be there, so the read ahead fills it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while client_side.peek(&mut [0u8; 65536]).map_or(0, |n| n) < 65536 {
            assert!(Instant::now() < deadline, "the client's bytes never came");
        }
        rs.readable = true;
        let src = End {
            sock: &client_side,
            ready: &mut rs,
            tls: None,
        };
        let mut shared = Shared {
            pipes: &mut pipes,
            scratch: &mut scratch,
        };
        let held = flow.read_ahead(src, &mut shared).expect("read ahead");
        assert!(held > 0, "{mode:?}: nothing read ahead");
        let mut rd = Ready::connected();
        let dst = End {
            sock: &server_side,
            ready: &mut rd,
            tls: None,
        };
        let n = flow.write_held(dst).expect("write held");
        assert!(n > 0, "{mode:?}");
        pump_until(&mut flow, &client_side, &server_side, TOTAL as u64);
        writer.join().unwrap();
        let got = reader.join().unwrap().expect("the whole stream");
        assert!(got == sent, "{mode:?}: the stream differs");
    }
}
