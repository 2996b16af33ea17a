//! `balance first`: the lowest-numbered usable server takes every new
//! connection. Servers at their `maxconn` are not candidates, so once the
//! first one fills up the next one starts taking connections, and the
//! later servers can stay idle (or be powered down) in quiet hours.
//! Weights are ignored, as in HAProxy.

use std::net::IpAddr;

use super::{Algorithm, Candidate};

#[derive(Debug, Default)]
pub(super) struct First;

impl Algorithm for First {
    fn pick(&mut self, _candidates: &[Candidate], _client: IpAddr) -> usize {
        // Candidates are sorted by server index, so the first is the lowest.
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{cands, v4};

    #[test]
    fn always_picks_the_lowest_server_index() {
        // (description, (server, weight, active) list, expected server)
        type Case = (&'static str, &'static [(usize, u32, u32)], usize);
        let cases: &[Case] = &[
            ("all present", &[(0, 1, 0), (1, 1, 0), (2, 1, 0)], 0),
            ("first is busy but usable", &[(0, 1, 90), (1, 1, 0)], 0),
            ("first is full (absent)", &[(1, 1, 5), (2, 9, 0)], 1),
            ("heavier weight later", &[(3, 1, 0), (4, 256, 0)], 3),
        ];
        let mut algo = First;
        for (desc, list, expected) in cases {
            let c = cands(list);
            for i in 0..5 {
                let idx = algo.pick(&c, v4(i));
                assert_eq!(c[idx].server, *expected, "{desc}");
            }
        }
    }
}
