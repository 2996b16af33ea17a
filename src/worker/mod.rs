//! A worker: one thread, one `mio::Poll`, its own listeners (SO_REUSEPORT),
//! slab of sessions, timers, queues and pipe pool. Nothing here is shared
//! with other workers except the runtime's atomics; control messages
//! (stop, soft stop) arrive on a channel followed by a `Waker` wake-up.
//!
//! Tokens follow [`crate::base::token`]: a session with slab key `k` owns
//! tokens `2k` (client) and `2k+1` (server); the waker and listeners take
//! tokens at the top of the range.

mod generation;
mod handshakes;
mod ops;

use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;

use crate::runtime::SessionSlots;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::balance::Candidate;
use crate::base::ids::BackendId;
use crate::base::log::{Cause, LogSender};
use crate::base::timers::{Fired, Timers};
use crate::base::token::{self, MAX_SESSION_KEY, Side};
use crate::control::Control;
use crate::forward::PipePool;
use crate::net::Listener;
use crate::net::sockopt::{Buffers, ClientOptions};
use crate::runtime::{Counters, Runtime, ServerState};
use crate::session::{self, Admission};
use crate::session::{Close, Ctx, Outcome, Session};
use generation::Generation;

/// Events taken per poll.
const EVENTS_CAPACITY: usize = 1024;
/// How often a worker looks again at limits it cannot be woken for (a slot
/// freed by another worker, a listener paused on EMFILE).
const RETRY_TICK: Duration = Duration::from_millis(20);
/// Longest wait in poll: the loop turns at least this often, so that its
/// heartbeat shows a live worker to the VRRP watchdog.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_millis(500);
/// Pause after accept fails for lack of file descriptors or memory.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Most connections one listener event accepts (HAProxy's `tune.maxaccept`
/// default), unless `tune.maxaccept` says otherwise.
const ACCEPT_BATCH_MAX: usize = 64;

/// Why a listener does not accept right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Open,
    /// Global or frontend maxconn reached: retry when sessions end.
    Full,
    /// Accept failed (EMFILE, ...): retry after the pause.
    PausedUntil(Instant),
    /// Paused by the operator (SIGTTOU) until SIGTTIN.
    Stopped,
}

/// A listener in a worker's loop. It is watched level-triggered, and only
/// while its gate is open: an accept round can stop before the call that
/// would say the queue is empty (EAGAIN), since what stays queued is
/// reported again at the next wait; and a listener held shut by a limit
/// does not wake the loop for clients it may not take.
struct Listening {
    l: Listener,
    gate: Gate,
    /// The generation whose frontend `l.frontend` names.
    generation: usize,
    token: Token,
    /// In the worker's epoll set (exactly while the gate is open).
    watched: bool,
    /// Connections the next accept round takes at most: 1 while clients
    /// come one at a time, doubled while every round fills it (a backlog),
    /// halved when a round finds the queue empty.
    batch: usize,
    /// The loop turn in which the last round took a full batch.
    full_turn: u64,
}

impl Listening {
    fn new(l: Listener, generation: usize, token: Token) -> Listening {
        Listening {
            l,
            gate: Gate::Stopped,
            generation,
            token,
            watched: false,
            batch: 1,
            full_turn: 0,
        }
    }

    /// Sets why it does or does not accept, and watches it exactly while
    /// it does.
    fn set_gate(&mut self, gate: Gate, registry: &mio::Registry) {
        self.gate = gate;
        if let Err(e) = self.watch(gate == Gate::Open, registry) {
            log::warn!("listener {}: cannot change its watch: {e}", self.l.addr);
        }
    }

    fn watch(&mut self, want: bool, registry: &mio::Registry) -> io::Result<()> {
        use std::os::fd::{AsFd, AsRawFd};
        if want == self.watched {
            return Ok(());
        }
        let (epfd, fd) = (registry.as_raw_fd(), self.l.socket.as_fd());
        if want {
            crate::sys::epoll_watch_level(epfd, fd, self.token.0)?;
        } else {
            crate::sys::epoll_unwatch(epfd, fd)?;
        }
        self.watched = want;
        Ok(())
    }
}

pub(crate) struct Worker {
    id: usize,
    poll: Poll,
    /// Config generations with sessions (see [`generation`]); `current`
    /// takes the new sessions.
    gens: Slab<Generation>,
    current: usize,
    listeners: Vec<Option<Listening>>,
    sessions: Slab<Session>,
    timers: Timers,
    candidates: Vec<Candidate>,
    pipes: PipePool,
    scratch: Box<[u8]>,
    control: Receiver<Control>,
    /// Sessions closed during the current event batch; removed after it, so
    /// a stale event in the same batch cannot reach a new session in the slot.
    closed: Vec<(usize, Close)>,
    stopping: bool,
    /// Listeners paused by SIGTTOU (new ones from a reload start paused).
    paused: bool,
    /// The last session id given (see `ops.rs`).
    session_seq: u64,
    /// Loop turns so far.
    turn: u64,
    /// TLS handshakes with work to do, run a few per turn.
    handshakes: handshakes::HandshakeQueue,
}

impl Worker {
    /// Builds a worker around its listeners; returns it with the waker the
    /// main thread uses to reach it.
    pub(crate) fn new(
        id: usize,
        rt: Arc<Runtime>,
        listeners: Vec<Listener>,
        control: Receiver<Control>,
        logs: LogSender,
    ) -> io::Result<(Worker, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), token::WAKER)?);
        let mut ls = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            let mut listening = Listening::new(l, 0, token::listener(i));
            listening.gate = Gate::Open;
            listening.watch(true, poll.registry())?;
            ls.push(Some(listening));
        }
        let rt_bufsize = rt.global.bufsize;
        let process = &rt.process;
        let pipes = PipePool::new(process.pipes.clone(), process.maxpipes, rt.global.pipesize);
        let mut gens = Slab::new();
        let current = gens.insert(Generation::new(rt, logs));
        let worker = Worker {
            id,
            poll,
            gens,
            current,
            listeners: ls,
            sessions: Slab::new(),
            timers: Timers::default(),
            candidates: Vec::new(),
            pipes,
            scratch: vec![0u8; rt_bufsize].into_boxed_slice(),
            control,
            closed: Vec::new(),
            stopping: false,
            paused: false,
            session_seq: 0,
            turn: 0,
            handshakes: Default::default(),
        };
        Ok((worker, waker))
    }

    /// Runs until stopped.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.gens[self.current].rt.process.heartbeats[self.id]
                .0
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.turn += 1;
            let now = Instant::now();
            for ev in events.iter() {
                let token = ev.token();
                if token == token::WAKER {
                    self.on_control(now);
                } else if let Some(i) = token::as_listener(token, self.listeners.len()) {
                    self.accept(i, now);
                } else {
                    self.on_session_event(token, ev, now);
                }
            }
            self.run_handshakes(now);
            self.fire_timers(now);
            self.reap(now);
            self.reopen_gates(now);
            if self.stopping && self.sessions.is_empty() {
                log::debug!("worker {}: all sessions done, exiting", self.id);
                return Ok(());
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut t = self
            .timers
            .next()
            .map(|at| at.saturating_duration_since(now));
        let waiting = self
            .gens
            .iter()
            .any(|(_, g)| g.queues.iter().any(|q| !q.is_empty()))
            || self
                .listeners
                .iter()
                .flatten()
                .any(|l| matches!(l.gate, Gate::Full | Gate::PausedUntil(_)));
        if waiting {
            t = Some(t.map_or(RETRY_TICK, |t| t.min(RETRY_TICK)));
        }
        if !self.handshakes.is_empty() {
            return Some(Duration::ZERO);
        }
        // A listener paused until a given time (rate limit, tune.maxaccept,
        // accept error) is looked at no later than that.
        for l in self.listeners.iter().flatten() {
            if let Gate::PausedUntil(at) = l.gate {
                let wait = at.saturating_duration_since(now);
                t = Some(t.map_or(wait, |t| t.min(wait)));
            }
        }
        Some(t.map_or(MAX_POLL_WAIT, |t| t.min(MAX_POLL_WAIT)))
    }

    fn on_control(&mut self, now: Instant) {
        while let Ok(msg) = self.control.try_recv() {
            match msg {
                Control::SoftStop => self.soft_stop(now),
                Control::Stop => {
                    self.soft_stop(now);
                    let keys: Vec<usize> = self.sessions.iter().map(|(k, _)| k).collect();
                    for k in keys {
                        self.sessions[k].kill(Cause::Killed);
                        self.close(k, Close::Normal);
                    }
                }
                Control::ShutdownServer { backend, server } => {
                    let rt = &self.gens[self.current].rt;
                    let name = rt.backend(backend).server(server).name.clone();
                    self.shutdown_sessions(backend, Cause::ServerDown, |s| s.name == name)
                }
                Control::Wake => {}
                Control::PauseListeners => self.pause_listeners(true),
                Control::ResumeListeners => self.pause_listeners(false),
                Control::ShutdownBackups { backend } => {
                    self.shutdown_sessions(backend, Cause::BackupCut, |s| s.backup)
                }
                Control::Reload(plan) => self.reload(&plan, now),
                Control::Admin(op) => self.on_admin(op),
            }
        }
    }

    fn pause_listeners(&mut self, pause: bool) {
        self.paused = pause;
        self.pause_where(pause, |_| true);
    }

    /// Pauses (SIGTTOU, `disable frontend`) or resumes the listeners that
    /// `pick` chooses; false when one of them failed (logged). Resumed
    /// listeners come back as Full, so the next pass accepts whatever
    /// queued while the event was missed.
    fn pause_where(&mut self, pause: bool, pick: impl Fn(&Listening) -> bool) -> bool {
        let mut ok = true;
        let registry = self.poll.registry();
        for ls in self.listeners.iter_mut().flatten().filter(|ls| pick(ls)) {
            let done = match (pause, ls.gate) {
                (true, Gate::Stopped) => Ok(()),
                (true, _) => ls.l.pause().map(|()| ls.set_gate(Gate::Stopped, registry)),
                (false, Gate::Stopped) => ls.l.resume().map(|()| ls.set_gate(Gate::Full, registry)),
                (false, _) => Ok(()),
            };
            if let Err(e) = done {
                let what = if pause { "pause" } else { "resume" };
                log::warn!(
                    "worker {}: cannot {what} listener {}: {e}",
                    self.id,
                    ls.l.addr
                );
                ok = false;
            }
        }
        ok
    }

    /// Closes the sessions of `backend` (an index in the current config)
    /// whose server matches, with a reset: a transfer cut by the load
    /// balancer must not look complete. Sessions of older configs match by
    /// backend name. `cause` is the log's termination cause.
    fn shutdown_sessions(
        &mut self,
        backend: BackendId,
        cause: Cause,
        matches: impl Fn(&ServerState) -> bool,
    ) {
        let mut keys = self.sessions_on(backend, matches);
        if cause != Cause::Killed {
            // A server going DOWN (or a backup giving way) cuts the sessions
            // it carries; one still connecting fails or succeeds on its own,
            // and a failed connect is retried elsewhere: cutting it would
            // only turn a redispatch into a reset.
            keys.retain(|k| self.sessions[*k].is_forwarding());
        }
        if !keys.is_empty() {
            log::debug!("worker {}: shutting down {} sessions", self.id, keys.len());
        }
        for k in keys {
            self.sessions[k].kill(cause);
            self.close(k, Close::Abort);
        }
    }

    /// Stops accepting: takes what is already queued on the listeners (so no
    /// queued client gets reset by the close), then closes them.
    fn soft_stop(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        for i in 0..self.listeners.len() {
            self.accept_all(i, now);
            if let Some(mut l) = self.listeners[i].take() {
                let _ = l.watch(false, self.poll.registry());
            }
        }
        log::debug!(
            "worker {}: listeners closed, {} sessions left",
            self.id,
            self.sessions.len()
        );
    }

    /// Sessions (not closed yet) of `backend` (an index in the current
    /// config) on a server that `matches`; sessions of older configs match
    /// by backend name.
    fn sessions_on(
        &self,
        backend: BackendId,
        matches: impl Fn(&ServerState) -> bool,
    ) -> Vec<usize> {
        let name = &self.gens[self.current].rt.backend(backend).config.name;
        self.sessions
            .iter()
            .filter(|(k, s)| {
                let rt = &self.gens[s.generation].rt;
                match (s.backend, s.server()) {
                    (Some(b), Some(i)) if !self.is_closed(*k) => {
                        let be = rt.backend(b);
                        be.config.name == *name && matches(be.server(i))
                    }
                    _ => false,
                }
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// What a handler of a session of generation `gi` borrows.
    fn ctx(&mut self, gi: usize, now: Instant) -> (Ctx<'_>, &mut Slab<Session>) {
        let g = &mut self.gens[gi];
        (
            Ctx {
                rt: &g.rt,
                worker: self.id,
                registry: self.poll.registry(),
                queues: &mut g.queues,
                candidates: &mut self.candidates,
                pipes: &mut self.pipes,
                scratch: &mut self.scratch,
                timers: &mut self.timers,
                now,
                logs: &g.logs,
            },
            &mut self.sessions,
        )
    }

    /// One accept round on listener `i`: up to its batch, or until the
    /// queue is empty or a limit is hit.
    fn accept(&mut self, i: usize, now: Instant) {
        let turn = self.turn;
        let Some(Some(ls)) = self.listeners.get_mut(i) else {
            return;
        };
        // A full round last turn and a listener still readable: a backlog.
        if ls.full_turn + 1 == turn {
            ls.batch = (ls.batch * 2).min(ACCEPT_BATCH_MAX);
        }
        let max = self.gens[ls.generation].rt.global.maxaccept;
        let batch = max.map_or(ls.batch, |m| ls.batch.min(m.max(1)));
        if self.accept_upto(i, now, batch) == batch
            && let Some(Some(ls)) = self.listeners.get_mut(i)
        {
            // What is still queued is reported at the next wait.
            ls.full_turn = turn;
        }
    }

    /// Accepts everything queued on listener `i`, whatever its gate: it is
    /// about to close.
    fn accept_all(&mut self, i: usize, now: Instant) {
        self.accept_upto(i, now, usize::MAX);
    }

    /// Accepts on listener `i` up to `limit` clients; returns how many.
    fn accept_upto(&mut self, i: usize, now: Instant, limit: usize) -> usize {
        let mut accepted = 0;
        let drain = limit == usize::MAX;
        loop {
            let Some(Some(ls)) = self.listeners.get(i) else {
                return accepted;
            };
            if (ls.gate != Gate::Open && !drain) || accepted >= limit {
                return accepted;
            }
            let (fe, gi) = (ls.l.frontend, ls.generation);
            if let Some(wait) = self.gens[gi].rt.rate_wait(fe) {
                self.set_gate(i, Gate::PausedUntil(now + wait));
                return accepted;
            }
            // Borrowed field by field (no Arc clone per accept): the
            // runtime from `gens`, the socket from `listeners`.
            let slots = self.gens[gi].rt.take_session_slots(fe);
            let Some(slots) = slots.filter(|_| self.sessions.len() < MAX_SESSION_KEY) else {
                self.set_gate(i, Gate::Full);
                return accepted;
            };
            let (stream, peer) = match ls.l.socket.accept() {
                Ok(s) => s,
                Err(e) => {
                    match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            if let Some(Some(ls)) = self.listeners.get_mut(i) {
                                ls.batch = (ls.batch / 2).max(1);
                            }
                        }
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ => {
                            // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending
                            // connection stays queued; accepting again at once would spin.
                            log::warn!(
                                "frontend {}: accept failed: {e}; pausing accepts",
                                self.gens[gi].rt.frontend(fe).config.name
                            );
                            self.set_gate(i, Gate::PausedUntil(now + ACCEPT_ERROR_PAUSE));
                        }
                    }
                    return accepted;
                }
            };
            accepted += 1;
            // A UNIX client has no TCP options and no address to show.
            let Some(peer) = peer else {
                let none = SocketAddr::from(([0, 0, 0, 0], 0));
                let luid = ls.l.luid;
                self.start_session(i, stream, (none, none), Some(luid), slots, now);
                continue;
            };
            let fe_config = &self.gens[gi].rt.frontend(fe).config;
            if !ls.l.nodelay {
                let _ = stream.set_nodelay(true);
            }
            ClientOptions {
                keepalive: fe_config.keepalive,
                nolinger: fe_config.nolinger,
                lower_mss: ls.l.lower_mss,
                buffers: Buffers {
                    rcv: self.gens[gi].rt.global.rcvbuf_client,
                    snd: self.gens[gi].rt.global.sndbuf_client,
                },
            }
            .apply(&socket2::SockRef::from(&stream));
            // The local address is the bind's unless it is a wildcard.
            let bound = ls.l.addr.tcp().unwrap_or(peer);
            let local = if bound.ip().is_unspecified() {
                stream.local_addr().unwrap_or(bound)
            } else {
                bound
            };
            self.start_session(i, stream, (peer, local), None, slots, now);
        }
    }

    /// Registers an accepted client and starts its session.
    fn start_session(
        &mut self,
        i: usize,
        mut stream: TcpStream,
        (peer, local): (SocketAddr, SocketAddr),
        unix: Option<u32>,
        slots: SessionSlots,
        now: Instant,
    ) {
        let Some(ls) = self.listeners[i].as_ref() else {
            return;
        };
        let (gi, fe, mut accept_proxy) = (ls.generation, ls.l.frontend, ls.l.accept_proxy);
        let bind_id = ls.l.luid;
        let rt = &self.gens[gi].rt;
        Counters::add(&rt.frontend(fe).counters.shard(self.id).connections, 1);
        // `tcp-request connection` rules: a refused client never becomes a
        // session (no log line, no `stot`); `dcon` counts it.
        let (mut peer, mut local) = (peer, local);
        let mut vars = Default::default();
        if !rt.frontend(fe).config.rules.connection.is_empty() {
            match session::connection_rules(rt, fe, bind_id, unix.is_some(), (peer, local)) {
                Admission::Admit {
                    vars: v,
                    expect_proxy,
                    src,
                    dst,
                } => {
                    (vars, peer, local) = (v, src, dst);
                    accept_proxy |= expect_proxy;
                }
                refused => {
                    // Accepted, then refused: in CumConns, not a session.
                    let c = rt.frontend(fe).counters.shard(self.id);
                    // HAProxy counts a silent drop as a denied request.
                    match refused {
                        Admission::SilentDrop => Counters::add(&c.denied_req, 1),
                        _ => Counters::add(&c.denied_conn, 1),
                    }
                    Counters::add(&rt.process.accepted.shard(self.id).sessions, 1);
                    rt.process.conn_rate.hit();
                    match refused {
                        Admission::SilentDrop => crate::net::sockopt::silent_drop(&stream),
                        // HAProxy resets a refused connection.
                        _ => crate::net::sockopt::reset_on_close(&stream),
                    }
                    return;
                }
            }
        }
        let entry = self.sessions.vacant_entry();
        let key = entry.key();
        // Reads only, until a write finds the socket full
        // (`Session::watch_client_writes`).
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, Side::Client.token(key), Interest::READABLE)
        {
            log::warn!("cannot register client {peer}: {e}");
            return;
        }
        let rt = &self.gens[gi].rt;
        // `stot` counts it once its session rules let it in
        // (`Session::start_rules`), as HAProxy does.
        Counters::add(&rt.process.accepted.shard(self.id).sessions, 1);
        rt.process.conn_rate.hit();
        let mut s = Session::new(key, stream, peer, local, fe, slots, rt, now);
        if let Some(tls) = rt.tls.bind(fe.index(), bind_id as usize - 1) {
            s.use_tls(crate::tls::TlsConn::accept(tls.clone()), rt);
        }
        s.generation = gi;
        s.unix = unix;
        s.bind_id = bind_id;
        s.vars = vars;
        entry.insert(s);
        self.sessions[key].id = self.next_session_id();
        self.gens[gi].sessions += 1;
        let (mut ctx, sessions) = self.ctx(gi, now);
        let outcome = sessions[key].begin(accept_proxy, &mut ctx);
        if sessions[key].in_handshake() {
            let id = sessions[key].id;
            self.handshakes.push(key, id);
        }
        self.apply(key, outcome);
    }

    fn set_gate(&mut self, i: usize, gate: Gate) {
        if let Some(Some(l)) = self.listeners.get_mut(i) {
            l.set_gate(gate, self.poll.registry());
        }
    }

    /// Re-opens listeners whose limit may have cleared, and accepts what
    /// waited (edge-triggered: no new event comes for clients already queued).
    fn reopen_gates(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            let ready = match self.listeners[i].as_ref().map(|l| (l.gate, l)) {
                // Only when a place is free: reopening costs two epoll_ctl
                // calls when the accept finds the limit again.
                Some((Gate::Full, l)) => {
                    let rt = &self.gens[l.generation].rt;
                    rt.take_session_slots(l.l.frontend).is_some()
                }
                Some((Gate::PausedUntil(t), _)) => t <= now,
                _ => false,
            };
            if ready {
                self.set_gate(i, Gate::Open);
                self.accept(i, now);
            }
        }
        // By index, not by a list of keys: no allocation per loop turn.
        for g in 0..self.gens.capacity() {
            let Some(queues) = self.gens.get(g).map(|g| g.queues.len()) else {
                continue;
            };
            for b in 0..queues {
                if !self.gens[g].queues[b].is_empty() {
                    self.serve_queue(g, BackendId::new(b), now);
                }
            }
        }
    }

    fn on_session_event(&mut self, token: Token, ev: &mio::event::Event, now: Instant) {
        let (key, side) = Side::from_token(token);
        if self.is_closed(key) {
            return;
        }
        let Some(gi) = self.sessions.get(key).map(|s| s.generation) else {
            return;
        };
        let (mut ctx, sessions) = self.ctx(gi, now);
        let s = &mut sessions[key];
        if s.in_handshake() {
            // Its turn comes in `run_handshakes`.
            s.note_readiness(side, ev);
            let id = s.id;
            self.handshakes.push(key, id);
            return;
        }
        let outcome = s.on_event(side, ev, &mut ctx);
        self.apply(key, outcome);
    }

    fn apply(&mut self, key: usize, outcome: Outcome) {
        match outcome {
            Outcome::Continue => {
                if let Some(s) = self.sessions.get_mut(key) {
                    s.watch_client_writes(self.poll.registry());
                }
            }
            Outcome::Close(how) => self.close(key, how),
        }
    }

    fn close(&mut self, key: usize, how: Close) {
        if let Some(s) = self.sessions.get_mut(key).filter(|s| !s.closing) {
            s.closing = true;
            self.closed.push((key, how));
        }
    }

    fn is_closed(&self, key: usize) -> bool {
        self.sessions.get(key).is_some_and(|s| s.closing)
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some((key, at)) = self.timers.pop_due(now) {
            if self.is_closed(key) {
                continue;
            }
            let Some(gi) = self.sessions.get(key).map(|s| s.generation) else {
                continue;
            };
            let (mut ctx, sessions) = self.ctx(gi, now);
            let s = &mut sessions[key];
            if ctx.timers.settle(&mut s.deadline, key, at, now) == Fired::Expired {
                let outcome = s.on_timeout(&mut ctx);
                self.apply(key, outcome);
            }
        }
    }

    /// Finishes the sessions closed in this batch: they give back what
    /// they hold and hand over their log lines.
    fn reap(&mut self, now: Instant) {
        // The batch's vector goes back when done, so that a busy loop does
        // not allocate one per turn; sessions closed while reaping (a
        // queued one failing) wait for the next turn.
        let mut batch = std::mem::take(&mut self.closed);
        for (key, how) in batch.drain(..) {
            let s = self.sessions.remove(key);
            let gi = s.generation;
            log::debug!(
                "session {key} closed ({how:?}) after {:?}",
                now.saturating_duration_since(s.started)
            );
            let (mut ctx, _) = self.ctx(gi, now);
            let closed = s.finish(how, &mut ctx);
            let g = &mut self.gens[gi];
            if let Some(msg) = closed.log {
                g.logs.send(msg);
            }
            g.sessions -= 1;
            if let Some(b) = closed.freed {
                self.serve_queue(gi, b, now);
            }
            if gi != self.current && self.gens[gi].sessions == 0 {
                self.retire_generations();
            }
        }
        batch.append(&mut self.closed);
        self.closed = batch;
    }

    /// Gives free server slots to the sessions queued on backend `b` of
    /// generation `gi`, oldest first; one waiting for a server that is
    /// still full lets the next ones try.
    fn serve_queue(&mut self, gi: usize, b: BackendId, now: Instant) {
        let mut i = 0;
        while let Some((key, seq, pinned)) = self.gens[gi].queues[b.index()].get(i) {
            let (mut ctx, sessions) = self.ctx(gi, now);
            let Some(s) = sessions.get_mut(key).filter(|s| s.is_queued_as(seq)) else {
                // It left the queue (or its key is another session's now).
                ctx.queues[b.index()].remove(i);
                continue;
            };
            let outcome = s.retry_queued(&mut ctx);
            if s.is_queued_as(seq) && outcome == Outcome::Continue {
                if pinned {
                    i += 1;
                    continue;
                }
                return; // still no room
            }
            ctx.queues[b.index()].remove(i);
            self.apply(key, outcome);
        }
    }
}
