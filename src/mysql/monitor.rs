//! The monitor thread: one `mio::Poll`, one persistent connection per
//! member of every `mysql-cluster`. Each `interval` a round sends the
//! [`QUERIES`] on every member's connection (logging in first when there
//! is none); a member whose round gets every answer within `timeout` is
//! seen, one that does not counts a failed round and its connection is
//! closed, politely: a logged-in connection gets COM_QUIT, and a login is
//! always finished (or refused by the server) before the socket goes, so
//! the monitor never counts against `max_connect_errors`.
//!
//! After every round result the cluster's roles are recomputed and
//! published (`runtime::mysql::publish`); sessions on a server that lost
//! the writer role are cut through the workers. Failover steps
//! (`failover.rs`) run as statements on the same connections.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::failover::Failovers;
use super::observe::{Observation, QUERIES};
use super::proto::{Client, Event, ProtoError};
use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::control::{Control, ControlLink};
use crate::runtime::Runtime;
use crate::runtime::mysql::{Writer, publish};

/// The longest wait between logins the server refused.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// Starts the monitor when the config has a `mysql-cluster`.
pub(crate) fn start(rt: Arc<Runtime>, workers: Vec<ControlLink>) -> io::Result<Option<Service>> {
    if rt.mysql.is_empty() {
        return Ok(None);
    }
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    for c in &rt.mysql {
        *c.waker.lock() = Some(waker.clone());
    }
    let thread = Monitor::new(rt, workers, poll);
    Service::spawn("mysql", Some(waker), move |stop| thread.run(stop)).map(Some)
}

/// Why a statement was sent, so its answer reaches the right place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Answer `step` of the round's [`QUERIES`].
    Observe(usize),
    /// A failover step's statement; the failover run knows which.
    Step,
}

/// The answer to a failover statement.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    Rows(super::proto::ResultSet),
    Done,
    Error(String),
}

#[derive(Debug)]
struct Conn {
    sock: TcpStream,
    client: Client,
    connected: bool,
    /// What each statement sent (or queued) is for, in order.
    pending: VecDeque<Purpose>,
}

#[derive(Debug)]
struct Round {
    deadline: Instant,
    obs: Observation,
}

#[derive(Debug)]
pub(super) struct Member {
    pub cluster: usize,
    pub index: usize,
    pub addr: SocketAddr,
    conn: Option<Conn>,
    round: Option<Round>,
    /// Failover statements waiting for their answers, oldest first.
    pub outcomes: VecDeque<Outcome>,
    /// A failover statement is on its way; its deadline.
    pub step_deadline: Option<Instant>,
    /// After the server refused the login: no new login before this.
    /// A refused login (wrong password, account locked, `max_connections`
    /// reached) does not fix itself between two rounds; asking again at
    /// every round only fills the server's log. Refusals back off: the
    /// interval, doubled per refusal, up to [`MAX_BACKOFF`], so a fixed
    /// password is noticed within that. (MariaDB 10.11 does not count a
    /// refused login against `max_connect_errors`; an aborted handshake
    /// it does, which is why a login is always finished.)
    retry_at: Option<Instant>,
    refusals: u32,
}

pub(super) struct Monitor {
    pub rt: Arc<Runtime>,
    workers: Vec<ControlLink>,
    poll: Poll,
    pub members: Vec<Member>,
    /// Per cluster, the index in `members` of its first server.
    first: Vec<usize>,
    /// Per cluster: the next round's start, and the writer last logged.
    next_round: Vec<Instant>,
    last_writer: Vec<Writer>,
    pub failovers: Failovers,
}

impl Monitor {
    fn new(rt: Arc<Runtime>, workers: Vec<ControlLink>, poll: Poll) -> Monitor {
        let mut members = Vec::new();
        let mut first = Vec::with_capacity(rt.mysql.len());
        for (ci, c) in rt.mysql.iter().enumerate() {
            first.push(members.len());
            for (i, s) in c.config.servers.iter().enumerate() {
                members.push(Member {
                    cluster: ci,
                    index: i,
                    addr: s.addr,
                    conn: None,
                    round: None,
                    outcomes: VecDeque::new(),
                    step_deadline: None,
                    retry_at: None,
                    refusals: 0,
                });
            }
        }
        let clusters = rt.mysql.len();
        let last_writer = rt
            .mysql
            .iter()
            .map(|c| {
                let view = c.view.lock();
                view.writer(&c.config)
            })
            .collect();
        Monitor {
            failovers: Failovers::new(clusters),
            rt,
            workers,
            poll,
            members,
            first,
            next_round: vec![Instant::now(); clusters],
            last_writer,
        }
    }

    fn run(mut self, stop: StopFlag) {
        let mut events = Events::with_capacity(256);
        while !stop.is_set() {
            let wait = self
                .next_deadline()
                .saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait))
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("mysql monitor: poll failed: {e}");
                return;
            }
            for ev in events.iter() {
                if ev.token() != WAKER {
                    self.io(ev.token().0);
                }
            }
            self.requests();
            self.timers();
        }
        for m in 0..self.members.len() {
            self.close(m);
        }
    }

    fn next_deadline(&self) -> Instant {
        let rounds = self
            .members
            .iter()
            .filter_map(|m| m.round.as_ref().map(|r| r.deadline));
        let steps = self.members.iter().filter_map(|m| m.step_deadline);
        self.next_round
            .iter()
            .copied()
            .chain(rounds)
            .chain(steps)
            .chain(self.failovers.next_wake())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
    }

    fn timers(&mut self) {
        let now = Instant::now();
        for m in 0..self.members.len() {
            // A failover statement on the connection delays the round's
            // answers queued behind it: its own deadline decides then.
            let late = match self.members[m].step_deadline {
                Some(d) => now >= d,
                None => self.members[m]
                    .round
                    .as_ref()
                    .is_some_and(|r| now >= r.deadline),
            };
            if late {
                let timeout = self.cluster_of(m).config.timeout;
                self.fail(m, format!("no answer within {} ms", timeout.as_millis()));
            }
        }
        for ci in 0..self.next_round.len() {
            if now < self.next_round[ci] {
                continue;
            }
            let interval = self.rt.mysql[ci].config.interval;
            self.next_round[ci] = now + interval;
            for m in 0..self.members.len() {
                let member = &self.members[m];
                // No round behind a failover statement still running.
                if member.cluster == ci && member.round.is_none() && member.step_deadline.is_none()
                {
                    self.start_round(m, now);
                }
            }
        }
        for ci in 0..self.next_round.len() {
            self.failover_tick(ci);
        }
    }

    fn cluster_of(&self, m: usize) -> &crate::runtime::mysql::ClusterState {
        &self.rt.mysql[self.members[m].cluster]
    }

    fn start_round(&mut self, m: usize, now: Instant) {
        let timeout = self.cluster_of(m).config.timeout;
        if self.members[m].conn.is_none() && self.members[m].retry_at.is_some_and(|t| now < t) {
            // Still backing off a refused login: another failed round.
            let error = self.cluster_of(m).view.lock().members[self.members[m].index]
                .error
                .clone()
                .unwrap_or_default();
            self.record_failure(m, error);
            return;
        }
        if self.members[m].conn.is_none() && !self.open(m) {
            return;
        }
        let member = &mut self.members[m];
        member.round = Some(Round {
            deadline: now + timeout,
            obs: Observation::default(),
        });
        for (step, q) in QUERIES.iter().enumerate() {
            self.send(m, q, Purpose::Observe(step));
        }
    }

    /// Sends a statement on member `m`'s connection (opened if needed).
    pub(super) fn send(&mut self, m: usize, sql: &str, purpose: Purpose) -> bool {
        if self.members[m].conn.is_none() && !self.open(m) {
            return false;
        }
        if purpose == Purpose::Step {
            let timeout = self.cluster_of(m).config.timeout;
            self.members[m].step_deadline = Some(Instant::now() + timeout);
        }
        let Some(conn) = self.members[m].conn.as_mut() else {
            return false;
        };
        conn.client.query(sql);
        conn.pending.push_back(purpose);
        self.flush(m);
        true
    }

    /// Sends a failover statement with its own deadline (`STOP SLAVE` may
    /// take seconds).
    pub(super) fn send_with_deadline(&mut self, m: usize, sql: &str, wait: Duration) -> bool {
        let ok = self.send(m, sql, Purpose::Step);
        if ok {
            self.members[m].step_deadline = Some(Instant::now() + wait);
        }
        ok
    }

    fn open(&mut self, m: usize) -> bool {
        let c = self.cluster_of(m);
        let (user, password) = (c.config.user.clone(), c.config.password.0.clone());
        let addr = self.members[m].addr;
        let mut sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("cannot connect to {addr}: {e}");
                self.record_failure(m, msg);
                return false;
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut sock, Token(m), interest) {
            self.record_failure(m, format!("cannot watch the connection: {e}"));
            return false;
        }
        self.members[m].conn = Some(Conn {
            sock,
            client: Client::new(&user, &password),
            connected: false,
            pending: VecDeque::new(),
        });
        true
    }

    fn io(&mut self, m: usize) {
        let Some(conn) = self.members.get_mut(m).and_then(|x| x.conn.as_mut()) else {
            return;
        };
        if !conn.connected {
            match conn.sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    let msg = format!("cannot connect to {}: {e}", self.members[m].addr);
                    return self.fail(m, msg);
                }
            }
            match conn.sock.peer_addr() {
                Ok(_) => conn.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let msg = format!("cannot connect to {}: {e}", self.members[m].addr);
                    return self.fail(m, msg);
                }
            }
        }
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let Some(conn) = self.members[m].conn.as_mut() else {
                return;
            };
            match conn.sock.read(&mut buf) {
                Ok(0) => return self.fail(m, "the server closed the connection".to_string()),
                Ok(n) => {
                    if let Err(e) = conn.client.receive(&buf[..n]) {
                        if matches!(e, ProtoError::Server { .. }) {
                            self.refused(m);
                        }
                        return self.fail(m, e.to_string());
                    }
                    self.events(m);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(m, format!("read failed: {e}")),
            }
        }
        self.flush(m);
    }

    fn events(&mut self, m: usize) {
        let addr = self.members[m].addr;
        loop {
            let Some(conn) = self.members[m].conn.as_mut() else {
                return;
            };
            let Some(event) = conn.client.poll_event() else {
                return;
            };
            let outcome = match event {
                Event::LoggedIn => {
                    log::debug!(
                        "mysql monitor: logged in to {} (MariaDB/MySQL {}, connection {})",
                        addr,
                        conn.client.server_version().unwrap_or("?"),
                        conn.client.connection_id().unwrap_or(0)
                    );
                    self.members[m].refusals = 0;
                    self.members[m].retry_at = None;
                    continue;
                }
                Event::Rows(rs) => Outcome::Rows(rs),
                Event::Done { .. } => Outcome::Done,
                Event::QueryError {
                    code,
                    state,
                    message,
                } => Outcome::Error(format!("{code} ({state}) {message}")),
            };
            let Some(purpose) = conn.pending.pop_front() else {
                return self.fail(m, "an answer to no question".to_string());
            };
            match purpose {
                Purpose::Observe(step) => self.observed(m, step, outcome),
                Purpose::Step => {
                    self.members[m].step_deadline = None;
                    self.members[m].outcomes.push_back(outcome);
                    let ci = self.members[m].cluster;
                    self.failover_tick(ci);
                }
            }
        }
    }

    fn observed(&mut self, m: usize, step: usize, outcome: Outcome) {
        let Some(round) = self.members[m].round.as_mut() else {
            return;
        };
        let result = match outcome {
            Outcome::Rows(rs) => round.obs.answer(step, &rs),
            Outcome::Done => Err(format!("'{}' returned no rows", QUERIES[step])),
            Outcome::Error(e) => Err(format!("'{}' failed: {e}", QUERIES[step])),
        };
        if let Err(e) = result {
            return self.fail(m, e);
        }
        if step + 1 < QUERIES.len() {
            return;
        }
        let Some(round) = self.members[m].round.take() else {
            return;
        };
        let (ci, i) = (self.members[m].cluster, self.members[m].index);
        {
            let mut view = self.rt.mysql[ci].view.lock();
            let member = &mut view.members[i];
            if !member.ever_seen || member.fails > 0 {
                log::info!(
                    "mysql-cluster {}: {} answers (after {} failed rounds)",
                    self.rt.mysql[ci].config.name,
                    member.name,
                    member.fails
                );
            }
            member.seen = round.obs;
            member.answered = true;
            member.ever_seen = true;
            member.fails = 0;
            member.error = None;
            view.link = view.link_settings();
        }
        self.reconcile(ci);
    }

    /// The server refused the login: the next one waits longer.
    fn refused(&mut self, m: usize) {
        let interval = self.cluster_of(m).config.interval;
        let member = &mut self.members[m];
        member.refusals = member.refusals.saturating_add(1);
        let factor = 1u32 << member.refusals.min(16);
        let wait = interval.saturating_mul(factor).min(MAX_BACKOFF);
        member.retry_at = Some(Instant::now() + wait);
    }

    /// Writes what the client has for the server.
    fn flush(&mut self, m: usize) {
        let Some(conn) = self.members[m].conn.as_mut() else {
            return;
        };
        if !conn.connected {
            return;
        }
        while !conn.client.output().is_empty() {
            match conn.sock.write(conn.client.output()) {
                Ok(0) => break,
                Ok(n) => conn.client.written(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(m, format!("write failed: {e}")),
            }
        }
    }

    /// A round (or a failover statement) on member `m` failed: counts it,
    /// closes the connection, recomputes the roles.
    pub(super) fn fail(&mut self, m: usize, error: String) {
        let member = &mut self.members[m];
        let was_step = member.step_deadline.take().is_some()
            || member
                .conn
                .as_ref()
                .is_some_and(|c| c.pending.contains(&Purpose::Step));
        if was_step {
            member.outcomes.push_back(Outcome::Error(error.clone()));
        }
        self.close(m);
        self.members[m].round = None;
        self.record_failure(m, error);
        let ci = self.members[m].cluster;
        self.reconcile(ci);
        if was_step {
            self.failover_tick(ci);
        }
    }

    fn record_failure(&mut self, m: usize, error: String) {
        let (ci, i) = (self.members[m].cluster, self.members[m].index);
        let c = &self.rt.mysql[ci];
        let mut view = c.view.lock();
        let member = &mut view.members[i];
        if member.fails == 0 || member.error.as_deref() != Some(error.as_str()) {
            log::warn!(
                "mysql-cluster {}: monitor of {} ({}): {error}",
                c.config.name,
                member.name,
                self.members[m].addr
            );
        }
        member.fails = member.fails.saturating_add(1);
        member.answered = false;
        member.error = Some(error);
    }

    /// Closes member `m`'s connection: COM_QUIT first when logged in.
    fn close(&mut self, m: usize) {
        let Some(mut conn) = self.members[m].conn.take() else {
            return;
        };
        if conn.connected && conn.client.logged_in() {
            conn.client.quit();
            // Best effort: the socket is writable unless its buffer is
            // full, which a monitor's few bytes never fill.
            let _ = conn.sock.write(conn.client.output());
        }
        let _ = self.poll.registry().deregister(&mut conn.sock);
    }

    /// Recomputes cluster `ci`'s roles, publishes them, cuts the sessions
    /// of a server that lost the writer role.
    pub(super) fn reconcile(&mut self, ci: usize) {
        let c = self.rt.mysql[ci].clone();
        let held_before: Vec<bool> = self.held();
        let cuts = {
            let mut view = c.view.lock();
            let writer = view.writer(&c.config);
            if writer != self.last_writer[ci] {
                let name = |i: usize| view.members[i].name.clone();
                match &writer {
                    Writer::One(w) => log::warn!(
                        "mysql-cluster {}: {} is the primary; writes go to it",
                        c.config.name,
                        name(*w)
                    ),
                    Writer::None if view.hold_writes(&c.config) => log::warn!(
                        "mysql-cluster {}: no writable primary; new writes wait in the queue (timeout queue)",
                        c.config.name
                    ),
                    Writer::None => log::warn!(
                        "mysql-cluster {}: no writable primary; writes are refused",
                        c.config.name
                    ),
                    Writer::Conflict(all) => log::error!(
                        "mysql-cluster {}: {} {} writable and replicate from no member: \
                         writes are refused until all but one are read_only",
                        c.config.name,
                        all.iter()
                            .map(|&i| name(i))
                            .collect::<Vec<_>>()
                            .join(" and "),
                        if all.len() == 2 {
                            "are both"
                        } else {
                            "are all"
                        }
                    ),
                }
                self.last_writer[ci] = writer.clone();
            }
            view.writer = match writer {
                Writer::One(w) => Some(w),
                _ => None,
            };
            if let Writer::One(w) = writer {
                view.last_primary = Some(w);
            }
            publish(&self.rt, ci, &view)
        };
        self.cut(cuts);
        if held_before.iter().zip(self.held()).any(|(b, a)| *b && !a) {
            for w in &self.workers {
                w.send(Control::Wake);
            }
        }
    }

    fn held(&self) -> Vec<bool> {
        use std::sync::atomic::Ordering;
        self.rt
            .backends
            .iter()
            .map(|b| b.held.load(Ordering::Acquire))
            .collect()
    }

    /// Closes the sessions of these servers in every worker.
    pub(super) fn cut(&self, cuts: Vec<crate::runtime::mysql::Cut>) {
        for (backend, server) in cuts {
            for w in &self.workers {
                w.send(Control::ShutdownServer { backend, server });
            }
        }
    }

    /// Answers the runtime API's requests.
    fn requests(&mut self) {
        for ci in 0..self.rt.mysql.len() {
            loop {
                let request = self.rt.mysql[ci].requests.lock().pop_front();
                let Some(request) = request else { break };
                self.request(ci, request);
            }
        }
    }

    /// The flat index of cluster `ci`'s member `i` (`members` holds each
    /// cluster's servers in order, cluster after cluster).
    pub(super) fn member(&self, ci: usize, i: usize) -> usize {
        self.first[ci] + i
    }
}
