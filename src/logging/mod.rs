//! Connection logs, as HAProxy writes them: one line per session (`option
//! tcplog` or a `log-format`), or a `Connect from` line per accepted client
//! (HAProxy's default in TCP mode), sent to the frontend's `log` targets.
//!
//! Workers never format or write a log line: a session hands its finished
//! record (or its `Connect from` line) as a [`Message`] to a bounded
//! channel ([`LogSender::send`] never blocks; a full channel drops the
//! message and counts it). One logger thread per config renders each
//! message with the frontend's format, frames it for each target (syslog
//! header, `len`) and writes it to stdout, stderr, a unix datagram socket
//! or UDP. A slow or missing target costs log lines, never traffic. The
//! logger knows the config by a [`Book`] of its own: it imports no
//! session, runtime or worker.

pub(crate) mod format;
pub(crate) mod target;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::base::clock;
use crate::base::ids::FrontendId;
use crate::base::log::{LEVEL_ERR, LEVEL_INFO, LogSender, Message, Record};
use crate::base::service::Service;
use crate::config::{Backend, Frontend, Global, LogTarget};
use format::Names;
use target::{Origin, Sink};

/// Messages waiting for the logger thread before workers start dropping.
pub(crate) const QUEUE_CAPACITY: usize = 16 * 1024;
/// The syslog tag when no `log-tag` is set (HAProxy uses its program name).
pub(crate) const DEFAULT_TAG: &str = "splicer";
/// Shortest time between two warnings about lost log lines.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a logger needs of its config: the proxies' names, `log` settings,
/// binds and servers, in the config's order (messages name them by index).
#[derive(Debug, Clone)]
pub(crate) struct Book {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
}

impl Book {
    fn logs(&self) -> bool {
        self.frontends.iter().any(|f| !f.log.targets.is_empty())
            || self.backends.iter().any(|b| !b.log.targets.is_empty())
    }
}

/// A config's logger thread, stopped by [`Logger::finish`].
pub(crate) struct Logger {
    pub sender: LogSender,
    service: Option<Service>,
}

impl Logger {
    /// Starts the logger thread when some frontend or backend logs.
    pub(crate) fn start(book: Book) -> io::Result<Logger> {
        if !book.logs() {
            return Ok(Logger::disabled());
        }
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer::new(book, dropped.clone());
        // It ends when its last sender is gone, not on a flag: whatever was
        // queued is written first.
        let service = Service::spawn("logger", None, move |_| writer.run(rx))?;
        Ok(Logger {
            sender: LogSender::new(tx, dropped),
            service: Some(service),
        })
    }

    /// No logger thread: nothing is logged.
    pub(crate) fn disabled() -> Logger {
        Logger {
            sender: LogSender::disabled(),
            service: None,
        }
    }

    /// Lets go of this sender: the thread ends once the workers have
    /// dropped theirs (a reload's old config, when its last session ends).
    /// Returns the thread, to join at exit.
    pub(crate) fn detach(self) -> Option<Service> {
        self.service
    }

    /// Waits for the logger to write what is queued. Call once every
    /// other sender is gone.
    pub(crate) fn finish(self) {
        let Logger { sender, service } = self;
        drop(sender);
        if let Some(s) = service {
            s.join();
        }
    }
}

/// Where a rendered message goes and how.
struct Rendered {
    /// The frontend's index (its route list).
    frontend: usize,
    level: u8,
    /// The structured data was rendered (else RFC 5424 shows `-`).
    sd: bool,
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
    book: Book,
    routes: Vec<Vec<Route>>,
    outs: Vec<Out>,
    hostname: String,
    pid: u32,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    fn new(book: Book, dropped: Arc<AtomicU64>) -> Writer {
        let mut outs: Vec<Out> = Vec::new();
        let mut dests = Vec::new();
        let mut routes = Vec::new();
        // Frontends' routes, then backends'.
        let logs = book.frontends.iter().map(|f| &f.log);
        let logs = logs.chain(book.backends.iter().map(|b| &b.log));
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
            book,
            routes,
            outs,
            hostname: hostname(),
            pid: std::process::id(),
            dropped,
        }
    }

    fn run(mut self, rx: Receiver<Message>) {
        let mut line = String::new();
        let mut sd = String::new();
        let mut framed = Vec::new();
        let mut reported = 0;
        let mut last_report: Option<Instant> = None;
        loop {
            match rx.recv_timeout(DROP_REPORT_EVERY) {
                Ok(Message::Event {
                    backend,
                    level,
                    text,
                }) => {
                    let nfe = self.book.frontends.len();
                    let be = self.book.backends.iter().position(|b| b.name == backend);
                    if let Some(b) = be {
                        self.write(nfe + b, level, &text, None, &mut framed);
                    }
                }
                Ok(msg) => {
                    line.clear();
                    sd.clear();
                    if let Some(r) = self.render(&msg, &mut line, &mut sd) {
                        let sd = r.sd.then_some(sd.as_str());
                        self.write(r.frontend, r.level, &line, sd, &mut framed);
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

    /// Writes the message's text into `out` (and its structured data into
    /// `sd`, for RFC 5424 targets); says where and at which level it goes.
    /// (Events are written as they come.)
    fn render(&self, msg: &Message, out: &mut String, sd: &mut String) -> Option<Rendered> {
        let book = &self.book;
        let fe = |id: FrontendId| &book.frontends[id.index()];
        use std::fmt::Write;
        match msg {
            Message::Session(r) => {
                let log = &fe(r.frontend).log;
                let fmt = log.format.as_ref()?;
                let names = self.names(r);
                format::render(fmt, r, &names, out);
                let error = log.separate_errors && r.is_error();
                Some(Rendered {
                    frontend: r.frontend.index(),
                    level: if error { LEVEL_ERR } else { LEVEL_INFO },
                    sd: self.render_sd(r, &names, sd),
                })
            }
            Message::Connect {
                frontend,
                client,
                local,
                unix,
            } => {
                let name = &fe(*frontend).name;
                let _ = match unix {
                    Some(id) => write!(out, "Connect to unix:{id} ({name}/TCP)"),
                    None => write!(
                        out,
                        "Connect from {}:{} to {}:{} ({name}/TCP)",
                        client.ip(),
                        client.port(),
                        local.ip(),
                        local.port()
                    ),
                };
                Some(Rendered {
                    frontend: frontend.index(),
                    level: LEVEL_INFO,
                    sd: false,
                })
            }
            Message::Handshake { record: r, what } => {
                let fe = fe(r.frontend);
                // HAProxy's own text goes out with the default structured
                // data; an error-log-format line with the frontend's.
                let sd = match &fe.log.error_format {
                    Some(fmt) => {
                        let names = self.names(r);
                        format::render(fmt, r, &names, out);
                        self.render_sd(r, &names, sd)
                    }
                    None => {
                        let _ = write!(out, "{}:{} [", r.client.ip(), r.client.port());
                        clock::accept_date(r.accepted, out);
                        let name = bind_name(fe, r.local);
                        let _ = write!(out, "] {}/{name}: {}", fe.name, what.message());
                        false
                    }
                };
                // Always an error: raised with log-separate-errors.
                let level = if fe.log.separate_errors {
                    LEVEL_ERR
                } else {
                    LEVEL_INFO
                };
                Some(Rendered {
                    frontend: r.frontend.index(),
                    level,
                    sd,
                })
            }
            Message::Event { .. } => None,
        }
    }

    /// What a record's indices point at.
    fn names(&self, r: &Record) -> Names<'_> {
        let fe = &self.book.frontends[r.frontend.index()];
        let backend = r.backend.map(|b| &self.book.backends[b.index()]);
        let server = backend.zip(r.server).map(|(b, s)| &b.servers[s.index()]);
        Names {
            frontend: &fe.name,
            backend: backend.map_or(&fe.name, |b| &b.name),
            server: server.map(|s| s.name.as_str()),
            server_addr: server.map(|s| s.addr),
            hostname: &self.hostname,
            pid: self.pid,
            logasap: fe.log.logasap,
        }
    }

    /// Renders the frontend's `log-format-sd` into `sd`; `false` when it
    /// has none (RFC 5424 targets then show `-`).
    fn render_sd(&self, r: &Record, names: &Names<'_>, sd: &mut String) -> bool {
        let log = &self.book.frontends[r.frontend.index()].log;
        let Some(fmt) = &log.format_sd else {
            return false;
        };
        format::render(fmt, r, names, sd);
        true
    }

    /// Sends `line` at `level` to the targets of route list `proxy`
    /// (frontends first, then backends), with `sd` as the structured data
    /// of RFC 5424 targets.
    fn write(
        &mut self,
        proxy: usize,
        level: u8,
        line: &str,
        sd: Option<&str>,
        framed: &mut Vec<u8>,
    ) {
        let nfe = self.book.frontends.len();
        let log = match proxy.checked_sub(nfe) {
            None => &self.book.frontends[proxy].log,
            Some(b) => &self.book.backends[b].log,
        };
        let g = &self.book.global;
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
            target::frame(&route.target, level, &origin, now, line, sd, framed);
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

/// HAProxy's name for the bind a client reached: its `name`, else its
/// number in the frontend.
fn bind_name(fe: &crate::config::Frontend, local: SocketAddr) -> String {
    let reached = |b: &&crate::config::Bind| {
        b.addr.tcp().is_some_and(|a| {
            a.port() == local.port() && (a.ip() == local.ip() || a.ip().is_unspecified())
        })
    };
    match fe.binds.iter().enumerate().find(|(_, b)| reached(b)) {
        Some((_, b)) if b.name.is_some() => b.name.clone().unwrap_or_default(),
        Some((i, _)) => (i + 1).to_string(),
        None => "1".into(),
    }
}

/// The system's host name (`%H`, `log-send-hostname` without a name).
pub(crate) fn hostname() -> String {
    crate::sys::hostname()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
