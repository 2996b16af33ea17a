//! The index of IP patterns: one path-compressed binary trie per family,
//! answering the longest network that holds an address (HAProxy's
//! `ebmb_lookup_longest` over its IPv4 and IPv6 trees), in time bounded by
//! the address length whatever the number of networks.
//!
//! Across families it does what HAProxy 2.6 does (manual 7.1.6): an IPv4
//! address is looked up among the IPv4 networks, then as `::ffff:a.b.c.d`
//! among the IPv6 ones; an IPv6 address among the IPv6 networks, then, if it
//! carries an IPv4 address (`::ffff:a.b.c.d`, `::a.b.c.d` or 6to4
//! `2002:AABB:CCDD::`), that one among the IPv4 networks. Entries are the
//! caller's pattern numbers; for one network the first inserted is kept.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::pattern::IpNet;

const NONE: u32 = u32::MAX;

/// A node holds a prefix: `len` bits of `key`, left-aligned, the rest
/// zero. A node without an entry always has two children.
#[derive(Debug, Clone)]
struct Node {
    key: u128,
    len: u8,
    entry: Option<usize>,
    child: [u32; 2],
}

/// Where a node is referenced from.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Root,
    Child(u32, usize),
}

/// One family's networks, keys left-aligned in a `u128`.
#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: Option<u32>,
}

fn mask(key: u128, len: u8) -> u128 {
    key & u128::MAX.checked_shl(128 - len as u32).unwrap_or(0)
}

/// Bit `pos` counted from the left.
fn bit(key: u128, pos: u8) -> usize {
    (key >> (127 - pos as u32)) as usize & 1
}

impl Trie {
    fn get(&self, slot: Slot) -> Option<u32> {
        match slot {
            Slot::Root => self.root,
            Slot::Child(n, b) => Some(self.nodes[n as usize].child[b]).filter(|&c| c != NONE),
        }
    }

    fn set(&mut self, slot: Slot, to: Option<u32>) {
        match slot {
            Slot::Root => self.root = to,
            Slot::Child(n, b) => self.nodes[n as usize].child[b] = to.unwrap_or(NONE),
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Adds `key/len` for `entry`; false when the network was there (it
    /// keeps its entry).
    fn insert(&mut self, key: u128, len: u8, entry: usize) -> bool {
        let key = mask(key, len);
        let leaf = Node {
            key,
            len,
            entry: Some(entry),
            child: [NONE; 2],
        };
        let mut slot = Slot::Root;
        loop {
            let Some(i) = self.get(slot) else {
                let n = self.alloc(leaf);
                self.set(slot, Some(n));
                return true;
            };
            let node = &mut self.nodes[i as usize];
            let common = ((node.key ^ key).leading_zeros() as u8)
                .min(node.len)
                .min(len);
            if common == node.len && common == len {
                let new = node.entry.is_none();
                node.entry.get_or_insert(entry);
                return new;
            }
            if common == node.len {
                slot = Slot::Child(i, bit(key, node.len));
                continue;
            }
            let old_side = bit(node.key, common);
            let parent = if common == len {
                // The new network holds the node's.
                let mut n = leaf;
                n.child[old_side] = i;
                self.alloc(n)
            } else {
                let mut glue = Node {
                    key: mask(key, common),
                    len: common,
                    entry: None,
                    child: [NONE; 2],
                };
                glue.child[old_side] = i;
                glue.child[1 - old_side] = self.alloc(leaf);
                self.alloc(glue)
            };
            self.set(slot, Some(parent));
            return true;
        }
    }

    /// Removes the network `key/len` (all its entries); false when absent.
    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    fn remove(&mut self, key: u128, len: u8) -> bool {
        let key = mask(key, len);
        let (mut slot, mut parent_slot) = (Slot::Root, None);
        let i = loop {
            let Some(i) = self.get(slot) else {
                return false;
            };
            let node = &self.nodes[i as usize];
            if node.len > len || mask(key, node.len) != node.key {
                return false;
            }
            if node.len == len {
                break i;
            }
            parent_slot = Some(slot);
            slot = Slot::Child(i, bit(key, node.len));
        };
        if self.nodes[i as usize].entry.take().is_none() {
            return false;
        }
        self.collapse(slot, i);
        // Its parent may be a junction left with one branch.
        if let Some(ps) = parent_slot
            && let Some(p) = self.get(ps)
            && self.nodes[p as usize].entry.is_none()
        {
            self.collapse(ps, p);
        }
        true
    }

    /// Drops the entry-less node `i` at `slot` if it has fewer than two
    /// children, putting its only child in its place.
    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    fn collapse(&mut self, slot: Slot, i: u32) {
        let kids: Vec<u32> = self.nodes[i as usize]
            .child
            .iter()
            .copied()
            .filter(|&c| c != NONE)
            .collect();
        if kids.len() < 2 {
            self.set(slot, kids.first().copied());
            self.free.push(i);
        }
    }

    /// The entry of the longest network holding `key` (`bits` long).
    fn longest(&self, key: u128, bits: u8) -> Option<usize> {
        let (mut at, mut best) = (self.root, None);
        while let Some(i) = at {
            let node = &self.nodes[i as usize];
            if mask(key, node.len) != node.key {
                break;
            }
            best = node.entry.or(best);
            if node.len >= bits {
                break;
            }
            at = Some(node.child[bit(key, node.len)]).filter(|&c| c != NONE);
        }
        best
    }
}

fn v4_key(a: Ipv4Addr) -> u128 {
    (u32::from(a) as u128) << 96
}

/// The IPv4 address an IPv6 one carries, as HAProxy reads it.
fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(a);
    if bits >> 64 == 0 && matches!((bits >> 32) as u32, 0 | 0xffff) {
        Some(Ipv4Addr::from(bits as u32))
    } else if bits >> 112 == 0x2002 {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

/// IPv4 and IPv6 networks, each with the number of its pattern.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpTree {
    v4: Trie,
    v6: Trie,
    len: usize,
}

impl IpTree {
    pub(crate) fn new() -> IpTree {
        IpTree::default()
    }

    /// Adds `net` for pattern `entry`; a network already there keeps its
    /// first entry (and false is returned).
    pub(crate) fn insert(&mut self, net: IpNet, entry: usize) -> bool {
        let new = match net.addr {
            IpAddr::V4(a) => self.v4.insert(v4_key(a), net.prefix.min(32), entry),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), net.prefix.min(128), entry),
        };
        self.len += new as usize;
        new
    }

    /// Removes the network `net` whatever entries it had; false when it
    /// was not there.
    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, net: IpNet) -> bool {
        let gone = match net.addr {
            IpAddr::V4(a) => self.v4.remove(v4_key(a), net.prefix.min(32)),
            IpAddr::V6(a) => self.v6.remove(u128::from(a), net.prefix.min(128)),
        };
        if gone {
            self.len -= 1;
        }
        gone
    }

    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        *self = IpTree::default();
    }

    /// How many distinct networks are held.
    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    // Only the tests take entries out: a list edit rebuilds its index.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry of the longest network holding `ip`, in its own family
    /// first (see the module's note for the other family).
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(a) => self
                .v4
                .longest(v4_key(a), 32)
                .or_else(|| self.v6.longest(u128::from(a.to_ipv6_mapped()), 128)),
            IpAddr::V6(a) => self
                .v6
                .longest(u128::from(a), 128)
                .or_else(|| self.v4.longest(v4_key(embedded_v4(a)?), 32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        let (a, l) = s.split_once('/').unwrap();
        IpNet::new(a.parse().unwrap(), l.parse().unwrap())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_match_and_families() {
        let nets = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.0.0/16", // a duplicate: the first keeps the network
            "10.1.2.3/32",
            "0.0.0.0/0",
            "::ffff:192.168.0.0/112",
            "2001:db8::/32",
            "2001:db8:1::/48",
            "::/0",
            "1.2.3.0/24",
        ];
        let mut t = IpTree::new();
        for (i, n) in nets.iter().enumerate() {
            t.insert(net(n), i);
        }
        assert_eq!(t.len(), nets.len() - 1);
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("host inside /8, /16 and /32", "10.1.2.3", Some(3)),
            ("duplicate network: first entry", "10.1.9.9", Some(1)),
            ("only /8", "10.200.0.1", Some(0)),
            ("IPv4 default route", "11.0.0.1", Some(4)),
            ("v6 /48 beats /32", "2001:db8:1::5", Some(7)),
            ("v6 /32", "2001:db8:2::5", Some(6)),
            ("v6 default route", "fe80::1", Some(8)),
            // An IPv6 address is looked up among v6 networks first.
            (
                "mapped v4 matches ::/0 before v4 nets",
                "::ffff:10.1.2.3",
                Some(8),
            ),
        ];
        for (what, addr, want) in cases {
            assert_eq!(t.lookup(ip(addr)), *want, "{what}");
        }
    }

    #[test]
    fn cross_family_fallbacks() {
        let mut t = IpTree::new();
        t.insert(net("10.0.0.0/8"), 0);
        t.insert(net("::ffff:192.168.0.0/120"), 1);
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("v4-mapped sample, v4 network", "::ffff:10.9.9.9", Some(0)),
            ("v4-compatible sample", "::10.9.9.9", Some(0)),
            ("6to4 sample", "2002:a09:909::1", Some(0)),
            ("other v6 sample", "2001:db8::10.9.9.9", None),
            ("v4 sample, ::ffff: network", "192.168.0.7", Some(1)),
            ("v4 sample outside both", "192.168.1.7", None),
        ];
        for (what, addr, want) in cases {
            assert_eq!(t.lookup(ip(addr)), *want, "{what}");
        }
    }

    #[test]
    fn remove_and_clear() {
        let mut t = IpTree::new();
        for (i, n) in ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.3.0/24"]
            .iter()
            .enumerate()
        {
            t.insert(net(n), i);
        }
        assert!(t.remove(net("10.1.0.0/16")));
        assert!(!t.remove(net("10.1.0.0/16")), "already gone");
        assert!(!t.remove(net("10.1.0.0/17")), "never there");
        assert_eq!(t.lookup(ip("10.1.9.9")), Some(0));
        assert_eq!(t.lookup(ip("10.1.2.9")), Some(2));
        assert!(t.remove(net("10.1.2.0/24")));
        assert_eq!(t.lookup(ip("10.1.2.9")), Some(0));
        assert_eq!(t.lookup(ip("10.1.3.9")), Some(3));
        assert_eq!(t.len(), 2);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("10.1.3.9")), None);
    }

    #[test]
    fn hundred_thousand_networks() {
        // A cheap deterministic generator: no list scan may hide here.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = IpTree::new();
        let mut nets = Vec::new();
        for i in 0..100_000 {
            let r = next();
            let n = if i % 2 == 0 {
                IpNet::new(
                    IpAddr::V4(Ipv4Addr::from(r as u32)),
                    8 + (r >> 40) as u8 % 25,
                )
            } else {
                let a = (r as u128) << 64 | next() as u128;
                IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), 16 + (r >> 40) as u8 % 113)
            };
            t.insert(n, i);
            nets.push(n);
        }
        for n in nets.iter().step_by(997) {
            let got = t.lookup(n.addr).expect("its own network holds it");
            assert!(nets[got].contains(n.addr) && nets[got].prefix >= n.prefix);
        }
    }

    /// The shape the trie keeps through removals: every node without an
    /// entry joins two branches, children extend their parent's prefix,
    /// and every node is either reachable or free.
    fn check_shape(t: &Trie) -> Result<(), TestCaseError> {
        let mut reachable = 0;
        let mut stack: Vec<(u32, Option<u8>)> = t.root.map(|r| (r, None)).into_iter().collect();
        while let Some((i, parent_len)) = stack.pop() {
            reachable += 1;
            let n = &t.nodes[i as usize];
            prop_assert!(parent_len.is_none_or(|l| l < n.len));
            let kids: Vec<u32> = n.child.iter().copied().filter(|&c| c != NONE).collect();
            prop_assert!(n.entry.is_some() || kids.len() == 2, "useless junction");
            for c in kids {
                prop_assert_eq!(mask(t.nodes[c as usize].key, n.len), n.key);
                stack.push((c, Some(n.len)));
            }
        }
        prop_assert_eq!(reachable + t.free.len(), t.nodes.len());
        Ok(())
    }

    /// The specification: longest prefix in the address's own family (the
    /// first entry among equals), then the other family as HAProxy maps it.
    fn brute(nets: &[(IpNet, usize)], ip: IpAddr) -> Option<usize> {
        let best = |ip: IpAddr| {
            nets.iter()
                .filter(|(n, _)| n.contains(ip))
                .fold(None::<(u8, usize)>, |b, &(n, e)| match b {
                    Some((p, _)) if p >= n.prefix => b,
                    _ => Some((n.prefix, e)),
                })
                .map(|(_, e)| e)
        };
        best(ip).or_else(|| match ip {
            IpAddr::V4(a) => best(IpAddr::V6(a.to_ipv6_mapped())),
            IpAddr::V6(a) => best(IpAddr::V4(embedded_v4(a)?)),
        })
    }

    /// Addresses near a few bases, so that networks nest and overlap.
    fn addr() -> impl Strategy<Value = IpAddr> {
        let v4 = (0usize..3, any::<u32>(), 0u32..33).prop_map(|(b, r, keep)| {
            let base = [0x0a01_0203u32, 0xc0a8_0000, 0][b];
            let noise = r.checked_shr(keep).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(base ^ noise))
        });
        let v6 = (0usize..3, any::<u128>(), 0u32..129).prop_map(|(b, r, keep)| {
            let base = [
                0x2001_0db8u128 << 96,
                0xffff_0a01_0203,
                0x2002_0a01_0203u128 << 80,
            ][b];
            let noise = r.checked_shr(keep).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(base ^ noise))
        });
        prop_oneof![v4, v6]
    }

    fn ipnet() -> impl Strategy<Value = IpNet> {
        (addr(), 0u8..=128).prop_map(|(a, p)| IpNet::new(a, p))
    }

    proptest! {
        #[test]
        fn lookup_is_brute_force_longest_prefix(
            nets in proptest::collection::vec(ipnet(), 0..60),
            removed in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
            probes in proptest::collection::vec(addr(), 1..40),
        ) {
            let mut t = IpTree::new();
            for (i, n) in nets.iter().enumerate() {
                t.insert(*n, i);
            }
            let mut live: Vec<(IpNet, usize)> = nets.iter().copied().zip(0..).collect();
            for r in &removed {
                if nets.is_empty() {
                    break;
                }
                let gone = nets[r.index(nets.len())];
                prop_assert_eq!(t.remove(gone), live.iter().any(|(n, _)| *n == gone));
                live.retain(|(n, _)| *n != gone);
            }
            check_shape(&t.v4)?;
            check_shape(&t.v6)?;
            let distinct: std::collections::HashSet<_> = live.iter().map(|(n, _)| *n).collect();
            prop_assert_eq!(t.len(), distinct.len());
            for p in probes.iter().copied().chain(live.iter().map(|(n, _)| n.addr)) {
                prop_assert_eq!(t.lookup(p), brute(&live, p), "address {}", p);
            }
        }
    }
}
