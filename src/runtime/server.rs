//! One server as every thread sees it: its state (administrative flags and
//! health, from which the status a user sees is derived), its weight and
//! limits, its live session count and counters. Workers only read it and
//! take places on it; the health and admin threads change it. All of it is
//! atomics; only the last check's details sit under a lock, which workers
//! never touch.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use super::Counters;
use super::addr::AddrCell;
use crate::base::clock::now_ms;
use crate::base::slot::{Gauge, Slot};
use crate::config::ProxyVersion;

/// A server's state as a user sees it, derived from its administrative flags
/// and its operational (health) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerStatus {
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
    pub(crate) fn stopped(self) -> bool {
        matches!(self, ServerStatus::Down | ServerStatus::Maint)
    }
}

/// Operational state, as the health checks (and an agent) see the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Oper {
    Up = 0,
    Down = 1,
    /// Up but refusing new sessions: `http-check disable-on-404` got a 404
    /// (HAProxy's NOLB).
    NoLb = 2,
}

/// Administrative flags of a server (several can be set at once).
pub(crate) mod admin {
    /// `disabled` in the config.
    pub(crate) const CONFIG_MAINT: u8 = 1;
    /// Maintenance forced at run time (agent `maint`, runtime API).
    pub(crate) const FORCED_MAINT: u8 = 2;
    /// Drain forced at run time (agent `drain`, runtime API).
    pub(crate) const FORCED_DRAIN: u8 = 4;
    /// Maintenance because the server has no address: `init-addr none`, or
    /// DNS answers without one for it (HAProxy's RMAINT, "MAINT (resolution)").
    pub(crate) const RESOLUTION_MAINT: u8 = 8;
    pub(crate) const MAINT: u8 = CONFIG_MAINT | FORCED_MAINT | RESOLUTION_MAINT;
}

/// What the last health check said, for `show stat` and the stats page.
/// Written by the health thread after each check, read by the admin thread;
/// workers never touch it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckInfo {
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
pub(crate) struct Observe {
    /// `error-limit`.
    pub limit: u32,
    /// Connection errors in a row on live traffic.
    pub errors: AtomicU32,
}

/// Whether a new connection to this server is worth writing at once,
/// before its first event. To a server on the same host (or next door),
/// the handshake is over by the time connect() returns, and writing what
/// the client already sent then saves the wake-up for the writable edge.
/// Farther away, or when the client had sent nothing yet (a protocol
/// where the server speaks first), the attempt is a wasted call: after
/// one such, only an occasional connection tries (the caller's probe).
/// Shared by the workers: read per connection, written only when the
/// answer changes.
#[derive(Debug)]
pub(crate) struct FirstWrite(AtomicBool);

impl Default for FirstWrite {
    fn default() -> Self {
        FirstWrite(AtomicBool::new(true))
    }
}

impl FirstWrite {
    /// Whether this connection tries: the last try paid, or `probe`.
    pub(crate) fn worth_trying(&self, probe: bool) -> bool {
        probe || self.0.load(Ordering::Relaxed)
    }

    /// What a try gave: bytes reached the server, or not.
    pub(crate) fn note(&self, paid: bool) {
        if self.0.load(Ordering::Relaxed) != paid {
            self.0.store(paid, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
pub(crate) struct ServerState {
    pub name: String,
    /// Changed at run time by DNS resolution; read once per connect.
    pub addr: AddrCell,
    /// The host name the address comes from (HAProxy's `srv_fqdn`):
    /// written in the config, set by `set server fqdn`, or the target of
    /// the SRV record a template slot holds. Read and written by the
    /// resolver and admin threads only.
    pub hostname: parking_lot::Mutex<Option<String>>,
    /// The SRV label the server is a slot of (`srvrecord`).
    pub srvrecord: Option<String>,
    /// Whether the port is `addr`'s or comes from the client's destination.
    pub port_mode: crate::config::PortMode,
    pub backup: bool,
    pub send_proxy: Option<ProxyVersion>,
    pub source: Option<IpAddr>,
    /// `source ADDR:LOW-HIGH`: its ports, shared by the workers.
    pub source_ports: Option<Arc<crate::net::connect::PortRange>>,
    /// `tfo`: TCP Fast Open on connect.
    pub tfo: bool,
    /// `non-stick`: `stick` rules never store it.
    pub non_stick: bool,
    /// Whether new connections write at once (a worker-side guess).
    pub first_write: FirstWrite,
    /// 0 = no limit.
    pub maxconn: AtomicU32,
    /// `minconn`: with a `maxconn` above it, the limit grows from this to
    /// `maxconn` as the backend's load grows to `fullconn` (0 = static).
    pub minconn: u32,
    /// `maxqueue` (`qlimit`; 0 = none).
    pub maxqueue: u32,
    /// Weight in effect before slowstart (config weight, or what the agent
    /// or the runtime API set).
    pub weight: AtomicU32,
    /// The weight from the config: agent percentages apply to it.
    pub initial_weight: u32,
    pub(super) admin: AtomicU8,
    pub(super) oper: AtomicU8,
    /// `slowstart` in ms (0 = none) and when the current ramp ends
    /// (`now_ms()` scale; 0 = no ramp running).
    slowstart_ms: u64,
    pub(super) ramp_until: AtomicU64,
    /// `observe layer4`, when set.
    pub observe: Option<Observe>,
    /// Last health-check result (`None` when the server has no check).
    pub check: Option<parking_lot::Mutex<CheckInfo>>,
    /// `disable health` (runtime API): the health thread runs no check of
    /// this server until `enable health`; its state stays as it was.
    pub check_disabled: AtomicBool,
    /// `disable agent`: the same for the agent check.
    pub agent_disabled: AtomicBool,
    /// A state the runtime API asked for and the health checker has not
    /// applied yet ([`super::events::forced`]); 0: none.
    pub forced: AtomicU8,
    /// In a `mysql-role` backend: the cluster monitor does not let this
    /// server take sessions (not the writer, a lagging replica...). The
    /// server is then DOWN whatever its health check says.
    pub(super) role_denied: AtomicBool,
    /// `now_ms()` of the last state change (`lastchg`), and the DOWN time
    /// accumulated before it (`downtime`).
    pub last_change_ms: AtomicU64,
    pub down_ms: AtomicU64,
    /// Sessions on this server now, across all workers (and across
    /// reloads: a reloaded server with the same name and address shares it,
    /// so leastconn and maxconn still see the sessions of the old config).
    /// Each connection to the server holds one of its places.
    pub active: Arc<Gauge>,
    pub counters: Arc<Counters>,
}

impl ServerState {
    pub(crate) fn status(&self) -> ServerStatus {
        let admin = self.admin.load(Ordering::Acquire);
        if admin & admin::MAINT != 0 {
            ServerStatus::Maint
        } else if self.oper() == Oper::Down || self.role_denied.load(Ordering::Acquire) {
            ServerStatus::Down
        } else if admin & admin::FORCED_DRAIN != 0 || self.oper() == Oper::NoLb {
            ServerStatus::Drain
        } else {
            ServerStatus::Up
        }
    }

    pub(crate) fn oper(&self) -> Oper {
        match self.oper.load(Ordering::Acquire) {
            0 => Oper::Up,
            1 => Oper::Down,
            _ => Oper::NoLb,
        }
    }

    /// Sets the operational state. Coming up from DOWN starts the slowstart
    /// ramp, if the server has one.
    pub(crate) fn set_oper(&self, oper: Oper) {
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
    pub(super) fn status_changed(&self, before: ServerStatus) {
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
    pub(crate) fn downtime_ms(&self) -> u64 {
        let down = self.down_ms.load(Ordering::Relaxed);
        if self.status().stopped() {
            let since = self.last_change_ms.load(Ordering::Relaxed);
            down + now_ms().saturating_sub(since)
        } else {
            down
        }
    }

    pub(crate) fn admin_flags(&self) -> u8 {
        self.admin.load(Ordering::Acquire)
    }

    /// Sets or clears administrative flags (see [`admin`]). A change of
    /// the status a user sees restarts `lastchg`, as in HAProxy.
    pub(crate) fn set_admin(&self, flags: u8, on: bool) {
        let before = self.status();
        if on {
            self.admin.fetch_or(flags, Ordering::AcqRel);
        } else {
            self.admin.fetch_and(!flags, Ordering::AcqRel);
        }
        self.status_changed(before);
    }

    /// For tests: forces the derived status.
    #[cfg(test)]
    pub(crate) fn set_status(&self, s: ServerStatus) {
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
    pub(crate) fn effective_weight(&self) -> u32 {
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
    pub(crate) fn ramping(&self) -> bool {
        let until = self.ramp_until.load(Ordering::Relaxed);
        until != 0 && now_ms() < until
    }

    /// Takes new sessions at all (up with a non-zero weight).
    pub(crate) fn usable(&self) -> bool {
        self.status() == ServerStatus::Up && self.weight.load(Ordering::Relaxed) > 0
    }

    /// The connections this server takes now when its backend has
    /// `load` sessions: `maxconn`, or with `minconn` the dynamic limit
    /// HAProxy computes, `max(minconn, maxconn * load / fullconn)` until the
    /// load reaches `fullconn`. `usize::MAX`: no limit.
    pub(crate) fn limit(&self, load: usize, fullconn: usize) -> usize {
        let max = self.maxconn.load(Ordering::Relaxed) as usize;
        let min = self.minconn as usize;
        if max == 0 {
            return usize::MAX;
        }
        if min == 0 || min >= max || load >= fullconn {
            return max;
        }
        (load * max / fullconn.max(1)).max(min).max(1)
    }

    pub(crate) fn has_room(&self, limit: usize) -> bool {
        self.active.get() < limit
    }

    /// Takes a place for a connection under `limit` (see [`Self::limit`])
    /// across workers; the connection holds it until it closes.
    pub(crate) fn try_acquire(&self, limit: usize) -> Option<Slot> {
        self.active.try_take(limit)
    }

    /// A live connection to this server failed. Returns true when this error
    /// reaches `error-limit` (`observe layer4`), so the caller wakes the
    /// health checker.
    pub(crate) fn note_error(&self) -> bool {
        match &self.observe {
            Some(o) => o.errors.fetch_add(1, Ordering::AcqRel) + 1 == o.limit,
            None => false,
        }
    }

    /// A live connection to this server succeeded.
    pub(crate) fn note_success(&self) {
        if let Some(o) = &self.observe
            && o.errors.load(Ordering::Relaxed) != 0
        {
            o.errors.store(0, Ordering::Relaxed);
        }
    }
}

impl ServerState {
    pub(super) fn new(s: &crate::config::Server, counters: Counters) -> ServerState {
        ServerState {
            name: s.name.clone(),
            addr: AddrCell::new(s.addr),
            hostname: parking_lot::Mutex::new(s.fqdn.clone()),
            srvrecord: s.dns.as_ref().filter(|d| d.srv()).map(|d| d.fqdn.clone()),
            port_mode: s.port_mode,
            backup: s.backup,
            send_proxy: s.send_proxy,
            source: s.source,
            source_ports: s
                .source_ports
                .map(|(lo, hi)| Arc::new(crate::net::connect::PortRange::new(lo, hi))),
            tfo: s.tfo,
            non_stick: s.non_stick,
            first_write: FirstWrite::default(),
            maxconn: AtomicU32::new(s.maxconn.unwrap_or(0)),
            minconn: s.minconn.unwrap_or(0),
            maxqueue: s.maxqueue,
            weight: AtomicU32::new(s.weight),
            initial_weight: s.weight,
            admin: AtomicU8::new(
                if s.disabled { admin::CONFIG_MAINT } else { 0 }
                    | if s.no_addr {
                        admin::RESOLUTION_MAINT
                    } else {
                        0
                    },
            ),
            oper: AtomicU8::new(Oper::Up as u8),
            slowstart_ms: s.check.slowstart.map_or(0, |d| d.as_millis() as u64),
            ramp_until: AtomicU64::new(0),
            observe: (s.check.enabled && s.check.observe).then(|| Observe {
                limit: s.check.error_limit.max(1),
                errors: AtomicU32::new(0),
            }),
            check_disabled: AtomicBool::new(false),
            agent_disabled: AtomicBool::new(false),
            forced: AtomicU8::new(0),
            role_denied: AtomicBool::new(false),
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
            counters: Arc::new(counters),
        }
    }
}
