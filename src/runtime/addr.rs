//! A server's address, which the resolver thread may change while workers
//! connect to it. Readers never lock: the address sits in atomics under a
//! sequence counter (a seqlock), so a connect reads it with a few loads
//! and retries only if it raced with a write, which happens once per DNS
//! change. Writers (the resolver thread, a reload) take a small lock among
//! themselves.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Marks an IPv6 address in `meta` (the port is the low 16 bits).
const V6: u32 = 1 << 16;

#[derive(Debug)]
pub(crate) struct AddrCell {
    /// Odd while a write is under way.
    seq: AtomicU64,
    hi: AtomicU64,
    lo: AtomicU64,
    meta: AtomicU32,
    writer: parking_lot::Mutex<()>,
}

impl AddrCell {
    pub(crate) fn new(addr: SocketAddr) -> AddrCell {
        let (hi, lo, meta) = split(addr);
        AddrCell {
            seq: AtomicU64::new(0),
            hi: AtomicU64::new(hi),
            lo: AtomicU64::new(lo),
            meta: AtomicU32::new(meta),
            writer: parking_lot::Mutex::new(()),
        }
    }

    /// The address now.
    pub(crate) fn get(&self) -> SocketAddr {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let hi = self.hi.load(Ordering::Relaxed);
                let lo = self.lo.load(Ordering::Relaxed);
                let meta = self.meta.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return join(hi, lo, meta);
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Changes the address; returns the one it replaces.
    pub(crate) fn set(&self, addr: SocketAddr) -> SocketAddr {
        let _w = self.writer.lock();
        let old = self.get();
        let (hi, lo, meta) = split(addr);
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.hi.store(hi, Ordering::Relaxed);
        self.lo.store(lo, Ordering::Relaxed);
        self.meta.store(meta, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
        old
    }
}

fn split(addr: SocketAddr) -> (u64, u64, u32) {
    let port = u32::from(addr.port());
    match addr.ip() {
        IpAddr::V4(ip) => (0, u64::from(u32::from(ip)), port),
        IpAddr::V6(ip) => {
            let bits = u128::from(ip);
            ((bits >> 64) as u64, bits as u64, port | V6)
        }
    }
}

fn join(hi: u64, lo: u64, meta: u32) -> SocketAddr {
    let port = meta as u16;
    let ip = if meta & V6 != 0 {
        IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo)))
    } else {
        IpAddr::V4(Ipv4Addr::from(lo as u32))
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_both_families() {
        for a in [
            "127.0.0.1:80",
            "[::1]:8443",
            "[2001:db8::1:2]:1",
            "0.0.0.0:0",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let c = AddrCell::new("127.0.0.9:1".parse().unwrap());
            c.set(a);
            assert_eq!(c.get(), a);
        }
    }

    /// A reader never sees half of one address and half of another.
    #[test]
    fn readers_never_see_a_torn_address() {
        let a: SocketAddr = "127.0.0.1:1111".parse().unwrap();
        let b: SocketAddr = "[2001:db8::ffff:1]:2222".parse().unwrap();
        let cell = Arc::new(AddrCell::new(a));
        let writer = {
            let cell = cell.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    cell.set(if i % 2 == 0 { b } else { a });
                }
            })
        };
        for _ in 0..200_000 {
            let got = cell.get();
            assert!(got == a || got == b, "{got}");
        }
        writer.join().unwrap();
    }
}
