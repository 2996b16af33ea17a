//! `option tcplog` lines split into fields, for tests that check what a
//! session's log line says (termination state, backend/server, bytes).

use std::net::SocketAddr;
use std::time::Duration;

use super::{Api, stat_field};

const STDOUT_LOG: &str = "    log stdout format raw local0";
const TCPLOG: &str = "    log global\n    option tcplog";

/// A proxy with the admin sockets and tcplog lines on stdout.
pub fn start(rest: &str, frontends: &[&str]) -> Api {
    Api::start_with(STDOUT_LOG, TCPLOG, rest, frontends)
}

/// Waits until `show stat` says `want` for every `(px, sv, field)`.
pub fn wait_stats(api: &Api, want: &[(&str, &str, &str, u64)]) {
    let mut last = Vec::new();
    let ok = (0..400).any(|_| {
        let csv = api.ask("show stat");
        last = want
            .iter()
            .map(|(px, sv, f, _)| stat_field(&csv, px, sv, f))
            .collect();
        let done = want
            .iter()
            .zip(&last)
            .all(|((.., w), got)| got == &w.to_string());
        if !done {
            std::thread::sleep(Duration::from_millis(25));
        }
        done
    });
    assert!(ok, "show stat: wanted {want:?}, got {last:?}");
}

/// One tcplog line:
/// `CLIENT [DATE] FRONTEND BACKEND/SERVER Tw/Tc/Tt BYTES TERM ac/fc/bc/sc/rc sq/bq`.
#[derive(Debug)]
pub struct Tcplog {
    pub client: SocketAddr,
    pub frontend: String,
    pub backend: String,
    pub server: String,
    /// Tw, Tc, Tt
    pub timers: [i64; 3],
    pub bytes: u64,
    pub term: String,
    /// ac, fc, bc, sc, retries
    pub conns: Vec<String>,
    pub queues: String,
}

impl Tcplog {
    /// Splits `line`; panics (with the line) if it is not a tcplog line.
    pub fn parse(line: &str) -> Tcplog {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 9, "not a tcplog line: {line}");
        assert!(
            f[1].starts_with('[') && f[1].ends_with(']'),
            "date field {} in {line}",
            f[1]
        );
        let (backend, server) = f[3]
            .split_once('/')
            .unwrap_or_else(|| panic!("backend/server in {line}"));
        let t: Vec<i64> = f[4]
            .split('/')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("timers in {line}")))
            .collect();
        assert_eq!(t.len(), 3, "timers in {line}");
        Tcplog {
            client: f[0].parse().unwrap_or_else(|_| panic!("client in {line}")),
            frontend: f[2].into(),
            backend: backend.into(),
            server: server.into(),
            timers: [t[0], t[1], t[2]],
            bytes: f[5].parse().unwrap_or_else(|_| panic!("bytes in {line}")),
            term: f[6].into(),
            conns: f[7].split('/').map(String::from).collect(),
            queues: f[8].into(),
        }
    }
}
