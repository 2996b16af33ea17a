//! A session's rules (HAProxy 2.6's order): `tcp-request connection` rules
//! before the session exists ([`connection_rules`], called by the worker),
//! then `tcp-request session` rules, the frontend's `tcp-request content`
//! rules while the client's first bytes arrive (peeked at, never taken
//! from the socket, so that they are forwarded as before, spliced),
//! `use_backend`, the backend's content rules, `use-server` (in
//! dispatch), and `tcp-response content` rules on the server's first bytes.
//!
//! [`Judge`] (in `judge.rs`) gives the rule engine what it asks about the
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::judge::{Judge, Vars};
use super::*;
use crate::config::{RuleSet, SwitchTarget};
use crate::rules::Decision;

/// What `tcp-request connection` rules decided for a new client.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Go on, with what the rules set.
    Admit {
        vars: Vars,
        expect_proxy: bool,
        src: SocketAddr,
        dst: SocketAddr,
    },
    Reject,
    SilentDrop,
}

/// Runs frontend `fe`'s `tcp-request connection` rules (none: admitted).
pub(crate) fn connection_rules(
    rt: &Runtime,
    fe: FrontendId,
    bind_id: u32,
    unix: bool,
    (mut src, mut dst): (SocketAddr, SocketAddr),
) -> Admission {
    let rules = &rt.frontend(fe).config.rules;
    let mut vars = Vars::default();
    let mut judge = Judge {
        rt,
        frontend: fe,
        backend: None,
        server: None,
        bind_id,
        src: &mut src,
        dst: &mut dst,
        unix,
        vars: &mut vars,
        request: None,
        response: None,
        expect_proxy: false,
        started: false,
        tls: None,
    };
    // No data exists at this point: nothing can wait.
    let decision = rt.rules.run(rules, &rules.connection, 0, &mut judge);
    let expect_proxy = judge.expect_proxy;
    match decision {
        Decision::Reject => Admission::Reject,
        Decision::SilentDrop => Admission::SilentDrop,
        _ => Admission::Admit {
            vars,
            expect_proxy,
            src,
            dst,
        },
    }
}

/// Which content rules a session is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side4 {
    Frontend,
    Backend,
}

/// A session inspecting its client's first bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inspect {
    pub side: Side4,
    /// The rule to evaluate again.
    pub at: usize,
    /// The end of the inspect delay (`None`: one pass, final).
    pub until: Option<Instant>,
    /// The client closed its side: nothing more will come.
    pub closed: bool,
}

/// The server's first bytes held back for `tcp-response content` rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseGate {
    pub at: usize,
    pub until: Option<Instant>,
}

impl Session {
    pub(super) fn judge<'a>(
        &'a mut self,
        rt: &'a Runtime,
        request: Option<(&'a [u8], bool)>,
        response: Option<(&'a [u8], bool)>,
    ) -> Judge<'a> {
        Judge {
            rt,
            frontend: self.frontend,
            backend: self.backend,
            server: self.server(),
            bind_id: self.bind_id,
            src: &mut self.client_addr,
            dst: &mut self.local_addr,
            unix: self.unix.is_some(),
            vars: &mut self.vars,
            request,
            response,
            expect_proxy: false,
            started: self.counted,
            tls: self.client_tls.as_deref(),
        }
    }

    /// After the PROXY header, if any: the session rules, then content
    /// inspection, switching, and dispatch.
    pub(super) fn start_rules(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let rt = ctx.rt;
        let rules = rt.frontend(self.frontend).config.rules.clone();
        if !rules.session.is_empty() {
            let mut judge = self.judge(rt, None, None);
            match rt.rules.run(&rules, &rules.session, 0, &mut judge) {
                Decision::Reject | Decision::Close => {
                    return self.refuse_session(ctx, false);
                }
                Decision::SilentDrop => return self.refuse_session(ctx, true),
                _ => {}
            }
        }
        let (_, current) = self.slots.counts();
        rt.frontend(self.frontend)
            .counters
            .session_started(ctx.worker, current as u64);
        self.counted = true;
        for t in self.vars.trackers() {
            t.table().session_started(t.entry());
        }
        // The session exists now: HAProxy's default format says
        // "Connect from" here, before any content rule.
        self.announce(ctx);
        self.content_rules(Side4::Frontend, ctx)
    }

    /// `tcp-request session reject`: no session is logged; `dses` counts
    /// (`dreq` for a silent drop, as HAProxy).
    fn refuse_session(&mut self, ctx: &mut Ctx<'_>, silent: bool) -> Outcome {
        let c = ctx.rt.frontend(self.frontend).counters.shard(ctx.worker);
        Counters::add(
            if silent {
                &c.denied_req
            } else {
                &c.denied_sess
            },
            1,
        );
        self.trace.logged = true;
        if self.proxied && !silent {
            self.trace.handshake = Some(crate::base::log::Handshake::Refused);
        }
        if silent {
            crate::net::sockopt::silent_drop(&self.client);
            return Outcome::Close(Close::Abort);
        }
        // HAProxy closes it with a FIN.
        Outcome::Close(Close::Normal)
    }

    /// Starts inspecting with `side`'s content rules, or goes past them.
    fn content_rules(&mut self, side: Side4, ctx: &mut Ctx<'_>) -> Outcome {
        let rules = self.side_rules(side, ctx.rt);
        if rules.content.is_empty() {
            return self.after_content(side, ctx);
        }
        let until = rules.inspect_delay.map(|d| ctx.now + d);
        self.phase = Phase::Inspect(Inspect {
            side,
            at: 0,
            until,
            closed: false,
        });
        if let Some(t) = until {
            self.deadline.set(Some(t), self.key, ctx.timers);
        }
        self.inspect(ctx)
    }

    fn side_rules(&self, side: Side4, rt: &Runtime) -> Arc<RuleSet> {
        match (side, self.backend) {
            (Side4::Backend, Some(b)) => rt.backend(b).config.rules.clone(),
            _ => rt.frontend(self.frontend).config.rules.clone(),
        }
    }

    /// The client's bytes so far, peeked at, and whether it closed with
    /// nothing (more) to read; `None` on a read error.
    pub(super) fn peek_client(&mut self, scratch: &mut [u8]) -> Option<(usize, bool)> {
        match self.client_end().peek(scratch) {
            Ok(n) => Some((n, n == 0)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some((0, false)),
            Err(_) => None,
        }
    }

    /// Evaluates the content rules again with what the client sent.
    pub(super) fn inspect(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let Phase::Inspect(ins) = self.phase else {
            return Outcome::Continue;
        };
        let rules = self.side_rules(ins.side, ctx.rt);
        let Some((n, eof)) = self.peek_client(ctx.scratch) else {
            self.trace.end(Term::CLIENT_ABORT);
            return Outcome::Close(Close::Abort);
        };
        self.client_ready.readable = false;
        let expired = ins.until.is_none_or(|t| ctx.now >= t);
        let last = expired || ins.closed || eof || n == ctx.scratch.len();
        let rt = ctx.rt;
        let data = &ctx.scratch[..n];
        let mut judge = self.judge(rt, Some((data, last)), None);
        let decision = rt.rules.run(&rules, &rules.content, ins.at, &mut judge);
        match decision {
            Decision::Wait { at } => {
                self.phase = Phase::Inspect(Inspect { at, ..ins });
                Outcome::Continue
            }
            Decision::Accept => {
                // The bytes peeked at are still in the socket: forwarding
                // reads them without waiting for a new edge.
                self.client_ready.readable = true;
                self.phase = Phase::Idle;
                self.after_content(ins.side, ctx)
            }
            Decision::Reject | Decision::Close | Decision::SilentDrop => {
                let counters = match (ins.side, self.backend) {
                    (Side4::Backend, Some(b)) => &ctx.rt.backend(b).counters,
                    _ => &ctx.rt.frontend(self.frontend).counters,
                };
                Counters::add(&counters.shard(ctx.worker).denied_req, 1);
                self.phase = Phase::Idle;
                self.trace
                    .end(Term::new(crate::base::log::Cause::Proxy, LogStage::Request));
                if decision == Decision::SilentDrop {
                    crate::net::sockopt::silent_drop(&self.client);
                    return Outcome::Close(Close::Abort);
                }
                // HAProxy closes a rejected request with a FIN.
                Outcome::Close(Close::Normal)
            }
        }
    }

    /// The client closed while inspected: what it sent is all there is.
    pub(super) fn inspect_closed(&mut self) {
        if let Phase::Inspect(ins) = &mut self.phase {
            ins.closed = true;
        }
    }

    /// The inspect delay ended: the final pass.
    pub(super) fn inspect_timeout(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        self.inspect(ctx)
    }

    fn after_content(&mut self, side: Side4, ctx: &mut Ctx<'_>) -> Outcome {
        if side == Side4::Backend {
            return self.dispatch(ctx);
        }
        let rt = ctx.rt;
        let rules = rt.frontend(self.frontend).config.rules.clone();
        if !rules.use_backend.is_empty() {
            let chosen = self.switch_backend(&rules, ctx);
            if chosen.is_some() {
                self.set_backend(chosen, rt);
            }
        }
        if self.backend.is_none() {
            self.set_backend(rt.frontend(self.frontend).config.default_backend, rt);
        }
        match self.backend {
            Some(b) if !Arc::ptr_eq(&rt.backend(b).config.rules, &rules) => {
                self.content_rules(Side4::Backend, ctx)
            }
            _ => self.dispatch(ctx),
        }
    }

    /// `use_backend` rules: the first that matches and names a backend.
    fn switch_backend(&mut self, rules: &RuleSet, ctx: &mut Ctx<'_>) -> Option<BackendId> {
        let rt = ctx.rt;
        let n = if rules.use_backend_reads_payload {
            self.peek_client(ctx.scratch).map_or(0, |(n, _)| n)
        } else {
            0
        };
        let data = &ctx.scratch[..n];
        let judge = self.judge(rt, Some((data, true)), None);
        for u in &rules.use_backend {
            if rt.rules.cond(rules, u.cond.as_ref(), &judge) != crate::rules::Verdict::Match {
                continue;
            }
            match &u.target {
                SwitchTarget::Backend(b) => return b.id,
                SwitchTarget::Dynamic(parts) => {
                    // No such backend: the default one, as HAProxy does.
                    let name = rt.rules.render(parts, &judge);
                    return rt.backend_named(&name);
                }
            }
        }
        None
    }

    /// `use-server` rules: the server of the first that matches, if it
    /// can take the session (down: skipped unless `option persist`).
    pub(super) fn use_server(&mut self, b: BackendId, ctx: &mut Ctx<'_>) -> Option<ServerId> {
        let rt = ctx.rt;
        let backend = rt.backend(b);
        let rules = backend.config.rules.clone();
        if rules.use_server.is_empty() {
            return None;
        }
        let n = self.peek_client(ctx.scratch).map_or(0, |(n, _)| n);
        let data = &ctx.scratch[..n];
        let judge = self.judge(rt, Some((data, true)), None);
        for u in &rules.use_server {
            let Some(s) = u.server else { continue };
            if rt.rules.cond(&rules, u.cond.as_ref(), &judge) != crate::rules::Verdict::Match {
                continue;
            }
            if backend.server(s).usable() || rules.persist {
                return Some(s);
            }
        }
        None
    }

    /// The values of the frontend's `log-format` `%[expr]` samples.
    pub(super) fn log_samples(&self, rt: &Runtime) -> Vec<Option<String>> {
        let Some(fmt) = &rt.frontend(self.frontend).config.log.format else {
            return Vec::new();
        };
        if fmt.samples.is_empty() {
            return Vec::new();
        }
        let (mut src, mut dst, mut vars) = (self.client_addr, self.local_addr, self.vars.clone());
        let judge = Judge {
            rt,
            frontend: self.frontend,
            backend: self.backend,
            server: self.server(),
            bind_id: self.bind_id,
            src: &mut src,
            dst: &mut dst,
            unix: self.unix.is_some(),
            vars: &mut vars,
            request: None,
            response: None,
            expect_proxy: false,
            started: false,
            tls: self.client_tls.as_deref(),
        };
        fmt.samples
            .iter()
            .map(|e| {
                let v = rt.rules.sample(e, &judge).value?;
                Some(String::from_utf8_lossy(&v.to_bytes()).into_owned())
            })
            .collect()
    }

    pub(super) fn gate_expired(&self, ctx: &Ctx<'_>) -> bool {
        matches!(&self.phase, Phase::Forwarding { gate: Some(g), .. } if g.until.is_none_or(|t| ctx.now >= t))
    }

    /// Runs the `tcp-response content` rules while the server's bytes are
    /// held: lets them through, keeps waiting, or ends the session.
    pub(super) fn check_gate(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        let Phase::Forwarding {
            conn,
            gate: Some(gate),
        } = phase
        else {
            self.phase = phase;
            return Outcome::Continue;
        };
        let closed = conn.ready.readable && self.down.half != Half::Open;
        let mut conn = conn;
        let verdict = self.judge_response(&mut conn, *gate, closed, ctx);
        match verdict {
            Ok(gate) => {
                let released = gate.is_none();
                let gate = gate.map(Box::new);
                let seen = if released {
                    conn.end().peek(ctx.scratch).unwrap_or(0)
                } else {
                    0
                };
                let (b, s) = (conn.backend, conn.server);
                self.phase = Phase::Forwarding { conn, gate };
                if released {
                    // `stick store-response` sees what the rules saw.
                    self.stick_store(b, s, seen, ctx);
                    self.arm_idle_timeout(ctx);
                }
                Outcome::Continue
            }
            Err((crate::rules::Decision::Close, held)) => {
                // `tcp-response content close`: what the server sent goes
                // to the client, then both connections end.
                let n = conn.end().read(&mut ctx.scratch[..held]).unwrap_or(0);
                let mut client = self.client_end();
                let sent = client.write(&ctx.scratch[..n]).unwrap_or(0);
                if let Some(t) = client.tls {
                    t.close_notify();
                    let _ = t.flush(client.sock, client.ready);
                }
                self.count_bytes(conn.backend, conn.server, 0, sent, ctx);
                self.down.bytes += sent as u64;
                self.phase = Phase::Forwarding { conn, gate: None };
                Outcome::Close(Close::Normal)
            }
            Err((decision, held)) => {
                let server = ctx.rt.backend(conn.backend).server(conn.server);
                Counters::add(&server.counters.shard(ctx.worker).denied_resp, 1);
                self.phase = Phase::Forwarding { conn, gate: None };
                // HAProxy read them: they count in `%B`.
                self.down.bytes += held as u64;
                self.trace
                    .end(Term::new(crate::base::log::Cause::Proxy, LogStage::Data));
                if decision == crate::rules::Decision::SilentDrop {
                    crate::net::sockopt::silent_drop(&self.client);
                    return Outcome::Close(Close::Abort);
                }
                Outcome::Close(Close::Normal)
            }
        }
    }

    /// Whether the server's bytes must wait for `tcp-response` rules.
    pub(super) fn response_gate(&self, rt: &Runtime, now: Instant) -> Option<ResponseGate> {
        let rules = &rt.backend(self.backend?).config.rules;
        (!rules.response.is_empty()).then(|| ResponseGate {
            at: 0,
            until: rules.response_delay.map(|d| now + d),
        })
    }

    /// Evaluates the `tcp-response content` rules on the server's bytes
    /// so far: `Ok(true)` once they let the response through.
    pub(super) fn judge_response(
        &mut self,
        conn: &mut Conn,
        gate: ResponseGate,
        closed: bool,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<ResponseGate>, (Decision, usize)> {
        let rt = ctx.rt;
        let Some(b) = self.backend else {
            return Ok(None);
        };
        let rules = rt.backend(b).config.rules.clone();
        let n = match conn.end().peek(ctx.scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return Ok(None),
        };
        let expired = gate.until.is_none_or(|t| ctx.now >= t);
        let last = expired || closed || n == ctx.scratch.len();
        let data = &ctx.scratch[..n];
        let mut judge = self.judge(rt, None, Some((data, last)));
        match rt.rules.run(&rules, &rules.response, gate.at, &mut judge) {
            Decision::Accept => Ok(None),
            Decision::Wait { at } => Ok(Some(ResponseGate { at, ..gate })),
            Decision::Close => Err((Decision::Close, n)),
            d => {
                // HAProxy counts it on the frontend, the backend and the server.
                let w = ctx.worker;
                let backend = rt.backend(b);
                Counters::add(&backend.counters.shard(w).denied_resp, 1);
                Counters::add(&rt.frontend(self.frontend).counters.shard(w).denied_resp, 1);
                Err((d, n))
            }
        }
    }
}
