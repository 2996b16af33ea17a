//! The first bytes of a stream read as raw payload or as the head of a
//! small protocol, for HAProxy's layer-6 fetches (configuration manual
//! 7.3.5): `req.payload`, `req.payload_lv`, `req.rdp_cookie` and
//! `req.proto_http`.
//!
//! Each function takes the bytes received so far from the start of the
//! stream and answers [`Parsed::Incomplete`] while more bytes could change
//! the answer; a mismatch already visible in a prefix answers at once.

use super::Parsed;
use std::ops::Range;

/// `req.payload(offset,len)`: `len` bytes at `offset`; a `len` of 0 means
/// everything from `offset` to the end of what has arrived, which HAProxy
/// reports as a value that may still grow (as `req.len`).
pub(crate) fn payload(buf: &[u8], offset: usize, len: usize) -> Parsed<&[u8]> {
    let Some(end) = offset.checked_add(len) else {
        return Parsed::Absent;
    };
    let end = if len == 0 { buf.len().max(offset) } else { end };
    buf.get(offset..end)
        .map_or(Parsed::Incomplete, Parsed::Value)
}

/// `req.payload_lv(off1,len1[,off2])`: the block whose big-endian length
/// is the `len1` bytes at `off1` (as HAProxy, a 32-bit accumulator: a wider
/// field counts by its last 4 bytes; a length of 0 never matches). The
/// block starts right after the length field, or at `off2`: an offset from
/// the start when positive, from the end of the length field when negative.
/// This follows the manual: HAProxy 2.6 reads an absolute `off2` N as N/2
/// when even and as relative (N-1)/2 when odd (measured), and a `+N` as
/// relative, a sign the config model does not keep. A block larger than
/// the buffer is Incomplete here; HAProxy, knowing `tune.bufsize`, says no.
pub(crate) fn payload_lv(buf: &[u8], off1: usize, len1: usize, off2: Option<i64>) -> Parsed<&[u8]> {
    let Some(after) = off1.checked_add(len1) else {
        return Parsed::Absent;
    };
    let Some(field) = buf.get(off1..after) else {
        return Parsed::Incomplete;
    };
    let size = field.iter().fold(0u32, |n, &b| n << 8 | u32::from(b));
    let start = match off2 {
        None => Some(after),
        Some(o) if o < 0 => {
            after.checked_sub(usize::try_from(o.unsigned_abs()).unwrap_or(usize::MAX))
        }
        Some(o) => usize::try_from(o).ok(),
    };
    let end = start.and_then(|s| s.checked_add(usize::try_from(size).ok()?));
    match (start, end) {
        (Some(start), Some(end)) if size > 0 => buf
            .get(start..end)
            .map_or(Parsed::Incomplete, Parsed::Value),
        _ => Parsed::Absent,
    }
}

/// Where the cookie line starts in an RDP connection request: after the
/// TPKT header (4 bytes) and the X.224 Connection Request header (7).
const RDP_COOKIE_AT: usize = 11;

/// `req.rdp_cookie([name])`: the value of the `Cookie: NAME=VALUE\r\n` line
/// of an RDP connection request, the first cookie only, as HAProxy; `name`
/// (case-insensitive) must be the cookie's, or None (or empty) for any.
/// The value runs to the first CR, which must be followed by LF. Where
/// HAProxy waits for 19 bytes, a prefix already unlike `Cookie:` or the
/// name answers at once.
/// `req.rdp_cookie_cnt` is 1 when this finds the cookie, 0 when it cannot.
pub(crate) fn rdp_cookie<'a>(buf: &'a [u8], name: Option<&str>) -> Parsed<&'a [u8]> {
    let rest = buf.get(RDP_COOKIE_AT..).unwrap_or_default();
    let rest = match starts_with_ci(rest, b"Cookie:") {
        Parsed::Value(r) => r,
        other => return other,
    };
    let rest = &rest[rest.iter().take_while(|&&c| c == b' ').count()..];
    let value = match name.filter(|n| !n.is_empty()) {
        Some(name) => match starts_with_ci(rest, name.as_bytes()) {
            Parsed::Value(r) => match r.first() {
                Some(b'=') => &r[1..],
                Some(_) => return Parsed::Absent,
                None => return Parsed::Incomplete,
            },
            other => return other,
        },
        None => match rest.iter().position(|&c| matches!(c, b'=' | b'\r' | b'\n')) {
            Some(i) if rest[i] == b'=' => &rest[i + 1..],
            Some(_) => return Parsed::Absent,
            None => return Parsed::Incomplete,
        },
    };
    match value.iter().position(|&c| c == b'\r') {
        Some(i) => match value.get(i + 1) {
            Some(b'\n') => Parsed::Value(&value[..i]),
            Some(_) => Parsed::Absent,
            None => Parsed::Incomplete,
        },
        None => Parsed::Incomplete,
    }
}

/// `have` after `want` (ASCII case-insensitive); Incomplete while `have`
/// is a shorter prefix of it.
fn starts_with_ci<'a>(have: &'a [u8], want: &[u8]) -> Parsed<&'a [u8]> {
    let n = have.len().min(want.len());
    if !have[..n].eq_ignore_ascii_case(&want[..n]) {
        Parsed::Absent
    } else if n < want.len() {
        Parsed::Incomplete
    } else {
        Parsed::Value(&have[n..])
    }
}

/// HAProxy 2.6 with its default `tune.http.maxhdr` (101) takes at most 98
/// header lines in this fetch (measured), names of at most 255 bytes.
const MAX_HEADERS: usize = 98;
const MAX_NAME: usize = 255;

/// `req.proto_http`: true once the buffer starts with a whole HTTP/1.x
/// request head (request line, headers, empty line) that HAProxy's H1
/// parser accepts, or with an HTTP/0.9 `GET uri` line; no value when it
/// cannot be one. See [`request_head`] for what is checked.
pub(crate) fn proto_http(buf: &[u8]) -> Parsed<bool> {
    match request_head(buf) {
        Ok(()) => Parsed::Value(true),
        Err(Stop::More) => Parsed::Incomplete,
        Err(Stop::Bad) => Parsed::Absent,
    }
}

enum Stop {
    More,
    Bad,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_sp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&c| !is_sp(c)).unwrap_or(v.len());
    let end = v.iter().rposition(|&c| !is_sp(c)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// A cursor over the head; running out of bytes is [`Stop::More`].
struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Result<u8, Stop> {
        self.b.get(self.at).copied().ok_or(Stop::More)
    }
    /// The bytes up to the first one `ok` refuses, which must have arrived.
    fn span(&mut self, ok: impl Fn(u8) -> bool) -> Result<Range<usize>, Stop> {
        let start = self.at;
        while ok(self.peek()?) {
            self.at += 1;
        }
        Ok(start..self.at)
    }
    /// A line end: CRLF or a bare LF; a CR without LF is refused.
    fn eol(&mut self) -> Result<(), Stop> {
        if self.peek()? == b'\r' {
            self.at += 1;
        }
        if self.peek()? != b'\n' {
            return Err(Stop::Bad);
        }
        self.at += 1;
        Ok(())
    }
}

/// The header fields the H1 parser checks the meaning of.
#[derive(Default)]
struct Fields {
    host: Vec<Vec<u8>>,
    length: Vec<Vec<u8>>,
    encoding: Vec<Vec<u8>>,
}

/// Reads a request head as HAProxy 2.6's H1 parser does: empty lines before
/// it skipped; a token method, spaces or tabs, a URI of visible ASCII but
/// `#`, an optional version of `[A-Z0-9./]` (none: HTTP/0.9, GET only);
/// header lines `token:value` (no space before the colon), folded lines
/// joined; then agreeing Content-Length values, a Transfer-Encoding ending
/// in a single `chunked`, agreeing Host values, an absolute URI whose
/// authority is the Host, and an authority-form `host:port` for CONNECT.
fn request_head(b: &[u8]) -> Result<(), Stop> {
    let mut s = Scan { b, at: 0 };
    while matches!(s.peek()?, b'\r' | b'\n') {
        s.eol()?;
    }
    let method = s.span(is_tchar)?;
    if method.is_empty() || !is_sp(s.peek()?) {
        return Err(Stop::Bad);
    }
    s.span(is_sp)?;
    let uri = s.span(|c| c.is_ascii_graphic() && c != b'#')?;
    s.span(is_sp)?;
    let version =
        s.span(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'.' || c == b'/')?;
    if uri.is_empty() || !matches!(s.peek()?, b'\r' | b'\n') {
        return Err(Stop::Bad);
    }
    s.eol()?;
    let (method, uri) = (&b[method], &b[uri]);
    if version.is_empty() {
        return if method == b"GET" {
            Ok(())
        } else {
            Err(Stop::Bad)
        };
    }
    let mut fields = Fields::default();
    let mut last: Option<&mut Vec<u8>> = None;
    let mut count = 0;
    loop {
        match s.peek()? {
            b'\r' | b'\n' => break,
            c if is_sp(c) => {
                if count == 0 {
                    return Err(Stop::Bad);
                }
                let more = s.span(|c| c != b'\r' && c != b'\n')?;
                s.eol()?;
                if let Some(v) = last.as_deref_mut() {
                    v.push(b' ');
                    v.extend_from_slice(&b[more]);
                }
                continue;
            }
            _ => {}
        }
        let name = s.span(is_tchar)?;
        if name.is_empty() || name.len() > MAX_NAME || s.peek()? != b':' {
            return Err(Stop::Bad);
        }
        s.at += 1;
        let value = s.span(|c| c != b'\r' && c != b'\n')?;
        s.eol()?;
        count += 1;
        if count > MAX_HEADERS {
            return Err(Stop::Bad);
        }
        let name = &b[name];
        let list = if name.eq_ignore_ascii_case(b"host") {
            Some(&mut fields.host)
        } else if name.eq_ignore_ascii_case(b"content-length") {
            Some(&mut fields.length)
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            Some(&mut fields.encoding)
        } else {
            None
        };
        last = list.map(|l| {
            l.push(b[value].to_vec());
            l.last_mut().expect("just pushed")
        });
    }
    s.eol()?;
    if fields_agree(&fields, method, uri) {
        Ok(())
    } else {
        Err(Stop::Bad)
    }
}

/// The checks HAProxy makes on a complete head, against request smuggling
/// and misrouting.
fn fields_agree(f: &Fields, method: &[u8], uri: &[u8]) -> bool {
    let elements = |l: &[Vec<u8>]| -> Vec<Vec<u8>> {
        l.iter()
            .flat_map(|v| {
                v.split(|&c| c == b',')
                    .map(|e| trim(e).to_vec())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let lengths = elements(&f.length);
    let number = |e: &Vec<u8>| {
        let digits = !e.is_empty() && e.iter().all(u8::is_ascii_digit);
        digits
            .then(|| std::str::from_utf8(e).ok()?.parse::<u64>().ok())
            .flatten()
    };
    let first = lengths.first().map(number);
    if lengths
        .iter()
        .any(|e| number(e).is_none() || Some(number(e)) != first)
    {
        return false;
    }
    let codings: Vec<Vec<u8>> = elements(&f.encoding)
        .into_iter()
        .filter(|e| !e.is_empty())
        .collect();
    let chunked = |e: &Vec<u8>| e.eq_ignore_ascii_case(b"chunked");
    if !f.encoding.is_empty()
        && (codings.iter().filter(|e| chunked(e)).count() != 1
            || !codings.last().is_some_and(chunked))
    {
        return false;
    }
    let hosts: Vec<&[u8]> = f.host.iter().map(|h| trim(h)).collect();
    if hosts.windows(2).any(|w| !w[0].eq_ignore_ascii_case(w[1])) {
        return false;
    }
    if method == b"CONNECT" {
        // host:port, and a Host naming the same host (with or without port)
        let Some(colon) = uri.iter().rposition(|&c| c == b':') else {
            return false;
        };
        let (name, port) = (&uri[..colon], &uri[colon + 1..]);
        let port_ok = !port.is_empty() && port.iter().all(u8::is_ascii_digit);
        let same = |h: &&[u8]| h.eq_ignore_ascii_case(uri) || h.eq_ignore_ascii_case(name);
        return port_ok
            && !name.is_empty()
            && !uri.contains(&b'/')
            && hosts.first().is_none_or(same);
    }
    if uri == b"*" || uri.starts_with(b"/") {
        return true;
    }
    let (scheme, rest) = match uri.windows(3).position(|w| w == b"://") {
        Some(i) => (&uri[..i], &uri[i + 3..]),
        None => (&b""[..], uri),
    };
    let authority = rest.split(|&c| c == b'/').next().unwrap_or_default();
    let authority = authority.rsplit(|&c| c == b'@').next().unwrap_or_default();
    let default_port: Option<&[u8]> = match scheme.to_ascii_lowercase().as_slice() {
        b"http" => Some(b":80"),
        b"https" => Some(b":443"),
        _ => None,
    };
    let bare = |h: &[u8]| {
        let h = default_port.and_then(|p| h.strip_suffix(p)).unwrap_or(h);
        h.to_ascii_lowercase()
    };
    authority.is_empty() || hosts.first().is_none_or(|h| bare(h) == bare(authority))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Parsed::{Absent as A, Incomplete as I, Value as V};
    use proptest::prelude::*;

    type Bytes = Parsed<&'static [u8]>;
    type LvRow = (
        &'static str,
        &'static [u8],
        usize,
        usize,
        Option<i64>,
        Bytes,
    );

    #[test]
    fn payload_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &[u8], usize, usize, Bytes)] = &[
            ("4 bytes at 2", b"abcdefgh", 2, 4, V(b"cdef")),
            ("not all there yet", b"abc", 2, 4, I),
            ("nothing yet", b"", 0, 1, I),
            ("length 0: the rest", b"abcdef", 2, 0, V(b"cdef")),
            ("length 0 at the end", b"abc", 3, 0, V(b"")),
            ("length 0 past the end", b"abc", 5, 0, I),
            ("offset + length overflow", b"abc", usize::MAX, 2, A),
        ];
        for &(desc, buf, offset, len, ref want) in cases {
            assert_eq!(payload(buf, offset, len), *want, "{desc}");
        }
    }

    #[test]
    fn payload_lv_table() {
        #[rustfmt::skip]
        let cases: &[LvRow] = &[
            ("2-byte length", b"\x00\x03abcde", 0, 2, None, V(b"abc")),
            ("1-byte length at 1", b"x\x02abc", 1, 1, None, V(b"ab")),
            ("block not all there", b"\x05abc", 0, 1, None, I),
            ("length field not all there", b"\x00", 0, 2, None, I),
            ("length 0 never matches", b"\x00abc", 0, 1, None, A),
            ("absolute offset2", b"\x02xxab", 0, 1, Some(3), V(b"ab")),
            ("relative offset2", b"ab\x02", 2, 1, Some(-3), V(b"ab")),
            ("offset2 before the start", b"ab\x02", 2, 1, Some(-4), A),
            ("5-byte field: its last 4 count", b"\xff\x00\x00\x00\x02ab", 0, 5, None, V(b"ab")),
            ("4 GB block: waits", b"\xff\xff\xff\xffab", 0, 4, None, I),
            ("offset1 + length overflow", b"ab", usize::MAX, 2, None, A),
        ];
        for &(desc, buf, off1, len1, off2, ref want) in cases {
            assert_eq!(payload_lv(buf, off1, len1, off2), *want, "{desc}");
        }
    }

    /// An RDP connection request (TPKT, X.224 CR) carrying `line` and an
    /// RDP negotiation request, as mstsc sends it.
    fn rdp(line: &[u8]) -> Vec<u8> {
        let x224 = [&[6 + line.len() as u8 + 8, 0xe0, 0, 0, 0, 0, 0][..], line].concat();
        let body = [&x224[..], &[1, 0, 8, 0, 3, 0, 0, 0]].concat();
        [&[3, 0, 0, 4 + body.len() as u8][..], &body].concat()
    }

    #[test]
    fn rdp_cookie_table() {
        let alice = rdp(b"Cookie: mstshash=alice\r\n");
        #[rustfmt::skip]
        let cases: &[(&str, Vec<u8>, Option<&str>, Bytes)] = &[
            ("by name", alice.clone(), Some("mstshash"), V(b"alice")),
            ("name in capitals", alice.clone(), Some("MSTSHASH"), V(b"alice")),
            ("any cookie", alice.clone(), None, V(b"alice")),
            ("empty name: any cookie", alice.clone(), Some(""), V(b"alice")),
            ("a prefix of the name", alice.clone(), Some("msts"), A),
            ("another name", alice.clone(), Some("msts_other"), A),
            ("line in lower case, spaces", rdp(b"cookie:   msts=bob\r\n"), Some("msts"), V(b"bob")),
            ("empty value", rdp(b"Cookie: mstshash=\r\n"), None, V(b"")),
            ("no '=' before the line end", rdp(b"Cookie: mstshash\r\n"), None, A),
            ("CR without LF", rdp(b"Cookie: mstshash=a\rb\r\n"), None, A),
            ("no cookie line", rdp(b""), None, A),
            ("value not ended yet", alice[..25].to_vec(), None, I),
            ("CR last", alice[..33].to_vec(), Some("mstshash"), I),
            ("name cut", alice[..22].to_vec(), Some("mstshash"), I),
            ("only the headers", alice[..11].to_vec(), None, I),
            ("'Cookie:' cut", alice[..15].to_vec(), None, I),
            ("not 'Cookie:'", rdp(b"Cookxe: a=b\r\n")[..16].to_vec(), None, A),
        ];
        for (desc, buf, name, want) in cases {
            assert_eq!(rdp_cookie(buf, *name), *want, "{desc}");
        }
    }

    /// Every answer here is what HAProxy 2.6.12 gave (req.proto_http).
    #[test]
    fn proto_http_table() {
        let hdrs = |n: usize| {
            let lines: String = (0..n).map(|i| format!("X{i}: y\r\n")).collect();
            format!("GET / HTTP/1.1\r\n{lines}\r\n").into_bytes()
        };
        let long_name =
            |n: usize| format!("GET / HTTP/1.1\r\n{}: y\r\n\r\n", "X".repeat(n)).into_bytes();
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<u8>, Parsed<bool>)> = vec![
            ("HTTP/1.0 request", b"GET / HTTP/1.0\r\n\r\n".to_vec(), V(true)),
            ("HTTP/1.1 with Host", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), V(true)),
            ("request line only", b"GET / HTTP/1.0\r\n".to_vec(), I),
            ("headers not ended", b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec(), I),
            ("nothing yet", b"".to_vec(), I),
            ("an empty line only", b"\r\n".to_vec(), I),
            ("method cut", b"GE".to_vec(), I),
            ("a TLS record", b"\x16\x03\x01".to_vec(), A),
            ("a response", b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), A),
            ("HTTP/0.9 GET", b"GET /\r\n".to_vec(), V(true)),
            ("HTTP/0.9 GET, space", b"GET / \r\n\r\n".to_vec(), V(true)),
            ("HTTP/0.9 POST", b"POST /\r\n".to_vec(), A),
            ("HTTP/0.9 lower-case get", b"get /\r\n".to_vec(), A),
            ("no URI", b"GET \r\n".to_vec(), A),
            ("lower-case method", b"get / HTTP/1.0\r\n\r\n".to_vec(), V(true)),
            ("method with '@'", b"G@T / HTTP/1.0\r\n\r\n".to_vec(), A),
            ("tab and double spaces", b"GET\t/  HTTP/1.0\r\n\r\n".to_vec(), V(true)),
            ("space before the method", b" GET / HTTP/1.0\r\n\r\n".to_vec(), A),
            ("empty lines first", b"\r\n\nGET / HTTP/1.0\r\n\r\n".to_vec(), V(true)),
            ("bare LFs", b"GET / HTTP/1.0\nA: b\n\n".to_vec(), V(true)),
            ("CR without LF", b"GET / HTTP/1.0\r\r\n\r\n".to_vec(), A),
            ("URI with '#'", b"GET /a#b HTTP/1.0\r\n\r\n".to_vec(), A),
            ("URI with 0xff", b"GET /\xff HTTP/1.0\r\n\r\n".to_vec(), A),
            ("URI with quotes", b"GET /a\"b<> HTTP/1.0\r\n\r\n".to_vec(), V(true)),
            ("version HTTP/2.0", b"GET / HTTP/2.0\r\n\r\n".to_vec(), V(true)),
            ("version FOO", b"GET / FOO\r\n\r\n".to_vec(), V(true)),
            ("version in lower case", b"GET / http/1.0\r\n\r\n".to_vec(), A),
            ("space after the version", b"GET / HTTP/1.0 \r\n\r\n".to_vec(), A),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), V(true)),
            ("header without colon", b"GET / HTTP/1.0\r\nbad header\r\n\r\n".to_vec(), A),
            ("empty header name", b"GET / HTTP/1.0\r\n: x\r\n\r\n".to_vec(), A),
            ("space before colon", b"GET / HTTP/1.0\r\nHost : x\r\n\r\n".to_vec(), A),
            ("NUL in a value", b"GET / HTTP/1.0\r\nHost: a\x00b\r\n\r\n".to_vec(), V(true)),
            ("folded header", b"GET / HTTP/1.0\r\nHost: a\r\n folded\r\n\r\n".to_vec(), V(true)),
            ("fold first", b"GET / HTTP/1.1\r\n folded\r\n\r\n".to_vec(), A),
            ("98 headers", hdrs(98), V(true)),
            ("99 headers", hdrs(99), A),
            ("255-byte name", long_name(255), V(true)),
            ("256-byte name", long_name(256), A),
            ("Content-Length list", b"GET / HTTP/1.1\r\nContent-Length: 1 ,1\r\n\r\n".to_vec(), V(true)),
            ("Content-Length disagree", b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(), A),
            ("Content-Length +1", b"GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n".to_vec(), A),
            ("Content-Length empty", b"GET / HTTP/1.1\r\nContent-Length: \r\n\r\n".to_vec(), A),
            ("Content-Length overflow", b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(), A),
            ("chunked last", b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n".to_vec(), V(true)),
            ("chunked not last", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec(), A),
            ("chunked twice", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), A),
            ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), A),
            ("same Host twice", b"GET / HTTP/1.1\r\nHost: A\r\nhost: a\r\n\r\n".to_vec(), V(true)),
            ("absolute URI, other Host", b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n".to_vec(), A),
            ("absolute URI, port 80", b"GET http://u@a:80/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), V(true)),
            ("https URI, port 80", b"GET https://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), A),
            ("CONNECT host:port", b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), V(true)),
            ("CONNECT without port", b"CONNECT a HTTP/1.1\r\n\r\n".to_vec(), A),
            ("CONNECT, Host on another port", b"CONNECT a:443 HTTP/1.1\r\nHost: a:43\r\n\r\n".to_vec(), A),
        ];
        for (desc, buf, want) in cases {
            assert_eq!(proto_http(&buf), want, "{desc}");
        }
    }

    /// A prefix of `buf` answers Incomplete or what the whole answers.
    fn agrees(f: impl Fn(&[u8]) -> String, buf: &[u8], k: usize) -> Result<(), TestCaseError> {
        let (part, whole) = (f(&buf[..k]), f(buf));
        prop_assert!(
            part == "Incomplete" || part == whole,
            "{} vs {} at {}",
            part,
            whole,
            k
        );
        Ok(())
    }

    fn all_agree(
        buf: &[u8],
        k: usize,
        a: usize,
        b: usize,
        o: Option<i64>,
    ) -> Result<(), TestCaseError> {
        agrees(|x| format!("{:?}", proto_http(x)), buf, k)?;
        agrees(|x| format!("{:?}", rdp_cookie(x, None)), buf, k)?;
        agrees(|x| format!("{:?}", rdp_cookie(x, Some("mstshash"))), buf, k)?;
        agrees(|x| format!("{:?}", payload(x, a, b)), buf, k)?;
        agrees(|x| format!("{:?}", payload_lv(x, a, b, o)), buf, k)
    }

    proptest! {
        #[test]
        fn any_bytes_any_prefix(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            k in any::<prop::sample::Index>(),
            (a, b, o) in (0usize..40, 1usize..6, proptest::option::of(-40i64..40)),
        ) {
            all_agree(&bytes, k.index(bytes.len() + 1), a, b, o)?;
        }

        #[test]
        fn requests_any_prefix(
            lines in proptest::collection::vec(prop_oneof![
                Just("GET / HTTP/1.1"), Just("Host: a"), Just(" fold"), Just("Content-Length: 1"),
                Just("Transfer-Encoding: chunked"), Just("Cookie: mstshash=x"), Just(""), Just("GET /"),
                Just("\u{3}\0\0\u{2b}&\u{e0}\0\0\0\0\0Cookie: msts=y"), Just("X:\ty\r"),
            ], 1..8),
            eol in prop_oneof![Just("\r\n"), Just("\n")],
            k in any::<prop::sample::Index>(),
        ) {
            let buf: Vec<u8> = lines.iter().flat_map(|l| [l.as_bytes(), eol.as_bytes()].concat()).collect();
            all_agree(&buf, k.index(buf.len() + 1), 0, 2, None)?;
        }
    }
}
