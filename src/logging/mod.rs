//! Connection logs, as HAProxy writes them: one line per session (`option
//! tcplog` or a `log-format`), or a `Connect from` line per accepted client
//! (HAProxy's default in TCP mode), sent to the frontend's `log` targets.
//!
//! Workers never format or write a log line: when a session starts or ends
//! they put a small [`Message`] on a bounded channel ([`Handle::send`]
//! never blocks; a full channel drops the message and counts it). One
//! logger thread renders each message with the frontend's format, frames it
//! for each target (syslog header, `len`) and writes it to stdout, stderr,
//! a unix datagram socket or UDP. A slow or missing target costs log lines,
//! never traffic.

pub mod format;
pub mod target;
pub mod trace;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::base::clock;
use crate::config::LogTarget;
use crate::runtime::Runtime;
use crate::session::Session;
use format::Names;
pub use target::{LEVEL_ALERT, LEVEL_EMERG, LEVEL_NOTICE};
use target::{LEVEL_INFO, Origin, Sink};
pub use trace::{Handshake, Term, Trace};

/// Messages waiting for the logger thread before workers start dropping.
pub const QUEUE_CAPACITY: usize = 16 * 1024;
/// The syslog tag when no `log-tag` is set (HAProxy uses its program name).
pub const DEFAULT_TAG: &str = "splicer";
/// Shortest time between two warnings about lost log lines.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a session's log line says, gathered by its worker.
#[derive(Debug, Clone)]
pub struct Record {
    pub frontend: usize,
    /// `None`: the frontend has no backend (its own name is logged).
    pub backend: Option<usize>,
    /// `None`: `<NOSRV>`.
    pub server: Option<usize>,
    pub client: SocketAddr,
    pub local: SocketAddr,
    pub source: Option<SocketAddr>,
    pub accepted: SystemTime,
    pub tw: i64,
    pub tc: i64,
    pub tt: i64,
    /// Client to server (`%U`).
    pub bytes_in: u64,
    /// Server to client (`%B`).
    pub bytes_out: u64,
    pub term: Term,
    pub actconn: usize,
    pub feconn: usize,
    pub beconn: usize,
    pub srvconn: usize,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u64,
    pub backend_queue: u64,
}

/// One thing to log.
#[derive(Debug)]
pub enum Message {
    /// A session ended (frontends with `option tcplog` or `log-format`).
    Session(Box<Record>),
    /// A session started (frontends with neither: HAProxy's default line).
    Connect {
        frontend: usize,
        client: SocketAddr,
        local: SocketAddr,
    },
    /// A server or backend event (UP, DOWN, maintenance, check result),
    /// for the backend's `log` targets.
    Event {
        backend: usize,
        level: u8,
        text: String,
    },
    /// A client failed its PROXY header: HAProxy's connection error line.
    Handshake {
        frontend: usize,
        client: SocketAddr,
        /// The address the client reached, to name its `bind`.
        local: SocketAddr,
        accepted: SystemTime,
        what: Handshake,
    },
}

/// A worker's end of the logger: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: Option<Sender<Message>>,
    dropped: Arc<AtomicU64>,
}

impl Handle {
    /// A handle that logs nothing (no frontend has a `log` target).
    pub fn disabled() -> Handle {
        Handle {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn send(&self, msg: Message) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Messages lost so far because the logger could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The logger thread, stopped by [`Logger::finish`].
pub struct Logger {
    pub handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Logger {
    /// Starts the logger thread when some frontend or backend logs; gives
    /// the backends their event handle.
    pub fn start(rt: Arc<Runtime>) -> io::Result<Logger> {
        let fe_logs = rt
            .frontends
            .iter()
            .any(|f| !f.config.log.targets.is_empty());
        let be_logs = rt.backends.iter().any(|b| !b.config.log.targets.is_empty());
        if !fe_logs && !be_logs {
            return Ok(Logger::disabled());
        }
        let events = rt.events.clone();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer::new(rt, dropped.clone());
        let thread = std::thread::Builder::new()
            .name("logger".into())
            .spawn(move || writer.run(rx))?;
        let handle = Handle {
            tx: Some(tx),
            dropped,
        };
        if be_logs {
            *events.lock() = Some(handle.clone());
        }
        Ok(Logger {
            handle,
            thread: Some(thread),
        })
    }

    /// No logger thread: nothing is logged.
    pub fn disabled() -> Logger {
        Logger {
            handle: Handle::disabled(),
            thread: None,
        }
    }

    /// Lets go of this handle: the thread ends once the workers have
    /// dropped theirs (a reload's old config, when its last session ends).
    /// Returns the thread, to join at exit.
    pub fn detach(self) -> Option<JoinHandle<()>> {
        self.thread
    }

    /// Waits for the logger to write what is queued. Call once every
    /// worker (and so every other handle) is gone.
    pub fn finish(self) {
        let Logger { handle, thread } = self;
        drop(handle);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// A `log` line of a frontend with the sink it writes to.
struct Route {
    target: LogTarget,
    sink: usize,
}

/// A sink and how its failures were reported.
struct Out {
    sink: Option<Sink>,
    name: String,
    failures: u64,
    warned: Option<Instant>,
}

/// The logger thread's state.
struct Writer {
    rt: Arc<Runtime>,
    routes: Vec<Vec<Route>>,
    outs: Vec<Out>,
    hostname: String,
    pid: u32,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    fn new(rt: Arc<Runtime>, dropped: Arc<AtomicU64>) -> Writer {
        let mut outs: Vec<Out> = Vec::new();
        let mut dests = Vec::new();
        let mut routes = Vec::new();
        // Frontends' routes, then backends'.
        let logs = rt.frontends.iter().map(|f| &f.config.log);
        let logs = logs.chain(rt.backends.iter().map(|b| &b.config.log));
        for log in logs {
            let mut r = Vec::new();
            for t in &log.targets {
                // Frontends sharing `log global` share its sockets.
                let sink = match dests.iter().position(|d| *d == t.dest) {
                    Some(i) => i,
                    None => {
                        let name = format!("{:?}", t.dest);
                        let sink = Sink::open(&t.dest)
                            .map_err(|e| log::warn!("log target {name}: {e}; its lines are lost"))
                            .ok();
                        dests.push(t.dest.clone());
                        outs.push(Out {
                            sink,
                            name,
                            failures: 0,
                            warned: None,
                        });
                        outs.len() - 1
                    }
                };
                r.push(Route {
                    target: t.clone(),
                    sink,
                });
            }
            routes.push(r);
        }
        Writer {
            rt,
            routes,
            outs,
            hostname: hostname(),
            pid: std::process::id(),
            dropped,
        }
    }

    fn run(mut self, rx: Receiver<Message>) {
        let mut line = String::new();
        let mut framed = Vec::new();
        let mut reported = 0;
        let mut last_report: Option<Instant> = None;
        loop {
            match rx.recv_timeout(DROP_REPORT_EVERY) {
                Ok(Message::Event {
                    backend,
                    level,
                    text,
                }) => self.write(self.rt.frontends.len() + backend, level, &text, &mut framed),
                Ok(msg) => {
                    line.clear();
                    if let Some(fe) = self.render(&msg, &mut line) {
                        self.write(fe, LEVEL_INFO, &line, &mut framed);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped != reported && last_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
                log::warn!(
                    "{} log lines dropped: the logger could not keep up with the sessions",
                    dropped - reported
                );
                reported = dropped;
                last_report = Some(Instant::now());
            }
        }
    }

    /// Writes the message's text into `out`; returns its frontend.
    /// (Events are written as they come.)
    fn render(&self, msg: &Message, out: &mut String) -> Option<usize> {
        use std::fmt::Write;
        let rt = &self.rt;
        match msg {
            Message::Session(r) => {
                let fe = &rt.frontends[r.frontend].config;
                let fmt = fe.log.format.as_ref()?;
                let backend = r.backend.map(|b| &rt.backends[b]);
                let server = backend.zip(r.server).map(|(b, s)| &b.servers[s]);
                let names = Names {
                    frontend: &fe.name,
                    backend: backend.map_or(&fe.name, |b| &b.config.name),
                    server: server.map(|s| s.name.as_str()),
                    server_addr: server.map(|s| s.addr),
                    hostname: &self.hostname,
                    pid: self.pid,
                };
                format::render(fmt, r, &names, out);
                Some(r.frontend)
            }
            Message::Connect {
                frontend,
                client,
                local,
            } => {
                let name = &rt.frontends[*frontend].config.name;
                let _ = write!(
                    out,
                    "Connect from {}:{} to {}:{} ({name}/TCP)",
                    client.ip(),
                    client.port(),
                    local.ip(),
                    local.port()
                );
                Some(*frontend)
            }
            Message::Handshake {
                frontend,
                client,
                local,
                accepted,
                what,
            } => {
                let fe = &rt.frontends[*frontend].config;
                let _ = write!(out, "{}:{} [", client.ip(), client.port());
                clock::accept_date(*accepted, out);
                let name = bind_name(fe, *local);
                let _ = write!(out, "] {}/{name}: {}", fe.name, what.message());
                Some(*frontend)
            }
            Message::Event { .. } => None,
        }
    }

    /// Sends `line` at `level` to the targets of route list `proxy`
    /// (frontends first, then backends).
    fn write(&mut self, proxy: usize, level: u8, line: &str, framed: &mut Vec<u8>) {
        let nfe = self.rt.frontends.len();
        let log = match proxy.checked_sub(nfe) {
            None => &self.rt.frontends[proxy].config.log,
            Some(b) => &self.rt.backends[b].config.log,
        };
        let g = &self.rt.global;
        // `log-send-hostname` alone means the system's name.
        let hostname = g.log_send_hostname.as_deref().map(|h| {
            if h.is_empty() {
                self.hostname.as_str()
            } else {
                h
            }
        });
        let origin = Origin {
            tag: log.tag.as_deref().unwrap_or(DEFAULT_TAG),
            hostname,
            pid: self.pid,
        };
        let now = SystemTime::now();
        for route in &self.routes[proxy] {
            let Some(level) = target::effective_level(&route.target, level) else {
                continue;
            };
            target::frame(&route.target, level, &origin, now, line, framed);
            let out = &mut self.outs[route.sink];
            let Some(sink) = out.sink.as_mut() else {
                continue;
            };
            if let Err(e) = sink.send(framed) {
                out.failures += 1;
                if out.warned.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
                    log::warn!(
                        "log target {}: {e} ({} lines lost so far)",
                        out.name,
                        out.failures
                    );
                    out.warned = Some(Instant::now());
                }
            }
        }
    }
}

/// The log line of a closing session, before its server slot is freed;
/// `None` when the frontend logs nothing at the end of a session, or when
/// `dontlognull` hides it. [`count`] completes it after teardown.
pub fn closing(rt: &Runtime, s: &Session, now: Instant) -> Option<Record> {
    let log = &rt.frontends[s.frontend].config.log;
    if log.targets.is_empty() {
        return None;
    }
    let t = &s.trace;
    // The default format logged its line when the session started.
    log.format.as_ref()?;
    let (bytes_in, bytes_out) = s.traffic();
    if log.dontlognull && bytes_in == 0 {
        return None;
    }
    let (tw, tc, tt) = t.timers(now);
    Some(Record {
        frontend: s.frontend,
        backend: s.backend,
        server: t.server,
        client: s.client_addr,
        local: s.local_addr,
        source: t.source,
        accepted: t.accepted,
        tw,
        tc,
        tt,
        bytes_in,
        bytes_out,
        term: t.term(),
        actconn: 0,
        feconn: 0,
        beconn: 0,
        srvconn: 0,
        retries: t.retries,
        redispatched: t.redispatched,
        srv_queue: 0,
        backend_queue: t.backend_queue,
    })
}

/// Fills the connection counts of a closing session's record once its
/// server slot is free and before its frontend slot is: HAProxy counts the
/// session in `%ac` and `%fc`, no longer in `%bc` and `%sc`. `queued`: the
/// sessions still waiting in this worker's queue of the backend.
pub fn count(rt: &Runtime, r: &mut Record, queued: usize) {
    r.actconn = rt.current.load(Ordering::Relaxed);
    r.feconn = rt.frontends[r.frontend].current.load(Ordering::Relaxed);
    if let Some(b) = r.backend {
        let servers = &rt.backends[b].servers;
        let active = |s: &crate::runtime::ServerState| s.active.load(Ordering::Relaxed) as usize;
        r.beconn = servers.iter().map(active).sum::<usize>() + queued;
        r.srvconn = r.server.map_or(0, |i| active(&servers[i]));
    }
}

impl Handle {
    /// A session got past its PROXY header: HAProxy's default format logs
    /// `Connect from` now (once per session).
    pub fn started(&self, rt: &Runtime, s: &mut Session) {
        if s.trace.announced {
            return;
        }
        s.trace.announced = true;
        let log = &rt.frontends[s.frontend].config.log;
        if log.format.is_none() && !log.targets.is_empty() {
            self.send(Message::Connect {
                frontend: s.frontend,
                client: s.client_addr,
                local: s.local_addr,
            });
        }
    }
}

/// Whether frontend `fe`'s format shows our side of the server connection
/// (`%bi`, `%bp`), which costs a `getsockname` per session.
pub fn wants_source(rt: &Runtime, fe: usize) -> bool {
    let log = &rt.frontends[fe].config.log;
    !log.targets.is_empty()
        && log
            .format
            .as_ref()
            .is_some_and(|f| f.uses(format::Var::BackendIp) || f.uses(format::Var::BackendPort))
}

/// HAProxy's name for the bind a client reached: its `name`, else its
/// number in the frontend.
fn bind_name(fe: &crate::config::Frontend, local: SocketAddr) -> String {
    let reached = |b: &&crate::config::Bind| {
        b.addr.port() == local.port() && (b.addr.ip() == local.ip() || b.addr.ip().is_unspecified())
    };
    match fe.binds.iter().enumerate().find(|(_, b)| reached(b)) {
        Some((_, b)) if b.name.is_some() => b.name.clone().unwrap_or_default(),
        Some((i, _)) => (i + 1).to_string(),
        None => "1".into(),
    }
}

/// The system's host name (`%H`, `log-send-hostname` without a name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A server or backend event: on stderr at `level` as before, and to the
/// backend's `log` targets at syslog level `syslog` (HAProxy sends these
/// lines to the proxy's log servers).
pub fn event(be: &crate::runtime::BackendState, level: log::Level, syslog: u8, text: String) {
    log::log!(level, "{text}");
    if be.config.log.targets.is_empty() {
        return;
    }
    if let Some(h) = &*be.events.lock() {
        h.send(Message::Event {
            backend: be.index,
            level: syslog,
            text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let h = Handle {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let started = Instant::now();
        for _ in 0..5 {
            h.send(Message::Connect {
                frontend: 0,
                client: addr,
                local: addr,
            });
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!((rx.len(), h.dropped()), (2, 3));
        drop(rx);
        h.send(Message::Connect {
            frontend: 0,
            client: addr,
            local: addr,
        });
        assert_eq!(h.dropped(), 4, "a stopped logger drops too");
        Handle::disabled().send(Message::Connect {
            frontend: 0,
            client: addr,
            local: addr,
        });
    }
}
