//! `balance source` with `hash-type map-based` (HAProxy's default): the
//! client address hash modulo the total weight of the usable servers picks a
//! slot, each server owning `weight` consecutive slots. Cheap and evenly
//! spread, but any change in the candidate set or a weight moves most
//! clients; `hash-type consistent` (see `consistent.rs`) avoids that.

use std::net::IpAddr;

use super::hash::hash_addr;
use super::{Algorithm, Candidate, weighted_slot};

#[derive(Debug, Default)]
pub(super) struct SourceMap;

impl Algorithm for SourceMap {
    fn pick(&mut self, candidates: &[Candidate], client: IpAddr) -> usize {
        let total: u64 = candidates.iter().map(|c| u64::from(c.weight)).sum();
        // Weights are >= 1, so total >= 1; max(1) only guards a caller bug.
        weighted_slot(candidates, hash_addr(client) % total.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::test_support::{v4, v6, weighted};

    #[test]
    fn same_client_same_server() {
        let c = weighted(&[1, 2, 3]);
        let mut algo = SourceMap;
        for i in 0..200 {
            for client in [v4(i), v6(i)] {
                let first = algo.pick(&c, client);
                for _ in 0..3 {
                    assert_eq!(algo.pick(&c, client), first, "{client}");
                }
            }
        }
    }

    #[test]
    fn spreads_distinct_clients_by_weight_within_ten_percent() {
        let cases: &[(&str, &[u32], bool)] = &[
            ("equal weights, IPv4", &[1, 1, 1, 1], false),
            ("1,2,3, IPv4", &[1, 2, 3], false),
            ("1,2,3, IPv6", &[1, 2, 3], true),
            ("large weights", &[100, 50, 256], false),
        ];
        const CLIENTS: u32 = 10_000;
        for (desc, weights, ipv6) in cases {
            let c = weighted(weights);
            let total: u32 = weights.iter().sum();
            let mut counts = vec![0u32; c.len()];
            let mut algo = SourceMap;
            for i in 0..CLIENTS {
                let client = if *ipv6 { v6(i) } else { v4(i) };
                counts[algo.pick(&c, client)] += 1;
            }
            for (s, &w) in weights.iter().enumerate() {
                let expected = f64::from(CLIENTS) * f64::from(w) / f64::from(total);
                let got = f64::from(counts[s]);
                assert!(
                    (got - expected).abs() <= expected * 0.10,
                    "{desc}: server {s} got {got}, expected {expected:.0}"
                );
            }
        }
    }
}
