//! `balance leastconn`: the server with the fewest sessions relative to its
//! weight takes the connection. `active` counts every worker's sessions, so
//! all workers see the same load without sharing a lock (cf. HAProxy
//! #178, #881: leastconn lock contention across threads).
//!
//! Loads are compared as `active_a * weight_b` against `active_b * weight_a`
//! (no floats, no rounding: a weight-2 server with 2 sessions ties with a
//! weight-1 server with 1). Ties go round-robin: the scan prefers the first
//! tied server at or after the one following the previous pick, so idle
//! servers take turns instead of the first one getting every short burst.

use std::net::IpAddr;

use super::{Algorithm, Candidate};

#[derive(Debug, Default)]
pub(super) struct LeastConn {
    /// Server index where the tie rotation resumes.
    next: usize,
}

/// `a` is strictly less loaded than `b`, relative to weight.
pub(super) fn lighter(a: &Candidate, b: &Candidate) -> bool {
    u64::from(a.active) * u64::from(b.weight) < u64::from(b.active) * u64::from(a.weight)
}

impl Algorithm for LeastConn {
    fn pick(&mut self, candidates: &[Candidate], _client: IpAddr) -> usize {
        let mut best = 0;
        // Candidates before `next` come last in the rotation.
        let mut best_wrapped = candidates[0].server < self.next;
        for (i, c) in candidates.iter().enumerate().skip(1) {
            let b = &candidates[best];
            let wrapped = c.server < self.next;
            if lighter(c, b) || (!lighter(b, c) && best_wrapped && !wrapped) {
                best = i;
                best_wrapped = wrapped;
            }
        }
        self.next = candidates[best].server + 1;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{cands, servers_picked, v4, weighted};

    #[test]
    fn picks_the_least_loaded_relative_to_weight() {
        // (description, (server, weight, active), acceptable servers)
        type Case = (&'static str, &'static [(usize, u32, u32)], &'static [usize]);
        let cases: &[Case] = &[
            ("plain minimum", &[(0, 1, 5), (1, 1, 2), (2, 1, 9)], &[1]),
            ("minimum is last", &[(0, 1, 3), (1, 1, 2), (4, 1, 0)], &[4]),
            ("weight halves the load", &[(0, 1, 3), (1, 2, 5)], &[1]),
            (
                "weight 2 with 2 ties weight 1 with 1",
                &[(0, 2, 2), (1, 1, 1)],
                &[0, 1],
            ),
            ("heavy but weighted", &[(0, 256, 200), (1, 1, 1)], &[0]),
            (
                "big numbers do not overflow",
                &[(0, 255, u32::MAX), (1, 256, u32::MAX)],
                &[1],
            ),
        ];
        for (desc, list, acceptable) in cases {
            let c = cands(list);
            let picked = c[LeastConn::default().pick(&c, v4(1))].server;
            assert!(acceptable.contains(&picked), "{desc}: picked {picked}");
        }
    }

    #[test]
    fn weight_aware_tie_rotates_between_both() {
        let c = cands(&[(0, 2, 2), (1, 1, 1)]);
        let got = servers_picked(&mut LeastConn::default(), &c, 4, v4(1));
        assert_eq!(got, [0, 1, 0, 1]);
    }

    #[test]
    fn ties_rotate() {
        let c = cands(&[(0, 1, 0), (2, 1, 0), (5, 1, 0), (7, 1, 4)]);
        let got = servers_picked(&mut LeastConn::default(), &c, 6, v4(1));
        assert_eq!(got, [0, 2, 5, 0, 2, 5]);
    }

    /// Sessions that never end: each pick adds one to the server's `active`.
    fn long_lived(weights: &[u32], picks: usize, check: impl Fn(&[Candidate])) -> Vec<u32> {
        let mut c = weighted(weights);
        let mut algo = LeastConn::default();
        for _ in 0..picks {
            let i = algo.pick(&c, v4(1));
            c[i].active += 1;
            check(&c);
        }
        c.iter().map(|c| c.active).collect()
    }

    #[test]
    fn long_lived_sessions_stay_within_one_of_each_other() {
        long_lived(&[1, 1, 1, 1, 1], 1000, |c| {
            let max = c.iter().map(|c| c.active).max().unwrap_or(0);
            let min = c.iter().map(|c| c.active).min().unwrap_or(0);
            assert!(max - min <= 1, "{c:?}");
        });
    }

    #[test]
    fn long_lived_sessions_follow_weights() {
        assert_eq!(long_lived(&[1, 2, 3], 600, |_| {}), [100, 200, 300]);
    }

    #[test]
    fn sessions_ending_on_one_server_send_new_ones_there() {
        let mut c = cands(&[(0, 1, 10), (1, 1, 10), (2, 1, 10)]);
        c[1].active = 7;
        let mut algo = LeastConn::default();
        for _ in 0..3 {
            let i = algo.pick(&c, v4(1));
            assert_eq!(c[i].server, 1);
            c[i].active += 1;
        }
    }
}
