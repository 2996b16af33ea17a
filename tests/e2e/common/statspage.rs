//! Helpers of the stats page tests (`stats_page.rs`, `stats_metrics.rs`):
//! splicer with a TCP listen and a `mode http` stats listen, a raw HTTP
//! client, and readers of the page and of Prometheus expositions.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Backend, Splicer, config, dead_addr, scratch_dir, wait_for};

pub const LIMIT: Duration = Duration::from_secs(10);

/// splicer with `listen web` (w1 up and checked, w2 dead and checked, w3
/// a backup without check) and `listen stats` with `stats_lines`.
pub struct Lab {
    pub sp: Splicer,
    pub dir: PathBuf,
    /// w1 and w3.
    pub servers: Vec<Backend>,
}

pub fn lab_config(dir: &Path, w1: SocketAddr, w3: SocketAddr, stats_lines: &str) -> String {
    let web = format!(
        "listen web\n    bind 127.0.0.1:0\n    balance roundrobin\n    server w1 {w1} check inter 100ms\n    server w2 {} check inter 100ms\n    server w3 {w3} backup\n",
        dead_addr()
    );
    let stats = format!(
        "listen stats\n    mode http\n    bind 127.0.0.1:0\n    timeout client 5s\n{stats_lines}\n"
    );
    config(
        &format!("    stats socket {}/admin.sock level admin", dir.display()),
        "",
        &format!("{web}{stats}"),
    )
}

impl Lab {
    pub fn start(stats_lines: &str) -> Lab {
        let dir = scratch_dir("statspage");
        let (w1, w3) = (Backend::echo(), Backend::echo());
        let cfg = lab_config(&dir, w1.addr, w3.addr, stats_lines);
        let sp = Splicer::start(&cfg, &["web", "stats"]);
        let lab = Lab {
            sp,
            dir,
            servers: vec![w1, w3],
        };
        wait_for("the stats socket", LIMIT, || {
            UnixStream::connect(lab.sock()).is_ok()
        });
        lab
    }

    /// The config with other stats lines, for a reload.
    pub fn config_with(&self, stats_lines: &str) -> String {
        lab_config(
            &self.dir,
            self.servers[0].addr,
            self.servers[1].addr,
            stats_lines,
        )
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    pub fn stats(&self) -> SocketAddr {
        self.sp.addr("stats")
    }

    /// One runtime API command on the admin socket.
    pub fn ask(&self, cmd: &str) -> String {
        let mut s = UnixStream::connect(self.sock()).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    pub fn get(&self, target: &str, auth: Option<&str>) -> Reply {
        let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
        send(
            self.stats(),
            format!("GET {target} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n{auth}\r\n")
                .as_bytes(),
        )
    }

    /// Waits for the first check of server `sv` (its row leaves `INI`),
    /// so that the status column shows no rise/fall transition.
    pub fn wait_checked(&self, sv: &str) {
        wait_for(&format!("{sv}'s first check"), LIMIT, || {
            self.ask("show stat")
                .lines()
                .any(|l| l.starts_with(&format!("web,{sv},")) && !l.contains(",INI,"))
        });
    }

    pub fn wait_w2_down(&self) {
        wait_for("w2 to be DOWN", LIMIT, || {
            self.ask("show stat")
                .lines()
                .any(|l| l.starts_with("web,w2,") && l.contains(",DOWN,"))
        });
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` and reads the answer until the server closes.
pub fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    // The server may answer (400) and close before all is written.
    let _ = s.write_all(raw);
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    parse_reply(&bytes)
}

pub fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The `<tr>` of server `name` in the page (its class attribute).
pub fn row_class(html: &str, name: &str) -> String {
    html.lines()
        .find(|l| l.starts_with("<tr class=\"server") && l.contains(&format!(">{name}</td>")))
        .and_then(|l| l.split('"').nth(1))
        .unwrap_or_else(|| panic!("no row for {name} in\n{html}"))
        .to_string()
}

/// Samples of a Prometheus exposition: series (name and labels) -> value.
pub fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn metric(text: &str, series: &str) -> f64 {
    samples(text)
        .get(series)
        .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
        .parse()
        .unwrap()
}

/// `admin:secret` in base64.
pub const ADMIN_SECRET: &str = "YWRtaW46c2VjcmV0";
