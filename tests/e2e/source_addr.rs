//! `source ADDR` on a server line or a backend: connections to the server
//! leave from that address (bound with IP_BIND_ADDRESS_NO_PORT, so the port
//! is chosen per destination at connect time).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Backend, Splicer, server_name};

/// A server that answers with the address the connection came from.
fn peer_reporter() -> Backend {
    Backend::spawn(|mut s| {
        let peer = s.peer_addr().unwrap();
        let _ = s.write_all(format!("{}\n", peer.ip()).as_bytes());
    })
}

fn seen_source(addr: std::net::SocketAddr) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    line.trim().to_string()
}

#[test]
fn server_and_backend_source_addresses_are_used() {
    let a = peer_reporter();
    let b = peer_reporter();
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         frontend per_server\n    bind 127.0.0.1:0\n    default_backend be1\n\
         frontend per_backend\n    bind 127.0.0.1:0\n    default_backend be2\n\
         backend be1\n    server s1 {} source 127.0.0.3\n\
         backend be2\n    source 127.0.0.4\n    server s1 {}\n",
        a.addr, b.addr
    );
    let sp = Splicer::start(&cfg, &["per_server", "per_backend"]);
    for _ in 0..20 {
        assert_eq!(seen_source(sp.addr("per_server")), "127.0.0.3");
        assert_eq!(seen_source(sp.addr("per_backend")), "127.0.0.4");
    }
}

/// `source ADDR:LOW-HIGH` on a server: its connections come from ports of
/// the range (HAProxy's source port ranges, for more than 64k connections
/// per server address or firewall rules on ports).
#[test]
fn server_source_port_range() {
    let ports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ports.clone();
    let srv = Backend::spawn(move |mut s| {
        seen.lock().unwrap().push(s.peer_addr().unwrap().port());
        let _ = std::io::Write::write_all(&mut s, b"s\n");
    });
    let low = free_port_range(40);
    let high = low + 39;
    let sp = Splicer::start(
        &crate::common::config(
            "",
            "",
            &crate::common::listen(
                "",
                &[("s", srv.addr, &format!("source 127.0.0.1:{low}-{high}"))],
            ),
        ),
        &["fe"],
    );
    for _ in 0..15 {
        assert_eq!(server_name(sp.addr("fe")), "s");
    }
    let ports = ports.lock().unwrap().clone();
    assert_eq!(ports.len(), 15);
    assert!(
        ports.iter().all(|p| (low..=high).contains(p)),
        "{ports:?} outside {low}-{high}"
    );
}

/// The first of `n` consecutive ports that are free on 127.0.0.1 now.
fn free_port_range(n: u16) -> u16 {
    (20000..60000)
        .step_by(usize::from(n))
        .find(|&base| {
            (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .expect("a free port range")
}
