//! One client connection and its server connection: the two-sided state
//! machine.
//!
//! A session is born in a worker when a client is accepted. It may first read
//! a PROXY header (`accept-proxy`), then picks a server (or waits in the
//! backend's queue when every server is at maxconn), connects non-blocking,
//! retries failed connections (elsewhere with `option redispatch`), and then
//! forwards both directions through two [`Flow`]s until both are shut or one
//! side fails. Handlers return an [`Outcome`]; the worker acts on it. At the
//! end the worker calls [`Session::finish`] (in `end.rs`), which gives back
//! everything the session holds in HAProxy's order and hands back its log
//! record.
//!
//! Everything the session must give back is held, not counted: its places
//! in the process and on its frontend ([`SessionSlots`]), in its backend,
//! in a queue ([`queue::Place`]) and on its server (in [`Conn`]) are slots
//! released when dropped.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::net::TcpStream;

use crate::balance::Candidate;
use crate::base::ids::{BackendId, FrontendId, ServerId};
use crate::base::log::{Cause, Handshake, LogSender, Message, Term};
use crate::base::slot::Slot;
use crate::base::timers::{Deadline, Timers};
use crate::base::token::Side;
use crate::config::{SpliceMode, SpliceOptions};
use crate::forward::{End, Flow, FlowError, Half, PipePool, Ready, Shared};
use crate::runtime::{Counters, Runtime, SessionSlots};
use crate::tls::TlsConn;

mod dispatch;
mod end;
mod handshake;
mod inspect;
mod judge;
pub(crate) mod queue;
mod stick;
mod trace;
mod view;
use crate::base::log::Stage as LogStage;
use crate::proxy_proto;
pub(crate) use inspect::{Admission, connection_rules};
use inspect::{Inspect, ResponseGate};
pub(crate) use judge::{Judge, Vars};
pub(crate) use queue::BackendQueue;
use queue::Place;
use trace::Trace;

/// The server connection and the slot it holds on its server (given back
/// when the connection is dropped).
#[derive(Debug)]
pub(crate) struct Conn {
    pub stream: TcpStream,
    /// The TCP connection is established (the TLS handshake may still run).
    pub tcp_up: bool,
    /// `server ... ssl`: the TLS layer over `stream`.
    pub tls: Option<Box<TlsConn>>,
    pub backend: BackendId,
    pub server: ServerId,
    pub ready: Ready,
    /// Watched for writability: always while connecting; once connected
    /// by a first write, only after a write found the socket full (as
    /// the client, see [`Session::watch_writes`]).
    writes_watched: bool,
    _slot: Slot,
}

impl Conn {
    /// The server side, for a flow or a peek.
    pub(crate) fn end(&mut self) -> End<'_> {
        End {
            sock: &self.stream,
            ready: &mut self.ready,
            tls: self.tls.as_deref_mut(),
        }
    }
}

/// Where a session is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// `accept-proxy`: waiting for the client's PROXY header.
    ProxyHeader,
    /// `bind ... ssl`: the client's TLS handshake.
    Handshake,
    /// `tcp-request content` rules wait for the client's first bytes.
    Inspect(Inspect),
    /// Every usable server is at maxconn: waiting in the backend's queue.
    Queued { place: Place },
    /// Non-blocking connect in progress.
    Connecting { conn: Conn },
    /// Both sides connected; bytes flow. `gate`: the server's first
    /// bytes wait for `tcp-response content` rules.
    Forwarding {
        conn: Conn,
        gate: Option<Box<ResponseGate>>,
    },
    /// Between phases, or torn down.
    Idle,
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// Both directions finished, or a timeout: close normally.
    Normal,
    /// One side failed: reset the other, so a cut transfer never looks complete.
    Abort,
}

/// What the worker must do after a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Continue,
    Close(Close),
}

/// The worker's resources a session borrows while it runs a handler.
pub(crate) struct Ctx<'a> {
    pub rt: &'a Runtime,
    /// The worker's number: its shard of the counters.
    pub worker: usize,
    pub registry: &'a Registry,
    /// The worker's queue of each backend (of this config generation).
    pub queues: &'a mut [BackendQueue],
    pub candidates: &'a mut Vec<Candidate>,
    pub pipes: &'a mut PipePool,
    pub scratch: &'a mut [u8],
    pub timers: &'a mut Timers,
    pub now: Instant,
    pub logs: &'a LogSender,
}

/// Picks per dispatch before giving up on a race for the last slots.
const MAX_PICK_RACES: usize = 8;

#[derive(Debug)]
pub(crate) struct Session {
    key: usize,
    /// Process-unique id for the runtime API (`show sess`), set by the worker.
    pub id: u64,
    pub phase: Phase,
    pub frontend: FrontendId,
    pub backend: Option<BackendId>,
    /// Its places in the process and on its frontend, then in its backend.
    slots: SessionSlots,
    _in_backend: Option<Slot>,
    client: TcpStream,
    client_ready: Ready,
    /// The client socket is watched for writability (see
    /// [`Session::watch_client_writes`]).
    client_writes_watched: bool,
    /// `bind ... ssl`: the TLS layer over `client`.
    client_tls: Option<Box<TlsConn>>,
    /// The client as the backend should see it (from the PROXY header, if any).
    pub client_addr: SocketAddr,
    /// The address the client connected to.
    pub local_addr: SocketAddr,
    /// A client of a UNIX socket: its bind's listener id (the two
    /// addresses above are then unspecified; set by the worker).
    pub unix: Option<u32>,
    /// The bind's id (`so_id`; set by the worker).
    pub bind_id: u32,
    /// Variables set by rules.
    pub vars: Vars,
    /// Its addresses came in a PROXY header.
    proxied: bool,
    /// Past its session rules: counted as a session.
    counted: bool,
    /// Closed in the worker's current event batch, finished after it (set
    /// by the worker; later events of the batch skip it).
    pub closing: bool,
    /// Client to server.
    up: Flow,
    /// Server to client.
    down: Flow,
    pub deadline: Deadline,
    retries_left: u32,
    /// A server that just failed, avoided by the next pick when possible.
    exclude: Option<ServerId>,
    /// The server came from a `stick` rule: a failed connect tries it
    /// again, even down (`option persist`), until redispatch.
    direct: bool,
    /// When the session was accepted.
    pub started: Instant,
    /// What its log line will say.
    trace: Trace,
    /// The worker's config generation this session runs under (set by the
    /// worker: its indices mean something only there).
    pub generation: usize,
}

impl Session {
    /// A session for an accepted client, holding the places the worker
    /// took for it; the worker has registered `client` with
    /// `Side::Client.token(key)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        key: usize,
        client: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        frontend: FrontendId,
        slots: SessionSlots,
        rt: &Runtime,
        now: Instant,
    ) -> Self {
        let fe = &rt.frontend(frontend).config;
        // With content rules or `use_backend`, the backend is known later.
        let switching = !fe.rules.content.is_empty() || !fe.rules.use_backend.is_empty();
        let mut s = Session {
            key,
            id: 0,
            phase: Phase::Idle,
            frontend,
            backend: None,
            slots,
            _in_backend: None,
            client,
            client_ready: Ready::connected(),
            client_writes_watched: false,
            client_tls: None,
            client_addr: peer,
            local_addr: local,
            unix: None,
            bind_id: 0,
            vars: Vars::default(),
            proxied: false,
            counted: false,
            closing: false,
            up: Flow::new(Default::default()),
            down: Flow::new(Default::default()),
            deadline: Deadline::default(),
            retries_left: 0,
            exclude: None,
            direct: false,
            started: now,
            trace: Trace::new(now, fe.log.wants_source()),
            generation: 0,
        };
        if !switching {
            s.set_backend(fe.default_backend, rt);
        }
        s
    }

    /// Sends the session to backend `b`: its place there, the splice
    /// policy of each direction and the retries come from it.
    fn set_backend(&mut self, backend: Option<BackendId>, rt: &Runtime) {
        let fe = &rt.frontend(self.frontend).config;
        self.backend = backend;
        self._in_backend = backend.map(|b| rt.backend(b).active.take());
        let (up_mode, down_mode) = match backend {
            Some(b) => {
                SpliceOptions::resolve(&fe.splice, &rt.backend(b).config.splice, rt.global.nosplice)
            }
            None => Default::default(),
        };
        // TLS bytes are in user space anyway: a TLS side copies.
        let tls = self.client_tls.is_some() || backend.is_some_and(|b| rt.backend(b).tls);
        let (up_mode, down_mode) = if tls {
            (SpliceMode::Never, SpliceMode::Never)
        } else {
            (up_mode, down_mode)
        };
        self.up = Flow::new(up_mode);
        self.down = Flow::new(down_mode);
        self.retries_left = backend.map_or(0, |b| rt.backend(b).config.retries);
    }

    /// First step after accept.
    pub(crate) fn begin(&mut self, accept_proxy: bool, ctx: &mut Ctx<'_>) -> Outcome {
        if accept_proxy {
            self.phase = Phase::ProxyHeader;
            let t = ctx.rt.frontend(self.frontend).config.timeout_client;
            self.deadline
                .set(t.map(|t| ctx.now + t), self.key, ctx.timers);
            return Outcome::Continue;
        }
        self.after_header(ctx)
    }

    /// Registers the client for reads only (after the session's first
    /// steps: a first write to the server may have read what the client
    /// sent already, and the registration then reports no stale edge).
    pub(crate) fn register_client(&mut self, registry: &mio::Registry) -> io::Result<()> {
        let token = Side::Client.token(self.key);
        registry.register(&mut self.client, token, mio::Interest::READABLE)
    }

    /// A client, and a server connected by a first write, are registered
    /// for reads only: a short exchange never fills a send buffer, and a
    /// socket watched for writes wakes the loop at every state change (the
    /// ACK of a FIN, for one) for nothing. Once a write finds the buffer
    /// full, the socket is watched for writes too, for the rest of the
    /// session; the change reports the socket at once if it became
    /// writable in between, so no wake-up is lost.
    pub(crate) fn watch_writes(&mut self, registry: &mio::Registry) {
        let key = self.key;
        let watch = |sock: &mut TcpStream, side: Side, watched: &mut bool| {
            let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
            match registry.reregister(sock, side.token(key), interest) {
                Ok(()) => *watched = true,
                // Only ENOMEM can say this: the session's timeout ends it.
                Err(e) => {
                    let side = if side == Side::Client {
                        "client"
                    } else {
                        "server"
                    };
                    log::warn!("session {key}: cannot watch the {side} for writes: {e}")
                }
            }
        };
        if !self.client_ready.writable && !self.client_writes_watched {
            watch(
                &mut self.client,
                Side::Client,
                &mut self.client_writes_watched,
            );
        }
        if let Phase::Forwarding { conn, .. } = &mut self.phase
            && !conn.ready.writable
            && !conn.writes_watched
        {
            watch(&mut conn.stream, Side::Server, &mut conn.writes_watched);
        }
    }

    /// The client side, for a flow or a peek.
    fn client_end(&mut self) -> End<'_> {
        End {
            sock: &self.client,
            ready: &mut self.client_ready,
            tls: self.client_tls.as_deref_mut(),
        }
    }

    /// Readiness changed on one side.
    pub(crate) fn on_event(
        &mut self,
        side: Side,
        ev: &mio::event::Event,
        ctx: &mut Ctx<'_>,
    ) -> Outcome {
        let ready = match (side, &mut self.phase) {
            (Side::Client, _) => &mut self.client_ready,
            (Side::Server, Phase::Connecting { conn } | Phase::Forwarding { conn, .. }) => {
                &mut conn.ready
            }
            // A late event for a server connection already given up.
            (Side::Server, _) => return Outcome::Continue,
        };
        ready.note(ev);
        // A connecting socket's writable edge with no error or hang-up is
        // a completed handshake: no SO_ERROR to ask.
        let clean = !(ev.is_error() || ev.is_read_closed() || ev.is_write_closed());
        let client_gone = side == Side::Client
            && (ev.is_error() || (ev.is_read_closed() && ev.is_write_closed()));
        match (&self.phase, side) {
            // A client that reset or hung up while waiting for a server gives
            // its place back at once (a FIN alone may be a half-close after
            // a request, so it waits).
            (Phase::Queued { .. } | Phase::Connecting { .. }, Side::Client) if client_gone => {
                self.trace.end(Term::CLIENT_ABORT);
                Outcome::Close(Close::Abort)
            }
            (Phase::ProxyHeader, Side::Client) => self.read_proxy_header(ctx),
            (Phase::Handshake, Side::Client) => self.tls_handshake(ctx),
            (Phase::Inspect(_), Side::Client) => {
                if ev.is_read_closed() || ev.is_error() {
                    self.inspect_closed();
                }
                self.inspect(ctx)
            }
            (Phase::Connecting { .. }, Side::Server) => self.check_connected(ctx, clean),
            (Phase::Forwarding { .. }, _) => self.forward(ctx),
            _ => Outcome::Continue,
        }
    }

    /// The session's deadline passed.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        match self.phase {
            Phase::Connecting { .. } => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "timeout connect");
                self.connect_failed(e, ctx)
            }
            _ => {
                log::debug!("session {}: timeout in {:?}", self.key, self.phase_name());
                match self.phase {
                    Phase::Queued { .. } => self.trace.end(Term::QUEUE_TIMEOUT),
                    Phase::ProxyHeader => self.trace.handshake = Some(Handshake::Timeout),
                    Phase::Handshake => self.trace.handshake = Some(Handshake::TlsTimeout),
                    Phase::Inspect(_) => return self.inspect_timeout(ctx),
                    Phase::Forwarding { gate: Some(_), .. } if self.gate_expired(ctx) => {
                        return self.forward(ctx);
                    }
                    _ => self
                        .trace
                        .end(Term::idle_timeout(self.client_timed_out(ctx.rt))),
                }
                Outcome::Close(Close::Normal)
            }
        }
    }

    /// Whether the idle timeout that struck is the client's, as HAProxy
    /// logs it: the same choice as [`Self::idle_timeout`], with `timeout
    /// tunnel` counted as the client's (`cD`) and the client first on a tie.
    fn client_timed_out(&self, rt: &Runtime) -> bool {
        let fe = &rt.frontend(self.frontend).config;
        let Some(be) = self.backend.map(|b| &rt.backend(b).config) else {
            return true;
        };
        let shut = self.up.half != Half::Open || self.down.half != Half::Open;
        let (client, server) = match (
            be.timeout_tunnel,
            fe.timeout_client_fin,
            be.timeout_server_fin,
        ) {
            (_, c, s) if shut && (c.is_some() || s.is_some()) => (c, s),
            (Some(_), _, _) => return true,
            _ => (fe.timeout_client, be.timeout_server),
        };
        match (client, server) {
            (Some(c), Some(s)) => c <= s,
            (c, _) => c.is_some(),
        }
    }

    /// Called by the worker for a queued session when a slot may be free.
    pub(crate) fn retry_queued(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        if self.is_queued() {
            self.dispatch(ctx)
        } else {
            Outcome::Continue
        }
    }

    /// The server this session is connected or connecting to.
    /// Connected to its server (bytes may flow), not still connecting.
    pub(crate) fn is_forwarding(&self) -> bool {
        matches!(self.phase, Phase::Forwarding { .. })
    }

    pub(crate) fn server(&self) -> Option<ServerId> {
        match &self.phase {
            Phase::Connecting { conn } | Phase::Forwarding { conn, .. } => Some(conn.server),
            _ => None,
        }
    }

    /// Bytes read from the client and bytes written to it, for the log.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        let mut up = self.up.bytes + self.up.pending() as u64;
        if up == 0 && !matches!(self.phase, Phase::Forwarding { .. }) {
            // Never forwarded: what the client sent waits in the socket.
            let mut buf = [0u8; 2048];
            up = match &self.client_tls {
                Some(t) => t.buffered() as u64,
                None => self.client.peek(&mut buf).map_or(0, |n| n as u64),
            };
        }
        (up, self.down.bytes)
    }

    /// Ends the session from outside (worker control): `cause` is
    /// Killed, ServerDown or BackupCut.
    pub(crate) fn kill(&mut self, cause: Cause) {
        let connecting = matches!(self.phase, Phase::Connecting { .. });
        self.trace
            .end(Term::killed(cause, self.is_queued(), connecting));
    }

    pub(crate) fn is_queued(&self) -> bool {
        matches!(self.phase, Phase::Queued { .. })
    }

    /// Whether queue entry `seq` stands for this session's wait.
    pub(crate) fn is_queued_as(&self, seq: u64) -> bool {
        matches!(&self.phase, Phase::Queued { place } if place.is(seq))
    }

    fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::ProxyHeader => "proxy-header",
            Phase::Handshake => "tls-handshake",
            Phase::Inspect(_) => "inspect",
            Phase::Queued { .. } => "queue",
            Phase::Connecting { .. } => "connect",
            Phase::Forwarding { .. } => "forwarding",
            Phase::Idle => "idle",
        }
    }

    fn forward(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        if let Phase::Forwarding { gate: Some(_), .. } = &self.phase {
            match self.check_gate(ctx) {
                Outcome::Continue => {}
                other => return other,
            }
        }
        let Phase::Forwarding { conn, gate } = &mut self.phase else {
            return Outcome::Continue;
        };
        let held = gate.is_some();
        let mut shared = Shared {
            pipes: ctx.pipes,
            scratch: ctx.scratch,
        };
        let before = (self.up.half, self.down.half);
        self.up.last_out = self.down.half == Half::Shut;
        let up = self.up.pump(
            End {
                sock: &self.client,
                ready: &mut self.client_ready,
                tls: self.client_tls.as_deref_mut(),
            },
            End {
                sock: &conn.stream,
                ready: &mut conn.ready,
                tls: conn.tls.as_deref_mut(),
            },
            &mut shared,
        );
        self.down.hold_fin = may_still_retry(&self.up, self.retries_left);
        // HAProxy closes a client that already sent its FIN without a
        // shutdown first: with the frontend's `option nolinger`, a reset.
        self.down.fin_as_reset =
            self.up.half != Half::Open && ctx.rt.frontend(self.frontend).config.nolinger;
        self.down.last_out = self.up.half == Half::Shut;
        // Held for `tcp-response` rules: the server's bytes stay in its socket.
        let down = if held {
            Ok(0)
        } else {
            self.down.pump(
                End {
                    sock: &conn.stream,
                    ready: &mut conn.ready,
                    tls: conn.tls.as_deref_mut(),
                },
                End {
                    sock: &self.client,
                    ready: &mut self.client_ready,
                    tls: self.client_tls.as_deref_mut(),
                },
                &mut shared,
            )
        };
        let (sent, received) = (*up.as_ref().unwrap_or(&0), *down.as_ref().unwrap_or(&0));
        let (backend, server) = (conn.backend, conn.server);
        self.count_bytes(backend, server, sent, received, ctx);

        // A server that closed or reset before a single byte moved either way
        // is as good as a failed connect: retry, the client never knows.
        let server_gave_up = matches!(up, Err(FlowError::Write(_)))
            || matches!(down, Err(FlowError::Read(_)))
            || self.down.half != Half::Open;
        if server_gave_up
            && may_still_retry(&self.up, self.retries_left)
            && self.down.bytes == 0
            && self.down.pending() == 0
        {
            self.down.release(ctx.pipes);
            self.down = Flow::new(self.down.mode());
            // A reset is an abort in the log; a clean close is not.
            let kind = if up.is_err() || down.is_err() {
                io::ErrorKind::ConnectionReset
            } else {
                io::ErrorKind::ConnectionAborted
            };
            let e = io::Error::new(kind, "server closed before any data");
            return self.connect_failed(e, ctx);
        }
        if let Some(e) = up.as_ref().err().or(down.as_ref().err()) {
            let client =
                matches!(up, Err(FlowError::Read(_))) || matches!(down, Err(FlowError::Write(_)));
            let side = if client { "client" } else { "server" };
            log::debug!("session {}: {side} side {e}", self.key);
            self.trace.end(if client {
                Term::CLIENT_ABORT
            } else {
                Term::SERVER_ABORT
            });
            return Outcome::Close(Close::Abort);
        }
        let reset = |f: &Flow| f.half == Half::Shut && f.fin_as_reset;
        let both_shut = self.up.half == Half::Shut && self.down.half == Half::Shut;
        if both_shut || reset(&self.up) || reset(&self.down) {
            return Outcome::Close(Close::Normal);
        }
        if sent + received > 0 || before != (self.up.half, self.down.half) {
            self.arm_idle_timeout(ctx);
        }
        Outcome::Continue
    }

    /// Restarts the inactivity deadline from now (sooner while the
    /// server's bytes wait for `tcp-response` rules).
    fn arm_idle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let t = self.idle_timeout(ctx.rt).map(|t| ctx.now + t);
        let gate = match &self.phase {
            Phase::Forwarding { gate: Some(g), .. } => g.until,
            _ => None,
        };
        let t = match (t, gate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.deadline.set(t, self.key, ctx.timers);
    }

    fn count_bytes(
        &self,
        b: BackendId,
        server: ServerId,
        sent: usize,
        received: usize,
        ctx: &Ctx<'_>,
    ) {
        let (rt, backend) = (ctx.rt, ctx.rt.backend(b));
        for c in [
            &backend.server(server).counters,
            &backend.counters,
            &rt.frontend(self.frontend).counters,
        ] {
            let shard = c.shard(ctx.worker);
            Counters::add(&shard.bytes_in, sent as u64);
            Counters::add(&shard.bytes_out, received as u64);
        }
    }

    /// The inactivity timeout now: HAProxy's client/server timeouts, replaced
    /// by `timeout tunnel` once connected, and by client-fin/server-fin once a
    /// direction is shut.
    fn idle_timeout(&self, rt: &Runtime) -> Option<Duration> {
        let fe = &rt.frontend(self.frontend).config;
        let be = self.backend.map(|b| &rt.backend(b).config);
        let server = be.and_then(|b| b.timeout_server);
        if self.up.half != Half::Open || self.down.half != Half::Open {
            let fin = [fe.timeout_client_fin, be.and_then(|b| b.timeout_server_fin)];
            if let Some(t) = fin.into_iter().flatten().min() {
                return Some(t);
            }
        }
        if let Some(t) = be.and_then(|b| b.timeout_tunnel) {
            return Some(t);
        }
        [fe.timeout_client, server].into_iter().flatten().min()
    }

    /// Takes the session out of its backend's queue, if it waits in one;
    /// `served`: it leaves to be dispatched, not gone.
    fn leave_queue(&mut self, queues: &mut [BackendQueue], served: bool) {
        if !self.is_queued() {
            return;
        }
        let Phase::Queued { place } = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if let Some(q) = self.backend.and_then(|b| queues.get_mut(b.index())) {
            let share = q.leave(place, served);
            self.trace.left_queue(share);
        }
    }
}

/// Nothing has reached the server (`up`) and the client still talks: a
/// failure of the server now can be retried without the client noticing
/// (until a byte comes back from the server too, which the caller checks).
fn may_still_retry(up: &Flow, retries_left: u32) -> bool {
    up.bytes == 0 && up.half == Half::Open && retries_left > 0
}
