//! The few rtnetlink requests VRRP needs, over a NETLINK_ROUTE socket:
//! an interface's index, flags and MAC address (RTM_GETLINK), its IPv4
//! addresses (RTM_GETADDR), and adding or removing a virtual IP
//! (RTM_NEWADDR, RTM_DELADDR) as `ip addr add|del` would, without running
//! `ip`. Messages are built and parsed as bytes; a malformed answer from
//! the kernel is an error, never a panic.

use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Vip;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_SECONDARY: u8 = 0x01;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
/// A kernel that does not answer within this is treated as an error
/// rather than blocking the VRRP thread.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
const RECV_BUFFER: usize = 64 * 1024;

/// What RTM_GETLINK says about an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    /// Administratively up (`ip link set up`).
    pub up: bool,
    /// Operationally up: carrier present (IFF_RUNNING).
    pub running: bool,
    pub mac: Option<[u8; 6]>,
}

/// One IPv4 address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Added after another address of the same subnet (not primary).
    pub secondary: bool,
}

pub(crate) struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub(crate) fn open() -> io::Result<Netlink> {
        let sock = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW,
            Some(Protocol::from(libc::NETLINK_ROUTE)),
        )?;
        sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Netlink {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// The interface called `name`; `None` when there is none.
    pub(crate) fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut body = vec![0u8; IFINFOMSG_LEN];
        body[0] = libc::AF_UNSPEC as u8;
        let mut ifname = name.as_bytes().to_vec();
        ifname.push(0);
        push_attr(&mut body, IFLA_IFNAME, &ifname);
        match self.request(RTM_GETLINK, NLM_F_REQUEST, &body) {
            Ok(msgs) => Ok(msgs
                .iter()
                .find(|(t, _)| *t == RTM_NEWLINK)
                .and_then(|(_, p)| parse_link(p))),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The IPv4 addresses of interface `index`, primary ones first in the
    /// kernel's order.
    pub(crate) fn addrs(&mut self, index: u32) -> io::Result<Vec<Addr>> {
        let mut body = vec![0u8; IFADDRMSG_LEN];
        body[0] = libc::AF_INET as u8;
        let msgs = self.request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &body)?;
        Ok(msgs
            .iter()
            .filter(|(t, _)| *t == RTM_NEWADDR)
            .filter_map(|(_, p)| parse_addr(p))
            .filter(|(i, _)| *i == index)
            .map(|(_, a)| a)
            .collect())
    }

    /// `ip addr add VIP dev IF`; `Ok(false)` when it was already there.
    pub(crate) fn add_addr(&mut self, index: u32, vip: Vip) -> io::Result<bool> {
        let body = addr_body(index, vip.addr, vip.prefix, true);
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        match self.request(RTM_NEWADDR, flags, &body) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip addr del ADDR dev IF`, whatever its prefix; `Ok(false)` when it
    /// was not there.
    pub(crate) fn del_addr(&mut self, index: u32, addr: Ipv4Addr) -> io::Result<bool> {
        // Without IFA_ADDRESS the kernel matches on the local address only.
        let body = addr_body(index, addr, 0, false);
        match self.request(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, &body) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one request and collects the answers with its sequence number
    /// until the ACK, the end of a dump, or a single reply. A negative
    /// NLMSG_ERROR becomes that errno.
    fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = (NLMSG_HDR + body.len()) as u32;
        let mut msg = Vec::with_capacity(len as usize);
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        self.sock.send(&msg)?;
        let mut out = Vec::new();
        loop {
            let n = (&self.sock).read(&mut self.buf)?;
            let mut done = false;
            for m in messages(&self.buf[..n]) {
                let m = m?;
                if m.seq != seq {
                    continue; // a late answer to an earlier request
                }
                match m.kind {
                    NLMSG_ERROR => {
                        let errno = m
                            .payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .ok_or_else(|| malformed("short NLMSG_ERROR"))?;
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                        done = true;
                    }
                    NLMSG_DONE => done = true,
                    kind => {
                        out.push((kind, m.payload.to_vec()));
                        // A single answer (no dump, no ACK asked) ends here.
                        done |= m.flags & NLM_F_MULTI == 0 && flags & NLM_F_ACK == 0;
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"))
}

struct Message<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

/// The netlink messages in one datagram.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDR {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDR || len > buf.len() {
            buf = &[];
            return Some(Err(malformed("bad message length")));
        }
        let m = Message {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[NLMSG_HDR..len],
        };
        buf = buf.get(align(len)..).unwrap_or(&[]);
        Some(Ok(m))
    })
}

/// The (type, data) attributes after a fixed header; stops at the first
/// malformed one.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = buf.get(align(len)..).unwrap_or(&[]);
        Some((kind, data))
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn push_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = (4 + data.len()) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(align(out.len()), 0);
}

fn addr_body(index: u32, addr: Ipv4Addr, prefix: u8, with_address: bool) -> Vec<u8> {
    let mut body = vec![libc::AF_INET as u8, prefix, 0, libc::RT_SCOPE_UNIVERSE];
    body.extend_from_slice(&index.to_ne_bytes());
    push_attr(&mut body, IFA_LOCAL, &addr.octets());
    if with_address {
        push_attr(&mut body, IFA_ADDRESS, &addr.octets());
    }
    body
}

fn parse_link(p: &[u8]) -> Option<Link> {
    let head = p.get(..IFINFOMSG_LEN)?;
    let index = i32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    let flags = u32::from_ne_bytes([head[8], head[9], head[10], head[11]]);
    let mac = attrs(&p[IFINFOMSG_LEN..])
        .find(|(k, _)| *k == IFLA_ADDRESS)
        .and_then(|(_, d)| <[u8; 6]>::try_from(d).ok());
    Some(Link {
        index: u32::try_from(index).ok()?,
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        mac,
    })
}

/// (interface index, address) of an RTM_NEWADDR payload, IPv4 only.
fn parse_addr(p: &[u8]) -> Option<(u32, Addr)> {
    let head = p.get(..IFADDRMSG_LEN)?;
    if head[0] != libc::AF_INET as u8 {
        return None;
    }
    let index = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    let mut local = None;
    let mut address = None;
    for (k, d) in attrs(&p[IFADDRMSG_LEN..]) {
        let ip = <[u8; 4]>::try_from(d).ok().map(Ipv4Addr::from);
        match k {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            _ => {}
        }
    }
    Some((
        index,
        Addr {
            addr: local.or(address)?,
            prefix: head[1],
            secondary: head[2] & IFA_F_SECONDARY != 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align(m.len()), 0);
        m
    }

    #[test]
    fn parses_addresses_and_links() {
        let mut a = addr_body(7, Ipv4Addr::new(198, 51, 100, 100), 24, true);
        a[2] = IFA_F_SECONDARY;
        let (index, addr) = parse_addr(&a).unwrap();
        assert_eq!(index, 7);
        assert_eq!(
            addr,
            Addr {
                addr: Ipv4Addr::new(198, 51, 100, 100),
                prefix: 24,
                secondary: true
            }
        );
        let mut l = vec![0u8; IFINFOMSG_LEN];
        l[4..8].copy_from_slice(&3i32.to_ne_bytes());
        l[8..12].copy_from_slice(&(IFF_UP | 0x1000).to_ne_bytes());
        push_attr(&mut l, IFLA_IFNAME, b"eth0\0");
        push_attr(&mut l, IFLA_ADDRESS, &[2, 0, 0, 0, 0, 1]);
        let link = parse_link(&l).unwrap();
        assert_eq!(
            link,
            Link {
                index: 3,
                up: true,
                running: false,
                mac: Some([2, 0, 0, 0, 0, 1])
            }
        );
    }

    #[test]
    fn splits_a_datagram_and_survives_garbage() {
        let mut dgram = nlmsg(RTM_NEWADDR, NLM_F_MULTI, 5, &[1, 2, 3]);
        dgram.extend(nlmsg(NLMSG_DONE, NLM_F_MULTI, 5, &[0; 4]));
        let kinds: Vec<(u16, u32, usize)> = messages(&dgram)
            .map(|m| m.unwrap())
            .map(|m| (m.kind, m.seq, m.payload.len()))
            .collect();
        assert_eq!(kinds, [(RTM_NEWADDR, 5, 3), (NLMSG_DONE, 5, 4)]);
        // A length beyond the datagram is an error, then the end.
        let mut bad = dgram.clone();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        let r: Vec<_> = messages(&bad).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        // Truncations of every length never panic.
        for n in 0..dgram.len() {
            for m in messages(&dgram[..n]).flatten() {
                let _ = parse_addr(m.payload);
                let _ = parse_link(m.payload);
            }
        }
        let a = addr_body(7, Ipv4Addr::new(198, 51, 100, 100), 24, true);
        for n in 0..a.len() {
            let _ = parse_addr(&a[..n]);
        }
    }
}
