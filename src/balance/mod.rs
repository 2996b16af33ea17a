//! Load-balancing algorithms, one file each, behind [`Algorithm`].
//!
//! A worker owns one algorithm instance per backend (no lock on the hot path).
//! The worker builds the list of usable servers ([`Candidate`]s: state UP,
//! weight > 0, below maxconn; the backups only when no active server is
//! usable) and asks the algorithm to choose one. Connection counts come from
//! the servers' shared atomics, so leastconn sees every worker's sessions.

use std::net::IpAddr;

use crate::config::{Balance, HashType};

/// One usable server as the algorithm sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Index of the server in its backend (stable for the backend's life).
    pub server: usize,
    /// Current effective weight, 1..=256 (runtime changes show up here).
    pub weight: u32,
    /// Sessions currently on the server, across all workers.
    pub active: u32,
}

/// A balancing algorithm. `candidates` is never empty, sorted by `server`,
/// and may change between calls (servers going down, weights changing);
/// implementations adapt without restarting their sequence needlessly.
pub trait Algorithm: Send {
    /// Returns an index into `candidates`.
    fn pick(&mut self, candidates: &[Candidate], client: IpAddr) -> usize;
}

/// The algorithm for a backend's `balance` and `hash-type`.
pub fn new_algorithm(balance: Balance, hash_type: HashType) -> Box<dyn Algorithm> {
    let _ = hash_type;
    match balance {
        _ => Box::new(FirstUsable),
    }
}

/// Placeholder until the algorithms land.
struct FirstUsable;

impl Algorithm for FirstUsable {
    fn pick(&mut self, _candidates: &[Candidate], _client: IpAddr) -> usize {
        0
    }
}
