//! Shared pieces of the end-to-end tests: start the real `splicer` binary on
//! a config with `127.0.0.1:0` binds, learn its ports from its log, and
//! small backend servers on loopback. Everything waits on conditions with
//! deadlines; every process is killed on drop.
#![allow(dead_code)]

pub mod api;
pub mod certs;
pub mod fake;
pub mod foobar;
pub mod haproxy;
mod http;
pub mod mariadb;
pub mod mariadb_set;
pub mod mysql_lb;
pub mod netns;
pub mod nginx;
pub mod probe;
pub mod relay;
pub mod statspage;
pub mod tables;
pub mod tcplog;
pub mod tls;
pub mod tls_peer;
mod tools;
pub mod write_load;

#[allow(unused_imports)]
pub use api::*;
pub use http::*;
pub use tools::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A unique scratch directory for one test.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "splicer-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    // A run that was killed leaves its directories behind, and process ids
    // come back: never inherit an old run's files (a MariaDB datadir, ...).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn splicer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_splicer")
}

/// A running splicer process.
pub struct Splicer {
    child: Child,
    /// Frontend name -> addresses it listens on, from the log.
    listening: Arc<Mutex<Vec<(String, SocketAddr)>>>,
    log: Arc<Mutex<Vec<String>>>,
    /// Lines kept out of `log` (HAProxy's stderr copies of its log lines),
    /// shown by `log_text` only.
    aside: Arc<Mutex<Vec<String>>>,
    /// The threads reading its stdout and stderr.
    readers: Vec<JoinHandle<()>>,
    pub config_path: PathBuf,
}

impl Splicer {
    /// Starts splicer on `config` and waits until every frontend in
    /// `frontends` listens.
    pub fn start(config: &str, frontends: &[&str]) -> Splicer {
        Self::start_with(config, frontends, &[])
    }

    pub fn start_with(config: &str, frontends: &[&str], extra_args: &[&str]) -> Splicer {
        if haproxy::enabled() {
            return haproxy::start(config, frontends, extra_args);
        }
        let dir = scratch_dir("cfg");
        let config_path = dir.join("splicer.cfg");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(splicer_bin());
        cmd.arg("-f").arg(&config_path).args(extra_args);
        Self::launch(cmd, config_path, frontends)
    }

    /// Starts splicer through `sh -c "PREFIX; exec splicer -f CONFIG"`, e.g.
    /// to lower a resource limit for it alone.
    pub fn start_wrapped(config: &str, frontends: &[&str], shell_prefix: &str) -> Splicer {
        let dir = scratch_dir("cfg");
        let config_path = dir.join("splicer.cfg");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{shell_prefix}; exec \"$0\" -f \"$1\""))
            .arg(splicer_bin())
            .arg(&config_path);
        Self::launch(cmd, config_path, frontends)
    }

    /// As [`Splicer::start_wrapped`], or HAProxy so started under
    /// `SPLICER_TEST_BIN=haproxy`.
    pub fn start_wrapped_either(config: &str, frontends: &[&str], shell_prefix: &str) -> Splicer {
        if haproxy::enabled() {
            return haproxy::start_wrapped(config, frontends, shell_prefix);
        }
        Self::start_wrapped(config, frontends, shell_prefix)
    }

    fn launch(cmd: Command, config_path: PathBuf, frontends: &[&str]) -> Splicer {
        let mut s = Self::spawn_logged(cmd, config_path, Vec::new(), true);
        s.wait_listening(frontends, |_| true);
        s
    }

    /// Spawns `cmd` with its stdout and stderr read line by line into the
    /// log (stderr only if `stderr_in_log`, else aside). `listening` is what
    /// is known of its addresses beforehand.
    fn spawn_logged(
        mut cmd: Command,
        config_path: PathBuf,
        listening: Vec<(String, SocketAddr)>,
        stderr_in_log: bool,
    ) -> Splicer {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start splicer");
        let listening = Arc::new(Mutex::new(listening));
        let log = Arc::new(Mutex::new(Vec::new()));
        let aside = Arc::new(Mutex::new(Vec::new()));
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        let err_to = if stderr_in_log { &log } else { &aside };
        let mut readers = Vec::new();
        for (pipe, log) in [(stdout, &log), (stderr, err_to)] {
            let listening = listening.clone();
            let log = log.clone();
            readers.push(thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("frontend ").nth(1)
                        && let Some((name, addr)) = rest.split_once(" listening on ")
                        && let Ok(a) = addr.trim().parse()
                    {
                        listening.lock().unwrap().push((name.to_string(), a));
                    }
                    if std::env::var_os("SPLICER_TEST_LOG").is_some() {
                        eprintln!("[splicer] {line}");
                    }
                    log.lock().unwrap().push(line);
                }
            }));
        }
        Splicer {
            child,
            listening,
            log,
            aside,
            readers,
            config_path,
        }
    }

    /// Waits until every frontend in `frontends` has an address for which
    /// `ready` holds; panics with the log if the process exits first.
    fn wait_listening(&mut self, frontends: &[&str], ready: impl Fn(SocketAddr) -> bool) {
        for fe in frontends {
            let fe = fe.to_string();
            let l = self.listening.clone();
            let mut exited = None;
            let child = &mut self.child;
            wait_for(
                &format!("frontend {fe} to listen"),
                Duration::from_secs(10),
                || {
                    if let Ok(Some(st)) = child.try_wait() {
                        exited = Some(st);
                        return true;
                    }
                    l.lock().unwrap().iter().any(|(n, a)| *n == fe && ready(*a))
                },
            );
            if let Some(st) = exited {
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                panic!("proxy exited ({st}) before listening:\n{}", self.log_text());
            }
        }
    }

    /// The first address frontend `name` listens on.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs(name)[0]
    }

    pub fn addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.listening
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .collect()
    }

    pub fn log_text(&self) -> String {
        let mut text = self.log.lock().unwrap().join("\n");
        let aside = self.aside.lock().unwrap();
        if !aside.is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&aside.join("\n"));
        }
        text
    }

    /// The log lines that contain `pat`.
    pub fn log_lines(&self, pat: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(pat)).cloned().collect()
    }

    /// Waits until a log line contains every one of `pats`; returns it. On
    /// timeout, panics with the whole log.
    pub fn wait_log(&self, pats: &[&str], limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|l| pats.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < end,
                "no log line with {pats:?} within {limit:?}; log:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Like `wait_log`, but also searches the lines kept aside (HAProxy's
    /// stderr, where its config errors and reload outcome go).
    pub fn wait_output(&self, pats: &[&str], limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let found = {
                let log = self.log.lock().unwrap();
                let aside = self.aside.lock().unwrap();
                log.iter()
                    .chain(aside.iter())
                    .find(|l| pats.iter().all(|p| l.contains(p)))
                    .cloned()
            };
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < end,
                "no output line with {pats:?} within {limit:?}; output:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `pats` appear in `n` log lines at least.
    pub fn wait_log_count(&self, pats: &[&str], n: usize, limit: Duration) {
        let end = Instant::now() + limit;
        let count = || {
            let log = self.log.lock().unwrap();
            log.iter()
                .filter(|l| pats.iter().all(|p| l.contains(p)))
                .count()
        };
        while count() < n {
            assert!(
                Instant::now() < end,
                "fewer than {n} log lines with {pats:?} within {limit:?}; log:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -{sig}");
    }

    /// Waits for the process to exit; returns its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < end,
                "splicer did not exit within {limit:?}:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Splicer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.config_path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A loopback TCP server running a handler per connection on its own thread.
pub struct Backend {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn spawn<F>(handler: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        Self::spawn_on("127.0.0.1:0".parse().unwrap(), handler)
    }

    /// Like `spawn`, on a given address (e.g. to come back on the port of
    /// a server that was stopped).
    pub fn spawn_on<F>(addr: SocketAddr, handler: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = if addr == "127.0.0.1:0".parse().unwrap() {
            fresh_listener()
        } else {
            TcpListener::bind(addr).unwrap()
        };
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let (s, a, o) = (stop.clone(), accepted.clone(), open.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        a.fetch_add(1, Ordering::SeqCst);
                        o.fetch_add(1, Ordering::SeqCst);
                        let (h, o) = (handler.clone(), o.clone());
                        thread::spawn(move || {
                            h(stream);
                            o.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Backend {
            addr,
            stop,
            accepted,
            open,
            thread: Some(thread),
        }
    }

    /// Echoes everything back, then closes after the client's FIN.
    pub fn echo() -> Backend {
        Backend::spawn(|mut s| {
            let mut r = s.try_clone().unwrap();
            let _ = std::io::copy(&mut r, &mut s);
            let _ = s.shutdown(std::net::Shutdown::Write);
        })
    }

    /// Sends its name, then echoes (so clients learn which server they got).
    pub fn named(name: &'static str) -> Backend {
        Backend::spawn(move |mut s| {
            let _ = s.write_all(format!("{name}\n").as_bytes());
            let mut r = s.try_clone().unwrap();
            let _ = std::io::copy(&mut r, &mut s);
        })
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback address where nothing listens (bound then closed).
pub fn dead_addr() -> SocketAddr {
    // A socket bound and never listening, kept for the process's life: a
    // connection to it is refused, and no later listener (another test's
    // backend or frontend) can take its port and get its health checks.
    static KEPT: std::sync::Mutex<Vec<socket2::Socket>> = std::sync::Mutex::new(Vec::new());
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let addr = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a bound address");
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    addr
}

/// Connects through splicer to a `Backend::named` server and returns its name.
pub fn server_name(addr: SocketAddr) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// Deterministic pseudo-random bytes (xorshift64*), so each side can
/// regenerate the stream it expects.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Regenerates a `Prng` stream piece by piece to check bytes as they arrive.
pub struct StreamCheck {
    seed: u64,
    prng: Prng,
    carry: Vec<u8>,
    pub seen: usize,
}

impl StreamCheck {
    pub fn new(seed: u64) -> Self {
        StreamCheck {
            seed,
            prng: Prng::new(seed),
            carry: Vec::new(),
            seen: 0,
        }
    }

    /// Checks that `data` is the next part of the stream.
    pub fn check(&mut self, data: &[u8]) {
        while self.carry.len() < data.len() {
            let mut block = [0u8; 8];
            self.prng.fill(&mut block);
            self.carry.extend_from_slice(&block);
        }
        let expected: Vec<u8> = self.carry.drain(..data.len()).collect();
        if expected != data {
            let off = expected
                .iter()
                .zip(data)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!("stream {} differs at byte {}", self.seed, self.seen + off);
        }
        self.seen += data.len();
    }
}

/// Writes `total` bytes of stream `seed` in 64 KiB writes (`Prng::fill` is
/// called per 8 bytes, so the stream does not depend on the write size).
pub fn write_stream(w: &mut impl Write, seed: u64, total: usize) -> std::io::Result<()> {
    let mut prng = Prng::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        prng.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

/// Sends `total` pseudo-random bytes and reads the echo back, checking every
/// byte and that the stream ends exactly after `total` bytes.
pub fn echo_roundtrip(addr: SocketAddr, seed: u64, total: usize) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    echo_roundtrip_on(s, seed, total);
}

/// A connected stream socket, TCP or UNIX, for [`echo_roundtrip_on`].
pub trait Duplex: Read + Write + Send + Sized + 'static {
    fn dup(&self) -> Self;
    fn shut_write(&self);
}

impl Duplex for TcpStream {
    fn dup(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shut_write(&self) {
        self.shutdown(std::net::Shutdown::Write).unwrap();
    }
}

impl Duplex for std::os::unix::net::UnixStream {
    fn dup(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shut_write(&self) {
        self.shutdown(std::net::Shutdown::Write).unwrap();
    }
}

/// [`echo_roundtrip`] over a stream already connected (and with its read
/// timeout set).
pub fn echo_roundtrip_on<S: Duplex>(mut s: S, seed: u64, total: usize) {
    let mut w = s.dup();
    let writer = thread::spawn(move || {
        write_stream(&mut w, seed, total).unwrap();
        w.shut_write();
    });
    let mut check = StreamCheck::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        check.check(&buf[..n]);
    }
    writer.join().unwrap();
    assert_eq!(
        check.seen, total,
        "echo returned {} of {total} bytes",
        check.seen
    );
}

/// A config with a `global` (two workers), tcp `defaults` with generous
/// timeouts, and `rest` appended (frontends/backends/listens).
pub fn config(global_extra: &str, defaults_extra: &str, rest: &str) -> String {
    format!(
        "global\n    nbthread 2\n{global_extra}\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n{defaults_extra}\n\
         {rest}\n"
    )
}

/// A `listen fe` on `127.0.0.1:0` with `lines` (balance, options) and one
/// `server` line per `(name, addr, params)`.
pub fn listen(lines: &str, servers: &[(&str, SocketAddr, &str)]) -> String {
    let mut s = format!("listen fe\n    bind 127.0.0.1:0\n{lines}\n");
    for (name, addr, params) in servers {
        s.push_str(&format!("    server {name} {addr} {params}\n"));
    }
    s
}

/// Closes `s` with a reset (SO_LINGER 0) instead of a FIN.
pub fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Connects to `addr` from the local address `src` (port 0).
pub fn connect_from(src: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.connect(&addr.into())?;
    Ok(sock.into())
}

/// Reads until EOF or error with a `limit`; returns the bytes read and how
/// the stream ended (Ok = clean EOF).
pub fn read_to_end_or_err(s: &TcpStream, limit: Duration) -> (Vec<u8>, std::io::Result<()>) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Err(e)),
        }
    }
}

/// True when `e` is a read timeout (the peer stayed silent, connection open).
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A listening socket that never accepts, its backlog already full.
pub fn unanswered_server() -> (SocketAddr, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut keep = vec![l];
    for _ in 0..3 {
        let f = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        f.set_nonblocking(true).unwrap();
        let _ = f.connect(&addr.into());
        keep.push(f);
    }
    (addr, keep)
}
