//! Getting a session to a server: picking one (or queueing), connecting
//! without blocking, the PROXY header, and retries with redispatch when a
//! connection fails before any byte came back.

use std::io::{self, Write};
use std::net::SocketAddr;

use mio::Interest;
use mio::net::TcpStream;

use super::*;
use crate::config::{Balance, ProxyVersion};
use crate::forward::NoDelay;
use crate::net::connect;
use crate::proxy_proto;
use crate::runtime::{Availability, Counters};
use rustls::pki_types::ServerName;

impl Session {
    /// Picks a server and starts connecting, or queues.
    pub(super) fn dispatch(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        self.announce(ctx);
        let Some(b) = self.backend else {
            self.trace.end(Term::NO_SERVER);
            log::warn!(
                "frontend {}: no backend to send client {} to",
                ctx.rt.frontend(self.frontend).config.name,
                self.client_addr
            );
            return Outcome::Close(Close::Normal);
        };
        let backend = ctx.rt.backend(b);
        // `use-server` or a `stick` rule names the server: the session
        // goes there or waits for it, even when the balancer would not take
        // it (a DOWN server with `option persist`), as in HAProxy.
        let forced = self.forced_server(b, ctx);
        if let Some(server) = forced {
            if let Some(slot) = backend.acquire(server) {
                return self.picked(b, server, slot, ctx);
            }
        } else {
            let behind = !self.is_queued() && backend.queue_first();
            for _ in 0..if behind { 0 } else { MAX_PICK_RACES } {
                match backend.candidates(self.exclude, ctx.candidates) {
                    Availability::NoServer => {
                        log::debug!("backend {} has no server available", backend.config.name);
                        self.trace.end(Term::NO_SERVER);
                        // Served from the queue, to its end.
                        self.leave_queue(ctx.queues, true);
                        return Outcome::Close(Close::Normal);
                    }
                    Availability::Full => break,
                    Availability::Ready => {
                        let i = backend.balancer.pick(ctx.candidates, self.client_addr.ip());
                        let server = ServerId::new(ctx.candidates[i].server);
                        if let Some(slot) = backend.acquire(server) {
                            return self.picked(b, server, slot, ctx);
                        }
                    }
                }
            }
        }
        if !self.is_queued() {
            let place = ctx.queues[b.index()].join(self.key, backend, forced.is_some());
            self.phase = Phase::Queued { place };
            let cfg = &backend.config;
            let t = cfg.timeout_queue.unwrap_or(cfg.timeout_connect);
            self.deadline.set(Some(ctx.now + t), self.key, ctx.timers);
            self.trace.queued(ctx.now);
        }
        Outcome::Continue
    }

    /// The server a `use-server` rule, else a `stick` rule, sends the
    /// session to (the `stick` rules run once a session: their keys are
    /// kept to be stored even when `use-server` chose).
    fn forced_server(&mut self, b: BackendId, ctx: &mut Ctx<'_>) -> Option<ServerId> {
        let chosen = self.use_server(b, ctx);
        let stuck = self.stick_rules(b, chosen.is_none(), ctx);
        chosen.or(stuck)
    }

    /// `server` was picked and its `slot` taken: count it and connect.
    fn picked(&mut self, b: BackendId, server: ServerId, slot: Slot, ctx: &mut Ctx<'_>) -> Outcome {
        let backend = ctx.rt.backend(b);
        let w = ctx.worker;
        Counters::add(&backend.server(server).counters.shard(w).picks, 1);
        Counters::add(&backend.counters.shard(w).picks, 1);
        self.connect(b, server, slot, ctx)
    }

    /// A session got past its PROXY header: HAProxy's default format logs
    /// `Connect from` now (once per session).
    /// The client and local addresses a PROXY header relays; `None` for a
    /// client of a UNIX-socket bind, which has none.
    fn proxy_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.unix
            .is_none()
            .then_some((self.client_addr, self.local_addr))
    }

    pub(super) fn announce(&mut self, ctx: &Ctx<'_>) {
        if self.trace.announced {
            return;
        }
        self.trace.announced = true;
        let log = &ctx.rt.frontend(self.frontend).config.log;
        if log.format.is_none() && !log.targets.is_empty() {
            ctx.logs.send(Message::Connect {
                frontend: self.frontend,
                client: self.client_addr,
                local: self.local_addr,
                unix: self.unix,
            });
        }
    }

    /// `option logasap`, or a format with nothing to wait for: the line
    /// goes out now that the server connection is up (HAProxy's
    /// `sess_establish`). A session that `dontlog-normal` hides so far is
    /// left to its end, which logs it if it ends in error.
    fn log_connected(&mut self, ctx: &Ctx<'_>) {
        let log = &ctx.rt.frontend(self.frontend).config.log;
        if log.targets.is_empty() || !log.logs_at_connect() {
            return;
        }
        let mut r = self.record(ctx.now);
        r.samples = self.log_samples(ctx.rt);
        if log.dontlog_normal && !r.is_error() {
            return;
        }
        let queued = r.backend.map_or(0, |b| ctx.queues[b.index()].live());
        self.count(ctx.rt, &mut r, queued);
        self.trace.logged = true;
        ctx.logs.send(Message::Session(Box::new(r)));
    }

    /// Starts a connection to `server` of backend `b`, on the `slot` the
    /// caller took.
    pub(super) fn connect(
        &mut self,
        b: BackendId,
        server: ServerId,
        slot: Slot,
        ctx: &mut Ctx<'_>,
    ) -> Outcome {
        self.leave_queue(ctx.queues, true);
        let backend = ctx.rt.backend(b);
        let srv = backend.server(server);
        Counters::add(&srv.counters.shard(ctx.worker).connects, 1);
        Counters::add(&backend.counters.shard(ctx.worker).connects, 1);
        let cfg = &backend.config;
        // A PROXY header is written before the connection is known to
        // be up, in one go: it cannot wait for a Fast Open SYN.
        let tfo = srv.tfo && srv.send_proxy.is_none();
        // Only the flow writes a plain connection: it sets TCP_NODELAY
        // before its second write. A PROXY header, TLS records or a Fast
        // Open SYN are writes it does not see: those set it now.
        let lazy_nodelay =
            !tfo && srv.send_proxy.is_none() && !cfg.servers[server.index()].tls.enabled;
        // The early read and write are the up flow's own, in plaintext.
        let early = lazy_nodelay
            && self.client_tls.is_none()
            && self.up.half == Half::Open
            && srv
                .first_write
                .worth_trying(self.id.is_multiple_of(FIRST_WRITE_PROBE_EVERY));
        if early && let Err(outcome) = self.read_early(ctx) {
            return outcome;
        }
        let opts = connect::ConnectOptions {
            buffers: crate::net::Buffers {
                rcv: ctx.rt.global.rcvbuf_server,
                snd: ctx.rt.global.sndbuf_server,
            },
            source: srv.source,
            source_ports: srv.source_ports.clone(),
            keepalive: cfg.keepalive,
            tfo,
            lazy_nodelay,
            // HAProxy delays the ACK only when data will go with it.
            delay_ack: cfg.smart_connect
                && (srv.send_proxy.is_some()
                    || match &self.client_tls {
                        Some(t) => t.has_plaintext(),
                        // Read already: no peek.
                        None if early => self.up.pending() > 0,
                        None => self.client.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0),
                    }),
        };
        let target = srv.port_mode.target(srv.addr.get(), self.local_addr);
        let result = self
            .server_tls(b, server, target, ctx.rt)
            .and_then(|tls| Ok((connect::start(target, &opts)?, tls)));
        match result {
            Ok((stream, tls)) => {
                self.up.nodelay = if lazy_nodelay {
                    NoDelay::BeforeSecondWrite
                } else {
                    NoDelay::Set
                };
                self.trace.connecting(server, ctx.now);
                self.phase = Phase::Connecting {
                    conn: Conn {
                        stream,
                        tcp_up: false,
                        tls,
                        backend: b,
                        server,
                        ready: Ready::default(),
                        writes_watched: true,
                        _slot: slot,
                    },
                };
                let t = backend.config.timeout_connect;
                self.deadline.set(Some(ctx.now + t), self.key, ctx.timers);
                if early && let Some(outcome) = self.write_early(ctx) {
                    return outcome;
                }
                let Phase::Connecting { conn } = &mut self.phase else {
                    return Outcome::Continue;
                };
                let interest = Interest::READABLE | Interest::WRITABLE;
                let token = Side::Server.token(self.key);
                match ctx.registry.register(&mut conn.stream, token, interest) {
                    Ok(()) => Outcome::Continue,
                    Err(e) => self.connect_failed(e, ctx),
                }
            }
            Err(e) => {
                drop(slot);
                self.phase = Phase::Idle;
                self.trace.connecting(server, ctx.now);
                self.trace.failed(Term::for_failure(&e, false));
                self.after_failure(b, server, e, ctx)
            }
        }
    }

    /// Reads what the client sent so far into the up flow, before
    /// connecting (see [`crate::runtime::FirstWrite`]); a client reset
    /// ends the session.
    fn read_early(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Outcome> {
        // A guess: a read that finds nothing says so.
        self.client_ready.readable = true;
        let client = End {
            sock: &self.client,
            ready: &mut self.client_ready,
            tls: None,
        };
        let mut shared = Shared {
            pipes: ctx.pipes,
            scratch: ctx.scratch,
        };
        match self.up.read_ahead(client, &mut shared) {
            Ok(_) => Ok(()),
            Err(e) => {
                log::debug!("session {}: client side {e}", self.key);
                self.trace.end(Term::CLIENT_ABORT);
                Err(Outcome::Close(Close::Abort))
            }
        }
    }

    /// Writes what [`Self::read_early`] took to the connection just
    /// started, before its first event: when the handshake is already
    /// over, the session is connected at once and the server is watched
    /// for reads only. Returns the outcome when the attempt settled the
    /// connection (up, or failed); `None` leaves it to its events, the
    /// bytes held.
    fn write_early(&mut self, ctx: &mut Ctx<'_>) -> Option<Outcome> {
        let Phase::Connecting { conn } = &mut self.phase else {
            return None;
        };
        let wrote = if self.up.pending() > 0 {
            // One write: its error, if any, is the connection's own
            // (ECONNREFUSED), reported once by the kernel. Nothing more is
            // read, so no FIN can reach a socket still connecting.
            conn.ready.writable = true;
            self.up.write_held(conn.end())
        } else {
            Ok(0)
        };
        let paid = matches!(wrote, Ok(n) if n > 0);
        let (b, server) = (conn.backend, conn.server);
        ctx.rt.backend(b).server(server).first_write.note(paid);
        match wrote {
            Err(e) => Some(self.connect_failed(e, ctx)),
            Ok(sent) if sent > 0 => {
                let token = Side::Server.token(self.key);
                if let Err(e) = ctx
                    .registry
                    .register(&mut conn.stream, token, Interest::READABLE)
                {
                    return Some(self.connect_failed(e, ctx));
                }
                conn.tcp_up = true;
                conn.writes_watched = false;
                self.count_bytes(b, server, sent, 0, ctx);
                Some(self.connected(ctx))
            }
            Ok(_) => {
                // Still connecting: its writable edge says when.
                conn.ready = Ready::default();
                None
            }
        }
    }

    /// The TLS layer of a connection to a `server ... ssl`, with the SNI
    /// its `sni` expression gives for this session (none: no SNI).
    fn server_tls(
        &mut self,
        b: BackendId,
        server: ServerId,
        target: std::net::SocketAddr,
        rt: &Runtime,
    ) -> io::Result<Option<Box<TlsConn>>> {
        let cfg = &rt.backend(b).config.servers[server.index()].tls;
        if !cfg.enabled {
            return Ok(None);
        }
        let tls = rt
            .tls
            .server(b.index(), server.index())
            .ok_or_else(|| io::Error::other("no TLS context for this server"))?;
        let sni = cfg.sni.as_ref().and_then(|e| {
            let judge = self.judge(rt, None, None);
            let v = rt.rules.sample(e, &judge).value?;
            let name = String::from_utf8_lossy(&v.to_bytes()).into_owned();
            ServerName::try_from(name).ok()
        });
        let name = sni.unwrap_or(ServerName::IpAddress(target.ip().into()));
        TlsConn::connect(tls.traffic.clone(), name).map(|c| Some(Box::new(c)))
    }

    /// `clean`: the event that woke it said writable with no error or
    /// hang-up (then the handshake succeeded: Linux flags a failed one
    /// with EPOLLERR).
    pub(super) fn check_connected(&mut self, ctx: &mut Ctx<'_>, clean: bool) -> Outcome {
        let Phase::Connecting { conn } = &mut self.phase else {
            return Outcome::Continue;
        };
        if !conn.tcp_up {
            if !conn.ready.writable {
                return Outcome::Continue;
            }
            // Edge-triggered: a connecting socket reports writable only
            // once the handshake ended, and a failure leaves its reason in
            // SO_ERROR.
            if clean {
                conn.tcp_up = true;
            } else {
                match conn.stream.take_error() {
                    Ok(None) => conn.tcp_up = true,
                    Ok(Some(e)) | Err(e) => return self.connect_failed(e, ctx),
                }
            }
        }
        // `server ... ssl`: connected once the TLS handshake is done too
        // (as HAProxy: its failure is a connection error, `SC`, retried),
        // within `timeout connect`.
        if let Some(t) = conn.tls.as_deref_mut() {
            match t.handshake(&conn.stream, &mut conn.ready) {
                Ok(true) => {}
                Ok(false) => return Outcome::Continue,
                Err(e) => return self.connect_failed(e, ctx),
            }
        }
        self.connected(ctx)
    }

    pub(super) fn connected(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let Phase::Connecting { conn } = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Outcome::Continue;
        };
        let backend = ctx.rt.backend(conn.backend);
        let srv = backend.server(conn.server);
        if let Some(v) = srv.send_proxy
            && let Err(e) = send_proxy_header(&conn.stream, v, self.proxy_addrs())
        {
            self.phase = Phase::Connecting { conn };
            return self.connect_failed(e, ctx);
        }
        srv.counters
            .session_started(ctx.worker, srv.active.get() as u64);
        backend
            .counters
            .session_started(ctx.worker, backend.active.get() as u64);
        srv.note_success();
        let gate = self.response_gate(ctx.rt, ctx.now).map(Box::new);
        if gate.is_none() {
            // No response is read before it flows: the keys are stored now.
            self.stick_store(conn.backend, conn.server, 0, ctx);
        }
        self.trace
            .connected(ctx.now, || conn.stream.local_addr().ok());
        // Before the first byte is forwarded, with the server slot held:
        // HAProxy counts the session in %bc and %sc at this point.
        self.log_connected(ctx);
        self.phase = Phase::Forwarding { conn, gate };
        // HAProxy's backend `option nolinger`: the client's FIN closes the
        // server connection with a reset instead of a shutdown.
        self.up.fin_as_reset = backend.config.nolinger;
        self.arm_idle_timeout(ctx);
        self.forward(ctx)
    }

    /// Gives up the current server connection and retries or closes.
    pub(super) fn connect_failed(&mut self, err: io::Error, ctx: &mut Ctx<'_>) -> Outcome {
        let conn = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting { conn } => {
                self.trace.failed(Term::for_failure(&err, false));
                conn
            }
            Phase::Forwarding { conn, .. } => {
                self.trace.failed(Term::for_failure(&err, true));
                conn
            }
            other => {
                self.phase = other;
                return Outcome::Close(Close::Normal);
            }
        };
        let (b, server) = (conn.backend, conn.server);
        // Closing the socket gives back its slot on the server. No
        // epoll_ctl(DEL): closing the only descriptor of a socket removes
        // it from the epoll set.
        drop(conn);
        self.after_failure(b, server, err, ctx)
    }

    pub(super) fn after_failure(
        &mut self,
        b: BackendId,
        server: ServerId,
        err: io::Error,
        ctx: &mut Ctx<'_>,
    ) -> Outcome {
        let backend = ctx.rt.backend(b);
        let srv = backend.server(server);
        let w = ctx.worker;
        Counters::add(&srv.counters.shard(w).connect_errors, 1);
        Counters::add(&backend.counters.shard(w).connect_errors, 1);
        if srv.note_error() {
            ctx.rt.process.wake_health();
        }
        log::debug!(
            "session {}: server {}/{} failed: {err}",
            self.key,
            backend.config.name,
            srv.name
        );
        if self.retries_left == 0 {
            log::info!(
                "{}/{}: connection to {} failed after {} retries: {err}",
                backend.config.name,
                srv.name,
                srv.addr.get(),
                backend.config.retries
            );
            return Outcome::Close(Close::Normal);
        }
        self.retries_left -= 1;
        Counters::add(&srv.counters.shard(w).retries, 1);
        // With `option redispatch`, HAProxy 2.6 (`stream_choose_redispatch`)
        // leaves the server on the last retry; at once when the session was
        // not sent there by persistence, more than one active server is up
        // and the algorithm is a round-robin kind (the pick was arbitrary
        // anyway: a server that drops SYNs costs each client one connect
        // timeout, not one per retry); and at once when a `stick` rule chose
        // a server that is stopped (`option persist`). A server that can no
        // longer take sessions is left whatever the setting.
        let arbitrary = matches!(
            backend.config.balance,
            Balance::RoundRobin | Balance::StaticRr | Balance::Random { .. }
        ) && backend
            .servers
            .iter()
            .filter(|s| !s.backup && s.usable())
            .nth(1)
            .is_some();
        let redispatch = backend.config.redispatch
            && (self.retries_left == 0
                || (self.direct && srv.status().stopped())
                || (!self.direct && arbitrary));
        self.trace.retried(redispatch);
        let again = (!redispatch && (srv.usable() || self.direct))
            .then(|| backend.acquire(server))
            .flatten();
        let Some(slot) = again else {
            if redispatch {
                Counters::add(&srv.counters.shard(w).redispatches, 1);
            }
            self.exclude = Some(server);
            self.direct = false;
            self.vars.unstick();
            return self.dispatch(ctx);
        };
        self.connect(b, server, slot, ctx)
    }
}

/// While first writes to a server do not pay, one session in this many
/// (by its per-worker sequence number) tries anyway, to notice a change.
const FIRST_WRITE_PROBE_EVERY: u64 = 64;

fn send_proxy_header(
    stream: &TcpStream,
    v: ProxyVersion,
    addrs: Option<(SocketAddr, SocketAddr)>,
) -> io::Result<()> {
    let header = match addrs {
        Some((src, dst)) => proxy_proto::encode(v, src, dst),
        // A UNIX client has no address to relay (HAProxy: v1 UNKNOWN).
        None => proxy_proto::encode_unknown(v),
    };
    // A fresh connection's send buffer always has room for ~100 bytes; a
    // short write here means something is badly wrong with the server.
    match (&*stream).write(&header)? {
        n if n == header.len() => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short PROXY header write",
        )),
    }
}
