//! `balance source` with `hash-type consistent`: a hash ring.
//!
//! Every server owns `weight * POINTS_PER_WEIGHT` points on a 64-bit ring,
//! placed by hashing `(server index, point number)`, so a server's points
//! never depend on the other servers. A client goes to the owner of the
//! first point at or after its address hash. When a server leaves, only the
//! arcs ending at its points change hands (to the next points, spread over
//! all the others); when it returns, exactly those clients come back.
//!
//! The ring is rebuilt when the candidates' `(server, weight)` list differs
//! from the one it was built for (one comparison pass per pick); a pick is a
//! binary search. Each point is one `u64`: the top bits are the position,
//! the low `SERVER_BITS` the server index, so equal positions still order
//! deterministically. Memory is 8 bytes per point: 1.6 KiB for a weight-1
//! server, 400 KiB at the maximum weight of 256.

use std::net::IpAddr;

use super::hash::{hash_addr, hash_bytes};
use super::{Algorithm, BuiltFor, Candidate};

/// Ring points per unit of weight. A server's share of the ring is off by
/// about `1/sqrt(points)`: 16 per unit (HAProxy's) left weight-1 servers up
/// to 50% off their share in our measurements, 160 keeps them within ~12%
/// (and heavier servers much closer). It is a constant, not derived from the
/// candidate set, so every worker and every reload maps a client alike.
pub(super) const POINTS_PER_WEIGHT: u32 = 160;
/// Low bits of a ring entry holding the server index.
const SERVER_BITS: u32 = 20;
const SERVER_MASK: u64 = (1 << SERVER_BITS) - 1;

#[derive(Debug, Default)]
pub(super) struct Consistent {
    /// `(server, weight)` of the candidates the ring was built for.
    built_for: BuiltFor,
    /// Sorted ring entries: `position & !SERVER_MASK | server`.
    ring: Vec<u64>,
    /// Candidate index per server index, for the set the ring was built for.
    slot: Vec<u32>,
}

/// Ring position of point `point` of server `server`.
fn point_position(server: usize, point: u32) -> u64 {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&(server as u64).to_le_bytes());
    key[8..].copy_from_slice(&point.to_le_bytes());
    hash_bytes(&key)
}

impl Consistent {
    fn rebuild(&mut self, candidates: &[Candidate]) {
        self.built_for.remember(candidates);
        self.ring.clear();
        self.slot.clear();
        for (i, c) in candidates.iter().enumerate() {
            // Server indices past SERVER_BITS would alias; no backend has a
            // million servers, and aliasing only skews balance, never safety.
            let tag = c.server as u64 & SERVER_MASK;
            let points = c.weight.saturating_mul(POINTS_PER_WEIGHT);
            self.ring
                .extend((0..points).map(|p| point_position(c.server, p) & !SERVER_MASK | tag));
            if self.slot.len() <= c.server {
                self.slot.resize(c.server + 1, 0);
            }
            self.slot[c.server] = i as u32;
        }
        self.ring.sort_unstable();
    }

    /// Server index owning ring position `position`.
    fn owner(&self, position: u64) -> usize {
        let key = position & !SERVER_MASK;
        let at = self.ring.partition_point(|&entry| entry < key);
        let entry = self
            .ring
            .get(at)
            .or(self.ring.first())
            .copied()
            .unwrap_or(0);
        (entry & SERVER_MASK) as usize
    }
}

impl Algorithm for Consistent {
    fn pick(&mut self, candidates: &[Candidate], client: IpAddr) -> usize {
        if !self.built_for.matches(candidates) {
            self.rebuild(candidates);
        }
        let server = self.owner(hash_addr(client));
        self.slot.get(server).map_or(0, |&i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{v4, v6, weighted};

    /// Exact share of the ring each server owns.
    fn ring_shares(algo: &Consistent, servers: usize) -> Vec<f64> {
        let mut owned = vec![0u128; servers];
        let ring = &algo.ring;
        for (i, &entry) in ring.iter().enumerate() {
            let prev = if i == 0 {
                ring[ring.len() - 1]
            } else {
                ring[i - 1]
            };
            let arc = (entry & !SERVER_MASK).wrapping_sub(prev & !SERVER_MASK);
            owned[(entry & SERVER_MASK) as usize] += u128::from(arc);
        }
        owned.iter().map(|&o| o as f64 / 2f64.powi(64)).collect()
    }

    fn picks(algo: &mut Consistent, c: &[Candidate], clients: u32) -> Vec<usize> {
        (0..clients)
            .map(|i| c[algo.pick(c, v4(i))].server)
            .collect()
    }

    const CLIENTS: u32 = 10_000;

    #[test]
    fn same_client_same_server_ipv4_and_ipv6() {
        let c = weighted(&[1, 2, 3]);
        let mut algo = Consistent::default();
        for i in 0..500 {
            for client in [v4(i), v6(i)] {
                let first = algo.pick(&c, client);
                assert_eq!(algo.pick(&c, client), first, "{client}");
            }
        }
        // IPv6 clients are spread, not all hashed to one place.
        let mut seen = [false; 3];
        for i in 0..100 {
            seen[algo.pick(&c, v6(i))] = true;
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn removing_a_server_moves_only_its_clients_and_they_come_back() {
        let all = weighted(&[1, 1, 1, 1]);
        let mut algo = Consistent::default();
        let before = picks(&mut algo, &all, CLIENTS);

        let without_2: Vec<_> = all.iter().copied().filter(|c| c.server != 2).collect();
        let during = picks(&mut algo, &without_2, CLIENTS);
        let mut moved_to = [0u32; 4];
        for (b, d) in before.iter().zip(&during) {
            if *b == 2 {
                moved_to[*d] += 1;
            } else {
                assert_eq!(b, d, "a client of server {b} moved to {d}");
            }
        }
        let moved: u32 = moved_to.iter().sum();
        assert!(moved > 0);
        for s in [0, 1, 3] {
            assert!(
                moved_to[s] * 100 >= moved * 15,
                "server {s} took {} of {moved} orphans: {moved_to:?}",
                moved_to[s]
            );
        }

        let after = picks(&mut algo, &all, CLIENTS);
        assert_eq!(before, after, "clients did not all return");
    }

    #[test]
    fn raising_a_weight_only_moves_clients_to_that_server() {
        let mut c = weighted(&[1, 1, 1]);
        let mut algo = Consistent::default();
        let before = picks(&mut algo, &c, CLIENTS);
        c[0].weight = 2;
        let after = picks(&mut algo, &c, CLIENTS);
        let mut gained = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                assert_eq!(*a, 0, "a client moved from {b} to {a}");
                gained += 1;
            }
        }
        assert!(gained > CLIENTS / 10, "only {gained} clients moved");
    }

    #[test]
    fn respects_weights_within_fifteen_percent() {
        let cases: &[(&str, &[u32])] = &[
            ("equal", &[1, 1, 1, 1]),
            ("1,2,3,4", &[1, 2, 3, 4]),
            ("large weights", &[100, 200, 256]),
            ("eight servers", &[1; 8]),
        ];
        for (desc, weights) in cases {
            let c = weighted(weights);
            let total: u32 = weights.iter().sum();
            let mut counts = vec![0u32; c.len()];
            for s in picks(&mut Consistent::default(), &c, CLIENTS) {
                counts[s] += 1;
            }
            for (s, &w) in weights.iter().enumerate() {
                let expected = f64::from(CLIENTS) * f64::from(w) / f64::from(total);
                let got = f64::from(counts[s]);
                assert!(
                    (got - expected).abs() <= expected * 0.15,
                    "{desc}: server {s} got {got}, expected {expected:.0}"
                );
            }
        }
    }

    #[test]
    fn mapping_does_not_depend_on_history() {
        // Two workers: one saw servers flap, the other did not. They must
        // send every client to the same server.
        let all = weighted(&[2, 1, 3]);
        let mut flapped = Consistent::default();
        picks(&mut flapped, &all[1..], 10);
        picks(&mut flapped, &all[..1], 10);
        let mut fresh = Consistent::default();
        assert_eq!(
            picks(&mut flapped, &all, CLIENTS),
            picks(&mut fresh, &all, CLIENTS)
        );
    }

    #[test]
    fn same_set_does_not_rebuild() {
        let mut c = weighted(&[1, 1]);
        let mut algo = Consistent::default();
        algo.pick(&c, v4(1));
        algo.ring.push(u64::MAX); // a rebuild would clear this marker
        c[1].active = 40;
        algo.pick(&c, v4(2));
        assert_eq!(algo.ring.last(), Some(&u64::MAX));
    }

    #[test]
    fn ring_shares_match_weights() {
        // Exact arc lengths, no sampling: the placement itself is balanced.
        let cases: &[&[u32]] = &[
            &[1, 1, 1, 1],
            &[1, 2, 3, 4],
            &[1, 1, 1],
            &[1; 8],
            &[10, 10, 10],
        ];
        for weights in cases {
            let mut algo = Consistent::default();
            let c = weighted(weights);
            algo.rebuild(&c);
            let total: u32 = weights.iter().sum();
            for (s, share) in ring_shares(&algo, c.len()).iter().enumerate() {
                let expected = f64::from(weights[s]) / f64::from(total);
                assert!(
                    (share / expected - 1.0).abs() <= 0.15,
                    "{weights:?}: server {s} owns {share:.3}, expected {expected:.3}"
                );
            }
        }
    }
}
