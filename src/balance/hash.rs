//! The 64-bit hash behind `balance source`: FNV-1a over the bytes, then
//! murmur3's `fmix64` finaliser. FNV-1a alone is cheap but mixes its last
//! bytes poorly (consecutive addresses differ only in the low bits of the
//! hash); the finaliser spreads every input bit over the whole word, which
//! both `hash % total_weight` and the consistent-hash ring need.

use std::net::IpAddr;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// murmur3's 64-bit finaliser: a bijection with full avalanche.
pub(super) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The hash used everywhere in this module.
pub(super) fn hash_bytes(bytes: &[u8]) -> u64 {
    fmix64(fnv1a(bytes))
}

/// Hash of a client address. An IPv4 client seen through a dual-stack
/// (`v4v6`) listener arrives as `::ffff:a.b.c.d`; it hashes as the plain
/// IPv4 address so it lands on the same server whichever listener took it.
pub(super) fn hash_addr(addr: IpAddr) -> u64 {
    match addr.to_canonical() {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        let cases: &[(&str, &[u8], u64)] = &[
            ("empty", b"", 0xcbf2_9ce4_8422_2325),
            ("a", b"a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", b"foobar", 0x8594_4171_f739_67e8),
        ];
        for (desc, input, expected) in cases {
            assert_eq!(fnv1a(input), *expected, "{desc}");
        }
    }

    #[test]
    fn fmix64_changes_about_half_the_bits_for_a_one_bit_input_change() {
        let mut flipped = 0u32;
        for i in 0..64u64 {
            flipped += (fmix64(i) ^ fmix64(i ^ 1 << (i % 64))).count_ones();
        }
        let mean = f64::from(flipped) / 64.0;
        assert!((24.0..40.0).contains(&mean), "mean flipped bits {mean}");
    }

    #[test]
    fn mapped_ipv4_hashes_like_plain_ipv4() {
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            hash_addr(IpAddr::V4(v4)),
            hash_addr(IpAddr::V6(v4.to_ipv6_mapped()))
        );
    }

    #[test]
    fn neighbouring_addresses_hash_far_apart() {
        let a = hash_addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = hash_addr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let c = hash_addr(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
        assert!((a ^ b).count_ones() > 16);
        assert!((a ^ c).count_ones() > 16);
    }
}
