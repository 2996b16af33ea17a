//! `balance static-rr`: weighted round-robin over a precomputed map.
//!
//! The map lists candidate indices in smooth interleaved order (weights
//! reduced by their common divisor, so 100,100,200 makes a map of 4); a pick
//! is one slot read and a cursor step. The map is rebuilt only when the
//! candidate set or a weight differs from the one it was built for, which
//! costs one comparison pass per pick.
//!
//! HAProxy's static-rr refuses runtime weight changes other than 0% and 100%
//! (the runtime API should refuse them the same way for this algorithm). If
//! a weight does change anyway, the map is rebuilt and the new weight
//! applies from the next pick; the cursor keeps its place modulo the new map
//! length rather than starting over.

use std::net::IpAddr;

use super::{Algorithm, BuiltFor, Candidate};

#[derive(Debug, Default)]
pub(super) struct StaticRr {
    /// `(server, weight)` of the candidates the map was built for.
    built_for: BuiltFor,
    /// Candidate indices in pick order.
    map: Vec<u32>,
    cursor: usize,
}

impl StaticRr {
    fn rebuild(&mut self, candidates: &[Candidate]) {
        self.built_for.remember(candidates);
        let divisor = candidates.iter().fold(0, |g, c| gcd(g, c.weight)).max(1);
        let weights: Vec<i64> = candidates
            .iter()
            .map(|c| i64::from(c.weight / divisor))
            .collect();
        let total: i64 = weights.iter().sum();
        // The same interleaving as roundrobin, run once for a full cycle.
        let mut score = vec![0i64; weights.len()];
        self.map.clear();
        for _ in 0..total {
            let mut best = 0;
            for (i, w) in weights.iter().enumerate() {
                score[i] += w;
                if score[i] > score[best] {
                    best = i;
                }
            }
            score[best] -= total;
            self.map.push(best as u32);
        }
        self.cursor %= self.map.len().max(1);
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Algorithm for StaticRr {
    fn pick(&mut self, candidates: &[Candidate], _client: IpAddr) -> usize {
        if !self.built_for.matches(candidates) {
            self.rebuild(candidates);
        }
        let Some(&slot) = self.map.get(self.cursor) else {
            // Only when every weight is 0, which the caller excludes.
            return 0;
        };
        self.cursor = (self.cursor + 1) % self.map.len();
        slot as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{servers_picked, tally, v4, weighted};

    #[test]
    fn weights_one_two_three_over_600_picks_are_exact() {
        let c = weighted(&[1, 2, 3]);
        assert_eq!(tally(&mut StaticRr::default(), &c, 600), [100, 200, 300]);
    }

    #[test]
    fn interleaves_instead_of_bursting() {
        // (description, weights, expected first cycle of servers)
        type Case = (&'static str, &'static [u32], &'static [usize]);
        let cases: &[Case] = &[
            ("5,1,1", &[5, 1, 1], &[0, 0, 1, 0, 2, 0, 0]),
            ("equal", &[1, 1, 1], &[0, 1, 2]),
            ("common divisor", &[100, 100, 200], &[2, 0, 1, 2]),
        ];
        for (desc, weights, expected) in cases {
            let c = weighted(weights);
            let mut algo = StaticRr::default();
            let got = servers_picked(&mut algo, &c, 2 * expected.len(), v4(1));
            assert_eq!(&got[..expected.len()], *expected, "{desc}");
            assert_eq!(&got[expected.len()..], *expected, "{desc}, 2nd cycle");
            assert_eq!(algo.map.len(), expected.len(), "{desc}: map length");
        }
    }

    #[test]
    fn weight_change_rebuilds_the_map() {
        let mut algo = StaticRr::default();
        let mut c = weighted(&[1, 1]);
        tally(&mut algo, &c, 3);
        c[0].weight = 3;
        assert_eq!(tally(&mut algo, &c, 400), [300, 100]);
    }

    #[test]
    fn removing_a_server_keeps_the_others_fair() {
        let mut algo = StaticRr::default();
        let all = weighted(&[1, 2, 3]);
        tally(&mut algo, &all, 4);
        let without_1: Vec<_> = all.iter().copied().filter(|c| c.server != 1).collect();
        let counts = tally(&mut algo, &without_1, 400);
        assert_eq!(counts, [100, 0, 300]);
    }

    #[test]
    fn same_set_does_not_rebuild() {
        let mut algo = StaticRr::default();
        let mut c = weighted(&[2, 1]);
        algo.pick(&c, v4(1));
        let cursor = algo.cursor;
        // Load changes are not a set change: the cursor must keep moving.
        c[0].active = 50;
        algo.pick(&c, v4(1));
        assert_eq!(algo.cursor, (cursor + 1) % 3);
    }
}
