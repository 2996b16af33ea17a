//! Persistence shared through peers: a splicer node and an HAProxy 2.6
//! node stick sources to servers in one table (`peers p`); an entry one
//! stores reaches the other with its `server_id` and `server_key` (a
//! dictionary entry on the wire), and the other sends the source to the
//! same server. With `SPLICER_TEST_BIN=haproxy` both nodes are HAProxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::probe::{Answer, probe};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

struct Node {
    proc: Splicer,
    sock: PathBuf,
}

impl Node {
    /// `show table be`'s line for `key`, without its address and expiry.
    fn entry(&self, key: &str) -> Option<String> {
        tables::entry(&ask(&self.sock, "show table be"), key)
    }

    fn server_of(&self, src: IpAddr) -> String {
        match probe(src, self.proc.addr("f"), b"", WAIT) {
            Answer::Served(s) => s,
            other => panic!("{src}: {other:?}"),
        }
    }
}

/// Node `name` of `peers p` on `ports`, balancing over `servers`.
fn node(haproxy_node: bool, name: &str, ports: (u16, u16), servers: &[SocketAddr]) -> Node {
    let dir = scratch_dir("stick-peers");
    let lines: String = servers
        .iter()
        .enumerate()
        .map(|(i, a)| format!("    server s{} {a}\n", i + 1))
        .collect();
    let cfg = format!(
        "global\n    stats socket {d}/admin.sock level admin\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\
         peers p\n    peer a 127.0.0.1:{pa}\n    peer b 127.0.0.1:{pb}\n\
         frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
         backend be\n    balance roundrobin\n    \
         stick-table type ip size 1k expire 60s peers p\n    stick on src\n{lines}",
        d = dir.display(),
        pa = ports.0,
        pb = ports.1,
    );
    let proc = if haproxy_node {
        haproxy::start(&cfg, &["f"], &["-L", name])
    } else {
        Splicer::start_with(&cfg, &["f"], &["-L", name])
    };
    let sock = dir.join("admin.sock");
    wait_for("the stats socket", WAIT, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let port = if name == "a" { ports.0 } else { ports.1 };
    wait_for("the peers listener", WAIT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Node { proc, sock }
}

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[test]
fn a_stuck_source_keeps_its_server_on_the_other_node() {
    let servers: Vec<Backend> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| Backend::named(n))
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let ports = (free_port(), free_port());
    let a = node(false, "a", ports, &addrs);
    let b = node(true, "b", ports, &addrs);
    // Each node stores a source; the other learns it and follows it.
    for (src, first, second) in [(5, &a, &b), (6, &b, &a)] {
        let got = first.server_of(lo(src));
        let want = format!(
            "key=127.0.0.{src} use=0 server_id={} server_key={got}",
            &got[1..]
        );
        let key = format!("127.0.0.{src}");
        wait_for("the entry on the other node", WAIT, || {
            second.entry(&key).as_deref() == Some(want.as_str())
        });
        for _ in 0..3 {
            assert_eq!(second.server_of(lo(src)), got, "127.0.0.{src}");
        }
        assert_eq!(
            first.entry(&key).as_deref(),
            Some(want.as_str()),
            "{}",
            first.proc.log_text()
        );
    }
}
