//! The first bytes of an SSL/TLS stream, for HAProxy's `req.ssl_*` fetches
//! (configuration manual 7.3.5): the record header and version of any
//! SSLv3+ or SSLv2 hello, and the server name, ALPN protocols and
//! supported-groups extension of a ClientHello.
//!
//! Each function takes the bytes received so far from the start of the
//! stream and answers [`Parsed::Incomplete`] while more bytes could change
//! the answer. The ClientHello is read whole before any extension is looked
//! at, and every length in it must agree with the others; it may span
//! several handshake records (the usual hello fills exactly one), in which
//! case a value cut by a record boundary is not returned.

use super::Parsed;
use std::borrow::Cow;
use std::ops::Range;

const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_ALPN: u16 = 16;
/// A plaintext record carries at most 2^14 bytes (RFC 8446 5.1).
const MAX_PLAINTEXT: usize = 1 << 14;
/// HAProxy's bound for any record in `req.ssl_ver` (room for expansion).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Record types HAProxy reads as an SSLv3+ record header: change cipher
/// spec, alert, handshake, application data, and 0xFF.
fn is_v3_record(b: u8) -> bool {
    (0x14..=0x17).contains(&b) || b == 0xFF
}

fn u16_at(b: &[u8], i: usize) -> usize {
    usize::from(b[i]) << 8 | usize::from(b[i + 1])
}

/// `req.ssl_hello_type`: the handshake type of the first record (1 for a
/// ClientHello, 2 for a ServerHello) once the whole handshake message it
/// announces is in the buffer. As HAProxy, any SSLv3+ record type is read
/// this way, and the message may run over several records.
pub(crate) fn ssl_hello_type(buf: &[u8]) -> Parsed<i64> {
    match buf.first() {
        None => return Parsed::Incomplete,
        Some(&b) if !is_v3_record(b) => return Parsed::Absent,
        Some(_) => {}
    }
    if buf.len() >= 2 && buf[1] < 3 {
        return Parsed::Absent;
    }
    if buf.len() >= 5 && u16_at(buf, 3) < 4 {
        return Parsed::Absent;
    }
    if buf.len() < 9 {
        return Parsed::Incomplete;
    }
    let hs_len = usize::from(buf[6]) << 16 | u16_at(buf, 7);
    if buf.len() < 9 + hs_len {
        return Parsed::Incomplete;
    }
    Parsed::Value(i64::from(buf[5]))
}

/// `req.ssl_ver`: `(major << 16) + minor` once the first record is whole.
/// For an SSLv3+ record it is the version inside the hello (bytes 9-10:
/// 3.3 for TLS 1.2 and 1.3 hellos alike), as HAProxy 2.6 reads it; an
/// SSLv2 CLIENT-HELLO (2- or 3-byte header) gives its own version field.
pub(crate) fn ssl_ver(buf: &[u8]) -> Parsed<i64> {
    let Some(&first) = buf.first() else {
        return Parsed::Incomplete;
    };
    if is_v3_record(first) {
        if buf.len() >= 2 && buf[1] < 3 {
            return Parsed::Absent;
        }
        if buf.len() >= 5 && !(6..=MAX_RECORD).contains(&u16_at(buf, 3)) {
            return Parsed::Absent;
        }
        if buf.len() < 11 || buf.len() < 5 + u16_at(buf, 3) {
            return Parsed::Incomplete;
        }
        return Parsed::Value(i64::from(buf[9]) << 16 | i64::from(buf[10]));
    }
    // SSLv2: a 2-byte header (high bit set, 15-bit length) or a 3-byte one
    // (14-bit length, then a padding length); then the message type.
    let (hdr, rlen, pad) = if first & 0x80 != 0 {
        if buf.len() < 2 {
            return Parsed::Incomplete;
        }
        (2, usize::from(first & 0x7F) << 8 | usize::from(buf[1]), 0)
    } else {
        if buf.len() < 3 {
            return Parsed::Incomplete;
        }
        let rlen = usize::from(first & 0x3F) << 8 | usize::from(buf[1]);
        (3, rlen, usize::from(buf[2]))
    };
    match buf.get(hdr) {
        None => return Parsed::Incomplete,
        Some(&t) if t != CLIENT_HELLO => return Parsed::Absent,
        Some(_) => {}
    }
    let f = hdr + 1;
    if buf.len() < f + 8 {
        return Parsed::Incomplete;
    }
    let (cipher, session, challenge) = (u16_at(buf, f + 2), u16_at(buf, f + 4), u16_at(buf, f + 6));
    if cipher % 3 != 0
        || !(session == 0 || session == 16)
        || !(16..=32).contains(&challenge)
        || rlen != 9 + cipher + session + challenge
    {
        return Parsed::Absent;
    }
    if buf.len() < f + 8 + cipher + session + challenge + pad {
        return Parsed::Incomplete;
    }
    Parsed::Value(i64::from(buf[f]) << 16 | i64::from(buf[f + 1]))
}

/// `req.ssl_sni`: the first host_name of the server_name extension.
pub(crate) fn ssl_sni(buf: &[u8]) -> Parsed<&[u8]> {
    hello_value(buf, |e| e.sni.clone())
}

/// `req.ssl_alpn` as one sample: the client's first (preferred) protocol.
/// HAProxy returns every name in turn and an ACL matches when any does:
/// see [`ssl_alpn_names`].
pub(crate) fn ssl_alpn(buf: &[u8]) -> Parsed<&[u8]> {
    then(ssl_alpn_names(buf), |mut names| found(names.next()))
}

/// Every protocol name of the ALPN extension, in the client's order.
pub(crate) fn ssl_alpn_names(buf: &[u8]) -> Parsed<AlpnNames<'_>> {
    then(hello_value(buf, |e| e.alpn.clone()), |list| {
        Parsed::Value(AlpnNames(list))
    })
}

/// The names of an ALPN protocol_name_list already checked well formed.
#[derive(Debug, Clone)]
pub(crate) struct AlpnNames<'a>(&'a [u8]);

impl<'a> Iterator for AlpnNames<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&n, rest) = self.0.split_first()?;
        let (name, rest) = rest.split_at_checked(usize::from(n))?;
        self.0 = rest;
        Some(name)
    }
}

/// `req.ssl_ec_ext`: true when the ClientHello carries the supported
/// groups (formerly "elliptic curves", RFC 4492 5.1) extension. As HAProxy,
/// a hello without it gives no value rather than false.
pub(crate) fn ssl_ec_ext(buf: &[u8]) -> Parsed<bool> {
    then(client_hello_exts(buf), |(_, e)| {
        found(e.groups.then_some(true))
    })
}

/// `p` with its value, if any, passed through `f`.
fn then<T, U>(p: Parsed<T>, f: impl FnOnce(T) -> Parsed<U>) -> Parsed<U> {
    match p {
        Parsed::Value(v) => f(v),
        Parsed::Absent => Parsed::Absent,
        Parsed::Incomplete => Parsed::Incomplete,
    }
}

fn found<T>(v: Option<T>) -> Parsed<T> {
    v.map_or(Parsed::Absent, Parsed::Value)
}

/// What the fetches read from a ClientHello body (ranges in the body).
#[derive(Debug, Default)]
struct Exts {
    sni: Option<Range<usize>>,
    alpn: Option<Range<usize>>,
    groups: bool,
}

/// The ClientHello as it lies in the buffer: the fragments (offset, length)
/// of the records that hold it, the 4-byte handshake header included.
struct Hello<'a> {
    buf: &'a [u8],
    frags: Vec<(usize, usize)>,
}

impl<'a> Hello<'a> {
    fn body(&self) -> Cow<'a, [u8]> {
        match self.frags[..] {
            [(at, len)] => Cow::Borrowed(&self.buf[at + 4..at + len]),
            _ => Cow::Owned(joined(self.buf, &self.frags).skip(4).collect()),
        }
    }

    /// The bytes of a body range, when no record boundary cuts them.
    fn slice(&self, r: Range<usize>) -> Option<&'a [u8]> {
        let (mut start, mut end) = (r.start + 4, r.end + 4);
        for &(at, len) in &self.frags {
            if start < len {
                return (end <= len).then(|| &self.buf[at + start..at + end]);
            }
            start -= len;
            end -= len;
        }
        None
    }
}

/// The bytes of record fragments, one after the other.
fn joined<'a>(buf: &'a [u8], frags: &'a [(usize, usize)]) -> impl Iterator<Item = u8> + 'a {
    frags
        .iter()
        .flat_map(|&(at, len)| &buf[at..at + len])
        .copied()
}

fn hello_value(buf: &[u8], pick: impl FnOnce(&Exts) -> Option<Range<usize>>) -> Parsed<&[u8]> {
    then(client_hello_exts(buf), |(h, e)| {
        found(pick(&e).and_then(|r| h.slice(r)))
    })
}

fn client_hello_exts(buf: &[u8]) -> Parsed<(Hello<'_>, Exts)> {
    then(gather_hello(buf), |h| {
        let exts = parse_body(&h.body());
        found(exts.map(|e| (h, e)))
    })
}

/// Walks the handshake records until they hold the whole ClientHello, which
/// must end where a record ends.
fn gather_hello(buf: &[u8]) -> Parsed<Hello<'_>> {
    let mut frags = Vec::new();
    let (mut pos, mut have) = (0, 0);
    let mut want = None;
    loop {
        let hdr = &buf[pos..buf.len().min(pos + 5)];
        if hdr.first().is_some_and(|&t| t != HANDSHAKE) || hdr.get(1).is_some_and(|&m| m < 3) {
            return Parsed::Absent;
        }
        if hdr.len() < 5 {
            return Parsed::Incomplete;
        }
        let len = u16_at(hdr, 3);
        if len == 0 || len > MAX_PLAINTEXT {
            return Parsed::Absent;
        }
        let at = pos + 5;
        if have == 0 && buf.get(at).is_some_and(|&t| t != CLIENT_HELLO) {
            return Parsed::Absent;
        }
        if buf.len() < at + len {
            return Parsed::Incomplete;
        }
        frags.push((at, len));
        have += len;
        if want.is_none() && have >= 4 {
            let h: Vec<u8> = joined(buf, &frags).take(4).collect();
            want = Some(4 + (usize::from(h[1]) << 16 | u16_at(&h, 2)));
        }
        match want {
            Some(w) if have == w => return Parsed::Value(Hello { buf, frags }),
            Some(w) if have > w => return Parsed::Absent,
            _ => pos = at + len,
        }
    }
}

/// A reader over a byte string whose every step checks the length left.
struct Cur<'b> {
    b: &'b [u8],
    at: usize,
    end: usize,
}

impl<'b> Cur<'b> {
    fn take(&mut self, n: usize) -> Option<Range<usize>> {
        let r = self.at..self.at.checked_add(n).filter(|&e| e <= self.end)?;
        self.at = r.end;
        Some(r)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|r| usize::from(self.b[r.start]))
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .map(|r| u16::from_be_bytes([self.b[r.start], self.b[r.start + 1]]))
    }
    fn vec8(&mut self) -> Option<Range<usize>> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<Range<usize>> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn over(b: &'b [u8], r: Range<usize>) -> Cur<'b> {
        let (at, end) = (r.start, r.end);
        Cur { b, at, end }
    }
    fn sub(&self, r: Range<usize>) -> Cur<'b> {
        Cur::over(self.b, r)
    }
    fn done(&self) -> bool {
        self.at == self.end
    }
}

/// Reads a ClientHello body (RFC 8446 4.1.2); None when any length is off.
fn parse_body(b: &[u8]) -> Option<Exts> {
    let mut c = Cur::over(b, 0..b.len());
    if c.u16()? < 0x0301 {
        return None;
    }
    c.take(32)?;
    if c.vec8()?.len() > 32 {
        return None;
    }
    let suites = c.vec16()?;
    let methods = c.vec8()?;
    if suites.len() < 2 || suites.len() % 2 != 0 || methods.is_empty() {
        return None;
    }
    let mut out = Exts::default();
    if c.done() {
        return Some(out);
    }
    let list = c.vec16()?;
    if !c.done() {
        return None;
    }
    let mut exts = c.sub(list);
    while !exts.done() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        let mut d = exts.sub(data);
        match kind {
            EXT_SERVER_NAME if out.sni.is_none() => {
                let list = d.vec16()?;
                let mut names = d.sub(list);
                if !d.done() {
                    return None;
                }
                while !names.done() {
                    let kind = names.u8()?;
                    let name = names.vec16()?;
                    if name.is_empty() {
                        return None;
                    }
                    if kind == 0 && out.sni.is_none() {
                        out.sni = Some(name);
                    }
                }
            }
            EXT_ALPN if out.alpn.is_none() => {
                let list = d.vec16()?;
                if !d.done() || list.is_empty() {
                    return None;
                }
                let mut names = d.sub(list.clone());
                while !names.done() {
                    if names.vec8()?.is_empty() {
                        return None;
                    }
                }
                out.alpn = Some(list);
            }
            EXT_SUPPORTED_GROUPS => {
                let groups = d.vec16()?;
                if !d.done() || groups.is_empty() || groups.len() % 2 != 0 {
                    return None;
                }
                out.groups = true;
            }
            _ => {}
        }
    }
    Some(out)
}

/// A ClientHello record for tests and benches: TLS 1.3 and 1.2 offered,
/// the supported_groups, signature_algorithms, supported_versions and an
/// x25519 key_share extension, a server_name when `sni` is given, an ALPN
/// extension listing `alpn` when it is not empty, and a padding extension
/// (RFC 7685) that brings the whole to at least `pad_to` bytes (exactly
/// when `pad_to` exceeds the unpadded size by 4 or more). A hello over
/// 2^14 bytes is cut into several records, as a client would.
///
/// Panics if a name is too long for its length field.
// The tests and the fuzz corpus (`crate::fuzz::seeds`) call it.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn client_hello(sni: Option<&str>, alpn: &[&str], pad_to: usize) -> Vec<u8> {
    const EXT_PADDING: u16 = 21;
    fn len8(v: &[u8]) -> Vec<u8> {
        [&[u8::try_from(v.len()).expect("at most 255 bytes")][..], v].concat()
    }
    fn len16(v: &[u8]) -> Vec<u8> {
        let n = u16::try_from(v.len()).expect("at most 65535 bytes");
        [&n.to_be_bytes()[..], v].concat()
    }
    fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
        [&kind.to_be_bytes()[..], &len16(data)].concat()
    }
    let host = |n: &str| {
        ext(
            EXT_SERVER_NAME,
            &len16(&[&[0][..], &len16(n.as_bytes())].concat()),
        )
    };
    let names: Vec<u8> = alpn.iter().flat_map(|p| len8(p.as_bytes())).collect();
    let alpn_ext = match alpn {
        [] => vec![],
        _ => ext(EXT_ALPN, &len16(&names)),
    };
    let mut exts = [
        sni.map(host).unwrap_or_default(),
        ext(EXT_SUPPORTED_GROUPS, &len16(&[0, 0x1d, 0, 0x17])),
        ext(13, &len16(&[4, 3, 8, 4, 4, 1])), // signature_algorithms
        alpn_ext,
        ext(43, &[4, 3, 4, 3, 3]), // supported_versions: 1.3, 1.2
        ext(51, &len16(&[&[0, 0x1d, 0, 32][..], &[0x42; 32]].concat())), // key_share
    ]
    .concat();
    let ciphers = len16(&[0x13, 1, 0x13, 2, 0x13, 3, 0xc0, 0x2f]);
    let mut body = [
        &[3, 3][..],
        &[0x5a; 32],
        &len8(&[0x17; 32]),
        &ciphers,
        &[1, 0],
    ]
    .concat();
    // record header, handshake header, body, extensions and their length
    let size = 5 + 4 + body.len() + 2 + exts.len();
    if pad_to > size {
        exts.extend(ext(
            EXT_PADDING,
            &vec![0; (pad_to - size).saturating_sub(4)],
        ));
    }
    body.extend(len16(&exts));
    let len = u32::try_from(body.len()).expect("a handshake under 2^24 bytes");
    let hs = [&[CLIENT_HELLO][..], &len.to_be_bytes()[1..], &body].concat();
    let records = hs.chunks(MAX_PLAINTEXT);
    records
        .flat_map(|c| [&[HANDSHAKE, 3, 1][..], &len16(c)].concat())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Parsed::{Absent as A, Incomplete as I, Value as V};
    use proptest::prelude::*;

    /// The first bytes `openssl s_client -connect 127.0.0.1:PORT -servername
    /// www.foobar.com -alpn h2,http/1.1` sent (OpenSSL 3.0.19).
    const OPENSSL_HELLO: &str = "\
    160301014d010001490303fdc2d584b39bfedc56cec88559d10002cceb30778f3e6f1e307991056c42484620\
    0769388476d2e054f63fe0c68fdd5165a46ca4c78a6cfaa14715c2f65663052d003e130213031301c02cc030\
    009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d\
    003c0035002f00ff010000c200000013001100000e7777772e666f6f6261722e636f6d000b00040300010200\
    0a00160014001d0017001e0019001801000101010201030104002300000010000e000c02683208687474702f\
    312e310016000000170000000d002a0028040305030603080708080809080a080b0804080508060401050106\
    01030303010302040205020602002b0009080304030303020301002d00020101003300260024001d002034b9\
    69cfba241c2837e190b75809fdf3f7a649c472d5711fafcab5c72887f84f";

    fn unhex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    fn openssl() -> Vec<u8> {
        unhex(OPENSSL_HELLO)
    }

    fn find(h: &[u8], what: &[u8]) -> usize {
        h.windows(what.len()).position(|w| w == what).unwrap()
    }

    /// `h` with `bytes` written at `at`.
    fn set(mut h: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        h
    }

    /// The handshake of a single-record hello cut into records of `n` bytes.
    fn refragment(h: &[u8], n: usize) -> Vec<u8> {
        let hs = &h[5..];
        hs.chunks(n)
            .flat_map(|c| [&[0x16, 3, 1, (c.len() >> 8) as u8, c.len() as u8][..], c].concat())
            .collect()
    }

    /// An SSLv2 CLIENT-HELLO (2-byte header) offering `version`.
    fn sslv2(version: [u8; 2]) -> Vec<u8> {
        let mut m = vec![1, version[0], version[1], 0, 6, 0, 0, 0, 16];
        m.extend([0x01, 0x00, 0x80, 0x07, 0x00, 0xc0]);
        m.extend([0xAB; 16]);
        [&[0x80 | (m.len() >> 8) as u8, m.len() as u8][..], &m].concat()
    }

    type Row = (
        &'static str,
        Vec<u8>,
        Parsed<i64>,
        Parsed<i64>,
        Parsed<&'static [u8]>,
        Parsed<&'static [u8]>,
        Parsed<bool>,
    );

    #[test]
    fn table() {
        let h = openssl();
        let name_len = find(&h, b"www.foobar.com") - 2;
        let alpn = find(&h, b"\x02h2");
        let groups = find(&h, &[0x00, 0x0a, 0x00, 0x16, 0x00, 0x14]);
        let host: &[u8] = b"www.foobar.com";
        let t13 = 0x0003_0003;
        let pq = client_hello(Some("pq.example"), &["h2"], 1700);
        let big = client_hello(Some("big.example"), &["h2"], 20_000);
        let trailing = [&set(h.clone(), 3, &[0x01, 0x4e])[..], &[0]].concat();
        let longer = set(h.clone(), 6, &[0x00, 0x01, 0x4a]);
        let no_exts = [&set(h.clone(), 3, &[0, 0x89, 1, 0, 0, 0x85])[..142]].concat();
        #[rustfmt::skip]
        let cases: Vec<Row> = vec![
            ("openssl s_client hello", h.clone(), V(1), V(t13), V(host), V(b"h2"), V(true)),
            ("empty", vec![], I, I, I, I, I),
            ("record header only", h[..5].to_vec(), I, I, I, I, I),
            ("hello cut at 100 bytes", h[..100].to_vec(), I, I, I, I, I),
            ("hello less its last byte", h[..h.len() - 1].to_vec(), I, I, I, I, I),
            ("built, 1.7 KB (post-quantum size)", pq, V(1), V(t13), V(b"pq.example"), V(b"h2"), V(true)),
            ("built, 20 KB in two records", big, V(1), V(t13), V(b"big.example"), V(b"h2"), V(true)),
            ("built, no SNI nor ALPN", client_hello(None, &[], 0), V(1), V(t13), A, A, V(true)),
            ("hello in 64-byte records", refragment(&h, 64), V(1), V(t13), V(host), V(b"h2"), V(true)),
            ("a record boundary cuts the name", refragment(&h, 150), V(1), V(t13), A, V(b"h2"), V(true)),
            ("no supported_groups", set(h.clone(), groups, &[0x0a, 0x0a]), V(1), V(t13), V(host), V(b"h2"), A),
            ("no extensions block", no_exts, V(1), V(t13), A, A, A),
            ("SNI name longer than its list", set(h.clone(), name_len, &[0, 15]), V(1), V(t13), A, A, A),
            ("extensions longer than the hello", set(h.clone(), 142, &[0, 0xc3]), V(1), V(t13), A, A, A),
            ("session id of 33 bytes", set(h.clone(), 43, &[33]), V(1), V(t13), A, A, A),
            ("empty ALPN name", set(h.clone(), alpn, &[0]), V(1), V(t13), A, A, A),
            ("client version SSLv3", set(h.clone(), 9, &[3, 0]), V(1), V(0x0003_0000), A, A, A),
            ("bytes after the hello in its record", trailing, V(1), V(t13), A, A, A),
            ("hello announced longer than its record", longer.clone(), I, V(t13), I, I, I),
            ("... then an alert record", [&longer[..], &[0x15, 3, 3, 0, 2, 2, 40]].concat(), V(1), V(t13), A, A, A),
            ("zero-length record", vec![0x16, 3, 1, 0, 0, 1], A, A, A, A, A),
            ("record major version 2", set(h.clone(), 1, &[2]), A, A, A, A, A),
            ("ServerHello type", set(h.clone(), 5, &[2]), V(2), V(t13), A, A, A),
            ("application data record", set(h.clone(), 0, &[0x17]), V(1), V(t13), A, A, A),
            ("HTTP request", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), A, A, A, A, A),
            ("SSLv2 hello offering TLS 1.0", sslv2([3, 1]), A, V(0x0003_0001), A, A, A),
            ("SSLv2 hello offering SSLv2", sslv2([0, 2]), A, V(2), A, A, A),
            ("SSLv2 hello cut", sslv2([0, 2])[..20].to_vec(), A, I, A, A, A),
            ("SSLv2 challenge of 8 bytes", set(sslv2([0, 2]), 9, &[8]), A, A, A, A, A),
        ];
        for (desc, input, hello_type, ver, sni, alpn, ec) in cases {
            assert_eq!(ssl_hello_type(&input), hello_type, "ssl_hello_type: {desc}");
            assert_eq!(ssl_ver(&input), ver, "ssl_ver: {desc}");
            assert_eq!(ssl_sni(&input), sni, "ssl_sni: {desc}");
            assert_eq!(ssl_alpn(&input), alpn, "ssl_alpn: {desc}");
            assert_eq!(ssl_ec_ext(&input), ec, "ssl_ec_ext: {desc}");
        }
    }

    #[test]
    fn alpn_names_are_all_listed_in_order() {
        let h = openssl();
        let Parsed::Value(names) = ssl_alpn_names(&h) else {
            panic!("no ALPN")
        };
        assert_eq!(names.collect::<Vec<_>>(), [&b"h2"[..], b"http/1.1"]);
    }

    #[test]
    fn builder_pads_to_the_size_asked() {
        for size in [300, 517, 1700, 16_389] {
            assert_eq!(client_hello(Some("a.example"), &["h2"], size).len(), size);
        }
    }

    fn all(buf: &[u8]) -> [String; 5] {
        let (t, v, s) = (ssl_hello_type(buf), ssl_ver(buf), ssl_sni(buf));
        let (a, e) = (ssl_alpn(buf), ssl_ec_ext(buf));
        [
            format!("{t:?}"),
            format!("{v:?}"),
            format!("{s:?}"),
            format!("{a:?}"),
            format!("{e:?}"),
        ]
    }

    /// A prefix of a buffer may only say Incomplete or what the whole says.
    fn prefix_agrees(buf: &[u8], k: usize) -> Result<(), TestCaseError> {
        for (part, whole) in all(&buf[..k]).into_iter().zip(all(buf)) {
            prop_assert!(
                part == "Incomplete" || part == whole,
                "{part} vs {whole} at {k}"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_bytes_any_prefix(bytes in proptest::collection::vec(any::<u8>(), 0..400), k in 0usize..400) {
            prefix_agrees(&bytes, k.min(bytes.len()))?;
        }

        #[test]
        fn damaged_hello_any_prefix(flips in proptest::collection::vec((0usize..338, any::<u8>()), 1..4), k in 0usize..400) {
            let mut h = openssl();
            for (at, b) in flips {
                h[at] = b;
            }
            prefix_agrees(&h, k.min(h.len()))?;
        }

        #[test]
        fn built_hello_any_split(
            sni in "[a-z0-9.-]{1,40}",
            alpn in proptest::collection::vec("[a-z0-9/.-]{1,12}", 0..4),
            pad in prop_oneof![0usize..2000, 16_000usize..20_000],
            frag in prop_oneof![Just(0usize), 40usize..600],
            k in any::<prop::sample::Index>(),
        ) {
            let names: Vec<&str> = alpn.iter().map(String::as_str).collect();
            let mut h = client_hello(Some(&sni), &names, pad);
            if frag > 0 && h.len() <= 5 + MAX_PLAINTEXT {
                h = refragment(&h, frag);
            }
            let k = k.index(h.len() + 1);
            prefix_agrees(&h, k)?;
            prop_assert_eq!(ssl_hello_type(&h), V(1));
            if frag == 0 {
                prop_assert_eq!(ssl_sni(&h), V(sni.as_bytes()));
                prop_assert_eq!(ssl_alpn(&h), names.first().map_or(A, |n| V(n.as_bytes())));
            }
            if k < h.len() {
                prop_assert_eq!(ssl_sni(&h[..k]), I);
            }
        }
    }
}
