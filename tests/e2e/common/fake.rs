//! Scripted servers for the health-check tests, on 127.0.0.1:0, whose
//! health a test switches at will without closing their port:
//! - `FakeWeb`: a tiny HTTP/1.0 server that says its name, answers
//!   `/health` with a settable status, and keeps `/hold` sessions open as an
//!   echo (to see whether a session survives a state change);
//! - `FakeRedis`: enough of Redis for checks (`PING`, `INFO replication`,
//!   `QUIT`) with a settable role;
//! - `FakeAgent`: an agent-check server answering a settable line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Backend, is_timeout};

/// Reads a request head (up to the blank line); `None` on EOF or garbage.
fn read_head(s: &TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() > 8192 || (&*s).read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// `listen web` with HTTP checks on `/health` and one line per server.
pub fn web(lines: &str, servers: &[(&FakeWeb, &str)]) -> String {
    let mut s =
        format!("listen web\n    bind 127.0.0.1:0\n    option httpchk GET /health\n{lines}\n");
    for (w, params) in servers {
        s.push_str(&format!("    server {} {} {params}\n", w.name, w.addr()));
    }
    s
}

/// Starts splicer on a `web(...)` section with the common defaults.
pub fn start_web(cfg: &str) -> super::Splicer {
    super::Splicer::start(&super::config("", "", cfg), &["web"])
}

pub struct FakeWeb {
    pub name: &'static str,
    pub server: Backend,
    health: Arc<AtomicU16>,
    checks: Arc<AtomicUsize>,
}

impl FakeWeb {
    pub fn start(name: &'static str) -> FakeWeb {
        let health = Arc::new(AtomicU16::new(200));
        let checks = Arc::new(AtomicUsize::new(0));
        let (h, c) = (health.clone(), checks.clone());
        let server = Backend::spawn(move |mut s| {
            let Some(head) = read_head(&s) else { return };
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            if path.starts_with("/health") {
                c.fetch_add(1, Ordering::SeqCst);
                let status = h.load(Ordering::SeqCst);
                let body = if status == 200 { "healthy\n" } else { "sick\n" };
                let _ = write!(
                    s,
                    "HTTP/1.0 {status} {}\r\nContent-Length: {}\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                return;
            }
            if write!(s, "HTTP/1.0 200 OK\r\n\r\n{name}\n").is_err() {
                return;
            }
            if path == "/hold" {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            }
        });
        FakeWeb {
            name,
            server,
            health,
            checks,
        }
    }

    /// How many `/health` requests it has answered.
    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    /// Waits until it has answered `n` more health checks.
    pub fn wait_checks(&self, n: usize) {
        let start = self.checks();
        super::wait_for(
            &format!("{n} more checks of {}", self.name),
            Duration::from_secs(10),
            || self.checks() >= start + n,
        );
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The status `/health` answers from now on.
    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }

    pub fn sick(&self) {
        self.set_health(503);
    }

    pub fn heal(&self) {
        self.set_health(200);
    }
}

/// A client session held open on a `FakeWeb` (`GET /hold`).
pub struct Held {
    pub name: String,
    pub stream: TcpStream,
}

impl Held {
    /// Opens a session through `addr` and learns which server took it.
    pub fn open(addr: SocketAddr) -> std::io::Result<Held> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"GET /hold HTTP/1.0\r\n\r\n")?;
        let mut r = BufReader::new(s.try_clone()?);
        let mut line = String::new();
        // Status line, blank line, then the name.
        for _ in 0..3 {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(Held {
            name: line.trim().to_string(),
            stream: s,
        })
    }

    /// True when the session still carries bytes both ways.
    pub fn alive(&self) -> bool {
        let mut s = &self.stream;
        if s.write_all(b"ping\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).is_ok() && &buf == b"ping\n"
    }

    /// True when the proxy closes the session within `limit` (EOF or
    /// reset); false if it stays open that long.
    pub fn closed_within(&self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut s = &self.stream;
        let mut buf = [0u8; 64];
        while Instant::now() < end {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisRole {
    Master,
    Replica,
    /// Still loading its data: every command gets `-LOADING`.
    Loading,
}

pub struct FakeRedis {
    pub server: Backend,
    role: Arc<Mutex<RedisRole>>,
}

/// Reads one command, inline (`PING\r\n`) or as a RESP array; its words.
fn read_command(r: &mut impl BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let Some(n) = line.strip_prefix('*') else {
        return Some(line.split_whitespace().map(String::from).collect());
    };
    let n: usize = n.trim().parse().ok()?;
    let mut words = Vec::new();
    for _ in 0..n.min(64) {
        line.clear();
        r.read_line(&mut line).ok()?; // $len
        line.clear();
        r.read_line(&mut line).ok()?;
        words.push(line.trim_end().to_string());
    }
    Some(words)
}

impl FakeRedis {
    pub fn start(role: RedisRole) -> FakeRedis {
        let role = Arc::new(Mutex::new(role));
        let r = role.clone();
        let server = Backend::spawn(move |mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let mut input = BufReader::new(s.try_clone().unwrap());
            while let Some(words) = read_command(&mut input) {
                let role = *r.lock().unwrap();
                let cmd = words.first().map(|w| w.to_ascii_uppercase());
                let reply = match (cmd.as_deref(), role) {
                    (Some("QUIT"), _) => {
                        let _ = s.write_all(b"+OK\r\n");
                        return;
                    }
                    (_, RedisRole::Loading) => {
                        "-LOADING Redis is loading the dataset in memory\r\n".to_string()
                    }
                    (Some("PING"), _) => "+PONG\r\n".to_string(),
                    (Some("INFO"), _) => {
                        let body = if role == RedisRole::Master {
                            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                        } else {
                            "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n"
                        };
                        format!("${}\r\n{body}\r\n", body.len())
                    }
                    (None, _) => continue,
                    _ => "-ERR unknown command\r\n".to_string(),
                };
                if s.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        });
        FakeRedis { server, role }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn set_role(&self, role: RedisRole) {
        *self.role.lock().unwrap() = role;
    }
}

/// Asks `INFO replication` through `addr`; the `role:` the server reported.
pub fn redis_role(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"INFO replication\r\nQUIT\r\n")?;
    let mut all = String::new();
    s.read_to_string(&mut all)?;
    all.lines()
        .find_map(|l| l.strip_prefix("role:"))
        .map(|r| r.trim().to_string())
        .ok_or_else(|| std::io::Error::other(format!("no role in {all:?}")))
}

pub struct FakeAgent {
    pub server: Backend,
    reply: Arc<Mutex<String>>,
}

impl FakeAgent {
    /// An agent answering `line` (a newline is added) to every check.
    pub fn start(line: &str) -> FakeAgent {
        let reply = Arc::new(Mutex::new(line.to_string()));
        let r = reply.clone();
        let server = Backend::spawn(move |mut s| {
            let line = r.lock().unwrap().clone();
            let _ = s.write_all(format!("{line}\n").as_bytes());
        });
        FakeAgent { server, reply }
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// What the agent answers from now on.
    pub fn set(&self, line: &str) {
        *self.reply.lock().unwrap() = line.to_string();
    }
}
