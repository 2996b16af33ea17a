//! The PROXY protocol (v1 text and v2 binary, as HAProxy specifies it):
//! headers written to servers (`send-proxy`, `send-proxy-v2`) and read from
//! clients on binds with `accept-proxy`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::config::ProxyVersion;

/// The 12 bytes every v2 header starts with.
pub(crate) const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 line is at most this long, CRLF included.
pub(crate) const V1_MAX_LEN: usize = 107;
/// Bytes to peek at to be sure of reading any header splicer accepts
/// (v2 with IPv6 addresses and some TLVs).
pub(crate) const MAX_HEADER_LEN: usize = 536;

/// What a header says about the connection. `None` addresses mean the
/// sender did not relay a client (v1 `UNKNOWN`, v2 `LOCAL`): the real
/// connection's addresses apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not a PROXY header at all.
    NotProxy,
    /// Starts like one but is malformed; the string says where.
    Malformed(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotProxy => write!(f, "no PROXY protocol header"),
            ParseError::Malformed(what) => write!(f, "malformed PROXY protocol header: {what}"),
        }
    }
}

/// Both addresses in one family: an IPv4 peer on an IPv6 socket becomes an
/// IPv4-mapped IPv6 address, as HAProxy does.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (v6(src), v6(dst))
    }
}

/// The header for a connection with no address to relay: v1 `UNKNOWN`,
/// v2 `LOCAL` with no address (`UNSPEC`).
pub(crate) fn encode_unknown(version: ProxyVersion) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => b"PROXY UNKNOWN\r\n".to_vec(),
        ProxyVersion::V2 => {
            let mut out = V2_SIGNATURE.to_vec();
            out.push(0x20); // version 2, command LOCAL
            out.push(0x00); // UNSPEC
            out.extend_from_slice(&0u16.to_be_bytes());
            out
        }
    }
}

/// The header to send to a server for a client `src` that connected to `dst`.
pub(crate) fn encode(version: ProxyVersion, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (src, dst) = same_family(src, dst);
    match version {
        ProxyVersion::V1 => {
            let fam = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {fam} {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            )
            .into_bytes()
        }
        ProxyVersion::V2 => {
            let mut out = Vec::with_capacity(16 + 36);
            out.extend_from_slice(&V2_SIGNATURE);
            out.push(0x21); // version 2, command PROXY
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.push(0x11); // AF_INET, STREAM
                    out.extend_from_slice(&12u16.to_be_bytes());
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    let v6 = |ip: IpAddr| match ip {
                        IpAddr::V6(v) => v,
                        IpAddr::V4(v) => v.to_ipv6_mapped(),
                    };
                    out.push(0x21); // AF_INET6, STREAM
                    out.extend_from_slice(&36u16.to_be_bytes());
                    out.extend_from_slice(&v6(s).octets());
                    out.extend_from_slice(&v6(d).octets());
                }
            }
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
            out
        }
    }
}

/// Parses a header at the start of `buf`. `Ok(None)`: not enough bytes yet.
/// `Ok(Some((header, len)))`: the header is the first `len` bytes.
/// Where `parse` found `buf` wrong: the byte whose arrival turned "not
/// complete yet" into an error (the shortest prefix that fails, less
/// one); `buf.len()` when no prefix fails.
pub(crate) fn error_position(buf: &[u8]) -> usize {
    (1..=buf.len())
        .find(|&k| parse(&buf[..k]).is_err())
        .map_or(buf.len(), |k| k - 1)
}

pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, ParseError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if buf.len() < 16 {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return if buf.len() < 6 {
            Ok(None)
        } else {
            parse_v1(buf)
        };
    }
    Err(ParseError::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(Header, usize)>, ParseError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX_LEN {
            Err(ParseError::Malformed("v1 line too long"))
        } else {
            Ok(None)
        };
    };
    let line =
        std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::Malformed("v1 not text"))?;
    let words: Vec<&str> = line.split(' ').collect();
    let header = match words.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Header {
            source: None,
            destination: None,
        },
        ["PROXY", fam @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| {
                s.parse::<IpAddr>()
                    .map_err(|_| ParseError::Malformed("v1 address"))
            };
            let port = |s: &str| {
                if s.len() > 1 && s.starts_with('0') {
                    return Err(ParseError::Malformed("v1 port with leading zero"));
                }
                s.parse::<u16>()
                    .map_err(|_| ParseError::Malformed("v1 port"))
            };
            let (src, dst) = (ip(src)?, ip(dst)?);
            if src.is_ipv4() != (*fam == "TCP4") || dst.is_ipv4() != (*fam == "TCP4") {
                return Err(ParseError::Malformed("v1 address family"));
            }
            Header {
                source: Some(SocketAddr::new(src, port(sport)?)),
                destination: Some(SocketAddr::new(dst, port(dport)?)),
            }
        }
        _ => return Err(ParseError::Malformed("v1 fields")),
    };
    Ok(Some((header, end + 2)))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(Header, usize)>, ParseError> {
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(ParseError::Malformed("v2 version"));
    }
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let total = 16 + len;
    if total > MAX_HEADER_LEN {
        return Err(ParseError::Malformed("v2 header too long"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[16..total];
    let local = Header {
        source: None,
        destination: None,
    };
    let header = match ver_cmd & 0x0f {
        0 => local,
        1 => match buf[13] {
            0x11 | 0x12 if len >= 12 => {
                let ip = |o: usize| IpAddr::from([body[o], body[o + 1], body[o + 2], body[o + 3]]);
                let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
                Header {
                    source: Some(SocketAddr::new(ip(0), port(8))),
                    destination: Some(SocketAddr::new(ip(4), port(10))),
                }
            }
            0x21 | 0x22 if len >= 36 => {
                let ip = |o: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&body[o..o + 16]);
                    IpAddr::V6(Ipv6Addr::from(a))
                };
                let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
                Header {
                    source: Some(SocketAddr::new(ip(0), port(32))),
                    destination: Some(SocketAddr::new(ip(16), port(34))),
                }
            }
            // UNSPEC or unix sockets: keep the real connection's addresses.
            0x00 | 0x31 | 0x32 => local,
            _ => return Err(ParseError::Malformed("v2 address family or length")),
        },
        _ => return Err(ParseError::Malformed("v2 command")),
    };
    Ok(Some((header, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_headers_read_back_as_no_address() {
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            let bytes = encode_unknown(v);
            let (h, used) = parse(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len(), "{v:?}");
            let none = Header {
                source: None,
                destination: None,
            };
            assert_eq!(h, none, "{v:?}");
        }
        assert_eq!(encode_unknown(ProxyVersion::V1), b"PROXY UNKNOWN\r\n");
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_encoding_is_exact() {
        let cases = [
            (
                "ipv4",
                sa("127.0.0.1:5000"),
                sa("127.0.0.2:80"),
                "PROXY TCP4 127.0.0.1 127.0.0.2 5000 80\r\n",
            ),
            (
                "ipv6",
                sa("[::1]:5000"),
                sa("[::2]:443"),
                "PROXY TCP6 ::1 ::2 5000 443\r\n",
            ),
            (
                "mixed",
                sa("127.0.0.1:1"),
                sa("[::1]:2"),
                "PROXY TCP6 ::ffff:127.0.0.1 ::1 1 2\r\n",
            ),
        ];
        for (what, src, dst, want) in cases {
            assert_eq!(
                String::from_utf8(encode(ProxyVersion::V1, src, dst)).unwrap(),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn v2_encoding_is_exact() {
        let got = encode(ProxyVersion::V2, sa("127.0.0.1:5000"), sa("127.0.0.2:80"));
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[
            0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 2, 0x13, 0x88, 0, 80,
        ]);
        assert_eq!(got, want);
        let v6 = encode(ProxyVersion::V2, sa("[::1]:1"), sa("[::2]:2"));
        assert_eq!(v6.len(), 16 + 36);
        assert_eq!(&v6[12..16], &[0x21, 0x21, 0, 36]);
    }

    #[test]
    fn parse_round_trips_and_reports_length() {
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            for (src, dst) in [
                (sa("127.0.0.9:1234"), sa("127.0.0.1:80")),
                (sa("[::1]:1"), sa("[::3]:9")),
            ] {
                let mut bytes = encode(v, src, dst);
                let len = bytes.len();
                bytes.extend_from_slice(b"GET / HTTP/1.0\r\n");
                let (h, n) = parse(&bytes).unwrap().unwrap();
                assert_eq!(
                    (h.source, h.destination, n),
                    (Some(src), Some(dst), len),
                    "{v:?}"
                );
                for cut in 0..len {
                    assert_eq!(
                        parse(&bytes[..cut]),
                        Ok(None),
                        "{v:?} cut at {cut} needs more bytes"
                    );
                }
            }
        }
    }

    #[test]
    fn parse_rejects_garbage() {
        let cases: &[(&str, &[u8], ParseError)] = &[
            ("plain http", b"GET / HTTP/1.1\r\n", ParseError::NotProxy),
            (
                "bad v1 family",
                b"PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n",
                ParseError::Malformed("v1 fields"),
            ),
            (
                "v1 port overflow",
                b"PROXY TCP4 127.0.0.1 127.0.0.2 70000 2\r\n",
                ParseError::Malformed("v1 port"),
            ),
            (
                "v1 family mismatch",
                b"PROXY TCP4 ::1 ::2 1 2\r\n",
                ParseError::Malformed("v1 address family"),
            ),
        ];
        for (what, input, want) in cases {
            assert_eq!(parse(input), Err(want.clone()), "{what}");
        }
        let endless = [b"PROXY ".as_slice(), &[b'A'; 120]].concat();
        assert_eq!(
            parse(&endless),
            Err(ParseError::Malformed("v1 line too long"))
        );
        let mut bad_cmd = V2_SIGNATURE.to_vec();
        bad_cmd.extend_from_slice(&[0x2f, 0x11, 0, 0]);
        assert_eq!(parse(&bad_cmd), Err(ParseError::Malformed("v2 command")));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            parse(&local),
            Ok(Some((
                Header {
                    source: None,
                    destination: None
                },
                16
            )))
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn addr() -> impl Strategy<Value = SocketAddr> {
            prop_oneof![
                (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
                (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            ]
        }

        /// Bytes a client may send first: a real header, one that starts
        /// right and goes wrong, or anything.
        fn opening() -> impl Strategy<Value = Vec<u8>> {
            let junk = proptest::collection::vec(any::<u8>(), 0..200);
            prop_oneof![
                (any::<bool>(), addr(), addr(), junk.clone()).prop_map(|(v2, s, d, rest)| {
                    let v = if v2 {
                        ProxyVersion::V2
                    } else {
                        ProxyVersion::V1
                    };
                    [encode(v, s, d), rest].concat()
                }),
                junk.clone()
                    .prop_map(|rest| [b"PROXY ".to_vec(), rest].concat()),
                junk.clone()
                    .prop_map(|rest| [b"PROXY TCP4 127.0.0.1 ".to_vec(), rest].concat()),
                junk.clone()
                    .prop_map(|rest| [V2_SIGNATURE.to_vec(), rest].concat()),
                junk,
            ]
        }

        proptest! {
            /// Whatever a client sends, in whatever reads it arrives: no
            /// panic, and a prefix that decides (a header, an error)
            /// decides as the whole does; one that does not, asks for more.
            #[test]
            fn any_split_of_any_bytes_decides_as_the_whole(bytes in opening()) {
                let whole = parse(&bytes);
                for cut in 0..=bytes.len() {
                    match parse(&bytes[..cut]) {
                        Ok(None) => {}
                        decided => prop_assert_eq!(&decided, &whole, "cut at {}", cut),
                    }
                }
                if let Ok(Some((_, n))) = whole {
                    prop_assert!(n <= bytes.len());
                }
            }

            /// `show errors`' error position: the bytes before it still
            /// read as a header to come, the byte at it makes them wrong.
            #[test]
            fn the_error_position_is_where_the_bytes_went_wrong(bytes in opening()) {
                let at = error_position(&bytes);
                if parse(&bytes).is_err() {
                    prop_assert!(at < bytes.len());
                    prop_assert!(parse(&bytes[..at]).is_ok());
                    prop_assert!(parse(&bytes[..=at]).is_err());
                } else {
                    prop_assert_eq!(at, bytes.len());
                }
            }

            /// Every header splicer writes reads back as the addresses it
            /// carries (in one family, as written), with its exact length.
            #[test]
            fn headers_written_read_back(v2 in any::<bool>(), src in addr(), dst in addr()) {
                let v = if v2 { ProxyVersion::V2 } else { ProxyVersion::V1 };
                let bytes = encode(v, src, dst);
                let (s, d) = same_family(src, dst);
                let got = parse(&bytes);
                prop_assert_eq!(
                    got,
                    Ok(Some((Header { source: Some(s), destination: Some(d) }, bytes.len())))
                );
            }
        }
    }
}
