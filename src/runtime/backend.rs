//! A frontend and a backend as every thread sees them: the config, the
//! live counts (places taken by sessions and queued sessions), the
//! counters, and for a backend the choice of the servers a new session may
//! go to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::{Counters, ServerState};
use crate::balance::Candidate;
use crate::base::clock::now_ms;
use crate::base::ids::{BackendId, ServerId};
use crate::base::slot::{Gauge, Slot};
use crate::config::{Backend, Frontend};

/// Which servers can take a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Availability {
    /// `candidates` holds the usable servers with room.
    Ready,
    /// Usable servers exist but all are at maxconn: queue.
    Full,
    /// No usable server at all.
    NoServer,
}

#[derive(Debug)]
pub(crate) struct BackendState {
    pub config: Backend,
    /// Its place in [`super::Runtime::backends`].
    pub id: BackendId,
    pub servers: Vec<ServerState>,
    /// Counters and session counts are shared with the backend of the same
    /// name in the configs before and after a reload.
    pub counters: Arc<Counters>,
    /// Sessions sent to this backend and not yet closed (`scur`).
    pub active: Arc<Gauge>,
    /// Sessions waiting in the backend's queues now, in every worker, and
    /// the most ever (`qcur`, `qmax`).
    pub queued: Arc<Gauge>,
    /// Of those, the sessions waiting for one server (`use-server`, a
    /// `stick` rule): HAProxy keeps them in that server's queue, so they
    /// do not make newcomers wait.
    pub pinned: Arc<Gauge>,
    /// Whether a server could take a session when last looked at, when
    /// that last changed, the DOWN time before it and the UP to DOWN
    /// transitions (`status`, `lastchg`, `downtime`, `chkdown`).
    pub(super) up: AtomicBool,
    pub last_change_ms: AtomicU64,
    pub down_ms: AtomicU64,
    pub downs: AtomicU64,
    /// A `mysql-role writer` backend waiting for its primary (failover,
    /// switchover): new sessions queue (`timeout queue`) instead of being
    /// refused.
    pub held: AtomicBool,
    /// A server of it speaks TLS (`ssl`): its sessions copy, never splice.
    pub tls: bool,
    /// The `balance` algorithm's state, one for every worker: roundrobin
    /// and static-rr rotate over the backend's servers as one sequence, as
    /// HAProxy's do, whichever worker accepted the connection.
    pub balancer: Balancer,
}

/// A backend's balancing algorithm behind a lock held for one pick
/// (O(candidates): a few dozen steps at most).
pub(crate) struct Balancer(parking_lot::Mutex<Box<dyn crate::balance::Algorithm>>);

impl Balancer {
    pub(crate) fn new(config: &Backend) -> Balancer {
        Balancer(parking_lot::Mutex::new(crate::balance::new_algorithm(
            config.balance,
            config.hash_type,
        )))
    }

    /// The index into `candidates` of the server to use.
    pub(crate) fn pick(
        &self,
        candidates: &[crate::balance::Candidate],
        client: std::net::IpAddr,
    ) -> usize {
        self.0.lock().pick(candidates, client)
    }
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Balancer")
    }
}

impl BackendState {
    pub(crate) fn server(&self, id: ServerId) -> &ServerState {
        &self.servers[id.index()]
    }

    /// How many connections `s` takes at this backend's load now.
    fn limit(&self, s: &ServerState) -> usize {
        s.limit(self.active.get(), self.config.fullconn)
    }

    /// Whether a new session must wait behind the queued ones: with
    /// roundrobin, static-rr and first, sessions waiting while others are
    /// served mean every server is full (HAProxy queues the newcomer
    /// without picking). Leastconn and the hashes still look for room.
    pub(crate) fn queue_first(&self) -> bool {
        let queued = self.queued.get().saturating_sub(self.pinned.get());
        queued > 0
            && self.active.get() > queued + 1
            && matches!(
                self.config.balance,
                crate::config::Balance::RoundRobin
                    | crate::config::Balance::StaticRr
                    | crate::config::Balance::First
            )
    }

    /// A place on server `id` for a new connection, if it has room.
    pub(crate) fn acquire(&self, id: ServerId) -> Option<Slot> {
        let s = self.server(id);
        s.try_acquire(self.limit(s))
    }

    /// Fills `out` with the servers a new session may go to: usable active
    /// servers, or when none is usable the first usable backup (all usable
    /// backups with `option allbackups`). `exclude` (a server that just
    /// failed) is left out when another choice exists, a backup included:
    /// a redispatched session prefers a backup to the active server that
    /// just refused it.
    pub(crate) fn candidates(
        &self,
        exclude: Option<ServerId>,
        out: &mut Vec<Candidate>,
    ) -> Availability {
        out.clear();
        if self.held.load(Ordering::Relaxed) {
            return Availability::Full;
        }
        let exclude = exclude.map(ServerId::index);
        // Called for every new session: fills `out` directly, no
        // intermediate list. `tier` counts the usable servers of the tier
        // chosen, with room or not (Full vs NoServer).
        let mut tier = 0;
        let mut take = |tier: &mut usize, i: usize, s: &ServerState| {
            *tier += 1;
            if s.has_room(self.limit(s)) {
                out.push(Candidate {
                    server: i,
                    weight: s.effective_weight(),
                    active: s.active.get() as u32,
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
    pub(crate) fn refresh_state(&self) {
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

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Usable active and backup servers (for the logs' "N active and M
    /// backup servers left").
    pub(crate) fn usable_counts(&self) -> (usize, usize) {
        let count = |backup: bool| {
            self.servers
                .iter()
                .filter(|s| s.backup == backup && s.usable())
                .count()
        };
        (count(false), count(true))
    }
}

#[derive(Debug)]
pub(crate) struct FrontendState {
    pub config: Frontend,
    /// Sessions open on this frontend now (shared, like the counters, with
    /// the frontend of the same name across a reload); each holds a place.
    pub current: Arc<Gauge>,
    /// `maxconn` (changed by `set maxconn frontend`).
    pub maxconn: AtomicUsize,
    pub counters: Arc<Counters>,
    /// Listeners paused by `disable frontend` (runtime API).
    pub paused: AtomicBool,
}
