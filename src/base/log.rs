//! What the threads hand the logger thread: a session's finished
//! [`Record`], a `Connect from` line, a server event, a PROXY header
//! failure ([`Message`]); and the [`LogSender`] they hand it with. The
//! producers (sessions, the health and admin threads) and the logger only
//! share these types: neither imports the other.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crossbeam_channel::{Sender, TrySendError};

use super::ids::{BackendId, FrontendId, ServerId};

/// Syslog levels of the messages (HAProxy's): sessions at `info` (`err`
/// for those in error with `option log-separate-errors`); server events at `emerg` when a backend has no server left, `alert` when a
/// server goes DOWN, `notice` for the rest (UP, maintenance, drain, check
/// results).
pub(crate) const LEVEL_EMERG: u8 = 0;
pub(crate) const LEVEL_ALERT: u8 = 1;
pub(crate) const LEVEL_ERR: u8 = 3;
pub(crate) const LEVEL_NOTICE: u8 = 5;
pub(crate) const LEVEL_INFO: u8 = 6;

/// What ended a session: the first letter of HAProxy's termination state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// `-`: ended normally.
    Normal,
    /// `C`: the client aborted.
    Client,
    /// `S`: the server aborted or refused.
    Server,
    /// `R`: a local resource ran out (ports, descriptors, memory).
    Resource,
    /// `D`: its server was marked DOWN (`on-marked-down shutdown-sessions`).
    ServerDown,
    /// `U`: a backup server gave way to an active one
    /// (`on-marked-up shutdown-backup-sessions`).
    BackupCut,
    /// `K`: killed by the operator (runtime API) or a stop.
    Killed,
    /// `c`: the client timeout struck.
    ClientTimeout,
    /// `s`: the server (or connect, or queue) timeout struck.
    ServerTimeout,
    /// `P`: splicer itself refused the connection (a bad PROXY header).
    Proxy,
}

impl Cause {
    pub(crate) fn letter(self) -> char {
        match self {
            Cause::Normal => '-',
            Cause::Client => 'C',
            Cause::Server => 'S',
            Cause::Resource => 'R',
            Cause::ServerDown => 'D',
            Cause::BackupCut => 'U',
            Cause::Killed => 'K',
            Cause::ClientTimeout => 'c',
            Cause::ServerTimeout => 's',
            Cause::Proxy => 'P',
        }
    }
}

/// Where the session was when it ended: the second letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `R`: before the session was set up (HAProxy: waiting for the
    /// request).
    Request,
    /// `Q`: waiting in a backend's queue.
    Queue,
    /// `C`: connecting to a server.
    Connect,
    /// `D`: forwarding data.
    Data,
    /// `-`: finished.
    Done,
}

impl Stage {
    pub(crate) fn letter(self) -> char {
        match self {
            Stage::Request => 'R',
            Stage::Queue => 'Q',
            Stage::Connect => 'C',
            Stage::Data => 'D',
            Stage::Done => '-',
        }
    }
}

/// HAProxy's termination state (`%ts`): what ended the session, and where
/// it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pub cause: Cause,
    pub stage: Stage,
}

impl Term {
    pub(crate) const NORMAL: Term = Term::new(Cause::Normal, Stage::Done);
    /// The client reset or left. HAProxy 2.6 says `CD` whether the session
    /// was queued, connecting or forwarding (checked against it; its
    /// documentation's `CQ`/`CC` do not appear in TCP mode).
    pub(crate) const CLIENT_ABORT: Term = Term::new(Cause::Client, Stage::Data);
    pub(crate) const SERVER_ABORT: Term = Term::new(Cause::Server, Stage::Data);
    /// No server could take the session, or none answered.
    pub(crate) const NO_SERVER: Term = Term::new(Cause::Server, Stage::Connect);
    pub(crate) const QUEUE_TIMEOUT: Term = Term::new(Cause::ServerTimeout, Stage::Queue);
    /// A connection refused before it became a session (HAProxy's `PR` in
    /// an `error-log-format` line).
    pub(crate) const CONNECTION_ERROR: Term = Term::new(Cause::Proxy, Stage::Request);

    pub(crate) const fn new(cause: Cause, stage: Stage) -> Term {
        Term { cause, stage }
    }

    /// A failed server connection: refused or unreachable (`SC`), timed out
    /// (`sC`), or out of a local resource such as ports or descriptors
    /// (`RC`). `forwarding`: the server accepted, then closed before any
    /// byte came back: a clean close ends normally, a reset is `SD`.
    pub(crate) fn for_failure(err: &io::Error, forwarding: bool) -> Term {
        use io::ErrorKind::*;
        if forwarding {
            return match err.kind() {
                ConnectionAborted => Term::NORMAL,
                _ => Term::SERVER_ABORT,
            };
        }
        match err.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
            | Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE) => {
                return Term::new(Cause::Resource, Stage::Connect);
            }
            _ => {}
        }
        match err.kind() {
            TimedOut => Term::new(Cause::ServerTimeout, Stage::Connect),
            _ => Term::NO_SERVER,
        }
    }

    /// An idle timeout while forwarding: the client's or the server's.
    pub(crate) fn idle_timeout(client: bool) -> Term {
        let cause = if client {
            Cause::ClientTimeout
        } else {
            Cause::ServerTimeout
        };
        Term::new(cause, Stage::Data)
    }

    /// Cut by splicer itself (`cause` Killed, ServerDown or BackupCut).
    /// HAProxy 2.6 logs `K-` for a session killed while forwarding; before
    /// that, the stage says where it was.
    pub(crate) fn killed(cause: Cause, queued: bool, connecting: bool) -> Term {
        let stage = if queued {
            Stage::Queue
        } else if connecting {
            Stage::Connect
        } else {
            Stage::Done
        };
        Term::new(cause, stage)
    }

    /// The two letters, as `%ts` prints them.
    pub(crate) fn letters(self) -> [char; 2] {
        [self.cause.letter(), self.stage.letter()]
    }
}

/// Why a client's PROXY header failed, as HAProxy words it in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Timeout,
    Closed,
    ReadError,
    NotProxy,
    Invalid,
    /// A `tcp-request session` rule refused the client after its PROXY
    /// header: HAProxy logs the connection with "no error", which its
    /// error text spells "Success".
    Refused,
    /// The client's TLS handshake failed.
    TlsFailure,
    /// The client's TLS handshake did not end within `timeout client`.
    TlsTimeout,
    /// The client closed during its TLS handshake.
    TlsClosed,
    /// The client's certificate was refused (`verify`).
    TlsCertRefused,
}

impl Handshake {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Handshake::Timeout => "Timeout while waiting for PROXY protocol header",
            Handshake::Closed => "Connection closed while waiting for PROXY protocol header",
            Handshake::ReadError => "Error while reading PROXY protocol header",
            Handshake::NotProxy => {
                "Received something which does not look like a PROXY protocol header"
            }
            Handshake::Invalid => "Received an invalid PROXY protocol header",
            Handshake::Refused => "Success",
            Handshake::TlsFailure => "SSL handshake failure",
            Handshake::TlsTimeout => "Timeout during SSL handshake",
            Handshake::TlsClosed => "Connection closed during SSL handshake",
            Handshake::TlsCertRefused => "SSL client certificate not trusted",
        }
    }
}

/// What a session's log line says, finished by the session as it closes.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub frontend: FrontendId,
    /// `None`: the frontend has no backend (its own name is logged).
    pub backend: Option<BackendId>,
    /// `None`: `<NOSRV>`.
    pub server: Option<ServerId>,
    pub client: SocketAddr,
    pub local: SocketAddr,
    /// A client of a UNIX socket: the bind's listener id, which HAProxy
    /// logs as the port of both ends (their address is `unix`).
    pub unix: Option<u32>,
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
    /// The values of the format's `%[expr]` samples (`None`: no value).
    pub samples: Vec<Option<String>>,
    /// The client connection's TLS version (`%sslv`, and `%ft`'s `~`);
    /// `None`: in clear.
    pub tls_version: Option<&'static str>,
    /// Its cipher suite by OpenSSL's name (`%sslc`).
    pub tls_cipher: Option<&'static str>,
}

impl Record {
    /// Whether the session counts as an error for `option dontlog-normal`
    /// and `option log-separate-errors` (HAProxy 2.6.1+): it did not end
    /// normally, or it needed a retry or a redispatch.
    pub(crate) fn is_error(&self) -> bool {
        self.term.cause != Cause::Normal || self.retries > 0 || self.redispatched
    }
}

/// One thing to log. Indices (frontend, backend, server) are the config's
/// of the logger the message is sent to.
#[derive(Debug)]
pub(crate) enum Message {
    /// A session ended (frontends with `option tcplog` or `log-format`).
    Session(Box<Record>),
    /// A session started (frontends with neither: HAProxy's default line).
    Connect {
        frontend: FrontendId,
        client: SocketAddr,
        local: SocketAddr,
        /// A client of a UNIX-socket bind: that bind's number in its
        /// frontend (HAProxy logs `Connect to unix:N`).
        unix: Option<u32>,
    },
    /// A server or backend event (UP, DOWN, maintenance, check result),
    /// for the `log` targets of the backend of that name. By name: the
    /// thread that sends it may be a config behind the logger's.
    Event {
        backend: String,
        level: u8,
        text: String,
    },
    /// A client failed its PROXY header: HAProxy's connection error line,
    /// or its `error-log-format` rendered from `record` (no backend, no
    /// server, `PR`; `local` names the bind the client reached).
    Handshake {
        record: Box<Record>,
        what: Handshake,
    },
}

/// The way to the logger thread: cheap to clone, never blocks. A full
/// queue drops the message and counts it: a slow log target costs log
/// lines, never traffic.
#[derive(Clone, Debug)]
pub(crate) struct LogSender {
    tx: Option<Sender<Message>>,
    dropped: Arc<AtomicU64>,
}

impl LogSender {
    /// A sender to `tx`, counting drops in `dropped`.
    pub(crate) fn new(tx: Sender<Message>, dropped: Arc<AtomicU64>) -> LogSender {
        LogSender {
            tx: Some(tx),
            dropped,
        }
    }

    /// A sender that logs nothing (no `log` target).
    pub(crate) fn disabled() -> LogSender {
        LogSender {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn send(&self, msg: Message) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Messages lost so far because the logger could not keep up.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn failures_map_to_haproxy_states() {
        let e = |k| io::Error::new(k, "x");
        let os = io::Error::from_raw_os_error;
        let cases: &[(&str, io::Error, bool, &str)] = &[
            ("refused", os(libc::ECONNREFUSED), false, "SC"),
            ("unreachable", os(libc::EHOSTUNREACH), false, "SC"),
            ("connect timeout", e(io::ErrorKind::TimedOut), false, "sC"),
            ("no fd", os(libc::EMFILE), false, "RC"),
            ("no port", os(libc::EADDRNOTAVAIL), false, "RC"),
            (
                "server closed",
                e(io::ErrorKind::ConnectionAborted),
                true,
                "--",
            ),
            (
                "server reset",
                e(io::ErrorKind::ConnectionReset),
                true,
                "SD",
            ),
        ];
        for (what, err, fwd, expected) in cases {
            let t = Term::for_failure(err, *fwd);
            let got: String = t.letters().iter().collect();
            assert_eq!(got, *expected, "{what}");
        }
    }

    /// HAProxy 2.6's `err` of strm_log (after its fix a892b7f1 of 2.6.1):
    /// any termination state but `-`, a retry, a redispatch.
    #[test]
    fn which_records_are_errors() {
        let record = |term, retries, redispatched| Record {
            frontend: FrontendId::new(0),
            backend: None,
            server: None,
            client: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:2".parse().unwrap(),
            unix: None,
            source: None,
            accepted: SystemTime::now(),
            tw: 0,
            tc: 0,
            tt: 0,
            bytes_in: 0,
            bytes_out: 0,
            term,
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srvconn: 0,
            retries,
            redispatched,
            srv_queue: 0,
            backend_queue: 0,
            samples: Vec::new(),
            tls_version: None,
            tls_cipher: None,
        };
        let cases: &[(&str, Term, u32, bool, bool)] = &[
            ("normal", Term::NORMAL, 0, false, false),
            ("normal after a retry", Term::NORMAL, 1, false, true),
            ("redispatched", Term::NORMAL, 1, true, true),
            ("client abort", Term::CLIENT_ABORT, 0, false, true),
            ("server abort", Term::SERVER_ABORT, 0, false, true),
            ("no server", Term::NO_SERVER, 0, false, true),
            ("queue timeout", Term::QUEUE_TIMEOUT, 0, false, true),
            ("client timeout", Term::idle_timeout(true), 0, false, true),
            (
                "killed",
                Term::killed(Cause::Killed, false, false),
                0,
                false,
                true,
            ),
            ("PROXY header", Term::CONNECTION_ERROR, 0, false, true),
        ];
        for (what, term, retries, redispatched, expected) in cases {
            let r = record(*term, *retries, *redispatched);
            assert_eq!(r.is_error(), *expected, "{what}");
        }
        let pr: String = Term::CONNECTION_ERROR.letters().iter().collect();
        assert_eq!(pr, "PR");
    }

    #[test]
    fn kills_say_where_the_session_was() {
        let cases: &[(Cause, bool, bool, &str)] = &[
            (Cause::Killed, false, false, "K-"),
            (Cause::ServerDown, false, true, "DC"),
            (Cause::BackupCut, true, false, "UQ"),
        ];
        for (cause, queued, connecting, expected) in cases {
            let got: String = Term::killed(*cause, *queued, *connecting)
                .letters()
                .iter()
                .collect();
            assert_eq!(got, *expected);
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (tx, rx) = crossbeam_channel::bounded(2);
        let h = LogSender::new(tx, Arc::new(AtomicU64::new(0)));
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let connect = || Message::Connect {
            frontend: FrontendId::new(0),
            client: addr,
            local: addr,
            unix: None,
        };
        let started = Instant::now();
        for _ in 0..5 {
            h.send(connect());
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!((rx.len(), h.dropped()), (2, 3));
        drop(rx);
        h.send(connect());
        assert_eq!(h.dropped(), 4, "a stopped logger drops too");
        LogSender::disabled().send(connect());
    }
}
