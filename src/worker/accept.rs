//! Accepting: a worker's listeners, why each does or does not accept
//! ([`Gate`]), the accept rounds and a new client's first steps up to its
//! session's start.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Token;
use mio::net::TcpStream;

use super::Worker;
use crate::base::ids::BackendId;
use crate::base::token::MAX_SESSION_KEY;
use crate::net::Listener;
use crate::net::sockopt::{Buffers, ClientOptions};
use crate::runtime::{Counters, SessionSlots};
use crate::session::{self, Admission, Close, Outcome, Session};

/// Pause after accept fails for lack of file descriptors or memory.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one "accept failed" warning per listener this often; the
/// next says how many failures it stands for.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(1);

/// Why a listener does not accept right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
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
pub(super) struct Listening {
    pub l: Listener,
    pub gate: Gate,
    /// The generation whose frontend `l.frontend` names.
    pub generation: usize,
    token: Token,
    /// In the worker's epoll set (exactly while the gate is open).
    watched: bool,
    /// Connections the next accept round takes at most: 1 while clients
    /// come one at a time, doubled while every round fills it (a backlog)
    /// up to `tune.maxaccept`, halved when a round finds the queue empty.
    batch: usize,
    /// The loop turn in which the last round took a full batch.
    full_turn: u64,
    /// When the last "accept failed" warning went out, and the failures
    /// since that were not logged.
    warned: Option<Instant>,
    unlogged: u32,
}

impl Listening {
    pub(super) fn new(l: Listener, generation: usize, token: Token) -> Listening {
        Listening {
            l,
            gate: Gate::Stopped,
            generation,
            token,
            watched: false,
            batch: 1,
            full_turn: 0,
            warned: None,
            unlogged: 0,
        }
    }

    /// Sets why it does or does not accept, and watches it exactly while
    /// it does.
    pub(super) fn set_gate(&mut self, gate: Gate, registry: &mio::Registry) {
        self.gate = gate;
        if let Err(e) = self.watch(gate == Gate::Open, registry) {
            log::warn!("listener {}: cannot change its watch: {e}", self.l.addr);
        }
    }

    pub(super) fn watch(&mut self, want: bool, registry: &mio::Registry) -> io::Result<()> {
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

impl Worker {
    /// One accept round on listener `i`: up to its batch, or until the
    /// queue is empty or a limit is hit.
    pub(super) fn accept(&mut self, i: usize, now: Instant) {
        let turn = self.turn;
        let Some(Some(ls)) = self.listeners.get_mut(i) else {
            return;
        };
        let max = self.gens[ls.generation].rt.global.maxaccept;
        let max = max.unwrap_or(usize::MAX).max(1);
        // A full round last turn and a listener still readable: a backlog.
        if ls.full_turn + 1 == turn {
            ls.batch = ls.batch.saturating_mul(2);
        }
        ls.batch = ls.batch.min(max);
        let batch = ls.batch;
        if self.accept_upto(i, now, batch) == batch
            && let Some(Some(ls)) = self.listeners.get_mut(i)
        {
            // What is still queued is reported at the next wait.
            ls.full_turn = turn;
        }
    }

    /// Accepts everything queued on listener `i`, whatever its gate: it is
    /// about to close.
    pub(super) fn accept_all(&mut self, i: usize, now: Instant) {
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
                            // Out of descriptors, it fails every pause:
                            // one line a second says so.
                            if let Some(Some(ls)) = self.listeners.get_mut(i) {
                                if ls.warned.is_some_and(|t| now < t + ACCEPT_WARN_EVERY) {
                                    ls.unlogged += 1;
                                } else {
                                    let more = match std::mem::take(&mut ls.unlogged) {
                                        0 => String::new(),
                                        n => format!(" ({n} more failures since the last warning)"),
                                    };
                                    ls.warned = Some(now);
                                    log::warn!(
                                        "frontend {}: accept failed: {e}; pausing accepts{more}",
                                        self.gens[gi].rt.frontend(fe).config.name
                                    );
                                }
                            }
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

    /// Starts an accepted client's session and registers the client.
    pub(super) fn start_session(
        &mut self,
        i: usize,
        stream: TcpStream,
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
        let mut outcome = sessions[key].begin(accept_proxy, &mut ctx);
        // Reads only, until a write finds the socket full
        // (`Session::watch_writes`); registered after its first steps,
        // which may have read what it sent.
        if outcome == Outcome::Continue
            && let Err(e) = sessions[key].register_client(ctx.registry)
        {
            log::warn!("cannot register client {peer}: {e}");
            outcome = Outcome::Close(Close::Abort);
        }
        if sessions[key].in_handshake() {
            let id = sessions[key].id;
            self.handshakes.push(key, id);
        }
        self.apply(key, outcome);
    }

    pub(super) fn set_gate(&mut self, i: usize, gate: Gate) {
        if let Some(Some(l)) = self.listeners.get_mut(i) {
            l.set_gate(gate, self.poll.registry());
        }
    }

    /// Re-opens listeners whose limit may have cleared, and accepts what
    /// waited (edge-triggered: no new event comes for clients already queued).
    pub(super) fn reopen_gates(&mut self, now: Instant) {
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
}
