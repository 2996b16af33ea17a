//! Helpers shared by the algorithms' unit tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Algorithm, Candidate};

/// Candidates from `(server, weight, active)` triples.
pub(super) fn cands(list: &[(usize, u32, u32)]) -> Vec<Candidate> {
    list.iter()
        .map(|&(server, weight, active)| Candidate {
            server,
            weight,
            active,
        })
        .collect()
}

/// Idle candidates `0..weights.len()` with the given weights.
pub(super) fn weighted(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .enumerate()
        .map(|(server, &weight)| Candidate {
            server,
            weight,
            active: 0,
        })
        .collect()
}

/// The `i`-th distinct IPv4 client, in 10.0.0.0/8.
pub(super) fn v4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// The `i`-th distinct IPv6 client, in 2001:db8::/32.
pub(super) fn v6(i: u32) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(
        0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i),
    ))
}
/// Server picked (not candidate index) for each of `n` calls.
pub(super) fn servers_picked(
    algo: &mut dyn Algorithm,
    c: &[Candidate],
    n: usize,
    client: IpAddr,
) -> Vec<usize> {
    (0..n).map(|_| c[algo.pick(c, client)].server).collect()
}

/// How many times each server index was picked over `n` calls.
pub(super) fn tally(algo: &mut dyn Algorithm, c: &[Candidate], n: usize) -> Vec<usize> {
    let len = c.iter().map(|c| c.server).max().unwrap_or(0) + 1;
    let mut counts = vec![0; len];
    for s in servers_picked(algo, c, n, v4(1)) {
        counts[s] += 1;
    }
    counts
}
