//! Health checks: one thread with its own `mio::Poll` runs every server's
//! check (and agent check) as a non-blocking [`probe::Probe`], keeps
//! HAProxy's rise/fall counter ([`state::Health`]) and publishes each
//! server's state through the runtime's atomics, which every worker reads on
//! its next pick. Workers hear from it only for `on-marked-down
//! shutdown-sessions` and `on-marked-up shutdown-backup-sessions` (a
//! control message), and wake it when `observe layer4` counts too many
//! errors on live traffic.

pub(crate) mod agent;
mod apply;
mod forced;
pub(crate) mod probe;
pub(crate) mod script;
pub(crate) mod state;
pub(crate) mod status;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};

use crate::base::ids::{BackendId, ServerId};
use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::config::{CheckParams, OnError, ProxyVersion};
use crate::control::ControlLink;
use crate::runtime::{Oper, Runtime};
use probe::{Probe, Target};
use script::Step;
use state::Health;
use status::{CheckStatus, Verdict};

/// Events taken per poll.
const EVENTS_CAPACITY: usize = 256;

/// Starts the checker when any server has `check` or `agent-check`; the
/// process's health waker is then its own (workers wake it when `observe`
/// counts too many errors).
pub(crate) fn start(rt: Arc<Runtime>, workers: Vec<ControlLink>) -> io::Result<Option<Service>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut thread = Thread::new(rt.clone(), workers, poll);
    // Servers that `track` another start in its state.
    for be in &rt.backends {
        for (si, cfg) in be.config.servers.iter().enumerate() {
            if let Some((tb, ts)) = cfg.track {
                be.servers[si].set_oper(rt.backend(tb).server(ts).oper());
            }
        }
        be.refresh_state();
    }
    if thread.checks.is_empty() {
        rt.process.set_health_waker(None);
        return Ok(None);
    }
    rt.process.set_health_waker(Some(waker.clone()));
    log::info!(
        "health checker started: {} checks on {} servers",
        thread.checks.len(),
        thread.servers.len()
    );
    let service = Service::spawn("health", Some(waker), move |stop| thread.run(&stop))?;
    Ok(Some(service))
}

/// Which of a server's two checks a [`Check`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Health,
    Agent,
}

/// One periodic check of one server.
struct Check {
    kind: Kind,
    /// Index into `Thread::servers`.
    tracked: usize,
    steps: Arc<[Step]>,
    target: Target,
    next: Instant,
    probe: Option<Probe>,
    /// The server's address is resolved at run time: the check's own
    /// `addr`/`port` (or agent's), the rest taken from the server's
    /// address when a probe starts.
    follows_dns: Option<(Option<std::net::IpAddr>, Option<u16>)>,
}

/// What the checker knows of one checked server.
pub(crate) struct Tracked {
    pub backend: BackendId,
    pub server: ServerId,
    pub params: CheckParams,
    /// `None` when the server has only an agent check.
    pub health: Option<Health>,
    /// The agent said `down`, `fail` or `stopped`.
    pub agent_down: bool,
    /// The last health check passed only conditionally (404 with
    /// `disable-on-404`): the server drains.
    pub nolb: bool,
    /// Last result and health value, to log only changes
    /// (`option log-health-checks`).
    pub last: Option<(bool, u32)>,
}

struct Thread {
    rt: Arc<Runtime>,
    workers: Vec<ControlLink>,
    poll: Poll,
    checks: Vec<Check>,
    servers: Vec<Tracked>,
    rng: u64,
}

impl Thread {
    fn new(rt: Arc<Runtime>, workers: Vec<ControlLink>, poll: Poll) -> Thread {
        let now = Instant::now();
        let mut t = Thread {
            rt,
            workers,
            poll,
            checks: Vec::new(),
            servers: Vec::new(),
            rng: seed(),
        };
        let rt = t.rt.clone();
        for (b, backend) in rt.backends.iter().enumerate() {
            if backend.config.disabled {
                continue;
            }
            let health_steps: Arc<[Step]> = script::script(&backend.config.check).into();
            for (s, server) in backend.config.servers.iter().enumerate() {
                let p = &server.check;
                let agent_port = p.agent_port.filter(|_| p.agent);
                if !p.enabled && agent_port.is_none() {
                    continue;
                }
                let tracked = t.servers.len();
                // A fresh server's counter is at `rise`; after a reload it
                // goes on from where the previous config's checks left it.
                let state = &backend.servers[s];
                let value = state.check.as_ref().map_or(p.rise, |c| c.lock().health);
                let health = p.enabled.then(|| Health::resume(p.rise, p.fall, value));
                let oper = state.oper();
                t.servers.push(Tracked {
                    backend: BackendId::new(b),
                    server: ServerId::new(s),
                    params: p.clone(),
                    agent_down: oper == Oper::Down && health.is_none_or(|h| h.is_up()),
                    nolb: oper == Oper::NoLb,
                    health,
                    last: None,
                });
                let ip = p.addr.unwrap_or(server.addr.ip());
                let dns = server.dns.is_some();
                // HAProxy: checks carry a PROXY header with
                // `check-send-proxy`, or when the server's traffic does and
                // the check goes to the server's own address and port.
                let proxy = if p.send_proxy {
                    Some(server.send_proxy.unwrap_or(ProxyVersion::V1))
                } else {
                    server
                        .send_proxy
                        .filter(|_| p.port.is_none() && p.addr.is_none())
                };
                // HAProxy: `check-ssl`, or a server with `ssl` checked on its
                // own address and port.
                let tls = (server.tls.check_ssl
                    || (server.tls.enabled && p.port.is_none() && p.addr.is_none()))
                .then(|| rt.tls.server(b, s))
                .flatten()
                .map(|c| probe::ProbeTls {
                    config: c.check.clone(),
                    sni: c.check_sni.clone(),
                });
                let mut add = |kind, steps, addr: SocketAddr, inter: Duration, own, proxy| {
                    let connect_timeout = match p.timeout {
                        // HAProxy: with `timeout check`, the connect gets
                        // min(timeout connect, inter) and the rest `timeout check`.
                        Some(_) => backend.config.timeout_connect.min(inter),
                        None => inter,
                    };
                    t.checks.push(Check {
                        kind,
                        tracked,
                        steps,
                        target: Target {
                            addr,
                            source: server.source,
                            connect_timeout,
                            check_timeout: p.timeout,
                            proxy,
                            tls: if kind == Kind::Health {
                                tls.clone()
                            } else {
                                None
                            },
                        },
                        next: now,
                        probe: None,
                        follows_dns: dns.then_some(own),
                    });
                };
                if p.enabled {
                    let port = p.port.unwrap_or(server.addr.port());
                    let addr = SocketAddr::new(ip, port);
                    add(
                        Kind::Health,
                        health_steps.clone(),
                        addr,
                        p.inter,
                        (p.addr, p.port),
                        proxy,
                    );
                }
                if let Some(port) = agent_port {
                    let addr = SocketAddr::new(p.agent_addr.unwrap_or(ip), port);
                    let steps = script::agent_script(p.agent_send.as_deref()).into();
                    let own = (p.agent_addr.or(p.addr), Some(port));
                    add(
                        Kind::Agent,
                        steps,
                        addr,
                        p.agent_inter.unwrap_or(p.inter),
                        own,
                        None,
                    );
                }
            }
        }
        // First checks spread over their interval, as HAProxy does, so a
        // big farm is not probed all at once.
        let n = t.checks.len() as u32;
        let cap = t.rt.global.max_spread_checks;
        for i in 0..t.checks.len() {
            // `max-spread-checks` bounds the window the first checks take.
            let window = cap.map_or(t.interval(i), |c| t.interval(i).min(c));
            t.checks[i].next = now + window * i as u32 / n.max(1);
        }
        t
    }

    fn run(&mut self, stop: &StopFlag) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        while !stop.is_set() {
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("health checker stopped: {e}");
                return;
            }
            let now = Instant::now();
            let mut woken = false;
            for ev in events.iter() {
                match ev.token() {
                    WAKER => woken = true,
                    Token(i) => self.on_event(i, now),
                }
            }
            if woken {
                self.observe(now);
                self.forced();
            }
            self.on_time(now);
        }
        for c in &mut self.checks {
            if let Some(mut p) = c.probe.take() {
                p.close(self.poll.registry());
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.checks
            .iter()
            .map(|c| c.probe.as_ref().map_or(c.next, |p| p.deadline))
            .min()
    }

    fn on_event(&mut self, i: usize, now: Instant) {
        let Some(c) = self.checks.get_mut(i) else {
            return;
        };
        let Some(p) = c.probe.as_mut() else {
            return;
        };
        if let probe::Poll::Done(v) = p.on_event(self.poll.registry(), now) {
            self.finish(i, v, now);
        }
    }

    /// Starts the checks that are due and times out the late ones.
    fn on_time(&mut self, now: Instant) {
        for i in 0..self.checks.len() {
            if self.checks[i].probe.is_none() && now >= self.checks[i].next && self.paused(i) {
                let inter = self.interval(i);
                self.checks[i].next = now + inter;
                continue;
            }
            let c = &mut self.checks[i];
            match &mut c.probe {
                Some(p) if now >= p.deadline => {
                    let v = p.timed_out();
                    p.close(self.poll.registry());
                    self.finish(i, v, now);
                }
                Some(_) => {}
                None if now >= c.next => {
                    if let Some((ip, port)) = c.follows_dns {
                        let t = &self.servers[c.tracked];
                        let cur = self.rt.backend(t.backend).server(t.server).addr.get();
                        c.target.addr =
                            SocketAddr::new(ip.unwrap_or(cur.ip()), port.unwrap_or(cur.port()));
                    }
                    let (p, poll) = Probe::start(
                        c.steps.clone(),
                        c.target.clone(),
                        Token(i),
                        self.poll.registry(),
                        now,
                    );
                    c.probe = Some(p);
                    if let probe::Poll::Done(v) = poll {
                        self.finish(i, v, now);
                    }
                }
                None => {}
            }
        }
    }

    /// A check ended: apply its verdict and schedule the next one.
    fn finish(&mut self, i: usize, mut v: Verdict, now: Instant) {
        let Some(p) = self.checks[i].probe.take() else {
            return;
        };
        let duration = now.saturating_duration_since(p.started);
        let tracked = self.checks[i].tracked;
        if self.checks[i].kind == Kind::Health
            && matches!(
                v.status,
                CheckStatus::L4Con | CheckStatus::L4Tout | CheckStatus::SockErr
            )
        {
            // tcp-check names the step that failed, as HAProxy does.
            let backend = &self.rt.backend(self.servers[tracked].backend).config;
            if let Some(ctx) = script::step_context(&backend.check, p.step()) {
                v.info = Some(v.info.take().unwrap_or_default() + &ctx);
            }
        }
        drop(p);
        match self.checks[i].kind {
            Kind::Health => {
                // HAProxy's chkfail counts a failure only while the counter
                // was above 0: not the checks of a server that is down.
                let before = self.servers[tracked].health.map_or(0, |h| h.value());
                self.on_health_result(tracked, &v, duration);
                self.record(tracked, &v, duration, before > 0);
            }
            Kind::Agent => self.on_agent_result(tracked, &v),
        }
        let inter = self.interval(i);
        self.checks[i].next = now + inter;
    }

    /// Publishes a health check's result for `show stat`; a failure adds
    /// to `chkfail` when it `counts`.
    fn record(&self, t: usize, v: &Verdict, duration: Duration, counts: bool) {
        let tr = &self.servers[t];
        let srv = &self.rt.backend(tr.backend).server(tr.server);
        let Some(info) = &srv.check else {
            return;
        };
        let mut c = info.lock();
        c.status = v.status.code();
        c.desc = v.status.description();
        c.code = v.code;
        c.info = v.info.clone();
        c.duration_ms = duration.as_millis() as u64;
        if let Some(h) = &tr.health {
            c.health = h.value();
        }
        if !v.status.passed() && counts {
            c.failures += 1;
        }
    }

    /// A health check the runtime API disabled (`disable health`); agent
    /// checks go on, as in HAProxy.
    fn paused(&self, i: usize) -> bool {
        let c = &self.checks[i];
        let t = &self.servers[c.tracked];
        let srv = self.rt.backend(t.backend).server(t.server);
        // A server without an address is not checked (HAProxy: RMAINT).
        srv.admin_flags() & crate::runtime::admin::RESOLUTION_MAINT != 0
            || c.kind == Kind::Health && srv.check_disabled.load(Ordering::Relaxed)
            || c.kind == Kind::Agent && srv.agent_disabled.load(Ordering::Relaxed)
    }

    /// The time to the next run of check `i`, `spread-checks` applied.
    fn interval(&mut self, i: usize) -> Duration {
        let c = &self.checks[i];
        let t = &self.servers[c.tracked];
        let base = match (c.kind, &t.health) {
            (Kind::Health, Some(h)) => h.interval(&t.params),
            _ => t.params.agent_inter.unwrap_or(t.params.inter),
        };
        let pct = self.rt.global.spread_checks;
        if pct == 0 {
            return base;
        }
        let r = self.next_random();
        spread(base, pct, r)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: spreading checks needs no better.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// `observe layer4`: servers whose live traffic reached `error-limit`.
    fn observe(&mut self, now: Instant) {
        for t in 0..self.servers.len() {
            let (b, s) = (self.servers[t].backend, self.servers[t].server);
            let Some(o) = &self.rt.backend(b).server(s).observe else {
                continue;
            };
            let errors = o.errors.load(Ordering::Acquire);
            if errors < o.limit {
                continue;
            }
            o.errors.store(0, Ordering::Release);
            // HAProxy reports the count that reached the limit, in the
            // thread that saw it; here the count may have moved on while
            // the worker's wake-up travelled.
            let v = Verdict::new(CheckStatus::HAna).info(format!(
                "Detected {} consecutive errors, last one was: L4 unsuccessful connection",
                o.limit
            ));
            match self.servers[t].params.on_error {
                OnError::FastInter => {}
                OnError::FailCheck => self.on_health_result(t, &v, Duration::ZERO),
                OnError::SuddenDeath => {
                    if let Some(h) = &mut self.servers[t].health {
                        h.sudden_death();
                    }
                }
                OnError::MarkDown => self.force_down(t, &v),
            }
            // Every on-error action also checks again soon.
            let fast = {
                let p = &self.servers[t].params;
                p.fastinter.unwrap_or(p.inter)
            };
            for c in self.checks.iter_mut() {
                if c.tracked == t && c.kind == Kind::Health && c.probe.is_none() {
                    c.next = c.next.min(now + fast);
                }
            }
        }
    }
}

/// `base` moved by up to `pct` percent either way (`spread-checks`, at
/// most 50), `r` choosing where.
fn spread(base: Duration, pct: u32, r: u64) -> Duration {
    let pct = i64::from(pct.min(50));
    let offset = (r % (2 * pct as u64 + 1)) as i64 - pct;
    let ms = base.as_millis() as i64;
    Duration::from_millis((ms + ms * offset / 100).max(1) as u64)
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_checks_moves_intervals_within_bounds() {
        let base = Duration::from_millis(2000);
        let mut seen = std::collections::BTreeSet::new();
        for r in 0..1000u64 {
            let d = spread(base, 10, r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert!((1800..=2200).contains(&d.as_millis()), "10% of 2 s: {d:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 10, "intervals actually vary: {seen:?}");
        assert!(seen.iter().any(|d| *d < base) && seen.iter().any(|d| *d > base));
        let capped = spread(base, 90, 0);
        assert!(capped.as_millis() >= 1000, "capped at 50%: {capped:?}");
    }
}
