//! The HTTP/1.x side of stats frontends: a small request parser (request
//! line, headers, a `Content-Length` body), responses, and one client
//! connection's life as an explicit state: read one request within the
//! request timeout, write the answer, then read and drop what the client
//! still sends until it closes, so that closing never resets the
//! connection under an answer it has not read. One request per
//! connection (`Connection: close`).
//!
//! Nothing a client sends can hurt the admin thread: a request over
//! [`MAX_REQUEST`] bytes or that does not parse gets a 400 and its
//! connection is closed; a slow one gets a 408 at its deadline.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::base::slot::Slot;
use crate::config::DEFAULT_STATS_TIMEOUT;
use crate::runtime::{Counters, FrontendState, OTHER_THREADS, Runtime};

/// Largest request, head and body together (HAProxy's default
/// `tune.bufsize`, beyond which it answers 400).
pub(super) const MAX_REQUEST: usize = 16 * 1024;
/// How long the client may keep sending after its answer before the
/// connection is closed anyway.
const LINGER: Duration = Duration::from_secs(1);
/// Bytes dropped per readiness event while lingering.
const DRAIN_CHUNK: usize = 64 * 1024;
/// Headers kept per request (more is a bad request).
const MAX_HEADERS: usize = 100;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compare without case).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path: the target without its query string.
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the bytes received so far make.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parse {
    /// Not all of the request yet.
    Partial,
    Done(Request),
    /// Malformed, or too large: a 400.
    Bad(&'static str),
}

/// Parses one request from the start of `buf`.
pub(super) fn parse(buf: &[u8]) -> Parse {
    let Some(head_end) = find(buf, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| find(buf, b"\n\n").map(|i| (i, i + 2)))
    else {
        return if buf.len() >= MAX_REQUEST {
            Parse::Bad("request head too large")
        } else {
            Parse::Partial
        };
    };
    let (head, body_start) = head_end;
    if body_start > MAX_REQUEST {
        return Parse::Bad("request head too large");
    }
    let Ok(head) = std::str::from_utf8(&buf[..head]) else {
        return Parse::Bad("request head is not text");
    };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parse::Bad("bad request line");
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method)
        || !target.starts_with('/')
        || target.bytes().any(|b| b <= b' ' || b == 0x7f)
        || !matches!(version, "HTTP/1.0" | "HTTP/1.1")
    {
        return Parse::Bad("bad request line");
    }
    let mut headers = Vec::new();
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return Parse::Bad("bad header line");
        };
        if !token(name) || headers.len() >= MAX_HEADERS {
            return Parse::Bad("bad header line");
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        return Parse::Bad("chunked request bodies are not accepted");
    }
    let length = match req.header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) if body_start + n <= MAX_REQUEST => n,
        Some(Ok(_)) => return Parse::Bad("request body too large"),
        Some(Err(_)) => return Parse::Bad("bad content-length"),
    };
    if buf.len() < body_start + length {
        return Parse::Partial;
    }
    req.body = buf[body_start..body_start + length].to_vec();
    Parse::Done(req)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(super) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type", content_type.to_string()),
                ("cache-control", "no-cache".into()),
            ],
            body: body.into(),
        }
    }

    pub(super) fn header(mut self, name: &'static str, value: impl ToString) -> Response {
        self.headers.push((name, value.to_string()));
        self
    }

    /// HAProxy's small HTML error pages.
    pub(super) fn error(status: u16) -> Response {
        let text = match status {
            400 => "Your browser sent an invalid request.",
            401 => "You need a valid user and password to access this content.",
            403 => "Request forbidden by administrative rules.",
            405 => "The method is not allowed for this resource.",
            408 => "Your browser didn't send a complete request in time.",
            _ => "No server is available to handle this request.",
        };
        let body = format!(
            "<html><body><h1>{status} {}</h1>\n{text}\n</body></html>\n",
            reason(status)
        );
        Response::new(status, "text/html", body)
    }

    /// The bytes sent: status line, headers, and the body unless `head_only`.
    pub(super) fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        _ => "Service Unavailable",
    }
}

/// Where a connection is in its life.
enum State {
    /// Receiving the request (bytes so far).
    Reading(Vec<u8>),
    /// Sending the answer.
    Writing { out: Vec<u8>, sent: usize },
    /// Answer sent and write side shut: dropping what still comes until
    /// the client closes or [`LINGER`] passes.
    Draining,
}

/// What the admin thread does with a connection after pumping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Wait,
    Close,
}

/// One client of a stats frontend. It holds the runtime in effect when
/// it came, whose frontend counts it (a reload does not move it), and
/// gives its slot under `maxconn` back when dropped.
pub(super) struct Client {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    rt: Arc<Runtime>,
    /// Index of the stats frontend in `rt`.
    frontend: usize,
    /// Its place under the frontend's maxconn.
    _slot: Slot,
    state: State,
    pub deadline: Instant,
    send_timeout: Duration,
}

impl Client {
    /// A client of frontend `frontend` of `rt`, holding the place it took
    /// under the frontend's maxconn.
    pub(super) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        rt: Arc<Runtime>,
        frontend: usize,
        slot: Slot,
    ) -> Client {
        let page = rt.frontends[frontend].config.stats.as_ref();
        let request = page.map_or(DEFAULT_STATS_TIMEOUT, |p| p.request_timeout);
        let send_timeout = page.map_or(DEFAULT_STATS_TIMEOUT, |p| p.send_timeout);
        Client {
            stream,
            peer,
            rt,
            frontend,
            _slot: slot,
            state: State::Reading(Vec::new()),
            deadline: Instant::now() + request,
            send_timeout,
        }
    }

    /// Moves the connection as far as readiness allows; `answer` builds
    /// the response to the request once it is complete.
    pub(super) fn pump(
        &mut self,
        answer: impl FnOnce(&Runtime, &FrontendState, &Request) -> Response,
    ) -> Step {
        let rt = self.rt.clone();
        let fe = &rt.frontends[self.frontend];
        let mut answer = Some(answer);
        loop {
            match &mut self.state {
                State::Reading(buf) => match read_some(&mut self.stream, buf, MAX_REQUEST, fe) {
                    Err(_) => return Step::Close,
                    Ok(ReadEnd::Blocked) => return Step::Wait,
                    Ok(ReadEnd::Eof) if buf.is_empty() => return Step::Close,
                    Ok(end) => {
                        let response = match parse(buf) {
                            Parse::Partial if end == ReadEnd::Eof => return Step::Close,
                            Parse::Partial if buf.len() < MAX_REQUEST => continue,
                            Parse::Partial => Response::error(400),
                            Parse::Bad(why) => {
                                log::debug!("stats page: bad request from {}: {why}", self.peer);
                                Response::error(400)
                            }
                            Parse::Done(req) => match answer.take() {
                                Some(f) => {
                                    let r = f(&rt, fe, &req);
                                    self.respond(r, req.method == "HEAD", fe);
                                    continue;
                                }
                                None => return Step::Close,
                            },
                        };
                        self.respond(response, false, fe);
                    }
                },
                State::Writing { out, sent } => {
                    while *sent < out.len() {
                        match self.stream.write(&out[*sent..]) {
                            Ok(0) => return Step::Close,
                            Ok(n) => {
                                *sent += n;
                                Counters::add(
                                    &fe.counters.shard(OTHER_THREADS).bytes_out,
                                    n as u64,
                                );
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                    if self.stream.shutdown(std::net::Shutdown::Write).is_err() {
                        return Step::Close;
                    }
                    self.state = State::Draining;
                    self.deadline = Instant::now() + LINGER;
                }
                State::Draining => {
                    // A bounded read per event: a client that keeps
                    // sending cannot hold the thread; the next event or
                    // the deadline comes back here.
                    let mut sink = Vec::new();
                    return match read_some(&mut self.stream, &mut sink, DRAIN_CHUNK, fe) {
                        Ok(ReadEnd::Blocked | ReadEnd::Data) => Step::Wait,
                        Ok(ReadEnd::Eof) | Err(_) => Step::Close,
                    };
                }
            }
        }
    }

    fn respond(&mut self, r: Response, head_only: bool, fe: &FrontendState) {
        if matches!(r.status, 400 | 408) {
            Counters::add(&fe.counters.shard(OTHER_THREADS).request_errors, 1);
        }
        self.state = State::Writing {
            out: r.to_bytes(head_only),
            sent: 0,
        };
        self.deadline = Instant::now() + self.send_timeout;
    }

    /// The deadline passed: a request still coming gets a 408 (HAProxy
    /// closes silently when nothing came at all); returns whether to close
    /// now.
    pub(super) fn expire(&mut self) -> Step {
        match &self.state {
            State::Reading(buf) if !buf.is_empty() => {
                let rt = self.rt.clone();
                self.respond(Response::error(408), false, &rt.frontends[self.frontend]);
                self.pump(|_, _, _| Response::error(408))
            }
            _ => Step::Close,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    Data,
    Blocked,
    Eof,
}

/// Reads what is there into `buf`, up to `cap` bytes in all (one byte
/// more than `cap` is allowed, to tell "exactly full" from "too much").
fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    cap: usize,
    fe: &FrontendState,
) -> io::Result<ReadEnd> {
    let mut chunk = [0u8; 4096];
    let mut got = false;
    loop {
        if buf.len() > cap {
            return Ok(ReadEnd::Data);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(n) => {
                Counters::add(&fe.counters.shard(OTHER_THREADS).bytes_in, n as u64);
                buf.extend_from_slice(&chunk[..n]);
                got = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(if got { ReadEnd::Data } else { ReadEnd::Blocked });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(raw: &str) -> Request {
        match parse(raw.as_bytes()) {
            Parse::Done(r) => r,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn requests_parse() {
        let r =
            done("GET /stats;csv?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization:  Basic YTpi \r\n\r\n");
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/stats;csv?x=1");
        assert_eq!(r.path(), "/stats;csv");
        assert_eq!(r.header("authorization"), Some("Basic YTpi"));
        let r = done("POST /s HTTP/1.0\nContent-Length: 5\n\nabcdefg");
        assert_eq!(r.body, b"abcde");
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n"), Parse::Partial);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Parse::Partial
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        // (description, raw request)
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_REQUEST));
        let long_body = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_REQUEST}\r\n\r\n");
        let cases: &[(&str, &str)] = &[
            ("garbage", "garbage\r\n\r\n"),
            ("no version", "GET /\r\n\r\n"),
            ("HTTP/2", "GET / HTTP/2.0\r\n\r\n"),
            ("not a path", "GET http://x/ HTTP/1.1\r\n\r\n"),
            ("space in method", "G T / HTTP/1.1\r\n\r\n"),
            (
                "header without colon",
                "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            ),
            ("bad length", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            (
                "chunked",
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            ("head too large", &huge),
            ("body too large", &long_body),
        ];
        for (what, raw) in cases {
            assert!(matches!(parse(raw.as_bytes()), Parse::Bad(_)), "{what}");
        }
        let no_end = "a".repeat(MAX_REQUEST);
        assert!(matches!(parse(no_end.as_bytes()), Parse::Bad(_)));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = Response::new(200, "text/plain", "hello").header("refresh", 5);
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: no-cache\r\nrefresh: 5\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
        );
        let head = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(head.ends_with("content-length: 5\r\nconnection: close\r\n\r\n"));
        let e = String::from_utf8(Response::error(401).body).unwrap();
        assert!(e.contains("<h1>401 Unauthorized</h1>"), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A well-formed request: a method, a target, headers, a body
        /// announced by Content-Length, CRLF or LF line ends.
        fn request() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
            (
                prop::sample::select(vec!["GET", "HEAD", "POST"]),
                "/[a-z;=?&]{0,20}",
                prop::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,20}"), 0..6),
                prop::collection::vec(any::<u8>(), 0..64),
                any::<bool>(),
            )
                .prop_map(|(method, target, headers, body, crlf)| {
                    let eol = if crlf { "\r\n" } else { "\n" };
                    let mut head = format!("{method} {target} HTTP/1.1{eol}");
                    for (n, v) in headers {
                        // Length and encoding are the strategy's own.
                        if n.eq_ignore_ascii_case("content-length")
                            || n.eq_ignore_ascii_case("transfer-encoding")
                        {
                            continue;
                        }
                        head.push_str(&format!("{n}: {v}{eol}"));
                    }
                    head.push_str(&format!("Content-Length: {}{eol}{eol}", body.len()));
                    let mut raw = head.into_bytes();
                    raw.extend_from_slice(&body);
                    (raw, body)
                })
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
                let _ = parse(&raw);
            }

            /// The parser reads the whole buffer each time: once a prefix
            /// decides (a request or a refusal), more bytes never change
            /// the decision, however the bytes were cut into reads.
            #[test]
            fn a_decided_prefix_stays_decided(
                raw in prop_oneof![
                    request().prop_map(|(raw, _)| raw),
                    prop::collection::vec(any::<u8>(), 0..512),
                ],
                extra in prop::collection::vec(any::<u8>(), 0..64),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut full = raw.clone();
                full.extend_from_slice(&extra);
                let k = cut.index(full.len() + 1);
                match parse(&full[..k]) {
                    Parse::Partial => {}
                    decided => prop_assert_eq!(decided, parse(&full)),
                }
            }

            /// A well-formed request parses whole, with its body, whatever
            /// follows it; every shorter prefix is not complete yet.
            #[test]
            fn well_formed_requests_parse(
                (raw, body) in request(),
                extra in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let mut full = raw.clone();
                full.extend_from_slice(&extra);
                let Parse::Done(r) = parse(&full) else {
                    return Err(TestCaseError::fail(format!("{:?}", parse(&full))));
                };
                prop_assert_eq!(r.body, body);
                for k in 0..raw.len() {
                    prop_assert_eq!(parse(&raw[..k]), Parse::Partial, "prefix {}", k);
                }
            }
        }
    }
}
