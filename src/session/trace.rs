//! What a session remembers for its log line: when it was accepted, left
//! the queue and got connected, which server it tried last, its retries,
//! and why it ended (HAProxy's two-character termination state). The
//! session records events as they happen and turns its trace into a
//! [`Record`](crate::base::log::Record) when it finishes.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use crate::base::ids::ServerId;
use crate::base::log::{Handshake, Term};
use crate::proxy_proto::ParseError;

/// Why a PROXY header was refused, in the log's words.
pub(super) fn handshake_failure(e: &ParseError) -> Handshake {
    match e {
        ParseError::NotProxy => Handshake::NotProxy,
        ParseError::Malformed(_) => Handshake::Invalid,
    }
}

#[derive(Debug)]
pub(super) struct Trace {
    /// Wall-clock accept time, for `%t`.
    pub accepted: SystemTime,
    started: Instant,
    queued_at: Option<Instant>,
    /// When the session left the queue stage: its first connection attempt.
    queue_end: Option<Instant>,
    connected: Option<Instant>,
    /// The last server tried.
    pub server: Option<ServerId>,
    /// Our address on the server connection (`%bi:%bp`), when the format
    /// needs it (a `getsockname` per session otherwise saved).
    pub source: Option<SocketAddr>,
    wants_source: bool,
    pub retries: u32,
    pub redispatched: bool,
    /// `%bq`: 1 + the sessions served from the backend queue while this one
    /// waited (HAProxy's "processed before this one"), for each wait.
    pub backend_queue: u64,
    /// The last connection failure; what ends the session if retries run out.
    failure: Option<Term>,
    /// The first event that ended the session.
    end: Option<Term>,
    /// A PROXY header problem: logged as HAProxy's connection error line.
    pub handshake: Option<Handshake>,
    /// The `Connect from` line (default format) went out.
    pub announced: bool,
    /// The session's line went out when its server connection came up
    /// (`option logasap`, or a format with nothing to wait for).
    pub logged: bool,
}

impl Trace {
    pub(super) fn new(now: Instant, wants_source: bool) -> Trace {
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
            backend_queue: 0,
            failure: None,
            end: None,
            handshake: None,
            announced: false,
            logged: false,
        }
    }

    pub(super) fn queued(&mut self, now: Instant) {
        self.queued_at.get_or_insert(now);
    }

    /// The session left a backend queue; `share` is what the queue says
    /// of its position ([`super::queue::BackendQueue::leave`]).
    pub(super) fn left_queue(&mut self, share: u64) {
        self.backend_queue += share;
    }

    pub(super) fn connecting(&mut self, server: ServerId, now: Instant) {
        self.queue_end.get_or_insert(now);
        self.server = Some(server);
    }

    pub(super) fn connected(&mut self, now: Instant, source: impl FnOnce() -> Option<SocketAddr>) {
        self.connected = Some(now);
        // A retry that got through: the failures before it no longer end
        // the session (HAProxy logs `--` with `+1` after a redispatch).
        self.failure = None;
        if self.wants_source {
            self.source = source();
        }
    }

    pub(super) fn retried(&mut self, redispatch: bool) {
        self.retries += 1;
        self.redispatched |= redispatch;
    }

    pub(super) fn failed(&mut self, term: Term) {
        self.failure = Some(term);
    }

    /// Records why the session ends; the first reason given wins.
    pub(super) fn end(&mut self, term: Term) {
        self.end.get_or_insert(term);
    }

    /// The termination state at close.
    pub(super) fn term(&self) -> Term {
        self.end.or(self.failure).unwrap_or(Term::NORMAL)
    }

    /// `(Tw, Tc, Tt)` in milliseconds, `-1` for a stage never reached.
    pub(super) fn timers(&self, now: Instant) -> (i64, i64, i64) {
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
    fn a_connection_after_a_failure_clears_it() {
        let t0 = Instant::now();
        let mut t = Trace::new(t0, false);
        t.failed(Term::NO_SERVER);
        t.retried(true);
        t.connecting(ServerId::new(1), t0);
        t.connected(t0, || None);
        assert_eq!(t.term(), Term::NORMAL);
        t.failed(Term::SERVER_ABORT);
        assert_eq!(t.term(), Term::SERVER_ABORT, "a failure once connected");
    }

    #[test]
    fn timers_per_stage() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Trace::new(t0, false);
        assert_eq!(t.timers(at(7)), (-1, -1, 7), "never reached a server");
        t.queued(at(1));
        assert_eq!(t.timers(at(30)), (30, -1, 30), "died in the queue");
        t.connecting(ServerId::new(0), at(20));
        t.connected(at(25), || None);
        assert_eq!(t.timers(at(100)), (20, 5, 100), "queued, then connected");
    }
}
