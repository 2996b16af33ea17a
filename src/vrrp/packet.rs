//! The VRRPv3 advertisement (RFC 5798 §5, IPv4): encoding one for the raw
//! socket to send, and checking and decoding what the raw socket received
//! (the IPv4 header included, as Linux hands it to raw sockets).
//!
//!  0                   1                   2                   3
//!  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//!  |(rsvd) |     Max Adver Int     |          Checksum             |
//!  |                     IPv4 Address(es)                          |
//!
//! The checksum covers the VRRP message and the IPv4 pseudo-header
//! (source, destination, zero, protocol 112, length), as keepalived
//! computes it since 1.3.6.

use std::net::Ipv4Addr;

/// IP protocol number of VRRP.
pub(crate) const PROTO_VRRP: u8 = 112;
/// Where adverts go without `unicast_peer` (RFC 5798 §5.1.1.2).
pub(crate) const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The only TTL sent and accepted: a packet with less was routed, so it
/// did not come from this LAN (RFC 5798 §5.1.1.3).
pub(crate) const VRRP_TTL: u8 = 255;
const VERSION: u8 = 3;
const TYPE_ADVERTISEMENT: u8 = 1;
/// Fixed part of the message, before the addresses.
const FIXED_LEN: usize = 8;
const MIN_IP_HEADER: usize = 20;
/// The interval field has 12 bits.
pub(crate) const MAX_INTERVAL_CENTIS: u16 = 0x0fff;

/// One advertisement, as the state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advert {
    pub vrid: u8,
    /// 0 = the master is stopping; 255 = the address owner.
    pub priority: u8,
    /// Max Adver Int, in centiseconds (1..=4095).
    pub interval_cs: u16,
    pub addrs: Vec<Ipv4Addr>,
}

/// A checked advertisement and the IPv4 addresses it travelled between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub advert: Advert,
}

/// Why a received packet is dropped (logged at debug level: a LAN may
/// carry other routers' VRRP traffic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Shorter than an IPv4 header plus the fixed VRRP fields, or than the
    /// lengths it announces.
    Truncated {
        len: usize,
    },
    NotIpv4 {
        version: u8,
    },
    Protocol(u8),
    /// Routed on its way here (RFC 5798 §7.1).
    Ttl(u8),
    /// VRRPv2 (keepalived's default without `vrrp_version 3`) or other.
    Version(u8),
    Type(u8),
    Checksum {
        got: u16,
        want: u16,
    },
    /// An interval of zero would make the master-down timer meaningless.
    ZeroInterval,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { len } => write!(f, "truncated packet ({len} bytes)"),
            DecodeError::NotIpv4 { version } => write!(f, "IP version {version}, not 4"),
            DecodeError::Protocol(p) => write!(f, "IP protocol {p}, not 112"),
            DecodeError::Ttl(t) => write!(f, "TTL {t}, not 255 (routed packet)"),
            DecodeError::Version(v) => write!(
                f,
                "VRRP version {v}, not 3 (a keepalived peer needs 'vrrp_version 3')"
            ),
            DecodeError::Type(t) => write!(f, "VRRP type {t}, not an advertisement"),
            DecodeError::Checksum { got, want } => {
                write!(f, "bad checksum {got:#06x} (expected {want:#06x})")
            }
            DecodeError::ZeroInterval => write!(f, "advertisement interval of 0"),
        }
    }
}

impl Advert {
    /// The message (no IP header) as sent from `src` to `dst`; the kernel
    /// adds the IPv4 header, whose addresses the checksum covers.
    pub(crate) fn encode(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let count = self.addrs.len().min(usize::from(u8::MAX));
        let mut out = Vec::with_capacity(FIXED_LEN + 4 * count);
        out.push(VERSION << 4 | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count as u8);
        out.extend_from_slice(&(self.interval_cs & MAX_INTERVAL_CENTIS).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for a in &self.addrs[..count] {
            out.extend_from_slice(&a.octets());
        }
        let sum = checksum(src, dst, &out);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        out
    }
}

/// Checks and decodes a packet as a raw IPv4 socket receives it: the IPv4
/// header, then the VRRP message. Never panics, whatever the bytes.
pub(crate) fn decode_ip(packet: &[u8]) -> Result<Received, DecodeError> {
    let truncated = DecodeError::Truncated { len: packet.len() };
    if packet.len() < MIN_IP_HEADER {
        return Err(truncated);
    }
    let version = packet[0] >> 4;
    if version != 4 {
        return Err(DecodeError::NotIpv4 { version });
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if ihl < MIN_IP_HEADER || total < ihl || total > packet.len() {
        return Err(truncated);
    }
    if packet[9] != PROTO_VRRP {
        return Err(DecodeError::Protocol(packet[9]));
    }
    if packet[8] != VRRP_TTL {
        return Err(DecodeError::Ttl(packet[8]));
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let advert = decode(&packet[ihl..total], src, dst)?;
    Ok(Received { src, dst, advert })
}

/// Checks and decodes a VRRP message that travelled from `src` to `dst`.
pub(crate) fn decode(msg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Advert, DecodeError> {
    if msg.len() < FIXED_LEN {
        return Err(DecodeError::Truncated { len: msg.len() });
    }
    let version = msg[0] >> 4;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let kind = msg[0] & 0x0f;
    if kind != TYPE_ADVERTISEMENT {
        return Err(DecodeError::Type(kind));
    }
    let count = usize::from(msg[3]);
    if msg.len() < FIXED_LEN + 4 * count {
        return Err(DecodeError::Truncated { len: msg.len() });
    }
    // Summing the message with its checksum in place gives 0 when intact.
    if checksum(src, dst, msg) != 0 {
        let got = u16::from_be_bytes([msg[6], msg[7]]);
        let mut zeroed = msg.to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        let want = checksum(src, dst, &zeroed);
        return Err(DecodeError::Checksum { got, want });
    }
    let interval_cs = u16::from_be_bytes([msg[4], msg[5]]) & MAX_INTERVAL_CENTIS;
    if interval_cs == 0 {
        return Err(DecodeError::ZeroInterval);
    }
    let addrs = msg[FIXED_LEN..FIXED_LEN + 4 * count]
        .chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        .collect();
    Ok(Advert {
        vrid: msg[1],
        priority: msg[2],
        interval_cs,
        addrs,
    })
}

/// The Internet checksum (RFC 1071) of the IPv4 pseudo-header for a
/// protocol-112 message of `msg`'s length, followed by `msg`.
pub(crate) fn checksum(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&[0, PROTO_VRRP]);
    add(&(msg.len() as u16).to_be_bytes());
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);

    fn advert() -> Advert {
        Advert {
            vrid: 51,
            priority: 150,
            interval_cs: 10,
            addrs: vec![Ipv4Addr::new(198, 51, 100, 100)],
        }
    }

    /// What the kernel puts in front of the message on receipt.
    fn ip_packet(msg: &[u8], ttl: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let total = (20 + msg.len()) as u16;
        let mut p = vec![0x45, 0xc0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0x40, 0, ttl, PROTO_VRRP, 0, 0]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(msg);
        p
    }

    #[test]
    fn encodes_the_rfc_layout() {
        let msg = advert().encode(SRC, MULTICAST_GROUP);
        assert_eq!(msg.len(), 12);
        assert_eq!(&msg[..6], &[0x31, 51, 150, 1, 0, 10]);
        assert_eq!(&msg[8..], &[198, 51, 100, 100]);
        // Checksum by hand: pseudo-header words + message words, folded.
        let words: [u32; 12] = [
            0xc633, 0x640b, 0xe000, 0x0012, 0x0070, 0x000c, 0x3133, 0x9601, 0x000a, 0x0000, 0xc633,
            0x6464,
        ];
        let mut sum: u32 = words.iter().sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), !(sum as u16));
    }

    #[test]
    fn round_trips_through_an_ip_packet() {
        let mut a = advert();
        a.addrs.push(Ipv4Addr::new(198, 51, 100, 101));
        a.interval_cs = MAX_INTERVAL_CENTIS;
        let p = ip_packet(&a.encode(SRC, MULTICAST_GROUP), 255, SRC, MULTICAST_GROUP);
        let r = decode_ip(&p).unwrap();
        assert_eq!((r.src, r.dst, r.advert), (SRC, MULTICAST_GROUP, a));
        // Unicast: the destination is part of the checksum.
        let peer = Ipv4Addr::new(198, 51, 100, 12);
        let p = ip_packet(&advert().encode(SRC, peer), 255, SRC, peer);
        assert_eq!(decode_ip(&p).unwrap().dst, peer);
    }

    #[test]
    fn refuses_what_the_rfc_says_to_drop() {
        let good = advert().encode(SRC, MULTICAST_GROUP);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut m = good.clone();
            f(&mut m);
            m
        };
        let other = Ipv4Addr::new(198, 51, 100, 99);
        // (description, packet, expected error)
        let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
            (
                "routed (TTL 254)",
                ip_packet(&good, 254, SRC, MULTICAST_GROUP),
                DecodeError::Ttl(254),
            ),
            (
                "VRRPv2",
                ip_packet(&with(&|m| m[0] = 0x21), 255, SRC, MULTICAST_GROUP),
                DecodeError::Version(2),
            ),
            (
                "not an advertisement",
                ip_packet(&with(&|m| m[0] = 0x32), 255, SRC, MULTICAST_GROUP),
                DecodeError::Type(2),
            ),
            (
                "flipped priority",
                ip_packet(&with(&|m| m[2] = 200), 255, SRC, MULTICAST_GROUP),
                DecodeError::Checksum {
                    got: u16::from_be_bytes([good[6], good[7]]),
                    want: checksum(
                        SRC,
                        MULTICAST_GROUP,
                        &with(&|m| {
                            m[2] = 200;
                            m[6..8].copy_from_slice(&[0, 0]);
                        }),
                    ),
                },
            ),
            (
                "count beyond the data",
                ip_packet(&with(&|m| m[3] = 2), 255, SRC, MULTICAST_GROUP),
                DecodeError::Truncated { len: 12 },
            ),
            (
                "short",
                ip_packet(&good[..6], 255, SRC, MULTICAST_GROUP),
                DecodeError::Truncated { len: 6 },
            ),
            (
                "IP header only",
                ip_packet(&[], 255, SRC, MULTICAST_GROUP)[..19].to_vec(),
                DecodeError::Truncated { len: 19 },
            ),
            (
                "other protocol",
                {
                    let mut p = ip_packet(&good, 255, SRC, MULTICAST_GROUP);
                    p[9] = 17;
                    p
                },
                DecodeError::Protocol(17),
            ),
        ];
        for (desc, packet, expected) in cases {
            assert_eq!(decode_ip(&packet), Err(expected), "{desc}");
        }
        // A message checksummed for another source fails: the pseudo-header counts.
        let p = ip_packet(&good, 255, other, MULTICAST_GROUP);
        assert!(matches!(decode_ip(&p), Err(DecodeError::Checksum { .. })));
        // Zero interval, correctly checksummed.
        let mut a = advert();
        a.interval_cs = 0;
        let p = ip_packet(&a.encode(SRC, MULTICAST_GROUP), 255, SRC, MULTICAST_GROUP);
        assert_eq!(decode_ip(&p), Err(DecodeError::ZeroInterval));
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every length and a walking byte pattern: errors, never a panic.
        let base = ip_packet(
            &advert().encode(SRC, MULTICAST_GROUP),
            255,
            SRC,
            MULTICAST_GROUP,
        );
        for len in 0..=base.len() {
            let _ = decode_ip(&base[..len]);
        }
        for i in 0..base.len() {
            for v in [0u8, 0x0f, 0x45, 0xff] {
                let mut p = base.clone();
                p[i] = v;
                let _ = decode_ip(&p);
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn advert() -> impl Strategy<Value = Advert> {
            (
                any::<u8>(),
                any::<u8>(),
                1..=MAX_INTERVAL_CENTIS,
                proptest::collection::vec(any::<[u8; 4]>(), 0..20),
            )
                .prop_map(|(vrid, priority, interval_cs, addrs)| Advert {
                    vrid,
                    priority,
                    interval_cs,
                    addrs: addrs.into_iter().map(Ipv4Addr::from).collect(),
                })
        }

        proptest! {
            /// Whatever arrives on the raw socket: an error or an
            /// advertisement, never a panic.
            #[test]
            fn any_packet_decodes_or_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = decode_ip(&bytes);
                let _ = decode(&bytes, SRC, MULTICAST_GROUP);
            }

            /// What splicer sends, a peer reads back as sent; one byte
            /// changed anywhere in it is refused or read otherwise, never
            /// a panic.
            #[test]
            fn adverts_round_trip_and_damage_is_caught(
                a in advert(),
                at in any::<usize>(),
                flip in 1..=255u8,
            ) {
                let msg = a.encode(SRC, MULTICAST_GROUP);
                let packet = ip_packet(&msg, VRRP_TTL, SRC, MULTICAST_GROUP);
                let got = decode_ip(&packet);
                prop_assert_eq!(
                    got,
                    Ok(Received { src: SRC, dst: MULTICAST_GROUP, advert: a.clone() })
                );
                let mut damaged = packet.clone();
                let i = 20 + at % msg.len();
                damaged[i] ^= flip;
                // The checksum covers the whole message: a change in it is
                // always refused.
                prop_assert!(decode_ip(&damaged).is_err(), "byte {} changed", i);
            }
        }
    }
}
