//! State shared by all threads. [`Process`] is built once and lives as
//! long as the process (counts across configs, heartbeats, budgets, what
//! other threads publish); a [`Runtime`] is one config's state: the
//! validated config plus, per frontend, backend and server, the atomics
//! the workers read and bump (places taken for maxconn and leastconn,
//! state, weight, counters). A reload builds a new `Runtime` on the same
//! `Process` and carries server state over by name ([`carry`]).
//!
//! Workers never lock anything here; the admin and health threads change
//! state through the same atomics.

mod addr;
mod backend;
mod carry;
mod counters;
pub(crate) mod edits;
pub(crate) mod events;
pub(crate) mod mysql;
mod process;
mod server;
pub(crate) mod state_file;

pub(crate) use backend::{Availability, BackendState, FrontendState};
pub(crate) use counters::{Counters, OTHER_THREADS, Rate};
pub(crate) use process::{AnnounceState, Process, VrrpState};
pub(crate) use server::{CheckInfo, Oper, ServerState, ServerStatus, admin};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use crate::base::clock::now_ms;
use crate::base::ids::{BackendId, FrontendId};
use crate::base::log::Message;
use crate::base::slot::Slot;
use crate::config::{Config, Global};

/// One config's state.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub process: Arc<Process>,
    pub global: Global,
    pub frontends: Vec<FrontendState>,
    pub backends: Vec<BackendState>,
    /// `resolvers` sections, for the DNS thread.
    pub resolvers: Vec<crate::config::Resolvers>,
    /// Global `maxconn` in effect (`set maxconn global` lowers it, up to
    /// the configured value).
    pub maxconn: AtomicUsize,
    /// A server's host name changed at run time (`set server fqdn`): the
    /// resolver regroups its resolutions.
    pub dns_changed: AtomicBool,
    /// `peers` sections that name this process, and its peer name.
    pub peers: Vec<crate::config::PeersSection>,
    pub localpeer: String,
    /// The rule engine: this config's pattern lists (the runtime API edits
    /// them) and the process-scope variables.
    pub rules: crate::rules::Engine,
    /// `mysql-cluster` sections: what the monitor knows, by index.
    pub mysql: Vec<Arc<mysql::ClusterState>>,
    /// The certificates and TLS contexts of binds and servers
    /// ([`Runtime::with_tls`]; empty until then).
    pub tls: crate::tls::Contexts,
}

impl Runtime {
    /// The state of `config`, on `process`.
    pub(crate) fn new(config: Config, process: Arc<Process>) -> Runtime {
        let global = config.global;
        let rules = crate::rules::Engine::new(&config.patterns, &config.tables);
        let shards = process.nbthread;
        let backends = config
            .backends
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let servers: Vec<ServerState> = b
                    .servers
                    .iter()
                    .map(|s| ServerState::new(s, Counters::new(shards)))
                    .collect();
                let tls = b.servers.iter().any(|s| s.tls.enabled);
                BackendState {
                    balancer: backend::Balancer::new(&b),
                    id: BackendId::new(i),
                    up: AtomicBool::new(servers.iter().any(ServerState::usable)),
                    servers,
                    config: b,
                    counters: Arc::new(Counters::new(shards)),
                    active: Arc::default(),
                    queued: Arc::default(),
                    pinned: Arc::default(),
                    last_change_ms: AtomicU64::new(now_ms()),
                    down_ms: AtomicU64::new(0),
                    downs: AtomicU64::new(0),
                    held: AtomicBool::new(false),
                    tls,
                }
            })
            .collect();
        let mysql = config
            .mysql_clusters
            .into_iter()
            .map(|c| Arc::new(mysql::ClusterState::new(c)))
            .collect();
        let frontends = config
            .frontends
            .into_iter()
            .map(|f| FrontendState {
                maxconn: AtomicUsize::new(f.maxconn.unwrap_or(global.maxconn)),
                config: f,
                current: Arc::default(),
                counters: Arc::new(Counters::new(shards)),
                paused: AtomicBool::new(false),
            })
            .collect();
        let rt = Runtime {
            process,
            maxconn: AtomicUsize::new(global.maxconn),
            global,
            frontends,
            backends,
            resolvers: config.resolvers,
            peers: config.peers,
            localpeer: config.localpeer,
            dns_changed: AtomicBool::new(false),
            rules,
            mysql,
            tls: Default::default(),
        };
        rt.gate_roles();
        rt
    }

    /// The backend called `name` (dynamic `use_backend`).
    pub(crate) fn backend_named(&self, name: &str) -> Option<BackendId> {
        self.backends
            .iter()
            .position(|b| b.config.name == name)
            .map(BackendId::new)
    }

    /// This config with its TLS files read ([`crate::tls::Contexts::load`]).
    pub(crate) fn with_tls(mut self, tls: crate::tls::Contexts) -> Runtime {
        self.tls = tls;
        self
    }

    /// The first config's state, on a process of its own.
    pub(crate) fn first(config: Config) -> Runtime {
        let process = Arc::new(Process::new(&config));
        Runtime::new(config, process)
    }

    pub(crate) fn frontend(&self, id: FrontendId) -> &FrontendState {
        &self.frontends[id.index()]
    }

    pub(crate) fn backend(&self, id: BackendId) -> &BackendState {
        &self.backends[id.index()]
    }

    /// How long frontend `fe` must stop accepting to keep under the
    /// process's `maxconnrate`/`maxsessrate` and its `rate-limit
    /// sessions`; `None` when it may accept now.
    pub(crate) fn rate_wait(&self, fe: FrontendId) -> Option<std::time::Duration> {
        let g = &self.global;
        let process = [g.maxconnrate, g.maxsessrate]
            .into_iter()
            .filter(|l| *l > 0)
            .min()
            .map(|l| (l, &self.process.conn_rate));
        let f = self.frontend(fe);
        let frontend = (f.config.rate_limit > 0).then_some((f.config.rate_limit, &f.counters.rate));
        process
            .into_iter()
            .chain(frontend)
            .filter_map(|(limit, rate)| rate.wait(limit))
            .max()
    }

    /// Takes a session's places in the process and on frontend `fe`, under
    /// the global and the frontend's maxconn: both, or neither.
    pub(crate) fn take_session_slots(&self, fe: FrontendId) -> Option<SessionSlots> {
        use std::sync::atomic::Ordering::Relaxed;
        let global = self.process.sessions.try_take(self.maxconn.load(Relaxed))?;
        let f = self.frontend(fe);
        let frontend = f.current.try_take(f.maxconn.load(Relaxed))?;
        Some(SessionSlots { global, frontend })
    }

    /// A server or backend event: on stderr at `level` as before, and to
    /// the backend's `log` targets at syslog level `syslog` (HAProxy sends
    /// these lines to the proxy's log servers).
    pub(crate) fn event(&self, be: &BackendState, level: log::Level, syslog: u8, text: String) {
        log::log!(level, "{text}");
        if be.config.log.targets.is_empty() {
            return;
        }
        self.process.event(Message::Event {
            backend: be.config.name.clone(),
            level: syslog,
            text,
        });
    }
}

/// A session's places in the process and on its frontend, given back when
/// the session is gone.
#[derive(Debug)]
pub(crate) struct SessionSlots {
    pub global: Slot,
    pub frontend: Slot,
}

impl SessionSlots {
    /// Sessions in the process and on the frontend now, this one included.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.global.count(), self.frontend.count())
    }
}

/// The runtime in effect, for the threads that outlive a reload and always
/// want the newest config (the runtime API). Workers do not use it: each
/// of their sessions keeps the runtime it started with.
#[derive(Debug, Clone)]
pub(crate) struct Current(Arc<parking_lot::RwLock<Arc<Runtime>>>);

impl Current {
    pub(crate) fn new(rt: Arc<Runtime>) -> Current {
        Current(Arc::new(parking_lot::RwLock::new(rt)))
    }

    pub(crate) fn get(&self) -> Arc<Runtime> {
        self.0.read().clone()
    }

    pub(crate) fn set(&self, rt: Arc<Runtime>) {
        *self.0.write() = rt;
    }
}

#[cfg(test)]
mod mysql_tests;
#[cfg(test)]
mod tests;
