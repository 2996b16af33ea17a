//! `balance roundrobin`: smooth weighted round-robin, the interleaving kind
//! (weights 5,1,1 give `a a b a c a a`, not `a a a a a b c`).
//!
//! Each server keeps a running score. On every pick all candidates add their
//! weight to their score, the highest score wins and gives back the total
//! weight. Over any run of `total weight` picks with a stable set each server
//! is picked exactly `weight` times, spaced as evenly as the weights allow.
//!
//! Weights are read at every pick, so a runtime weight change applies at
//! once. Scores are kept per server index, so a server leaving or returning
//! does not reset the others' positions: only differences between scores
//! matter, and a returning server starts at the others' average (neither
//! owed a burst of picks nor pushed to the back). Picks are O(candidates);
//! for the few dozen servers a backend has that beats a tree.

use std::net::IpAddr;

use super::{Algorithm, Candidate};

#[derive(Debug, Default)]
pub(super) struct RoundRobin {
    /// Score per server index.
    score: Vec<i64>,
    /// Server indices of the previous pick's candidates.
    members: Vec<usize>,
    /// Scratch flags per server index, all false between picks.
    was_member: Vec<bool>,
}

impl RoundRobin {
    fn same_members(&self, candidates: &[Candidate]) -> bool {
        self.members.len() == candidates.len()
            && self
                .members
                .iter()
                .zip(candidates)
                .all(|(&s, c)| s == c.server)
    }

    /// The set changed: newcomers get the average score of the servers
    /// that stayed, then every score is re-centred on zero (a common shift
    /// changes no pick, and keeps the numbers small however often servers
    /// flap).
    fn rejoin(&mut self, candidates: &[Candidate]) {
        let max_server = candidates.iter().map(|c| c.server).max().unwrap_or(0);
        if self.score.len() <= max_server {
            self.score.resize(max_server + 1, 0);
            self.was_member.resize(max_server + 1, false);
        }
        for &s in &self.members {
            if let Some(flag) = self.was_member.get_mut(s) {
                *flag = true;
            }
        }
        let (mut sum, mut stayed) = (0i64, 0i64);
        for c in candidates {
            if self.was_member[c.server] {
                sum += self.score[c.server];
                stayed += 1;
            }
        }
        let mean = if stayed > 0 { sum / stayed } else { 0 };
        for c in candidates {
            let s = &mut self.score[c.server];
            if !self.was_member[c.server] {
                *s = mean;
            }
            *s -= mean;
        }
        for &s in &self.members {
            if let Some(flag) = self.was_member.get_mut(s) {
                *flag = false;
            }
        }
        self.members.clear();
        self.members.extend(candidates.iter().map(|c| c.server));
    }
}

impl Algorithm for RoundRobin {
    fn pick(&mut self, candidates: &[Candidate], _client: IpAddr) -> usize {
        if !self.same_members(candidates) {
            self.rejoin(candidates);
        }
        let (mut best, mut best_score, mut total) = (0, i64::MIN, 0i64);
        for (i, c) in candidates.iter().enumerate() {
            let weight = i64::from(c.weight);
            let score = &mut self.score[c.server];
            *score += weight;
            total += weight;
            // Strict: on a tie the lower server index goes first.
            if *score > best_score {
                best = i;
                best_score = *score;
            }
        }
        self.score[candidates[best].server] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{servers_picked, tally, v4, weighted};

    #[test]
    fn weights_one_two_three_over_600_picks_are_exact() {
        let c = weighted(&[1, 2, 3]);
        assert_eq!(tally(&mut RoundRobin::default(), &c, 600), [100, 200, 300]);
    }

    #[test]
    fn interleaves_instead_of_bursting() {
        // (description, weights, expected first cycle of servers)
        type Case = (&'static str, &'static [u32], &'static [usize]);
        let cases: &[Case] = &[
            ("5,1,1", &[5, 1, 1], &[0, 0, 1, 0, 2, 0, 0]),
            ("equal", &[1, 1, 1], &[0, 1, 2]),
            ("2,1", &[2, 1], &[0, 1, 0]),
            ("1,3", &[1, 3], &[1, 0, 1, 1]),
        ];
        for (desc, weights, expected) in cases {
            let c = weighted(weights);
            let mut algo = RoundRobin::default();
            // Two cycles: the second must repeat the first.
            let got = servers_picked(&mut algo, &c, 2 * expected.len(), v4(1));
            assert_eq!(&got[..expected.len()], *expected, "{desc}");
            assert_eq!(&got[expected.len()..], *expected, "{desc}, 2nd cycle");
        }
    }

    #[test]
    fn weight_change_applies_at_once() {
        let mut algo = RoundRobin::default();
        let mut c = weighted(&[1, 1]);
        tally(&mut algo, &c, 7);
        c[0].weight = 3;
        // A transition of at most one cycle, then exactly 3:1.
        tally(&mut algo, &c, 4);
        assert_eq!(tally(&mut algo, &c, 400), [300, 100]);
    }

    #[test]
    fn removing_a_server_keeps_the_others_fair() {
        let mut algo = RoundRobin::default();
        let all = weighted(&[1, 2, 3]);
        tally(&mut algo, &all, 4);
        let without_1: Vec<_> = all.iter().copied().filter(|c| c.server != 1).collect();
        // Over the next 400 picks, 1:3 within one pick of exact.
        let counts = tally(&mut algo, &without_1, 400);
        assert_eq!(counts[1], 0);
        assert!(counts[0].abs_diff(100) <= 1, "{counts:?}");
        assert!(counts[2].abs_diff(300) <= 1, "{counts:?}");
    }

    #[test]
    fn a_returning_server_rejoins_without_disturbing_the_others() {
        let mut algo = RoundRobin::default();
        let all = weighted(&[1, 1, 1]);
        tally(&mut algo, &all, 2);
        let without_2 = &all[..2];
        // 0 and 1 alternate while 2 is away...
        let away = servers_picked(&mut algo, without_2, 6, v4(1));
        assert!(away.windows(2).all(|w| w[0] != w[1]), "{away:?}");
        // ...and once it is back every server gets one pick in three.
        let back = tally(&mut algo, &all, 3 * 100 + 2);
        for n in back {
            assert!(n.abs_diff(100) <= 1, "{n}");
        }
    }

    #[test]
    fn scores_stay_small_when_servers_flap() {
        let mut algo = RoundRobin::default();
        let all = weighted(&[256, 1, 100]);
        for round in 0..10_000 {
            let subset: Vec<_> = all
                .iter()
                .copied()
                .filter(|c| c.server != round % 3)
                .collect();
            algo.pick(&subset, v4(1));
            algo.pick(&all, v4(1));
        }
        assert!(
            algo.score.iter().all(|s| s.abs() < 4 * 357),
            "{:?}",
            algo.score
        );
    }
}
