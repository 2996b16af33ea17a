//! ns per pick for each balancing algorithm, with 3 and 32 candidates.
//!
//!     cargo bench --bench balance
//!
//! The candidate set is stable during a run (the common case: servers come
//! and go rarely), loads and weights are uneven, and `source` sees a
//! different client address on every pick. A second table times the
//! consistent-hash ring rebuild that a server going up or down costs.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use splicer::balance::{Candidate, new_algorithm};
use splicer::config::{Balance, HashType};

const PICKS: u32 = 1_000_000;
const WARMUP: u32 = 10_000;

fn candidates(n: usize, weight: impl Fn(usize) -> u32) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            server: i,
            weight: weight(i),
            active: (i as u32 * 7) % 13,
        })
        .collect()
}

fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 ^ i.wrapping_mul(2_654_435_761)))
}

fn ns_per_pick(balance: Balance, hash_type: HashType, c: &[Candidate]) -> f64 {
    let mut algo = new_algorithm(balance, hash_type);
    for i in 0..WARMUP {
        black_box(algo.pick(black_box(c), client(i)));
    }
    let start = Instant::now();
    for i in 0..PICKS {
        black_box(algo.pick(black_box(c), client(i)));
    }
    start.elapsed().as_nanos() as f64 / f64::from(PICKS)
}

/// Time per rebuild when every pick sees a different candidate set.
fn ring_rebuild(all: &[Candidate]) -> Duration {
    let mut algo = new_algorithm(Balance::Source, HashType::Consistent);
    let without_last = &all[..all.len() - 1];
    const ROUNDS: u32 = 10;
    let start = Instant::now();
    for i in 0..ROUNDS {
        let set = if i % 2 == 0 { all } else { without_last };
        black_box(algo.pick(black_box(set), client(i)));
    }
    start.elapsed() / ROUNDS
}

fn main() {
    let algorithms: &[(&str, Balance, HashType)] = &[
        ("roundrobin", Balance::RoundRobin, HashType::MapBased),
        ("static-rr", Balance::StaticRr, HashType::MapBased),
        ("leastconn", Balance::LeastConn, HashType::MapBased),
        ("first", Balance::First, HashType::MapBased),
        ("source map-based", Balance::Source, HashType::MapBased),
        ("source consistent", Balance::Source, HashType::Consistent),
        (
            "random(2)",
            Balance::Random { draws: 2 },
            HashType::MapBased,
        ),
    ];
    let small = candidates(3, |i| i as u32 + 1);
    let large = candidates(32, |i| (i % 4) as u32 + 1);

    println!(
        "{:<20} {:>12} {:>12}",
        "algorithm", "3 servers", "32 servers"
    );
    for &(name, balance, hash_type) in algorithms {
        let a = ns_per_pick(balance, hash_type, &small);
        let b = ns_per_pick(balance, hash_type, &large);
        println!("{name:<20} {a:>9.1} ns {b:>9.1} ns");
    }

    println!();
    println!("{:<30} {:>12}", "consistent ring rebuild", "per rebuild");
    for (name, set) in [
        ("3 servers, weight 1..3", small.clone()),
        ("32 servers, weight 1..4", large.clone()),
        ("32 servers, weight 256", candidates(32, |_| 256)),
    ] {
        println!("{name:<30} {:>12.2?}", ring_rebuild(&set));
    }
}
