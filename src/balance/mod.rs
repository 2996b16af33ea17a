//! Load-balancing algorithms, one file each, behind [`Algorithm`].
//!
//! A worker owns one algorithm instance per backend (no lock on the hot path).
//! The worker builds the list of usable servers ([`Candidate`]s: state UP,
//! weight > 0, below maxconn; the backups only when no active server is
//! usable) and asks the algorithm to choose one. Connection counts come from
//! the servers' shared atomics, so leastconn sees every worker's sessions.
//!
//! Algorithms keep per-server state by server index, not by position in
//! `candidates`, so a server leaving or returning disturbs only itself.
//! Cached structures (static-rr's map, the consistent ring) are rebuilt
//! only when the candidates' `(server, weight)` list changes.

use std::net::IpAddr;

use crate::config::{Balance, HashType};

mod consistent;
mod first;
mod hash;
mod leastconn;
mod random;
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

/// The algorithm for a backend's `balance` and `hash-type`. `hash-type`
/// only matters to `source`, the one hash-based algorithm in TCP mode.
pub fn new_algorithm(balance: Balance, hash_type: HashType) -> Box<dyn Algorithm> {
    match (balance, hash_type) {
        (Balance::RoundRobin, _) => Box::new(roundrobin::RoundRobin::default()),
        (Balance::StaticRr, _) => Box::new(static_rr::StaticRr::default()),
        (Balance::LeastConn, _) => Box::new(leastconn::LeastConn::default()),
        (Balance::First, _) => Box::new(first::First),
        (Balance::Source, HashType::MapBased) => Box::new(source::SourceMap),
        (Balance::Source, HashType::Consistent) => Box::new(consistent::Consistent::default()),
        (Balance::Random { draws }, _) => Box::new(random::Random::new(draws)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::{cands, servers_picked, v4};

    #[test]
    fn new_algorithm_dispatches_on_balance_and_hash_type() {
        // Server 0 is busy, 1 and 2 idle: each algorithm shows itself in
        // its first four picks.
        let c = cands(&[(0, 1, 9), (1, 1, 0), (2, 2, 0)]);
        // (description, balance, hash-type, expected servers)
        type Case = (&'static str, Balance, HashType, [usize; 4]);
        let cases: &[Case] = &[
            (
                "roundrobin",
                Balance::RoundRobin,
                HashType::MapBased,
                [2, 0, 1, 2],
            ),
            (
                "static-rr",
                Balance::StaticRr,
                HashType::MapBased,
                [2, 0, 1, 2],
            ),
            (
                "leastconn",
                Balance::LeastConn,
                HashType::MapBased,
                [1, 2, 1, 2],
            ),
            ("first", Balance::First, HashType::Consistent, [0, 0, 0, 0]),
        ];
        for (desc, balance, hash_type, expected) in cases {
            let mut algo = new_algorithm(*balance, *hash_type);
            assert_eq!(
                servers_picked(algo.as_mut(), &c, 4, v4(1)),
                expected,
                "{desc}"
            );
        }
    }

    #[test]
    fn source_hash_types_differ_but_are_both_sticky() {
        let c = cands(&[(0, 1, 0), (1, 1, 0), (2, 1, 0), (3, 1, 0)]);
        let mut map = new_algorithm(Balance::Source, HashType::MapBased);
        let mut ring = new_algorithm(Balance::Source, HashType::Consistent);
        let mut differ = 0;
        for i in 0..200 {
            let (m, r) = (map.pick(&c, v4(i)), ring.pick(&c, v4(i)));
            assert_eq!(map.pick(&c, v4(i)), m);
            assert_eq!(ring.pick(&c, v4(i)), r);
            differ += usize::from(m != r);
        }
        assert!(
            differ > 50,
            "map-based and consistent agree on {differ} of 200"
        );
    }

    #[test]
    fn weighted_slot_maps_each_slot_to_its_owner() {
        let c = cands(&[(0, 2, 0), (3, 1, 0), (5, 3, 0)]);
        let owners: Vec<usize> = (0..6).map(|slot| weighted_slot(&c, slot)).collect();
        assert_eq!(owners, [0, 0, 1, 2, 2, 2]);
    }
}

/// The (server, weight) list a derived structure (a ring, a schedule) was
/// built from, to rebuild it only when the candidates really change.
#[derive(Debug, Default)]
pub(crate) struct BuiltFor(Vec<(usize, u32)>);

impl BuiltFor {
    pub(crate) fn matches(&self, candidates: &[Candidate]) -> bool {
        self.0.len() == candidates.len()
            && self
                .0
                .iter()
                .zip(candidates)
                .all(|(&(server, weight), c)| server == c.server && weight == c.weight)
    }

    pub(crate) fn remember(&mut self, candidates: &[Candidate]) {
        self.0.clear();
        self.0
            .extend(candidates.iter().map(|c| (c.server, c.weight)));
    }
}
