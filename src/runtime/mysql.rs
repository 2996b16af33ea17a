//! What the MySQL cluster monitor knows of each `mysql-cluster` and what
//! it decides from it: every member's last observation (role, GTID
//! positions, replication channels, lag, semi-sync), the failover history,
//! and which servers each `mysql-role` backend may use. The monitor thread
//! writes the view under a lock that only it, the runtime API and
//! /metrics take; workers only see the result, each server's
//! [`ServerState::role_denied`] flag, read on every pick.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use log::Level;

use super::events::{after_loss, left, online, who};
use super::{Runtime, ServerState};
use crate::base::ids::{BackendId, ServerId};
use crate::base::log::{LEVEL_ALERT, LEVEL_NOTICE};
use crate::config::{MysqlCluster, Role};

/// One row of `SHOW ALL SLAVES STATUS`: a replication channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Channel {
    pub name: String,
    pub master_host: String,
    pub master_port: u16,
    /// `Slave_IO_Running`: `Yes`, `No`, `Connecting`.
    pub io: String,
    pub sql: String,
    /// `Seconds_Behind_Master`; `None` when NULL (not replicating).
    pub lag: Option<u64>,
    pub gtid_io_pos: String,
    pub last_io_errno: u32,
    pub last_io_error: String,
    pub last_sql_errno: u32,
    pub last_sql_error: String,
    /// What moves while the link to the primary is alive, even with no
    /// write: `Slave_received_heartbeats` and `Read_Master_Log_Pos`.
    pub heartbeats: u64,
    pub read_pos: u64,
    /// `Slave_heartbeat_period` (seconds, as the server prints it) and
    /// `Connect_Retry`: kept when a failover repoints a replica.
    pub heartbeat_period: String,
    pub connect_retry: Option<u32>,
}

impl Channel {
    pub(crate) fn io_running(&self) -> bool {
        self.io == "Yes"
    }

    pub(crate) fn sql_running(&self) -> bool {
        self.sql == "Yes"
    }
}

/// What one monitor round reads of a server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub server_id: Option<u32>,
    pub read_only: Option<bool>,
    pub gtid_current: String,
    pub gtid_binlog: String,
    pub gtid_slave: String,
    /// `SHOW ALL SLAVES STATUS`, a row per channel.
    pub channels: Vec<Channel>,
    /// `Rpl_semi_sync_master_status` / `Rpl_semi_sync_slave_status`.
    pub semi_master: Option<bool>,
    pub semi_slave: Option<bool>,
}

/// What the monitor last saw of one member.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemberView {
    pub name: String,
    /// The last round got every answer.
    pub answered: bool,
    /// Rounds in a row without an answer (connect, login or query failed).
    pub fails: u32,
    /// Some round answered since splicer started (or since the view was
    /// carried over a reload).
    pub ever_seen: bool,
    /// What the last round that answered read.
    pub seen: Seen,
    /// The last error of the monitor's connection, or of a failover step.
    pub error: Option<String>,
    /// Kept out of every role by the monitor (an old primary that came
    /// back, or one that diverged), and why.
    pub fenced: Option<String>,
}

/// How many members may route writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Writer {
    One(usize),
    None,
    /// More than one writable member that replicates from no member:
    /// writes are refused rather than split between them.
    Conflict(Vec<usize>),
}

/// One failover or switchover, for `show mysql` and the logs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failover {
    /// `auto` or `switchover`.
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    /// Seconds since the epoch when it started.
    pub started_unix: u64,
    /// Milliseconds from the start, and what happened.
    pub steps: Vec<(u64, String)>,
    /// `None` while it runs; then `Ok` or the reason it failed.
    pub result: Option<Result<(), String>>,
    pub duration_ms: u64,
}

/// Everything the monitor knows about one cluster.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterView {
    pub members: Vec<MemberView>,
    /// What the writer backends were last told.
    pub writer: Option<usize>,
    /// The last member that was the writer, if any ever was.
    pub last_primary: Option<usize>,
    /// Completed failovers and switchovers.
    pub failovers: u64,
    pub last: Option<Failover>,
    /// `failover auto` in effect: off by config, or turned off by a failed
    /// attempt (with the reason in `auto_off`).
    pub auto: bool,
    pub auto_off: Option<String>,
    /// `now_ms()` of the last failover, for `failover-block`.
    pub last_failover_ms: Option<u64>,
    /// The GTID position the current primary was promoted at: a returning
    /// member at or behind it may rejoin as its replica.
    pub promoted_at: Option<String>,
    /// A failover or switchover is running.
    pub busy: bool,
    /// The heartbeat period and connect retry replicas were last seen
    /// with (a promotion's `RESET SLAVE ALL` erases the promoted one's, and
    /// a later rejoin still needs them).
    pub link: (Option<String>, Option<u32>),
}

/// A request of the runtime API to the monitor, answered on `reply`.
#[derive(Debug)]
pub(crate) enum Request {
    /// `mysql switchover CLUSTER [SERVER]`.
    Switchover {
        to: Option<String>,
        reply: crossbeam_channel::Sender<String>,
    },
}

/// One `mysql-cluster`: its config, the view, and the way to the monitor.
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub config: MysqlCluster,
    pub view: parking_lot::Mutex<ClusterView>,
    pub requests: parking_lot::Mutex<VecDeque<Request>>,
    /// The monitor thread's waker, once it runs.
    pub waker: parking_lot::Mutex<Option<Arc<mio::Waker>>>,
}

impl ClusterState {
    pub(crate) fn new(config: MysqlCluster) -> ClusterState {
        let members = config
            .servers
            .iter()
            .map(|s| MemberView {
                name: s.name.clone(),
                ..MemberView::default()
            })
            .collect();
        let view = ClusterView {
            members,
            auto: config.failover,
            ..ClusterView::default()
        };
        ClusterState {
            config,
            view: parking_lot::Mutex::new(view),
            requests: parking_lot::Mutex::new(VecDeque::new()),
            waker: parking_lot::Mutex::new(None),
        }
    }

    /// Keeps what an older config's monitor learnt of the members that
    /// are still here, and the failover history.
    pub(crate) fn carry(&self, old: &ClusterState) {
        let old = old.view.lock();
        let mut view = self.view.lock();
        for m in &mut view.members {
            if let Some(o) = old.members.iter().find(|o| o.name == m.name) {
                *m = o.clone();
            }
        }
        view.failovers = old.failovers;
        view.last_primary = old.last_primary;
        view.link = old.link.clone();
        view.last = old.last.clone();
        view.last_failover_ms = old.last_failover_ms;
        view.promoted_at = old.promoted_at.clone();
        if old.auto_off.is_some() && self.config.failover {
            view.auto = false;
            view.auto_off = old.auto_off.clone();
        }
    }

    /// Asks the monitor; `None` when it does not run.
    pub(crate) fn ask(&self, request: Request) -> bool {
        let waker = self.waker.lock().clone();
        let Some(waker) = waker else { return false };
        self.requests.lock().push_back(request);
        waker.wake().is_ok()
    }
}

impl ClusterView {
    /// A member the monitor hears from: it answered within the last
    /// `fall` rounds, and is not fenced.
    pub(crate) fn alive(&self, i: usize, fall: u32) -> bool {
        let m = &self.members[i];
        m.ever_seen && m.fails < fall && m.fenced.is_none()
    }

    /// A member routed to: its last round answered, and it is not fenced.
    /// One missed round takes it out of routing (the writers then hold
    /// new sessions, see [`ClusterView::hold_writes`]); it takes
    /// `failover-after` missed rounds to declare it dead.
    pub(crate) fn routable(&self, i: usize) -> bool {
        let m = &self.members[i];
        m.answered && m.fenced.is_none()
    }

    /// Whether the writer backends queue new sessions rather than refuse
    /// them: no primary now, but one is expected (a failover or a
    /// switchover runs, or may run, or the primary only missed a round or
    /// two). Two writable servers are refused at once.
    pub(crate) fn hold_writes(&self, config: &MysqlCluster) -> bool {
        if self.busy {
            return true;
        }
        match self.writer(config) {
            Writer::One(_) | Writer::Conflict(_) => false,
            Writer::None => match self.last_primary {
                Some(w) => self.alive(w, config.failover_after) || (config.failover && self.auto),
                None => false,
            },
        }
    }

    /// The heartbeat period and connect retry the cluster's replicas use
    /// (the first channel that says), for the replicas a failover points
    /// at a new primary: `CHANGE MASTER TO` a new host would reset them.
    pub(crate) fn link_settings(&self) -> (Option<String>, Option<u32>) {
        let channels = self.members.iter().flat_map(|m| m.seen.channels.iter());
        let heartbeat = channels
            .clone()
            .map(|c| c.heartbeat_period.clone())
            .find(|h| !h.is_empty());
        let retry = channels.filter_map(|c| c.connect_retry).next();
        (
            heartbeat.or_else(|| self.link.0.clone()),
            retry.or(self.link.1),
        )
    }

    /// The member that `i`'s replication channel points at, if any.
    pub(crate) fn source_of(&self, config: &MysqlCluster, i: usize) -> Option<usize> {
        self.members[i].seen.channels.iter().find_map(|c| {
            config.servers.iter().position(|s| {
                c.master_port == s.addr.port()
                    && (c.master_host == s.addr.ip().to_string() || c.master_host == s.name)
            })
        })
    }

    /// Whether `i` replicates from a member now: a channel to one that
    /// answers, whose IO or SQL thread runs (or tries to). A channel
    /// stopped on both is a leftover (a promotion's `STOP SLAVE` done,
    /// `RESET SLAVE ALL` not yet), and a channel to a member that does not
    /// answer feeds nothing: a writable server with either is a primary
    /// (the other load balancer sees a promotion before its `STOP SLAVE`
    /// returns, which takes seconds when the old primary is cut off).
    pub(crate) fn replicating(&self, config: &MysqlCluster, i: usize) -> bool {
        self.source_of(config, i).is_some_and(|s| self.routable(s))
            && self.members[i]
                .seen
                .channels
                .iter()
                .any(|c| c.io != "No" || c.sql != "No")
    }

    /// The member writes go to.
    pub(crate) fn writer(&self, config: &MysqlCluster) -> Writer {
        let writable: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                self.routable(i)
                    && self.members[i].seen.read_only == Some(false)
                    && !self.replicating(config, i)
            })
            .collect();
        match writable.as_slice() {
            [] => Writer::None,
            [one] => Writer::One(*one),
            _ => Writer::Conflict(writable),
        }
    }

    /// A replica fit for reads: replicating (both threads running) from a
    /// member, at most `max_lag` behind. NULL lag is "not replicating".
    pub(crate) fn fresh_replica(&self, config: &MysqlCluster, i: usize, max_lag: Duration) -> bool {
        if !self.routable(i) || self.source_of(config, i).is_none() {
            return false;
        }
        let m = &self.members[i];
        m.seen.channels.iter().any(|c| {
            c.io_running()
                && c.sql_running()
                && c.lag.is_some_and(|l| Duration::from_secs(l) <= max_lag)
        })
    }

    /// For a backend of `role` over `members` (cluster indexes), which may
    /// take new sessions.
    pub(crate) fn allowed(
        &self,
        config: &MysqlCluster,
        role: Role,
        members: &[usize],
    ) -> Vec<bool> {
        let (writer, writable) = match self.writer(config) {
            Writer::One(w) => (Some(w), vec![w]),
            Writer::Conflict(all) => (None, all),
            Writer::None => (None, Vec::new()),
        };
        match role {
            Role::Writer => members.iter().map(|&m| Some(m) == writer).collect(),
            Role::Reader { max_lag } => {
                let fresh: Vec<bool> = members
                    .iter()
                    .map(|&m| self.fresh_replica(config, m, max_lag))
                    .collect();
                if fresh.iter().any(|&f| f) {
                    fresh
                } else if !writable.is_empty() {
                    // No replica is fit: the primary takes the reads (with
                    // two writable servers, both do: reads split no data).
                    members.iter().map(|&m| writable.contains(&m)).collect()
                } else {
                    // No primary either (it died; a failover may come):
                    // stale reads from a replica that answers rather than
                    // none.
                    members
                        .iter()
                        .map(|&m| self.routable(m) && self.source_of(config, m).is_some())
                        .collect()
                }
            }
        }
    }

    /// Why member `m` is or is not used by a backend of `role`, for the
    /// log line of a change.
    fn reason(&self, config: &MysqlCluster, role: Role, m: usize, allowed: bool) -> String {
        let v = &self.members[m];
        if let Some(why) = &v.fenced {
            return format!("fenced: {why}");
        }
        if !self.routable(m) {
            return match &v.error {
                Some(e) => format!("monitor: {e}"),
                None => "monitor has no answer".to_string(),
            };
        }
        let replica = self.source_of(config, m).is_some();
        match (role, allowed) {
            (Role::Writer, true) => "writable primary".to_string(),
            (Role::Writer, false) => match self.writer(config) {
                Writer::Conflict(_) if v.seen.read_only == Some(false) && !replica => {
                    "two writable servers: writes refused".to_string()
                }
                _ if replica => "replica".to_string(),
                _ => "read_only".to_string(),
            },
            (Role::Reader { .. }, true) if replica => "replica in sync".to_string(),
            (Role::Reader { .. }, true) if v.seen.read_only == Some(false) => {
                "primary (no replica fit for reads)".to_string()
            }
            (Role::Reader { .. }, true) => "no replica fit for reads".to_string(),
            (Role::Reader { max_lag }, false) if replica => {
                let lag = v.seen.channels.first().and_then(|c| c.lag);
                match lag {
                    Some(l) => format!("lag {l}s over {}s", max_lag.as_secs()),
                    None => "not replicating".to_string(),
                }
            }
            (Role::Reader { .. }, false) => "primary (replicas take the reads)".to_string(),
        }
    }
}

/// A server whose sessions must be cut: it lost the writer role.
pub(crate) type Cut = (BackendId, ServerId);

/// Publishes cluster `ci`'s roles to every backend bound to it: sets each
/// server's gate, logs each change as HAProxy logs a server going DOWN or
/// UP, and returns the writer-backend servers that lost the role (their
/// sessions are to be cut).
pub(crate) fn publish(rt: &Runtime, ci: usize, view: &ClusterView) -> Vec<Cut> {
    let config = &rt.mysql[ci].config;
    let mut cuts = Vec::new();
    for be in &rt.backends {
        let Some(binding) = &be.config.mysql else {
            continue;
        };
        if binding.cluster != ci {
            continue;
        }
        let allowed = view.allowed(config, binding.role, &binding.servers);
        // Servers that take the role first, then those that lose it: a
        // role moving from one server to another never leaves the backend
        // without a server in between ("has no server available!").
        let mut order: Vec<(usize, (&usize, bool))> =
            binding.servers.iter().zip(allowed).enumerate().collect();
        order.sort_by_key(|(_, (_, ok))| !ok);
        for (si, (&m, ok)) in order {
            let srv = be.server(ServerId::new(si));
            let was_usable = srv.usable();
            if !srv.set_role_allowed(ok) {
                continue;
            }
            let why = view.reason(config, binding.role, m, ok);
            if ok {
                let text = format!(
                    "{} is UP, reason: mysql role, info: \"{why}\". {}",
                    who(be, srv),
                    online(be)
                );
                rt.event(be, Level::Warn, LEVEL_NOTICE, text);
            } else {
                let text = format!(
                    "{} is DOWN, reason: mysql role, info: \"{why}\". {}",
                    who(be, srv),
                    left(be, srv)
                );
                rt.event(be, Level::Warn, LEVEL_ALERT, text);
                after_loss(rt, be, ServerId::new(si), was_usable);
                // A role lost for good (another primary, read_only, a
                // replica, fenced) cuts the writers' sessions; a missed
                // monitor round does not.
                let answered = view.members[m].answered || view.members[m].fenced.is_some();
                if binding.role == Role::Writer && answered {
                    cuts.push((be.id, ServerId::new(si)));
                }
            }
        }
        if binding.role == Role::Writer {
            be.held.store(view.hold_writes(config), Ordering::Release);
        }
        be.refresh_state();
    }
    cuts
}

impl ServerState {
    /// Sets whether the cluster monitor lets this server take sessions;
    /// true when that changed.
    pub(crate) fn set_role_allowed(&self, allowed: bool) -> bool {
        let before = self.status();
        let changed = self.role_denied.swap(!allowed, Ordering::AcqRel) == allowed;
        if changed {
            self.status_changed(before);
        }
        changed
    }
}

impl Runtime {
    /// Sets every `mysql-role` server's gate from what the monitor knows,
    /// without logging: at start (nothing known yet, so nothing is used
    /// until the first round) and after a reload (the carried view).
    pub(crate) fn gate_roles(&self) {
        for be in &self.backends {
            let Some(binding) = &be.config.mysql else {
                continue;
            };
            let Some(cluster) = self.mysql.get(binding.cluster) else {
                continue;
            };
            let view = cluster.view.lock();
            let allowed = view.allowed(&cluster.config, binding.role, &binding.servers);
            for (si, ok) in allowed.into_iter().enumerate() {
                be.server(ServerId::new(si))
                    .role_denied
                    .store(!ok, Ordering::Release);
            }
            be.refresh_state();
        }
    }
}
