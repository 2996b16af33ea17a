//! Run-time DNS resolution: a `server-template` filled from the A records
//! or the SRV records of a fake name server (UDP on 127.0.0.1, written
//! here) that the test changes while the load balancer runs, without a
//! reload; and `set server B/S addr` moving traffic. Also passes against
//! HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common::api::Api;
use crate::common::{Backend, server_name, wait_for};

/// One SRV record: target, port, weight, and the target's address (given
/// in the additional section).
type Srv = (&'static str, u16, u16, Ipv4Addr);

/// What the fake name server answers.
#[derive(Default)]
struct Zone {
    /// Every A query's answer, whatever the name.
    a: Vec<Ipv4Addr>,
    /// Every SRV query's answer.
    srv: Vec<Srv>,
}

/// A name server that answers every A query with the addresses in
/// `a`, every SRV query with `srv` (NOERROR, no answer for other types).
struct FakeDns {
    addr: SocketAddr,
    records: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    fn start(records: &[Ipv4Addr]) -> FakeDns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let records = Arc::new(Mutex::new(Zone {
            a: records.to_vec(),
            srv: Vec::new(),
        }));
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
        self.records.lock().unwrap().a = records.to_vec();
    }

    fn set_srv(&self, records: &[Srv]) {
        self.records.lock().unwrap().srv = records.to_vec();
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

/// A name in wire form, uncompressed.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The reply to one query: its header and question, then one A record
/// (name compressed to the question) per address when it asks for A, or
/// the SRV records with their targets' A records as additional records.
fn answer(q: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    let mut pos = 12;
    while *q.get(pos)? != 0 {
        pos += 1 + *q.get(pos)? as usize;
    }
    let qtype = u16::from_be_bytes([*q.get(pos + 1)?, *q.get(pos + 2)?]);
    let end = pos + 5;
    let mut out = q.get(..end)?.to_vec();
    out[2] = 0x81; // QR, RD
    out[3] = 0x80; // RA, NOERROR
    out[6..12].fill(0);
    const TTL_CLASS_IN: [u8; 6] = [0, 1, 0, 0, 0, 1];
    match qtype {
        1 => {
            out[6..8].copy_from_slice(&(zone.a.len() as u16).to_be_bytes());
            for ip in &zone.a {
                out.extend_from_slice(&[0xC0, 0x0C, 0, 1]);
                out.extend_from_slice(&TTL_CLASS_IN);
                out.extend_from_slice(&[0, 4]);
                out.extend_from_slice(&ip.octets());
            }
        }
        33 => {
            let n = (zone.srv.len() as u16).to_be_bytes();
            out[6..8].copy_from_slice(&n);
            out[10..12].copy_from_slice(&n);
            for (target, port, weight, _) in &zone.srv {
                let target = wire_name(target);
                out.extend_from_slice(&[0xC0, 0x0C, 0, 33]);
                out.extend_from_slice(&TTL_CLASS_IN);
                out.extend_from_slice(&(6 + target.len() as u16).to_be_bytes());
                out.extend_from_slice(&[0, 10]);
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(&target);
            }
            for (target, _, _, ip) in &zone.srv {
                out.extend_from_slice(&wire_name(target));
                out.extend_from_slice(&[0, 1]);
                out.extend_from_slice(&TTL_CLASS_IN);
                out.extend_from_slice(&[0, 4]);
                out.extend_from_slice(&ip.octets());
            }
        }
        _ => {}
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
    // The runtime API renames a server's host; `show servers state`
    // shows the name as given.
    let by = " by 'stats socket command'\n\n";
    assert_eq!(state_of(&api, "web3").1, "app.test");
    assert_eq!(
        api.ask("set server fe/web3 fqdn Other.test"),
        format!("fe/web3 changed its FQDN from app.test to Other.test{by}")
    );
    assert_eq!(
        api.ask("set server fe/web3 fqdn Other.test"),
        format!("no need to change the FDQN{by}")
    );
    assert_eq!(
        api.ask("set server fe/web3 fqdn bad!name"),
        format!("invalid fqdn 'bad!name'{by}")
    );
    assert_eq!(state_of(&api, "web3").1, "Other.test");
    drop(b4);
}

/// `show servers state` columns of server `sv`: (srv_addr, srv_fqdn,
/// srv_port, srvrecord).
fn state_of(api: &Api, sv: &str) -> (String, String, String, String) {
    let out = api.ask("show servers state fe");
    let line = out
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(sv))
        .unwrap_or_else(|| panic!("no {sv} in\n{out}"));
    let f: Vec<&str> = line.split(' ').collect();
    (f[4].into(), f[17].into(), f[18].into(), f[19].into())
}

#[test]
fn server_template_follows_srv_records_at_run_time() {
    // Three servers, each on its own loopback address and port.
    let ip = |n| Ipv4Addr::new(127, 0, 0, n);
    let b2 = named_on(SocketAddr::new(ip(2).into(), 0), "b2");
    let b3 = named_on(SocketAddr::new(ip(3).into(), 0), "b3");
    let b4 = named_on(SocketAddr::new(ip(4).into(), 0), "b4");
    let (p2, p3, p4) = (b2.addr.port(), b3.addr.port(), b4.addr.port());
    let dns = FakeDns::start(&[]);
    // SRV weights 256 and 512 are server weights 1 and 2.
    dns.set_srv(&[("b2.test", p2, 256, ip(2)), ("b3.test", p3, 512, ip(3))]);
    let label = "_app._tcp.app.test";
    let rest = format!(
        "resolvers dns\n    nameserver ns1 {}\n    hold valid 100ms\n    timeout resolve 100ms\n    timeout retry 300ms\n\
         listen fe\n    bind 127.0.0.1:0\n    balance roundrobin\n\
         \x20   server-template srv 3 {label} resolvers dns resolve-prefer ipv4 init-addr none\n",
        dns.addr
    );
    let api = Api::start("", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    let status = |sv: &str| api.stat("fe", sv, "status");
    let limit = Duration::from_secs(10);

    wait_for("srv1 and srv2 filled", limit, || {
        status("srv1") == "no check" && status("srv2") == "no check"
    });
    assert_eq!(status("srv3"), "MAINT (resolution)");
    // Each slot takes its record's target, port and weight.
    let mut slots: Vec<(String, String, String)> = ["srv1", "srv2"]
        .iter()
        .map(|s| {
            let (_, fqdn, port, record) = state_of(&api, s);
            assert_eq!(record, label);
            let weight = api.stat("fe", s, "weight");
            (fqdn, port, weight)
        })
        .collect();
    slots.sort();
    assert_eq!(
        slots,
        [
            ("b2.test".into(), p2.to_string(), "1".into()),
            ("b3.test".into(), p3.to_string(), "2".into())
        ]
    );
    let (_, fqdn, _, record) = state_of(&api, "srv3");
    assert_eq!((fqdn.as_str(), record.as_str()), ("-", label));
    assert_eq!(reached(fe, 9), names(&["b2", "b3"]));
    // A SRV slot's host name is not the runtime API's to change.
    assert_eq!(
        api.ask("set server fe/srv1 fqdn other.test"),
        "set server <b>/<s> fqdn failed because SRV resolution is configured.\n\n"
    );

    // b3's record goes, b4's comes: b4 takes the free slot (srv3) and
    // b3's slot goes to maintenance, without a reload.
    let gone = if state_of(&api, "srv1").1 == "b3.test" {
        "srv1"
    } else {
        "srv2"
    };
    dns.set_srv(&[("b2.test", p2, 256, ip(2)), ("b4.test", p4, 256, ip(4))]);
    wait_for("b4's record in srv3", limit, || {
        status("srv3") == "no check"
    });
    assert_eq!(status(gone), "MAINT (resolution)");
    assert_eq!(state_of(&api, "srv3").1, "b4.test");
    assert_eq!(state_of(&api, gone).1, "-");
    let b3_before = b3.accepted();
    assert_eq!(reached(fe, 8), names(&["b2", "b4"]));
    assert_eq!(
        b3.accepted(),
        b3_before,
        "no connection to the removed record"
    );
}

#[test]
fn set_server_addr_moves_traffic() {
    let ip = |n| Ipv4Addr::new(127, 0, 0, n);
    let b2 = named_on(SocketAddr::new(ip(2).into(), 0), "b2");
    let b3 = named_on(SocketAddr::new(ip(3).into(), 0), "b3");
    let (p2, p3) = (b2.addr.port(), b3.addr.port());
    let rest = format!("listen fe\n    bind 127.0.0.1:0\n    server s1 127.0.0.2:{p2}\n");
    let api = Api::start("", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    assert_eq!(reached(fe, 3), names(&["b2"]));
    let by = " by 'stats socket command'\n\n";
    // (request, answer without the updater)
    let cases = [
        (
            "set server fe/s1 addr 127.0.0.2",
            "no need to change the addr".to_string(),
        ),
        ("set server fe/s1 addr bogus", "Invalid addr 'bogus'".into()),
        (
            "set server fe/s1 addr 127.0.0.2 port x",
            "no need to change the addr, problem converting port 'x' to an int".into(),
        ),
    ];
    for (request, want) in &cases {
        assert_eq!(api.ask(request), format!("{want}{by}"), "{request}");
    }
    assert_eq!(
        api.ask("set server fe/s1 addr"),
        "set server <b>/<s> addr requires an address and optionally a port.\n\n"
    );
    assert_eq!(
        api.ask("set server fe/s1 fqdn app.test"),
        "set server <b>/<s> fqdn failed because no resolution is configured.\n\n"
    );
    assert_eq!(
        api.ask(&format!("set server fe/s1 addr 127.0.0.3 port {p3}")),
        format!(
            "IP changed from '127.0.0.2' to '127.0.0.3', port changed from '{p2}' to '{p3}'{by}"
        )
    );
    let (addr, fqdn, port, record) = state_of(&api, "s1");
    assert_eq!(
        (addr.as_str(), fqdn.as_str(), port, record.as_str()),
        ("127.0.0.3", "-", p3.to_string(), "-")
    );
    let b2_before = b2.accepted();
    assert_eq!(reached(fe, 4), names(&["b3"]));
    assert_eq!(b2.accepted(), b2_before, "the old address gets nothing");
}
