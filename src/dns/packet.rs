//! DNS messages (RFC 1035, RFC 2782 SRV, RFC 6891 OPT), only what the
//! resolver needs: a query for one name and type with an EDNS0 payload
//! size, and the answer and additional records of a response (A, AAAA,
//! SRV, CNAME; other types are skipped). Responses come from the network:
//! every read is bounds-checked, compression pointers may only point
//! backwards, and any malformed input is an error, never a panic.

use std::net::{Ipv4Addr, Ipv6Addr};

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_CNAME: u16 = 5;
pub(crate) const TYPE_AAAA: u16 = 28;
pub(crate) const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Header flags of a query: recursion desired.
const FLAG_RD: u16 = 0x0100;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const HEADER_LEN: usize = 12;
/// Longest name (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;

/// A response code (RFC 1035 4.1.1) the resolver tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rcode {
    NoError,
    NxDomain,
    Refused,
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Cname(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Lower case, without the final dot.
    pub name: String,
    pub data: Data,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub id: u16,
    pub rcode: Rcode,
    pub truncated: bool,
    /// The question, as the response repeats it (lower case).
    pub name: String,
    pub qtype: u16,
    pub answers: Vec<Record>,
    pub additional: Vec<Record>,
}

/// Why a datagram is not a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketError {
    Short,
    NotResponse,
    BadName,
    QuestionCount,
}

/// A query for `name` of `qtype`, announcing `payload` bytes of UDP
/// payload (EDNS0), as HAProxy sends.
pub(crate) fn query(id: u16, name: &str, qtype: u16, payload: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 16);
    for v in [id, FLAG_RD, 1, 0, 0, 1] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type, payload size as class, TTL 0, no data.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PacketError> {
        let end = self.pos.checked_add(n).ok_or(PacketError::Short)?;
        let s = self.buf.get(self.pos..end).ok_or(PacketError::Short)?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, PacketError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A name at the current position, following compression pointers.
    fn name(&mut self) -> Result<String, PacketError> {
        let (name, end) = read_name(self.buf, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

/// The name at `start` and where the bytes after it begin. Each pointer
/// must go strictly backwards, so reading always ends.
fn read_name(buf: &[u8], start: usize) -> Result<(String, usize), PacketError> {
    let mut name = String::new();
    let mut pos = start;
    let mut end = None;
    loop {
        let len = *buf.get(pos).ok_or(PacketError::Short)? as usize;
        match len & 0xC0 {
            0xC0 => {
                let low = *buf.get(pos + 1).ok_or(PacketError::Short)? as usize;
                let target = (len & 0x3F) << 8 | low;
                if target >= pos {
                    return Err(PacketError::BadName);
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            0 if len == 0 => break,
            0 => {
                let label = buf.get(pos + 1..pos + 1 + len).ok_or(PacketError::Short)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
                if name.len() > MAX_NAME {
                    return Err(PacketError::BadName);
                }
                pos += 1 + len;
            }
            _ => return Err(PacketError::BadName),
        }
    }
    Ok((name, end.unwrap_or(pos + 1)))
}

/// Reads a response datagram.
pub(crate) fn parse(buf: &[u8]) -> Result<Response, PacketError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & FLAG_QR == 0 {
        return Err(PacketError::NotResponse);
    }
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    if counts[0] != 1 {
        return Err(PacketError::QuestionCount);
    }
    let name = r.name()?;
    let qtype = r.u16()?;
    r.u16()?;
    let rcode = match flags & 0xF {
        0 => Rcode::NoError,
        3 => Rcode::NxDomain,
        5 => Rcode::Refused,
        n => Rcode::Other(n as u8),
    };
    let answers = records(&mut r, counts[1])?;
    // Authority records are read past; additional ones may carry the
    // addresses of SRV targets.
    records(&mut r, counts[2])?;
    let additional = records(&mut r, counts[3])?;
    Ok(Response {
        id,
        rcode,
        truncated: flags & FLAG_TC != 0,
        name,
        qtype,
        answers,
        additional,
    })
}

fn records(r: &mut Reader<'_>, count: u16) -> Result<Vec<Record>, PacketError> {
    let mut out = Vec::new();
    for _ in 0..count {
        let name = r.name()?;
        let rtype = r.u16()?;
        let class = r.u16()?;
        r.take(4)?;
        let len = r.u16()? as usize;
        let start = r.pos;
        let rdata = r.take(len)?;
        if class != CLASS_IN {
            continue;
        }
        let data = match rtype {
            TYPE_A if len == 4 => Data::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
            TYPE_AAAA if len == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(rdata);
                Data::Aaaa(Ipv6Addr::from(b))
            }
            TYPE_SRV if len >= 7 => {
                let field = |i: usize| u16::from_be_bytes([rdata[i], rdata[i + 1]]);
                let (target, _) = read_name(&r.buf[..start + len], start + 6)?;
                Data::Srv {
                    priority: field(0),
                    weight: field(2),
                    port: field(4),
                    target,
                }
            }
            TYPE_CNAME => Data::Cname(read_name(&r.buf[..start + len], start)?.0),
            _ => continue,
        };
        out.push(Record { name, data });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A response to `q` with `answers` (name pointer to the question).
    pub(crate) fn answer(q: &[u8], rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let qend = HEADER_LEN + read_name(q, HEADER_LEN).unwrap().1 - HEADER_LEN + 4;
        let mut out = q[..qend].to_vec();
        out[2] = 0x81;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        out[8..12].fill(0);
        for (t, rdata) in answers {
            out.extend_from_slice(&[0xC0, 0x0C]);
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            out.extend_from_slice(rdata);
        }
        out
    }

    #[test]
    fn query_then_answer_round_trip() {
        let q = query(0x1234, "App.Example.", TYPE_A, 512);
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        let srv = [0, 1, 0, 10, 0x1f, 0x90, 3, b'w', b'e', b'b', 0xC0, 0x0C].to_vec();
        let resp = answer(
            &q,
            0,
            &[(TYPE_A, vec![127, 0, 0, 2]), (TYPE_SRV, srv), (99, vec![1])],
        );
        let r = parse(&resp).unwrap();
        assert_eq!((r.id, r.rcode, r.qtype), (0x1234, Rcode::NoError, TYPE_A));
        assert_eq!(r.name, "app.example");
        assert_eq!(r.answers[0].data, Data::A(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(
            r.answers[1].data,
            Data::Srv {
                priority: 1,
                weight: 10,
                port: 8080,
                target: "web.app.example".into()
            }
        );
        assert_eq!(r.answers.len(), 2, "unknown types are skipped");
        let nx = parse(&answer(&q, 3, &[])).unwrap();
        assert_eq!(nx.rcode, Rcode::NxDomain);
    }

    #[test]
    fn refuses_malformed() {
        let q = query(1, "a.b", TYPE_A, 512);
        assert_eq!(parse(&q), Err(PacketError::NotResponse));
        let mut looped = answer(&q, 0, &[(TYPE_A, vec![1, 2, 3, 4])]);
        // The answer's name points at itself.
        let at = looped.len() - 16;
        looped[at..at + 2].copy_from_slice(&[0xC0, at as u8]);
        assert_eq!(parse(&looped), Err(PacketError::BadName));
        let whole = answer(&q, 0, &[(TYPE_A, vec![1, 2, 3, 4])]);
        for cut in 0..whole.len() {
            assert!(parse(&whole[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_responses_never_panic(
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..8)
        ) {
            let q = query(7, "svc.example", TYPE_SRV, 512);
            let srv = [0, 1, 0, 10, 0x1f, 0x90, 3, b'w', b'e', b'b', 0xC0, 0x0C].to_vec();
            let mut resp = answer(&q, 0, &[(TYPE_SRV, srv), (TYPE_A, vec![127, 0, 0, 1])]);
            for (i, b) in flips {
                let n = resp.len();
                resp[i % n] = b;
            }
            let _ = parse(&resp);
        }
    }
}
