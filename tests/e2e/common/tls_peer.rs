//! External TLS peers for the TLS tests, so that what splicer speaks is
//! judged by OpenSSL and not by itself: `tls_peer.py` (Python's `ssl`) as
//! a client that reports the handshake and checks an echo, or as a server
//! that reports each connection's SNI, ALPN, client certificate and
//! session reuse; and `openssl s_client`, whose printout shows the
//! certificate a server chose.
//!
//! Every process runs under a deadline and is killed on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{ChildGuard, find_tool, wait_for};

/// How long one client run may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(30);

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/common/tls_peer.py")
}

fn python() -> PathBuf {
    find_tool("python3").expect("python3 (certs::require checks it)")
}

/// One line of `tls_peer.py`: `key=value` fields.
#[derive(Clone)]
pub struct Fields {
    map: BTreeMap<String, String>,
    pub line: String,
}

impl Fields {
    pub fn parse(line: &str) -> Fields {
        let map = line
            .split('\t')
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Fields {
            map,
            line: line.to_string(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The client's handshake (and data exchange, if any) succeeded.
    pub fn ok(&self) -> bool {
        self.get("ok") == Some("true")
    }

    /// Panics with the whole line unless the connection worked.
    pub fn expect_ok(&self, what: &str) -> &Self {
        assert!(self.ok(), "{what}: the TLS client failed: {}", self.line);
        self
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

/// A `tls_peer.py client` run: `TlsClient::new(addr).sni("a.test").run()`.
#[derive(Clone, Default)]
pub struct TlsClient {
    args: Vec<String>,
}

impl TlsClient {
    pub fn new(addr: SocketAddr) -> TlsClient {
        TlsClient {
            args: vec!["client".into(), addr.to_string()],
        }
    }

    fn arg(mut self, name: &str, value: impl ToString) -> Self {
        self.args.push(name.into());
        self.args.push(value.to_string());
        self
    }

    pub fn sni(self, name: &str) -> Self {
        self.arg("--sni", name)
    }

    /// ALPN protocols offered, comma-separated.
    pub fn alpn(self, list: &str) -> Self {
        self.arg("--alpn", list)
    }

    /// Verify the server against this CA file (and report its certificate).
    pub fn ca(self, file: &Path) -> Self {
        self.arg("--ca", file.display())
    }

    /// Show this client certificate (PEM with key).
    pub fn cert(self, file: &Path) -> Self {
        self.arg("--cert", file.display())
    }

    /// Highest version offered: "1.2" or "1.3".
    pub fn max(self, version: &str) -> Self {
        self.arg("--max", version)
    }

    /// Send `total` pseudo-random bytes to an echo server, close_notify,
    /// read the rest: fields `echoed`, `close_notify`, `after_close`.
    pub fn echo(self, total: usize) -> Self {
        self.arg("--echo", total)
    }

    /// Read one line first (a `Backend::named` greeting): field `line`.
    pub fn line(mut self) -> Self {
        self.args.push("--line".into());
        self
    }

    /// Send `text`, read as many bytes back: field `received`.
    pub fn send(self, text: &str) -> Self {
        self.arg("--send", text)
    }

    /// One connection; its report.
    pub fn run(&self) -> Fields {
        let mut child = ChildGuard::spawn(
            "tls_peer.py client",
            Command::new(python())
                .arg(script())
                .args(&self.args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let (out, err) = collect(&mut child, RUN_LIMIT);
        let line = out.lines().last().unwrap_or("");
        assert!(
            line.contains("ok="),
            "tls_peer.py {:?} printed no report:\n{out}\n{err}",
            self.args
        );
        Fields::parse(line)
    }

    /// Connections in a row until dropped; each reports a line.
    pub fn spawn_loop(&self) -> Reporter {
        let mut cmd = Command::new(python());
        cmd.arg(script())
            .args(&self.args)
            .args(["--repeat", "1000000"]);
        Reporter::spawn("tls_peer.py client loop", cmd)
    }
}

/// Waits for `child` under `limit`; its stdout and stderr.
fn collect(child: &mut ChildGuard, limit: Duration) -> (String, String) {
    let mut stdout = child.child.stdout.take().unwrap();
    let mut stderr = child.child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + limit;
    while child.exited().is_none() {
        if Instant::now() > end {
            child.kill();
            panic!(
                "{} still running after {limit:?}:\n{}",
                child.what,
                err.join().unwrap()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    (out.join().unwrap(), err.join().unwrap())
}

/// A process whose stdout lines are collected as they come.
pub struct Reporter {
    guard: ChildGuard,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Reporter {
    fn spawn(what: &str, mut cmd: Command) -> Reporter {
        let mut guard = ChildGuard::spawn(what, cmd.stdout(Stdio::piped()));
        let stdout = guard.child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Reporter { guard, lines }
    }

    /// The report lines so far (not `listening PORT`).
    pub fn reports(&self) -> Vec<Fields> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| !l.starts_with("listening "))
            .map(|l| Fields::parse(l))
            .collect()
    }

    /// Waits until a report satisfies `pred`; returns it.
    pub fn wait_report(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Fields) -> bool,
    ) -> Fields {
        let mut found = None;
        wait_for(what, limit, || {
            found = self.reports().into_iter().find(&pred);
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until there are `n` reports at least.
    pub fn wait_count(&self, what: &str, n: usize, limit: Duration) -> Vec<Fields> {
        wait_for(what, limit, || self.reports().len() >= n);
        self.reports()
    }

    pub fn stop(&mut self) {
        self.guard.kill();
    }
}

/// `tls_peer.py server`: a TLS echo server on loopback.
pub struct TlsServer {
    pub addr: SocketAddr,
    reporter: Reporter,
}

impl TlsServer {
    /// Serves `cert` (PEM with key); `client_ca`: require a client
    /// certificate from it; `alpn`: protocols it selects from.
    pub fn start(cert: &Path, client_ca: Option<&Path>, alpn: Option<&str>) -> TlsServer {
        let mut cmd = Command::new(python());
        cmd.arg("-u")
            .arg(script())
            .arg("server")
            .arg("--cert")
            .arg(cert);
        if let Some(ca) = client_ca {
            cmd.arg("--ca").arg(ca);
        }
        if let Some(list) = alpn {
            cmd.args(["--alpn", list]);
        }
        let reporter = Reporter::spawn("tls_peer.py server", cmd);
        let mut port = None;
        wait_for("the TLS server to listen", Duration::from_secs(10), || {
            port = reporter
                .lines
                .lock()
                .unwrap()
                .first()
                .and_then(|l| l.strip_prefix("listening ")?.parse::<u16>().ok());
            port.is_some()
        });
        TlsServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port.unwrap())),
            reporter,
        }
    }

    /// Connections so far: `event=handshake` (with `sni`, `alpn`,
    /// `client`, `reused`) or `event=failed` (with `error`).
    pub fn reports(&self) -> Vec<Fields> {
        self.reporter.reports()
    }

    pub fn wait_report(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Fields) -> bool,
    ) -> Fields {
        self.reporter.wait_report(what, limit, pred)
    }

    /// Waits for the `n`-th connection's report (counting from 1).
    pub fn wait_nth(&self, n: usize, limit: Duration) -> Fields {
        let all = self
            .reporter
            .wait_count(&format!("{n} connections to the TLS server"), n, limit);
        all[n - 1].clone()
    }
}

/// What `openssl s_client` printed for one connection (stdin closed at
/// once, so it hands shakes, prints, and quits).
pub struct SClient {
    pub text: String,
    pub success: bool,
}

impl SClient {
    pub fn connect(openssl: &Path, addr: SocketAddr, args: &[&str]) -> SClient {
        let mut child = ChildGuard::spawn(
            "openssl s_client",
            Command::new(openssl)
                .arg("s_client")
                .arg("-connect")
                .arg(addr.to_string())
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let (out, err) = collect(&mut child, RUN_LIMIT);
        let status = child.exited().unwrap();
        let text = format!("{out}\n{err}");
        // A refused handshake: OpenSSL prints a null session.
        let success = status.success() && !text.contains("Cipher is (NONE)");
        SClient { text, success }
    }

    fn after(&self, prefix: &str) -> Option<String> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    }

    /// `CN = a.test` from `subject=CN = a.test`.
    pub fn subject(&self) -> Option<String> {
        self.after("subject=")
    }

    /// The server key's size in bits (256: the ECDSA one, 2048: RSA).
    pub fn key_bits(&self) -> Option<u32> {
        self.after("Server public key is ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    /// The negotiated ALPN protocol, `None` for "No ALPN negotiated".
    pub fn alpn(&self) -> Option<String> {
        self.after("ALPN protocol: ")
    }
}

impl std::fmt::Debug for SClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `openssl s_client` kept open: lines written to its stdin are sent
/// (`R` alone asks for a renegotiation), and its output is collected.
pub struct SClientSession {
    guard: ChildGuard,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
}

impl SClientSession {
    pub fn start(openssl: &Path, addr: SocketAddr, args: &[&str]) -> SClientSession {
        let mut child = Command::new(openssl)
            .arg("s_client")
            .arg("-connect")
            .arg(addr.to_string())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl s_client");
        let stdin = child.stdin.take();
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pipe = pipe;
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        SClientSession {
            guard: ChildGuard {
                child,
                what: "openssl s_client".into(),
            },
            stdin,
            output,
        }
    }

    /// Writes `line` and a newline to s_client's stdin; false if it is gone.
    pub fn send_line(&mut self, line: &str) -> bool {
        let Some(stdin) = self.stdin.as_mut() else {
            return false;
        };
        stdin.write_all(format!("{line}\n").as_bytes()).is_ok() && stdin.flush().is_ok()
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until its output contains `pat` (panics with it otherwise).
    pub fn wait_output(&self, pat: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while !self.output().contains(pat) {
            assert!(
                Instant::now() < end,
                "s_client printed no {pat:?} within {limit:?}:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for s_client to exit; its status, or `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.guard.exited() {
                return Some(st);
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}
