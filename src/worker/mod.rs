//! A worker: one thread, one `mio::Poll`, its own listeners (SO_REUSEPORT),
//! slab of sessions, timers, queues and pipe pool. Nothing here is shared
//! with other workers except the runtime's atomics; control messages
//! (stop, soft stop) arrive on a channel followed by a `Waker` wake-up.
//!
//! Tokens follow [`crate::base::token`]: a session with slab key `k` owns
//! tokens `2k` (client) and `2k+1` (server); the waker and listeners take
//! tokens at the top of the range.

mod accept;
mod generation;
mod handshakes;
mod ops;

use std::io;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use crate::balance::Candidate;
use crate::base::ids::BackendId;
use crate::base::log::{Cause, LogSender};
use crate::base::timers::{Fired, Timers};
use crate::base::token::{self, Side};
use crate::control::Control;
use crate::forward::PipePool;
use crate::net::Listener;
use crate::runtime::{Runtime, ServerState};
use crate::session::{Close, Ctx, Outcome, Session};
use accept::{Gate, Listening};
use generation::Generation;

/// How often a worker looks again at limits it cannot be woken for (a slot
/// freed by another worker, a listener paused on EMFILE).
const RETRY_TICK: Duration = Duration::from_millis(20);
/// Longest wait in poll: the loop turns at least this often, so that its
/// heartbeat shows a live worker to the VRRP watchdog.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_millis(500);

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
        let mut events = Events::with_capacity(self.maxpollevents());
        loop {
            // `tune.maxpollevents` of the config in force (a reload may
            // change it).
            if events.capacity() != self.maxpollevents() {
                events = Events::with_capacity(self.maxpollevents());
            }
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

    fn maxpollevents(&self) -> usize {
        self.gens[self.current].rt.global.maxpollevents
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
                    s.watch_writes(self.poll.registry());
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
