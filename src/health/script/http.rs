//! `option httpchk`: the request HAProxy 2.6 sends and how it judges the
//! response.
//!
//! The request is what HAProxy's HTTP/1 layer writes, observed byte for
//! byte with a capture server:
//! - the request line keeps method and URI as written; a version of the
//!   form `X/d.d` at least 1.1 (`http/1.1`, `HTTP/2.0`) is sent as
//!   `HTTP/1.1`, anything else (`HTTP/1.0`, `HTTP/0.9`, `FOO`) verbatim and
//!   treated as 1.0;
//! - header names are lower-cased, values kept verbatim;
//! - `content-length` and `transfer-encoding` from the config are dropped;
//!   `content-length: N` follows the headers when there is a body, and
//!   `content-length: 0` when there is none and the method is not exactly
//!   `GET`, `HEAD`, `OPTIONS` or `DELETE` (even `get` gets one);
//! - HAProxy adds `Connection: close` itself unless the config sets a
//!   `Connection` header. `close` and `keep-alive` are taken out of that
//!   header (which stays in place if other tokens remain) and become the
//!   connection mode, written last: `connection: close` for HTTP/1.1,
//!   `connection: keep-alive` for 1.0; the default of the version is not
//!   written.
//!
//! Response verdicts, observed the same way: see [`Response::eval`].

use super::super::status::{CheckStatus, Verdict, printable};
use super::{Progress, find, non_empty};
use crate::config::{HttpCheck, HttpExpect, HttpMatch};

/// The request bytes of `check`.
pub(super) fn request(check: &HttpCheck) -> Vec<u8> {
    // The pre-2.2 trick of hiding headers in the version
    // ("HTTP/1.1\r\nHost: www") still works in HAProxy 2.6 (with a
    // warning): the hidden lines become headers before the configured ones.
    let mut lines = check.version.split("\r\n");
    let version = lines.next().unwrap_or_default();
    let hidden = lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n, v.trim_start())));
    let configured = check.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));

    let http11 = is_http11(version);
    let mut out = Vec::new();
    out.extend_from_slice(check.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(check.uri.as_bytes());
    out.push(b' ');
    out.extend_from_slice(if http11 { "HTTP/1.1" } else { version }.as_bytes());
    out.extend_from_slice(b"\r\n");

    let (mut has_connection, mut close, mut keep_alive) = (false, false, false);
    for (name, value) in hidden.chain(configured) {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" | "transfer-encoding" => continue,
            "connection" => {
                has_connection = true;
                let mut kept = Vec::new();
                for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    } else {
                        kept.push(token);
                    }
                }
                if !kept.is_empty() {
                    header(&mut out, "connection", &kept.join(", "));
                }
            }
            _ => header(&mut out, &name, value),
        }
    }

    let body = check.body.as_deref().unwrap_or_default();
    let bodyless = matches!(check.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "DELETE");
    if !body.is_empty() || !bodyless {
        header(&mut out, "content-length", &body.len().to_string());
    }
    if !has_connection {
        close = true;
    }
    if http11 && close {
        header(&mut out, "connection", "close");
    } else if !http11 && keep_alive && !close {
        header(&mut out, "connection", "keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// HAProxy looks at the digits only: `XTTP/1.1` counts as 1.1 and is sent
/// as `HTTP/1.1`, while `HTTP/1.10` or `HTTP/3` are sent as written.
fn is_http11(version: &str) -> bool {
    match version.as_bytes() {
        [_, _, _, _, _, major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            (*major, *minor) >= (b'1', b'1')
        }
        _ => false,
    }
}

/// How the response of one httpchk is judged.
#[derive(Debug, Clone)]
pub(super) struct Response {
    expect: Vec<HttpExpect>,
    disable_on_404: bool,
    /// A HEAD response has no body whatever its headers say.
    head: bool,
}

/// A parsed status line and headers.
struct Head<'a> {
    code: u32,
    /// The three (or fewer) status digits as received, for `rstatus`.
    code_text: &'a [u8],
    reason: &'a [u8],
    framing: Framing,
    /// Where the body starts in the buffer.
    body_at: usize,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A response that can never become valid HTTP.
struct Invalid;

impl Response {
    pub(super) fn new(check: &HttpCheck) -> Self {
        Response {
            expect: check.expect.clone(),
            disable_on_404: check.disable_on_404,
            head: check.method == "HEAD",
        }
    }

    /// HAProxy 2.6's verdicts:
    /// - no complete status line and headers by eof (garbage, empty, cut
    ///   short): L7RSP without info;
    /// - `disable-on-404` and status 404: L7OKC, whatever the expects;
    /// - no expect: 2xx/3xx is L7OK with the status as code, anything else
    ///   L7STS with the code and the reason phrase as info (none if empty);
    /// - expects are judged in order and the first that fails decides:
    ///   `status`/`rstatus` (or their `!`) fail as L7STS like above; a body
    ///   match fails as L7RSP "HTTP content check did not match", a `!`
    ///   body match as "HTTP check matched unwanted content", and an empty
    ///   body as "HTTP content check could not find a response body".
    ///   A body match is decided as soon as the bytes show up; a miss waits
    ///   for the whole body (Content-Length, last chunk or eof);
    /// - all expects passed: L7OK with the status as code, no info.
    pub(super) fn eval(&self, buf: &[u8], eof: bool) -> Progress {
        let head = match parse_head(buf) {
            Ok(Some(head)) => head,
            Ok(None) if !eof => return Progress::NeedMore,
            Ok(None) | Err(Invalid) => return Progress::Fail(Verdict::new(CheckStatus::L7Rsp)),
        };
        let pass = |status| Progress::Pass {
            consumed: buf.len(),
            verdict: Verdict::new(status).code(head.code),
        };
        if self.disable_on_404 && head.code == 404 {
            return pass(CheckStatus::L7OkC);
        }
        if self.expect.is_empty() {
            return if (200..400).contains(&head.code) {
                pass(CheckStatus::L7Ok)
            } else {
                Progress::Fail(wrong_status(&head))
            };
        }
        let mut body = None;
        for e in &self.expect {
            let matched = match &e.matcher {
                HttpMatch::Status(ranges) => ranges
                    .iter()
                    .any(|&(lo, hi)| (u32::from(lo)..=u32::from(hi)).contains(&head.code)),
                HttpMatch::RStatus(re) => re.0.is_match(head.code_text),
                HttpMatch::String(_) | HttpMatch::RString(_) => {
                    if body.is_none() {
                        match self.body(&head, buf, eof) {
                            Ok(b) => body = Some(b),
                            Err(Invalid) => {
                                return Progress::Fail(Verdict::new(CheckStatus::L7Rsp));
                            }
                        }
                    }
                    let Some((bytes, complete)) = &body else {
                        unreachable!("the body was just read")
                    };
                    let found = match &e.matcher {
                        HttpMatch::String(s) => find(bytes, s.as_bytes()).is_some(),
                        HttpMatch::RString(re) => re.0.is_match(bytes),
                        _ => unreachable!("status matchers are handled above"),
                    };
                    if !found && !complete {
                        return Progress::NeedMore;
                    }
                    if !found && bytes.is_empty() {
                        return content_fail("HTTP content check could not find a response body");
                    }
                    if found == e.negate {
                        return content_fail(if e.negate {
                            "HTTP check matched unwanted content"
                        } else {
                            "HTTP content check did not match"
                        });
                    }
                    continue;
                }
            };
            if matched == e.negate {
                return Progress::Fail(wrong_status(&head));
            }
        }
        pass(CheckStatus::L7Ok)
    }

    /// The body received so far, de-chunked, and whether it is complete.
    fn body(&self, head: &Head, buf: &[u8], eof: bool) -> Result<(Vec<u8>, bool), Invalid> {
        let raw = &buf[head.body_at..];
        if self.head || head.code < 200 || head.code == 204 || head.code == 304 {
            return Ok((Vec::new(), true));
        }
        match head.framing {
            Framing::Length(n) => Ok((raw[..raw.len().min(n)].to_vec(), eof || raw.len() >= n)),
            Framing::UntilClose => Ok((raw.to_vec(), eof)),
            Framing::Chunked => dechunk(raw).map(|(b, done)| (b, done || eof)),
        }
    }
}

fn wrong_status(head: &Head) -> Verdict {
    let v = Verdict::new(CheckStatus::L7Sts).code(head.code);
    match non_empty(printable(head.reason)) {
        Some(reason) => v.info(reason),
        None => v,
    }
}

fn content_fail(info: &str) -> Progress {
    Progress::Fail(Verdict::new(CheckStatus::L7Rsp).info(info))
}

/// The next line of `buf` from `at`: its bytes without CR LF (or a bare LF,
/// which HAProxy accepts too) and where the following line starts.
fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = buf[at..].iter().position(|&b| b == b'\n')?;
    let line = &buf[at..at + len];
    Some((line.strip_suffix(b"\r").unwrap_or(line), at + len + 1))
}

/// Status line and headers, `Ok(None)` until the blank line arrives.
/// HAProxy wants `HTTP/d.d` in upper case, a numeric status (it took a
/// two-digit `20`) and `name: value` headers.
fn parse_head(buf: &[u8]) -> Result<Option<Head<'_>>, Invalid> {
    let Some((status, mut at)) = line(buf, 0) else {
        return Ok(None);
    };
    let (version, rest) = split_space(status);
    let version_ok = matches!(version, [b'H', b'T', b'T', b'P', b'/', a, b'.', b]
        if a.is_ascii_digit() && b.is_ascii_digit());
    let (code_text, reason) = split_space(rest);
    if !version_ok || code_text.is_empty() || code_text.len() > 3 {
        return Err(Invalid);
    }
    if !code_text.iter().all(u8::is_ascii_digit) {
        return Err(Invalid);
    }
    let code = code_text
        .iter()
        .fold(0, |n, d| n * 10 + u32::from(d - b'0'));

    let mut framing = Framing::UntilClose;
    loop {
        let Some((header, next)) = line(buf, at) else {
            return Ok(None);
        };
        at = next;
        if header.is_empty() {
            break;
        }
        let colon = header.iter().position(|&b| b == b':').ok_or(Invalid)?;
        let name = &header[..colon];
        if name.is_empty() || name.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(Invalid);
        }
        let value = header[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if value.to_ascii_lowercase().ends_with(b"chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case(b"content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let n = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            framing = Framing::Length(n.ok_or(Invalid)?);
        }
    }
    Ok(Some(Head {
        code,
        code_text,
        reason,
        framing,
        body_at: at,
    }))
}

/// Splits at the first space: the reason phrase keeps its inner and
/// trailing blanks, as HAProxy logs it ("Down Now  ").
fn split_space(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

/// Decodes the chunks received so far; `true` once the last chunk came.
fn dechunk(mut raw: &[u8]) -> Result<(Vec<u8>, bool), Invalid> {
    let mut body = Vec::new();
    loop {
        let Some((size_line, start)) = line(raw, 0) else {
            return Ok((body, false));
        };
        let hex = size_line.split(|&b| b == b';').next().unwrap_or_default();
        let hex = std::str::from_utf8(hex.trim_ascii()).map_err(|_| Invalid)?;
        let size = usize::from_str_radix(hex, 16).map_err(|_| Invalid)?;
        if size == 0 {
            return Ok((body, true));
        }
        let data = &raw[start..];
        if data.len() < size {
            body.extend_from_slice(data);
            return Ok((body, false));
        }
        body.extend_from_slice(&data[..size]);
        let after = &data[size..];
        raw = match after {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] => rest,
            [] | [b'\r'] => return Ok((body, false)),
            _ => return Err(Invalid),
        };
    }
}

#[cfg(test)]
mod tests;
