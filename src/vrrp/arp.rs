//! Gratuitous ARP over an AF_PACKET socket: after taking a virtual IP, the
//! new master broadcasts "VIP is at my MAC" so that hosts and switches
//! forget the old master's MAC at once (RFC 5798 §6.4.2). Several are sent,
//! spaced, in case the first is lost; [`Schedule`] says when.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Gratuitous ARPs per VIP after becoming master (keepalived: 5).
pub(crate) const GARP_REPEAT: u32 = 5;
/// Time between two of them.
pub(crate) const GARP_SPACING: Duration = Duration::from_millis(200);
const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

/// An ARP request from `mac` for `ip` about `ip` itself (sender and target
/// protocol addresses equal): Linux and switches take it as an update of
/// the address's MAC (RFC 5227 "ARP announcement").
pub(crate) fn announcement(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    // Target hardware address stays zero (RFC 5227).
    p[24..28].copy_from_slice(&ip.octets());
    p
}

/// A datagram packet socket that only sends: the kernel adds the
/// Ethernet header from the destination address. Protocol 0 receives
/// nothing, so the host's ARP traffic does not pile up in it.
pub(crate) fn open() -> io::Result<Socket> {
    let s = Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0)))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Broadcasts one announcement of `ip` on interface `ifindex`.
pub(crate) fn send(sock: &Socket, ifindex: u32, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
    sock.send_to(&announcement(mac, ip), &broadcast_addr(ifindex))
        .map(|_| ())
}

/// The link-layer broadcast address of interface `ifindex`, for ARP.
fn broadcast_addr(ifindex: u32) -> SockAddr {
    crate::sys::link_addr(ifindex, ETH_P_ARP, BROADCAST)
}

/// When the next announcements are due after taking the VIPs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    left: u32,
    next: Option<Instant>,
}

impl Schedule {
    /// Starts a round: the first one is due now.
    pub(crate) fn start(now: Instant) -> Schedule {
        Schedule {
            left: GARP_REPEAT,
            next: Some(now),
        }
    }

    pub(crate) fn cancel(&mut self) {
        *self = Schedule::default();
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Whether a round of announcements is due at `now` (and books the next).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        match self.next {
            Some(t) if now >= t && self.left > 0 => {
                self.left -= 1;
                self.next = (self.left > 0).then(|| now + GARP_SPACING);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_layout() {
        let p = announcement([2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 51, 100, 100));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&p[14..18], &[198, 51, 100, 100]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[198, 51, 100, 100]);
    }

    #[test]
    fn schedule_sends_the_repeats_spaced() {
        let t0 = Instant::now();
        let mut s = Schedule::start(t0);
        let mut sent = Vec::new();
        let mut t = t0;
        while let Some(next) = s.deadline() {
            assert!(!s.due(next - Duration::from_millis(1)), "due early");
            t = next;
            assert!(s.due(t));
            sent.push(t - t0);
        }
        let spaced: Vec<Duration> = (0..GARP_REPEAT).map(|i| GARP_SPACING * i).collect();
        assert_eq!(sent, spaced);
        assert!(!s.due(t + Duration::from_secs(10)));
        let mut s = Schedule::start(t0);
        s.cancel();
        assert!(!s.due(t0));
    }
}
