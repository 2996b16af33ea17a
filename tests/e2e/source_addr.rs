//! `source ADDR` on a server line or a backend: connections to the server
//! leave from that address (bound with IP_BIND_ADDRESS_NO_PORT, so the port
//! is chosen per destination at connect time).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Backend, Splicer};

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
