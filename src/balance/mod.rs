//! Load-balancing algorithms, one file each, behind [`Algorithm`].
//!
//! A worker owns one algorithm instance per backend (no lock on the hot path).
//! The worker builds the list of usable servers ([`Candidate`]s: state UP,
//! weight > 0, below maxconn; the backups only when no active server is
//! usable) and asks the algorithm to choose one. Connection counts come from
//! the servers' shared atomics, so leastconn sees every worker's sessions.

use std::net::IpAddr;

use crate::config::{Balance, HashType};

mod consistent;
mod first;
mod hash;
mod leastconn;
mod roundrobin;
mod source;
mod static_rr;
#[cfg(test)]
mod test_support;

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
    match (balance, hash_type) {
        (Balance::RoundRobin, _) => Box::new(roundrobin::RoundRobin::default()),
        (Balance::StaticRr, _) => Box::new(static_rr::StaticRr::default()),
        (Balance::LeastConn, _) => Box::new(leastconn::LeastConn::default()),
        (Balance::First, _) => Box::new(first::First),
        (Balance::Source, HashType::MapBased) => Box::new(source::SourceMap),
        (Balance::Source, HashType::Consistent) => Box::new(consistent::Consistent::default()),
        // Not written yet: the first usable server, so nothing breaks meanwhile.
        _ => Box::new(first::First),
    }
}

/// Index of the candidate owning `slot`, each candidate owning `weight`
/// consecutive slots in candidate order. `slot` must be below the total
/// weight; anything past the end falls on the last candidate.
fn weighted_slot(candidates: &[Candidate], slot: u64) -> usize {
    let mut end = 0u64;
    for (i, c) in candidates.iter().enumerate() {
        end += u64::from(c.weight);
        if slot < end {
            return i;
        }
    }
    candidates.len() - 1
}
