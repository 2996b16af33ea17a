//! What a session remembers for its log line: when it was accepted, left
//! the queue and got connected, which server it tried last, its retries,
//! and why it ended (HAProxy's two-character termination state). The
//! session records events as they happen; the worker turns the trace into a
//! [`Record`](super::Record) when the session closes.

use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// HAProxy's termination state: what ended the session, and where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// `C` client, `S` server, `P` proxy, `R` local resource, `D` server
    /// marked down, `U` backup cut for an active server, `K` killed,
    /// `c`/`s` client/server timeout, `-` normal.
    pub cause: char,
    /// `Q` queued, `C` connecting, `D` data, `-` finished.
    pub state: char,
}

impl Term {
    pub const NORMAL: Term = Term::new('-', '-');
    /// The client reset or left. HAProxy 2.6 says `CD` whether the session
    /// was queued, connecting or forwarding (checked against it; its
    /// documentation's `CQ`/`CC` do not appear in TCP mode).
    pub const CLIENT_ABORT: Term = Term::new('C', 'D');
    pub const SERVER_ABORT: Term = Term::new('S', 'D');
    /// No server could take the session, or none answered.
    pub const NO_SERVER: Term = Term::new('S', 'C');
    pub const QUEUE_TIMEOUT: Term = Term::new('s', 'Q');

    pub const fn new(cause: char, state: char) -> Term {
        Term { cause, state }
    }

    /// A failed server connection: refused or unreachable (`SC`), timed out
    /// (`sC`), or out of a local resource such as ports or descriptors
    /// (`RC`). `forwarding`: the server accepted, then closed before any
    /// byte came back: a clean close ends normally, a reset is `SD`.
    pub fn for_failure(err: &io::Error, forwarding: bool) -> Term {
        use io::ErrorKind::*;
        if forwarding {
            return match err.kind() {
                ConnectionAborted => Term::NORMAL,
                _ => Term::SERVER_ABORT,
            };
        }
        match err.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
            | Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE) => return Term::new('R', 'C'),
            _ => {}
        }
        match err.kind() {
            TimedOut => Term::new('s', 'C'),
            _ => Term::NO_SERVER,
        }
    }

    /// An idle timeout while forwarding: the client's or the server's.
    pub fn idle_timeout(client: bool) -> Term {
        Term::new(if client { 'c' } else { 's' }, 'D')
    }

    /// Cut by splicer itself (`cause` K, D or U). HAProxy 2.6 logs `K-`
    /// for a session killed while forwarding; before that, the state says
    /// where it was.
    pub fn killed(cause: char, queued: bool, connecting: bool) -> Term {
        let state = if queued {
            'Q'
        } else if connecting {
            'C'
        } else {
            '-'
        };
        Term::new(cause, state)
    }
}

/// Why a client's PROXY header failed, as HAProxy words it in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Timeout,
    Closed,
    ReadError,
    NotProxy,
    Invalid,
}

impl Handshake {
    pub fn message(self) -> &'static str {
        match self {
            Handshake::Timeout => "Timeout while waiting for PROXY protocol header",
            Handshake::Closed => "Connection closed while waiting for PROXY protocol header",
            Handshake::ReadError => "Error while reading PROXY protocol header",
            Handshake::NotProxy => {
                "Received something which does not look like a PROXY protocol header"
            }
            Handshake::Invalid => "Received an invalid PROXY protocol header",
        }
    }
}

impl From<&crate::proxy_proto::ParseError> for Handshake {
    fn from(e: &crate::proxy_proto::ParseError) -> Handshake {
        match e {
            crate::proxy_proto::ParseError::NotProxy => Handshake::NotProxy,
            crate::proxy_proto::ParseError::Malformed(_) => Handshake::Invalid,
        }
    }
}

#[derive(Debug)]
pub struct Trace {
    /// Wall-clock accept time, for `%t`.
    pub accepted: SystemTime,
    started: Instant,
    queued_at: Option<Instant>,
    /// When the session left the queue stage: its first connection attempt.
    queue_end: Option<Instant>,
    connected: Option<Instant>,
    /// The last server tried.
    pub server: Option<usize>,
    /// Our address on the server connection (`%bi:%bp`), when the format
    /// needs it (a `getsockname` per session otherwise saved).
    pub source: Option<SocketAddr>,
    wants_source: bool,
    pub retries: u32,
    pub redispatched: bool,
    /// Dequeue count of the backend queue when this session entered it.
    queue_ticket: Option<u64>,
    /// `%bq`: 1 + the sessions served from the backend queue while this one
    /// waited (HAProxy's "processed before this one").
    pub backend_queue: u64,
    /// The last connection failure; what ends the session if retries run out.
    failure: Option<Term>,
    /// The first event that ended the session.
    end: Option<Term>,
    /// A PROXY header problem: logged as HAProxy's connection error line.
    pub handshake: Option<Handshake>,
    /// The `Connect from` line (default format) went out.
    pub announced: bool,
}

impl Trace {
    pub fn new(now: Instant, wants_source: bool) -> Trace {
        Trace {
            accepted: SystemTime::now(),
            started: now,
            queued_at: None,
            queue_end: None,
            connected: None,
            server: None,
            source: None,
            wants_source,
            retries: 0,
            redispatched: false,
            queue_ticket: None,
            backend_queue: 0,
            failure: None,
            end: None,
            handshake: None,
            announced: false,
        }
    }

    pub fn queued(&mut self, now: Instant) {
        self.queued_at.get_or_insert(now);
    }

    /// The worker put the session in a backend queue whose dequeue count is `ticket`.
    pub fn enqueued(&mut self, ticket: u64) {
        self.queue_ticket.get_or_insert(ticket);
    }

    /// The session left the queue (served, or gone) when the dequeue count was `count`.
    pub fn dequeued(&mut self, count: u64) {
        if let Some(t) = self.queue_ticket.take() {
            self.backend_queue += count.saturating_sub(t) + 1;
        }
    }

    pub fn connecting(&mut self, server: usize, now: Instant) {
        self.queue_end.get_or_insert(now);
        self.server = Some(server);
    }

    pub fn connected(&mut self, now: Instant, source: impl FnOnce() -> Option<SocketAddr>) {
        self.connected = Some(now);
        if self.wants_source {
            self.source = source();
        }
    }

    pub fn retried(&mut self, redispatch: bool) {
        self.retries += 1;
        self.redispatched |= redispatch;
    }

    pub fn failed(&mut self, term: Term) {
        self.failure = Some(term);
    }

    /// Records why the session ends; the first reason given wins.
    pub fn end(&mut self, term: Term) {
        self.end.get_or_insert(term);
    }

    /// The termination state at close.
    pub fn term(&self) -> Term {
        self.end.or(self.failure).unwrap_or(Term::NORMAL)
    }

    /// `(Tw, Tc, Tt)` in milliseconds, `-1` for a stage never reached.
    pub fn timers(&self, now: Instant) -> (i64, i64, i64) {
        let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_millis() as i64;
        // A session that died in the queue waited until now.
        let queue_end = self.queue_end.or(self.queued_at.map(|_| now));
        let tw = queue_end.map_or(-1, |q| ms(self.started, q));
        let tc = match (self.queue_end, self.connected) {
            (Some(q), Some(c)) => ms(q, c),
            _ => -1,
        };
        (tw, tc, ms(self.started, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            assert_eq!(format!("{}{}", t.cause, t.state), *expected, "{what}");
        }
    }

    #[test]
    fn first_end_wins_over_failures() {
        let mut t = Trace::new(Instant::now(), false);
        assert_eq!(t.term(), Term::NORMAL);
        t.failed(Term::NO_SERVER);
        assert_eq!(t.term(), Term::NO_SERVER);
        t.end(Term::CLIENT_ABORT);
        t.end(Term::SERVER_ABORT);
        assert_eq!(t.term(), Term::CLIENT_ABORT);
    }

    #[test]
    fn timers_per_stage() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Trace::new(t0, false);
        assert_eq!(t.timers(at(7)), (-1, -1, 7), "never reached a server");
        t.queued(at(1));
        assert_eq!(t.timers(at(30)), (30, -1, 30), "died in the queue");
        t.connecting(0, at(20));
        t.connected(at(25), || None);
        assert_eq!(t.timers(at(100)), (20, 5, 100), "queued, then connected");
    }

    #[test]
    fn queue_position_counts_sessions_served_first() {
        let mut t = Trace::new(Instant::now(), false);
        t.enqueued(10);
        t.dequeued(12);
        assert_eq!(t.backend_queue, 3);
        let mut first = Trace::new(Instant::now(), false);
        first.enqueued(4);
        first.dequeued(4);
        assert_eq!(first.backend_queue, 1);
    }
}
