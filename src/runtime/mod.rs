//! State shared by all threads: the validated config plus, per frontend,
//! backend and server, the atomics the workers read and bump (connection
//! counts for leastconn and maxconn, state, weight, byte counters).
//!
//! Workers never lock anything here; the admin and health threads change
//! state through the same atomics.

mod carry;
mod counters;

pub use counters::{Counters, Rate};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::balance::Candidate;
use crate::base::clock::now_ms;
use crate::config::{Backend, Config, Frontend, Global, ProxyVersion};

/// A server's state as a user sees it, derived from its administrative flags
/// and its operational (health) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStatus {
    Up,
    Down,
    /// Takes no new sessions; current ones go on (`drain`, agent `drain`,
    /// `disable-on-404`).
    Drain,
    /// Maintenance: takes no new sessions (`disabled`, agent `maint`).
    Maint,
}

impl ServerStatus {
    /// Out of service: DOWN or in maintenance (HAProxy's "stopped").
    pub fn stopped(self) -> bool {
        matches!(self, ServerStatus::Down | ServerStatus::Maint)
    }
}

/// Operational state, as the health checks (and an agent) see the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Oper {
    Up = 0,
    Down = 1,
    /// Up but refusing new sessions: `http-check disable-on-404` got a 404
    /// (HAProxy's NOLB).
    NoLb = 2,
}

/// Administrative flags of a server (several can be set at once).
pub mod admin {
    /// `disabled` in the config.
    pub const CONFIG_MAINT: u8 = 1;
    /// Maintenance forced at run time (agent `maint`, runtime API).
    pub const FORCED_MAINT: u8 = 2;
    /// Drain forced at run time (agent `drain`, runtime API).
    pub const FORCED_DRAIN: u8 = 4;
    pub const MAINT: u8 = CONFIG_MAINT | FORCED_MAINT;
}

/// What the last health check said, for `show stat` and the stats page.
/// Written by the health thread after each check, read by the admin thread;
/// workers never touch it.
#[derive(Debug, Clone, Default)]
pub struct CheckInfo {
    /// HAProxy's short code of the last result (`L7OK`, `L4CON`, ...);
    /// empty before the first check.
    pub status: &'static str,
    /// Its description (`Layer7 check passed`).
    pub desc: &'static str,
    /// HTTP status, MySQL errno, ... of the last result.
    pub code: Option<u32>,
    pub info: Option<String>,
    pub duration_ms: u64,
    /// The health counter, and the rise/fall bounds it moves between.
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
    /// Failed checks (`chkfail`).
    pub failures: u64,
    /// UP to DOWN transitions (`chkdown`).
    pub downs: u64,
    /// The last agent line, if an agent answered.
    pub agent: Option<String>,
    /// The last agent check's result code and description (`L7OK`,
    /// `L4CON`, ...); empty before the first one.
    pub agent_status: &'static str,
    pub agent_desc: &'static str,
}

/// Live-traffic error tracking (`observe layer4`).
#[derive(Debug)]
pub struct Observe {
    /// `error-limit`.
    pub limit: u32,
    /// Connection errors in a row on live traffic.
    pub errors: AtomicU32,
}

#[derive(Debug)]
pub struct ServerState {
    pub name: String,
    pub addr: SocketAddr,
    pub backup: bool,
    pub send_proxy: Option<ProxyVersion>,
    pub source: Option<IpAddr>,
    /// 0 = no limit.
    pub maxconn: AtomicU32,
    /// Weight in effect before slowstart (config weight, or what the agent
    /// or the runtime API set).
    pub weight: AtomicU32,
    /// The weight from the config: agent percentages apply to it.
    pub initial_weight: u32,
    admin: AtomicU8,
    oper: AtomicU8,
    /// `slowstart` in ms (0 = none) and when the current ramp ends
    /// (`now_ms()` scale; 0 = no ramp running).
    slowstart_ms: u64,
    ramp_until: AtomicU64,
    /// `observe layer4`, when set.
    pub observe: Option<Observe>,
    /// Last health-check result (`None` when the server has no check).
    pub check: Option<parking_lot::Mutex<CheckInfo>>,
    /// `disable health` (runtime API): the health thread runs no check of
    /// this server until `enable health`; its state stays as it was.
    pub check_disabled: AtomicBool,
    /// `now_ms()` of the last state change (`lastchg`), and the DOWN time
    /// accumulated before it (`downtime`).
    pub last_change_ms: AtomicU64,
    pub down_ms: AtomicU64,
    /// Sessions on this server now, across all workers (and across
    /// reloads: a reloaded server with the same name and address shares it,
    /// so leastconn and maxconn still see the sessions of the old config).
    pub active: Arc<AtomicU32>,
    pub counters: Arc<Counters>,
}

impl ServerState {
    pub fn status(&self) -> ServerStatus {
        let admin = self.admin.load(Ordering::Acquire);
        if admin & admin::MAINT != 0 {
            ServerStatus::Maint
        } else if self.oper() == Oper::Down {
            ServerStatus::Down
        } else if admin & admin::FORCED_DRAIN != 0 || self.oper() == Oper::NoLb {
            ServerStatus::Drain
        } else {
            ServerStatus::Up
        }
    }

    pub fn oper(&self) -> Oper {
        match self.oper.load(Ordering::Acquire) {
            0 => Oper::Up,
            1 => Oper::Down,
            _ => Oper::NoLb,
        }
    }

    /// Sets the operational state. Coming up from DOWN starts the slowstart
    /// ramp, if the server has one.
    pub fn set_oper(&self, oper: Oper) {
        let before = self.status();
        let was = self.oper.swap(oper as u8, Ordering::AcqRel);
        self.status_changed(before);
        if was == Oper::Down as u8 && oper != Oper::Down && self.slowstart_ms > 0 {
            self.ramp_until
                .store(now_ms() + self.slowstart_ms, Ordering::Release);
        }
    }

    /// After a state change: when the status a user sees changed, restarts
    /// `lastchg` and adds the time just spent stopped (DOWN or in
    /// maintenance, as HAProxy counts it) to `downtime`.
    fn status_changed(&self, before: ServerStatus) {
        if self.status() == before {
            return;
        }
        let now = now_ms();
        let since = self.last_change_ms.swap(now, Ordering::AcqRel);
        if before.stopped() {
            self.down_ms
                .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
    }

    /// `downtime` in ms: past stops plus the current one.
    pub fn downtime_ms(&self) -> u64 {
        let down = self.down_ms.load(Ordering::Relaxed);
        if self.status().stopped() {
            let since = self.last_change_ms.load(Ordering::Relaxed);
            down + now_ms().saturating_sub(since)
        } else {
            down
        }
    }

    pub fn admin_flags(&self) -> u8 {
        self.admin.load(Ordering::Acquire)
    }

    /// Sets or clears administrative flags (see [`admin`]). A change of
    /// the status a user sees restarts `lastchg`, as in HAProxy.
    pub fn set_admin(&self, flags: u8, on: bool) {
        let before = self.status();
        if on {
            self.admin.fetch_or(flags, Ordering::AcqRel);
        } else {
            self.admin.fetch_and(!flags, Ordering::AcqRel);
        }
        self.status_changed(before);
    }

    /// For tests and the runtime API: forces the derived status.
    pub fn set_status(&self, s: ServerStatus) {
        let (admin, oper) = match s {
            ServerStatus::Up => (0, Oper::Up),
            ServerStatus::Down => (0, Oper::Down),
            ServerStatus::Drain => (admin::FORCED_DRAIN, Oper::Up),
            ServerStatus::Maint => (admin::FORCED_MAINT, Oper::Up),
        };
        self.admin.store(admin, Ordering::Release);
        self.oper.store(oper as u8, Ordering::Release);
    }

    /// The weight the balancer uses now: the set weight, scaled down while a
    /// slowstart ramp runs (at least 1 so the server is not starved, as
    /// HAProxy).
    pub fn effective_weight(&self) -> u32 {
        let w = self.weight.load(Ordering::Relaxed);
        let until = self.ramp_until.load(Ordering::Relaxed);
        if until == 0 || w == 0 {
            return w;
        }
        let now = now_ms();
        if now >= until {
            // The ramp is over; later picks skip the clock read.
            let _ = self
                .ramp_until
                .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed);
            return w;
        }
        let elapsed = self.slowstart_ms - (until - now);
        ((w as u64 * elapsed).div_ceil(self.slowstart_ms) as u32).max(1)
    }

    /// Whether a slowstart ramp is running.
    pub fn ramping(&self) -> bool {
        let until = self.ramp_until.load(Ordering::Relaxed);
        until != 0 && now_ms() < until
    }

    /// Takes new sessions at all (up with a non-zero weight).
    pub fn usable(&self) -> bool {
        self.status() == ServerStatus::Up && self.weight.load(Ordering::Relaxed) > 0
    }

    pub fn has_room(&self) -> bool {
        let max = self.maxconn.load(Ordering::Relaxed);
        max == 0 || self.active.load(Ordering::Relaxed) < max
    }

    /// Reserves a session slot (respecting maxconn across workers).
    pub fn try_acquire(&self) -> bool {
        let max = self.maxconn.load(Ordering::Relaxed);
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (max == 0 || n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn release(&self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// A live connection to this server failed. Returns true when this error
    /// reaches `error-limit` (`observe layer4`), so the caller wakes the
    /// health checker.
    pub fn note_error(&self) -> bool {
        match &self.observe {
            Some(o) => o.errors.fetch_add(1, Ordering::AcqRel) + 1 == o.limit,
            None => false,
        }
    }

    /// A live connection to this server succeeded.
    pub fn note_success(&self) {
        if let Some(o) = &self.observe
            && o.errors.load(Ordering::Relaxed) != 0
        {
            o.errors.store(0, Ordering::Relaxed);
        }
    }
}

/// Which servers can take a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// `candidates` holds the usable servers with room.
    Ready,
    /// Usable servers exist but all are at maxconn: queue.
    Full,
    /// No usable server at all.
    NoServer,
}

/// Where a runtime's backend events go: the logger's handle while the
/// runtime is in effect. Cleared when a reload replaces the runtime (the
/// logger thread holds the runtime, so the handle in it must not outlive
/// its turn or the thread would never see its last sender go).
pub type EventSink = parking_lot::Mutex<Option<crate::logging::Handle>>;

#[derive(Debug)]
pub struct BackendState {
    pub config: Backend,
    /// Its index in [`Runtime::backends`].
    pub index: usize,
    /// Shared by all backends of the runtime (see [`EventSink`]).
    pub events: Arc<EventSink>,
    pub servers: Vec<ServerState>,
    /// Counters and session counts are shared with the backend of the same
    /// name in the configs before and after a reload.
    pub counters: Arc<Counters>,
    /// Sessions sent to this backend and not yet closed (`scur`).
    pub active: Arc<AtomicU32>,
    /// Sessions waiting in the backend's queues now, and the most ever
    /// (`qcur`, `qmax`).
    pub queued: Arc<AtomicU32>,
    pub max_queued: Arc<AtomicU32>,
    /// Whether a server could take a session when last looked at, when
    /// that last changed, the DOWN time before it and the UP to DOWN
    /// transitions (`status`, `lastchg`, `downtime`, `chkdown`).
    up: AtomicBool,
    pub last_change_ms: AtomicU64,
    pub down_ms: AtomicU64,
    pub downs: AtomicU64,
}

impl BackendState {
    /// Fills `out` with the servers a new session may go to: usable active
    /// servers, or when none is usable the first usable backup (all usable
    /// backups with `option allbackups`). `exclude` (a server that just
    /// failed) is left out when another choice exists, a backup included:
    /// a redispatched session prefers a backup to the active server that
    /// just refused it.
    pub fn candidates(&self, exclude: Option<usize>, out: &mut Vec<Candidate>) -> Availability {
        out.clear();
        // Called for every new session: fills `out` directly, no
        // intermediate list. `tier` counts the usable servers of the tier
        // chosen, with room or not (Full vs NoServer).
        let mut tier = 0;
        let mut take = |tier: &mut usize, i: usize, s: &ServerState| {
            *tier += 1;
            if s.has_room() {
                out.push(Candidate {
                    server: i,
                    weight: s.effective_weight(),
                    active: s.active.load(Ordering::Relaxed),
                });
            }
        };
        let usable = |backup: bool| {
            self.servers
                .iter()
                .enumerate()
                .filter(move |(i, s)| s.backup == backup && s.usable() && Some(*i) != exclude)
        };
        usable(false).for_each(|(i, s)| take(&mut tier, i, s));
        if tier == 0 {
            let backups = if self.config.allbackups {
                usize::MAX
            } else {
                1
            };
            usable(true)
                .take(backups)
                .for_each(|(i, s)| take(&mut tier, i, s));
        }
        if tier == 0
            && let Some(x) = exclude
            && self.servers[x].usable()
        {
            take(&mut tier, x, &self.servers[x]);
        }
        if tier == 0 {
            Availability::NoServer
        } else if out.is_empty() {
            Availability::Full
        } else {
            Availability::Ready
        }
    }

    /// Re-reads whether the backend can serve, after a server changed;
    /// keeps `lastchg`, `downtime` and `chkdown`. Called by whoever changes
    /// a server's state (health and admin threads), never per session.
    pub fn refresh_state(&self) {
        let up = self.servers.iter().any(ServerState::usable);
        if self.up.swap(up, Ordering::AcqRel) != up {
            let now = now_ms();
            let since = self.last_change_ms.swap(now, Ordering::AcqRel);
            if up {
                self.down_ms
                    .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
            } else {
                self.downs.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Usable active and backup servers (for the logs' "N active and M
    /// backup servers left").
    pub fn usable_counts(&self) -> (usize, usize) {
        let count = |backup: bool| {
            self.servers
                .iter()
                .filter(|s| s.backup == backup && s.usable())
                .count()
        };
        (count(false), count(true))
    }
}

impl ServerState {
    fn new(s: &crate::config::Server) -> ServerState {
        ServerState {
            name: s.name.clone(),
            addr: s.addr,
            backup: s.backup,
            send_proxy: s.send_proxy,
            source: s.source,
            maxconn: AtomicU32::new(s.maxconn.unwrap_or(0)),
            weight: AtomicU32::new(s.weight),
            initial_weight: s.weight,
            admin: AtomicU8::new(if s.disabled { admin::CONFIG_MAINT } else { 0 }),
            oper: AtomicU8::new(Oper::Up as u8),
            slowstart_ms: s.check.slowstart.map_or(0, |d| d.as_millis() as u64),
            ramp_until: AtomicU64::new(0),
            observe: (s.check.enabled && s.check.observe).then(|| Observe {
                limit: s.check.error_limit.max(1),
                errors: AtomicU32::new(0),
            }),
            check_disabled: AtomicBool::new(false),
            check: (s.check.enabled || s.check.agent).then(|| {
                parking_lot::Mutex::new(CheckInfo {
                    rise: s.check.rise,
                    fall: s.check.fall,
                    health: s.check.rise,
                    ..CheckInfo::default()
                })
            }),
            last_change_ms: AtomicU64::new(now_ms()),
            down_ms: AtomicU64::new(0),
            active: Arc::default(),
            counters: Arc::default(),
        }
    }
}

#[derive(Debug)]
pub struct FrontendState {
    pub config: Frontend,
    /// Sessions open on this frontend now (shared, like the counters, with
    /// the frontend of the same name across a reload).
    pub current: Arc<AtomicUsize>,
    /// `maxconn` (changed by `set maxconn frontend`).
    pub maxconn: AtomicUsize,
    pub counters: Arc<Counters>,
    /// Listeners paused by `disable frontend` (runtime API).
    pub paused: AtomicBool,
}

/// Worker threads for a config: `nbthread`, else one per online CPU.
pub fn worker_count(global: &Global) -> usize {
    global
        .nbthread
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// A counted slot under a limit (global or frontend maxconn).
pub fn try_take(current: &AtomicUsize, max: usize) -> bool {
    current
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// One worker's loop counter, alone on its cache line: each worker bumps
/// its own on every turn, and neighbours must not share the line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Heartbeat(pub AtomicU64);

#[derive(Debug)]
pub struct Runtime {
    pub global: Global,
    pub frontends: Vec<FrontendState>,
    pub backends: Vec<BackendState>,
    /// Sessions open in the whole process, in every config generation.
    pub current: Arc<AtomicUsize>,
    /// Global `maxconn` in effect (`set maxconn global` lowers it, up to
    /// the configured value).
    pub maxconn: AtomicUsize,
    /// Sessions accepted since start (`CumConns`), across reloads.
    pub accepted: Arc<AtomicU64>,
    /// Worker threads (`nbthread`, or one per CPU).
    pub nbthread: usize,
    /// When the process started, for `Uptime` and `Start_time_sec`.
    pub started: Instant,
    pub started_unix: u64,
    /// Wakes the health checker (`observe layer4` reached its error limit).
    pub health_waker: std::sync::OnceLock<std::sync::Arc<mio::Waker>>,
    /// The process's pipe budget, for `show info` (set at start-up).
    pub pipes: std::sync::OnceLock<std::sync::Arc<crate::forward::PipeBudget>>,
    /// The logger for backend events, shared with every backend.
    pub events: Arc<EventSink>,
    /// `vrrp` sections and what the VRRP thread last published about them
    /// (kept by a reload: the VRRP thread runs the config it started with).
    pub vrrp: Arc<Vec<crate::vrrp::Shared>>,
    /// Per worker: turns of its event loop, for the VRRP watchdog (kept
    /// by a reload: the workers are the same threads).
    pub heartbeats: Arc<Vec<Heartbeat>>,
}

impl Runtime {
    pub fn new(config: Config) -> Runtime {
        let global = config.global.clone();
        let events: Arc<EventSink> = Arc::default();
        let backends = config
            .backends
            .into_iter()
            .enumerate()
            .map(|(index, b)| {
                let servers: Vec<ServerState> = b.servers.iter().map(ServerState::new).collect();
                BackendState {
                    index,
                    events: events.clone(),
                    up: AtomicBool::new(servers.iter().any(ServerState::usable)),
                    servers,
                    config: b,
                    counters: Arc::default(),
                    active: Arc::default(),
                    queued: Arc::default(),
                    max_queued: Arc::default(),
                    last_change_ms: AtomicU64::new(now_ms()),
                    down_ms: AtomicU64::new(0),
                    downs: AtomicU64::new(0),
                }
            })
            .collect();
        let frontends = config
            .frontends
            .into_iter()
            .map(|f| FrontendState {
                maxconn: AtomicUsize::new(f.maxconn.unwrap_or(global.maxconn)),
                config: f,
                current: Arc::default(),
                counters: Arc::default(),
                paused: AtomicBool::new(false),
            })
            .collect();
        let vrrp = Arc::new(
            config
                .vrrp
                .into_iter()
                .map(crate::vrrp::Shared::new)
                .collect(),
        );
        let nbthread = worker_count(&global);
        Runtime {
            maxconn: AtomicUsize::new(global.maxconn),
            nbthread,
            vrrp,
            heartbeats: Arc::new((0..nbthread).map(|_| Heartbeat::default()).collect()),
            global,
            frontends,
            backends,
            current: Arc::default(),
            accepted: Arc::default(),
            started: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            health_waker: std::sync::OnceLock::new(),
            pipes: std::sync::OnceLock::new(),
            events,
        }
    }

    /// Pipes held by all workers now.
    pub fn pipes_in_use(&self) -> usize {
        self.pipes.get().map_or(0, |p| p.in_use())
    }

    pub fn wake_health(&self) {
        if let Some(w) = self.health_waker.get() {
            let _ = w.wake();
        }
    }
}

/// The runtime in effect, for the threads that outlive a reload and always
/// want the newest config (the runtime API). Workers do not use it: each
/// of their sessions keeps the runtime it started with.
#[derive(Debug, Clone)]
pub struct Current(Arc<parking_lot::RwLock<Arc<Runtime>>>);

impl Current {
    pub fn new(rt: Arc<Runtime>) -> Current {
        Current(Arc::new(parking_lot::RwLock::new(rt)))
    }

    pub fn get(&self) -> Arc<Runtime> {
        self.0.read().clone()
    }

    pub fn set(&self, rt: Arc<Runtime>) {
        *self.0.write() = rt;
    }
}

#[cfg(test)]
mod tests;
