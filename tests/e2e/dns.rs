//! Run-time DNS resolution: a `server-template` filled from the A records
//! of a fake name server (UDP on 127.0.0.1, written here) that the test
//! changes while the load balancer runs, without a reload. Also passes
//! against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common::api::Api;
use crate::common::{Backend, server_name, wait_for};

/// A name server that answers every A query with the addresses in
/// `records` (NOERROR, no answer for other types).
struct FakeDns {
    addr: SocketAddr,
    records: Arc<Mutex<Vec<Ipv4Addr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    fn start(records: &[Ipv4Addr]) -> FakeDns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let records = Arc::new(Mutex::new(records.to_vec()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (records.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..n], &r.lock().unwrap()) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        });
        FakeDns {
            addr,
            records,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, records: &[Ipv4Addr]) {
        *self.records.lock().unwrap() = records.to_vec();
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query: its header and question, then one A record
/// (name compressed to the question) per address when it asks for A.
fn answer(q: &[u8], records: &[Ipv4Addr]) -> Option<Vec<u8>> {
    let mut pos = 12;
    while *q.get(pos)? != 0 {
        pos += 1 + *q.get(pos)? as usize;
    }
    let qtype = u16::from_be_bytes([*q.get(pos + 1)?, *q.get(pos + 2)?]);
    let end = pos + 5;
    let mut out = q.get(..end)?.to_vec();
    out[2] = 0x81; // QR, RD
    out[3] = 0x80; // RA, NOERROR
    let ips: &[Ipv4Addr] = if qtype == 1 { records } else { &[] };
    out[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
    out[8..12].fill(0);
    for ip in ips {
        out.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// A server on `addr` that sends its name and closes.
fn named_on(addr: SocketAddr, name: &'static str) -> Backend {
    Backend::spawn_on(addr, move |mut s| {
        let _ = std::io::Write::write_all(&mut s, format!("{name}\n").as_bytes());
    })
}

/// The names of the servers that `n` connections reach.
fn reached(addr: SocketAddr, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| server_name(addr)).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn server_template_follows_a_records_at_run_time() {
    // Three web servers on three loopback addresses, one port.
    let ip = |n| Ipv4Addr::new(127, 0, 0, n);
    let b2 = named_on(SocketAddr::new(ip(2).into(), 0), "b2");
    let port = b2.addr.port();
    let b3 = named_on(SocketAddr::new(ip(3).into(), port), "b3");
    let b4 = named_on(SocketAddr::new(ip(4).into(), port), "b4");
    let dns = FakeDns::start(&[ip(2), ip(3)]);
    let rest = format!(
        "resolvers dns\n    nameserver ns1 {}\n    hold valid 100ms\n    timeout resolve 100ms\n    timeout retry 300ms\n\
         listen fe\n    bind 127.0.0.1:0\n    balance roundrobin\n\
         \x20   server-template web 3 app.test:{port} resolvers dns resolve-prefer ipv4 init-addr none\n",
        dns.addr
    );
    let api = Api::start("", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    let status = |sv: &str| api.stat("fe", sv, "status");
    let limit = Duration::from_secs(10);

    // Two records fill two slots; the third stays without an address.
    wait_for("web1 and web2 resolved", limit, || {
        status("web1") == "no check" && status("web2") == "no check"
    });
    assert_eq!(status("web3"), "MAINT (resolution)");
    let addrs: BTreeSet<String> = ["web1", "web2"]
        .iter()
        .map(|s| api.stat("fe", s, "addr"))
        .collect();
    let expected = [ip(2), ip(3)].map(|i| SocketAddr::new(i.into(), port).to_string());
    assert_eq!(addrs, expected.into_iter().collect());
    assert_eq!(reached(fe, 8), names(&["b2", "b3"]));

    // A record disappears: its server goes to maintenance, traffic stops
    // going there.
    dns.set(&[ip(2)]);
    let gone = if api.stat("fe", "web1", "addr").starts_with("127.0.0.3:") {
        "web1"
    } else {
        "web2"
    };
    wait_for("the server of 127.0.0.3 in maintenance", limit, || {
        status(gone) == "MAINT (resolution)"
    });
    assert_eq!(reached(fe, 6), names(&["b2"]));
    let b3_before = b3.accepted();

    // The remaining record changes address: its server follows.
    dns.set(&[ip(4)]);
    wait_for("traffic on 127.0.0.4", limit, || {
        reached(fe, 2) == names(&["b4"])
    });
    assert_eq!(reached(fe, 6), names(&["b4"]));
    assert_eq!(
        b3.accepted(),
        b3_before,
        "no connection to the removed record"
    );
    let up = ["web1", "web2", "web3"]
        .iter()
        .filter(|s| status(s) == "no check")
        .count();
    assert_eq!(up, 1, "one record, one server in use");
    drop(b4);
}
