//! State shared by all threads: the validated config plus, per frontend,
//! backend and server, the atomics the workers read and bump (connection
//! counts for leastconn and maxconn, state, weight, byte counters).
//!
//! Workers never lock anything here; the admin and health threads (later
//! issues) change state through the same atomics.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::balance::Candidate;
use crate::config::{Backend, Config, Frontend, Global, ProxyVersion};

/// Administrative/operational state of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ServerStatus {
    Up = 0,
    Down = 1,
    /// Takes no new sessions; current ones go on.
    Drain = 2,
    /// Maintenance: takes no new sessions (`disabled`).
    Maint = 3,
}

impl ServerStatus {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ServerStatus::Up,
            1 => ServerStatus::Down,
            2 => ServerStatus::Drain,
            _ => ServerStatus::Maint,
        }
    }
}

/// Monotonic counters, updated while sessions run (not only at their end).
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions handled in total.
    pub sessions: AtomicU64,
    /// Bytes from clients (HAProxy's `bin`).
    pub bytes_in: AtomicU64,
    /// Bytes to clients (HAProxy's `bout`).
    pub bytes_out: AtomicU64,
    /// Failed connection attempts to servers.
    pub connect_errors: AtomicU64,
    /// Connection attempts retried.
    pub retries: AtomicU64,
    /// Retries sent to another server.
    pub redispatches: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
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
    pub weight: AtomicU32,
    status: AtomicU8,
    /// Sessions on this server now, across all workers.
    pub active: AtomicU32,
    pub counters: Counters,
}

impl ServerState {
    pub fn status(&self) -> ServerStatus {
        ServerStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    pub fn set_status(&self, s: ServerStatus) {
        self.status.store(s as u8, Ordering::Release);
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

#[derive(Debug)]
pub struct BackendState {
    pub config: Backend,
    pub servers: Vec<ServerState>,
    pub counters: Counters,
}

impl BackendState {
    /// Fills `out` with the servers a new session may go to: usable active
    /// servers, or when none is usable the first usable backup (all usable
    /// backups with `option allbackups`). `exclude` (a server that just
    /// failed) is left out when another choice exists.
    pub fn candidates(&self, exclude: Option<usize>, out: &mut Vec<Candidate>) -> Availability {
        out.clear();
        let usable = |backup: bool| {
            self.servers
                .iter()
                .enumerate()
                .filter(move |(_, s)| s.backup == backup && s.usable())
        };
        let mut tier: Vec<(usize, &ServerState)> = usable(false).collect();
        if tier.is_empty() {
            tier = usable(true).collect();
            if !self.config.allbackups {
                tier.truncate(1);
            }
        }
        if tier.is_empty() {
            return Availability::NoServer;
        }
        if tier.len() > 1
            && let Some(x) = exclude
        {
            tier.retain(|(i, _)| *i != x);
        }
        for (i, s) in tier {
            if s.has_room() {
                out.push(Candidate {
                    server: i,
                    weight: s.weight.load(Ordering::Relaxed),
                    active: s.active.load(Ordering::Relaxed),
                });
            }
        }
        if out.is_empty() {
            Availability::Full
        } else {
            Availability::Ready
        }
    }
}

#[derive(Debug)]
pub struct FrontendState {
    pub config: Frontend,
    /// Sessions open on this frontend now.
    pub current: AtomicUsize,
    pub maxconn: usize,
    pub counters: Counters,
}

/// A counted slot under a limit (global or frontend maxconn).
pub fn try_take(current: &AtomicUsize, max: usize) -> bool {
    current
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

#[derive(Debug)]
pub struct Runtime {
    pub global: Global,
    pub frontends: Vec<FrontendState>,
    pub backends: Vec<BackendState>,
    /// Sessions open in the whole process.
    pub current: AtomicUsize,
}

impl Runtime {
    pub fn new(config: Config) -> Runtime {
        let global = config.global.clone();
        let backends = config
            .backends
            .into_iter()
            .map(|b| BackendState {
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerState {
                        name: s.name.clone(),
                        addr: s.addr,
                        backup: s.backup,
                        send_proxy: s.send_proxy,
                        source: s.source,
                        maxconn: AtomicU32::new(s.maxconn.unwrap_or(0)),
                        weight: AtomicU32::new(s.weight),
                        status: AtomicU8::new(if s.disabled {
                            ServerStatus::Maint
                        } else {
                            ServerStatus::Up
                        } as u8),
                        active: AtomicU32::new(0),
                        counters: Counters::default(),
                    })
                    .collect(),
                config: b,
                counters: Counters::default(),
            })
            .collect();
        let frontends = config
            .frontends
            .into_iter()
            .map(|f| FrontendState {
                maxconn: f.maxconn.unwrap_or(global.maxconn),
                config: f,
                current: AtomicUsize::new(0),
                counters: Counters::default(),
            })
            .collect();
        Runtime {
            global,
            frontends,
            backends,
            current: AtomicUsize::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Balance, HashType, Location, Server, SpliceOptions};
    use std::time::Duration;

    fn server(name: &str, backup: bool) -> Server {
        Server {
            name: name.into(),
            location: Location::default(),
            addr: "127.0.0.1:1".parse().unwrap(),
            weight: 1,
            backup,
            maxconn: None,
            disabled: false,
            send_proxy: None,
            source: None,
            check: Default::default(),
        }
    }

    fn backend(servers: Vec<Server>, allbackups: bool) -> Config {
        Config {
            global: Global::default(),
            frontends: vec![],
            backends: vec![Backend {
                name: "b".into(),
                location: Location::default(),
                listen: false,
                balance: Balance::RoundRobin,
                hash_type: HashType::MapBased,
                servers,
                timeout_connect: Duration::from_secs(1),
                timeout_server: None,
                timeout_server_fin: None,
                timeout_tunnel: None,
                timeout_queue: None,
                retries: 3,
                redispatch: false,
                allbackups,
                splice: SpliceOptions::default(),
                disabled: false,
                check: Default::default(),
                log_health_checks: false,
            }],
        }
    }

    fn picked(rt: &Runtime, exclude: Option<usize>) -> (Availability, Vec<usize>) {
        let mut out = Vec::new();
        let a = rt.backends[0].candidates(exclude, &mut out);
        (a, out.iter().map(|c| c.server).collect())
    }

    #[test]
    fn backups_serve_only_when_no_active_server_is_usable() {
        type Case<'a> = (&'a str, bool, &'a [ServerStatus], Availability, &'a [usize]);
        let cases: &[Case] = &[
            (
                "all up: actives only",
                false,
                &[ServerStatus::Up; 4],
                Availability::Ready,
                &[0, 1],
            ),
            (
                "actives down: first backup",
                false,
                &[
                    ServerStatus::Down,
                    ServerStatus::Maint,
                    ServerStatus::Up,
                    ServerStatus::Up,
                ],
                Availability::Ready,
                &[2],
            ),
            (
                "actives down, allbackups",
                true,
                &[
                    ServerStatus::Down,
                    ServerStatus::Down,
                    ServerStatus::Up,
                    ServerStatus::Up,
                ],
                Availability::Ready,
                &[2, 3],
            ),
            (
                "first backup down: the next one",
                false,
                &[
                    ServerStatus::Down,
                    ServerStatus::Down,
                    ServerStatus::Down,
                    ServerStatus::Up,
                ],
                Availability::Ready,
                &[3],
            ),
            (
                "everything down",
                false,
                &[ServerStatus::Down; 4],
                Availability::NoServer,
                &[],
            ),
            (
                "draining server takes nothing new",
                false,
                &[
                    ServerStatus::Drain,
                    ServerStatus::Up,
                    ServerStatus::Up,
                    ServerStatus::Up,
                ],
                Availability::Ready,
                &[1],
            ),
        ];
        for (what, allbackups, states, want, servers) in cases {
            let cfg = backend(
                vec![
                    server("a", false),
                    server("b", false),
                    server("c", true),
                    server("d", true),
                ],
                *allbackups,
            );
            let rt = Runtime::new(cfg);
            for (s, st) in rt.backends[0].servers.iter().zip(states.iter()) {
                s.set_status(*st);
            }
            assert_eq!(picked(&rt, None), (*want, servers.to_vec()), "{what}");
        }
    }

    #[test]
    fn full_servers_queue_and_exclusion_needs_an_alternative() {
        let mut cfg = backend(vec![server("a", false), server("b", false)], false);
        cfg.backends[0].servers[0].maxconn = Some(1);
        cfg.backends[0].servers[1].maxconn = Some(1);
        let rt = Runtime::new(cfg);
        assert_eq!(picked(&rt, Some(0)), (Availability::Ready, vec![1]));
        assert!(rt.backends[0].servers[0].try_acquire());
        assert!(!rt.backends[0].servers[0].try_acquire(), "maxconn 1 holds");
        assert!(rt.backends[0].servers[1].try_acquire());
        assert_eq!(picked(&rt, None), (Availability::Full, vec![]));
        rt.backends[0].servers[1].release();
        assert_eq!(picked(&rt, None), (Availability::Ready, vec![1]));
        rt.backends[0].servers[0].set_status(ServerStatus::Down);
        assert_eq!(
            picked(&rt, Some(1)),
            (Availability::Ready, vec![1]),
            "the only usable one stays"
        );
    }
}
