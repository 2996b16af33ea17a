//! `balance random(N)`: draw N servers at random, weighted, and keep the
//! least loaded of them (the "power of N choices"). With N = 1 it is plain
//! weighted random; with the default N = 2 a busy server is avoided most of
//! the time while the load is still spread without any shared cursor, which
//! suits many workers deciding independently.
//!
//! Load is `active` relative to weight, compared as in leastconn; on equal
//! load the first draw wins, so idle farms get a weighted random spread.
//! The PRNG is splitmix64, one per instance, seeded from a process-wide
//! counter mixed with the clock so no two instances share a sequence.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::hash::fmix64;
use super::leastconn::lighter;
use super::{Algorithm, Candidate};

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Bumped once per instance so that instances created in the same clock
/// tick still get distinct seeds.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
pub(super) struct Random {
    draws: u32,
    state: u64,
    /// Running weight totals of the candidates, reused between picks.
    cumulative: Vec<u64>,
}

impl Random {
    pub(super) fn new(draws: u32) -> Random {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Random::with_seed(draws, fmix64(clock ^ instance.wrapping_mul(GOLDEN_GAMMA)))
    }

    /// A reproducible sequence, for tests and benchmarks.
    pub(super) fn with_seed(draws: u32, seed: u64) -> Random {
        Random {
            // `random(0)` is refused by the parser; it would act as one draw.
            draws,
            state: seed,
            cumulative: Vec::new(),
        }
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        fmix_splitmix(self.state)
    }

    /// A candidate index drawn with probability proportional to weight.
    fn draw(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        // Multiply-shift maps 64 random bits onto 0..total without the bias
        // (or the division) of a modulo.
        let r = ((u128::from(self.next_u64()) * u128::from(total)) >> 64) as u64;
        let i = self.cumulative.partition_point(|&end| end <= r);
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

/// splitmix64's output function (Stafford's "Mix13" variant).
fn fmix_splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Algorithm for Random {
    fn pick(&mut self, candidates: &[Candidate], _client: IpAddr) -> usize {
        self.cumulative.clear();
        let mut total = 0u64;
        for c in candidates {
            total += u64::from(c.weight);
            self.cumulative.push(total);
        }
        let mut best = self.draw();
        for _ in 1..self.draws {
            let i = self.draw();
            if lighter(&candidates[i], &candidates[best]) {
                best = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{cands, tally, v4, weighted};

    #[test]
    fn idle_servers_are_drawn_in_proportion_to_weight() {
        const PICKS: usize = 60_000;
        // (description, draws, weights)
        let cases: &[(&str, u32, &[u32])] = &[
            ("one draw", 1, &[1, 2, 3]),
            ("two draws, all idle", 2, &[1, 2, 3]),
            ("equal weights", 2, &[1, 1, 1, 1]),
            ("large weights", 3, &[256, 128, 64]),
        ];
        for (desc, draws, weights) in cases {
            let c = weighted(weights);
            let counts = tally(&mut Random::with_seed(*draws, 7), &c, PICKS);
            let total: u32 = weights.iter().sum();
            for (s, &w) in weights.iter().enumerate() {
                let expected = PICKS as f64 * f64::from(w) / f64::from(total);
                let got = counts[s] as f64;
                assert!(
                    (got - expected).abs() <= expected * 0.05,
                    "{desc}: server {s} got {got}, expected {expected:.0}"
                );
            }
        }
    }

    #[test]
    fn two_draws_avoid_a_loaded_server() {
        let c = cands(&[(0, 1, 0), (1, 1, 500), (2, 1, 0), (3, 1, 0)]);
        let counts = tally(&mut Random::with_seed(2, 11), &c, 40_000);
        // Only when both draws hit it: 1/16 of picks, against 5/16 for
        // each of the others.
        for s in [0, 2, 3] {
            assert!(counts[1] * 3 < counts[s], "{counts:?}");
        }
        // And one draw cannot avoid it.
        let counts = tally(&mut Random::with_seed(1, 11), &c, 40_000);
        assert!(counts[1] > 9_000, "{counts:?}");
    }

    #[test]
    fn more_draws_avoid_it_more() {
        let c = cands(&[(0, 1, 0), (1, 1, 500), (2, 1, 0), (3, 1, 0)]);
        let two = tally(&mut Random::with_seed(2, 3), &c, 40_000)[1];
        let four = tally(&mut Random::with_seed(4, 3), &c, 40_000)[1];
        assert!(four * 4 < two, "two draws: {two}, four draws: {four}");
    }

    #[test]
    fn instances_get_different_sequences() {
        let c = weighted(&[1; 16]);
        let mut a = Random::new(1);
        let mut b = Random::new(1);
        let seq_a: Vec<_> = (0..32).map(|_| a.pick(&c, v4(1))).collect();
        let seq_b: Vec<_> = (0..32).map(|_| b.pick(&c, v4(1))).collect();
        assert_ne!(seq_a, seq_b);
    }
}
