//! Every expected request below is what HAProxy 2.6.12 sent to a capture
//! server for the same settings; every expected verdict is what it logged
//! for the same response.

use super::*;
use crate::config::Pattern;
use crate::health::script::tests::judge;
use crate::health::script::{Expect, ExpectKind};

fn check(method: &str, uri: &str, version: &str) -> HttpCheck {
    HttpCheck {
        method: method.into(),
        uri: uri.into(),
        version: version.into(),
        ..HttpCheck::default()
    }
}

fn with_headers(mut c: HttpCheck, headers: &[(&str, &str)]) -> HttpCheck {
    c.headers = headers
        .iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect();
    c
}

fn with_body(mut c: HttpCheck, body: &str) -> HttpCheck {
    c.body = Some(body.into());
    c
}

#[test]
fn requests_match_haproxy_bytes() {
    let cases: Vec<(&str, HttpCheck, &str)> = vec![
        (
            "bare option httpchk",
            HttpCheck::default(),
            "OPTIONS / HTTP/1.0\r\n\r\n",
        ),
        (
            "uri only",
            check("OPTIONS", "/health", "HTTP/1.0"),
            "OPTIONS /health HTTP/1.0\r\n\r\n",
        ),
        (
            "GET, 1.0",
            check("GET", "/health", "HTTP/1.0"),
            "GET /health HTTP/1.0\r\n\r\n",
        ),
        (
            "GET, 1.1 adds connection: close",
            check("GET", "/health", "HTTP/1.1"),
            "GET /health HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "headers lower-cased, in order",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Host", "www.example.com"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.1\r\nhost: www.example.com\r\nx-a: b\r\nconnection: close\r\n\r\n",
        ),
        (
            "value kept verbatim",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("X-A", "  spaced  value ")],
            ),
            "GET /health HTTP/1.1\r\nx-a:   spaced  value \r\nconnection: close\r\n\r\n",
        ),
        (
            "repeated header",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("X-A", "a"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.1\r\nx-a: a\r\nx-a: b\r\nconnection: close\r\n\r\n",
        ),
        (
            "body, 1.1",
            with_body(
                with_headers(check("POST", "/health", "HTTP/1.1"), &[("Host", "www")]),
                "hello world",
            ),
            "POST /health HTTP/1.1\r\nhost: www\r\ncontent-length: 11\r\nconnection: close\r\n\r\nhello world",
        ),
        (
            "body, 1.0",
            with_body(check("POST", "/health", "HTTP/1.0"), "hello"),
            "POST /health HTTP/1.0\r\ncontent-length: 5\r\n\r\nhello",
        ),
        (
            "configured content-length replaced",
            with_body(
                with_headers(
                    check("GET", "/health", "HTTP/1.1"),
                    &[("Content-Length", "3")],
                ),
                "abcdef",
            ),
            "GET /health HTTP/1.1\r\ncontent-length: 6\r\nconnection: close\r\n\r\nabcdef",
        ),
        (
            "transfer-encoding dropped",
            with_body(
                with_headers(
                    check("GET", "/health", "HTTP/1.1"),
                    &[("Transfer-Encoding", "chunked")],
                ),
                "abc",
            ),
            "GET /health HTTP/1.1\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
        ),
        (
            "POST without body, 1.1",
            check("POST", "/health", "HTTP/1.1"),
            "POST /health HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
        (
            "POST without body, 1.0",
            check("POST", "/h", "HTTP/1.0"),
            "POST /h HTTP/1.0\r\ncontent-length: 0\r\n\r\n",
        ),
        (
            "PUT",
            check("PUT", "/h", "HTTP/1.1"),
            "PUT /h HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
        (
            "DELETE",
            check("DELETE", "/h", "HTTP/1.1"),
            "DELETE /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "HEAD",
            check("HEAD", "/h", "HTTP/1.1"),
            "HEAD /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "OPTIONS 1.1",
            check("OPTIONS", "/h", "HTTP/1.1"),
            "OPTIONS /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "lower-case method is not GET",
            check("get", "/h", "HTTP/1.1"),
            "get /h HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
        (
            "unknown method",
            check("FOO", "/h", "HTTP/1.1"),
            "FOO /h HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ),
        (
            "lower-case version normalised",
            check("GET", "/h", "http/1.1"),
            "GET /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "2.0 sent as 1.1",
            check("GET", "/h", "HTTP/2.0"),
            "GET /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "only the digits count",
            check("GET", "/h", "XTTP/1.1"),
            "GET /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            "lower-case 1.0 verbatim",
            check("GET", "/h", "http/1.0"),
            "GET /h http/1.0\r\n\r\n",
        ),
        (
            "0.9 verbatim",
            check("GET", "/h", "HTTP/0.9"),
            "GET /h HTTP/0.9\r\n\r\n",
        ),
        (
            "odd version verbatim",
            check("GET", "/h", "HTTP/1.10"),
            "GET /h HTTP/1.10\r\n\r\n",
        ),
        (
            "connection: close configured moves last",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Connection", "close"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.1\r\nx-a: b\r\nconnection: close\r\n\r\n",
        ),
        (
            "keep-alive on 1.1 is the default: no header",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Connection", "keep-alive"), ("X-Case", "MiXeD")],
            ),
            "GET /health HTTP/1.1\r\nx-case: MiXeD\r\n\r\n",
        ),
        (
            "keep-alive on 1.0 written",
            with_headers(
                check("GET", "/health", "HTTP/1.0"),
                &[("Connection", "keep-alive")],
            ),
            "GET /health HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
        ),
        (
            "close on 1.0 is the default: no header",
            with_headers(
                check("GET", "/health", "HTTP/1.0"),
                &[("Connection", "close"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.0\r\nx-a: b\r\n\r\n",
        ),
        (
            "other tokens stay in place, no close added",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Connection", "foo"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.1\r\nconnection: foo\r\nx-a: b\r\n\r\n",
        ),
        (
            "upgrade",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Connection", "upgrade"), ("Upgrade", "foo")],
            ),
            "GET /health HTTP/1.1\r\nconnection: upgrade\r\nupgrade: foo\r\n\r\n",
        ),
        (
            "mixed tokens",
            with_headers(
                check("GET", "/health", "HTTP/1.1"),
                &[("Connection", "Foo, bar,close"), ("X-A", "b")],
            ),
            "GET /health HTTP/1.1\r\nconnection: Foo, bar\r\nx-a: b\r\nconnection: close\r\n\r\n",
        ),
        (
            "headers hidden in the version (pre-2.2 trick)",
            check("GET", "/", "HTTP/1.1\r\nHost: www"),
            "GET / HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n",
        ),
    ];
    for (what, c, want) in cases {
        assert_eq!(String::from_utf8_lossy(&request(&c)), want, "{what}: {c:?}");
    }
}

/// (what, expects, response, verdict)
type Case<'a, T> = (&'a str, Vec<HttpExpect>, &'a [u8], T);

fn expect(negate: bool, matcher: HttpMatch) -> HttpExpect {
    HttpExpect { negate, matcher }
}

fn re(s: &str) -> Pattern {
    Pattern(regex::bytes::Regex::new(s).expect("test regex"))
}

fn response(expects: Vec<HttpExpect>, disable_on_404: bool) -> Expect {
    let c = HttpCheck {
        expect: expects,
        disable_on_404,
        ..check("GET", "/h", "HTTP/1.0")
    };
    Expect::new(ExpectKind::Http(Response::new(&c)))
}

fn ok(status: CheckStatus, code: u32) -> Verdict {
    Verdict::new(status).code(code)
}

fn sts(code: u32, reason: &str) -> Verdict {
    let v = Verdict::new(CheckStatus::L7Sts).code(code);
    if reason.is_empty() { v } else { v.info(reason) }
}

fn rsp(info: &str) -> Verdict {
    let v = Verdict::new(CheckStatus::L7Rsp);
    if info.is_empty() { v } else { v.info(info) }
}

const OK_BODY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nnope";

#[test]
fn default_expect_verdicts() {
    // (what, response, verdict); the server closes after its response.
    let cases: Vec<(&str, &[u8], Result<Verdict, Verdict>)> = vec![
        (
            "200",
            b"HTTP/1.0 200 OK\r\n\r\n",
            Ok(ok(CheckStatus::L7Ok, 200)),
        ),
        (
            "301",
            b"HTTP/1.0 301 Moved\r\n\r\n",
            Ok(ok(CheckStatus::L7Ok, 301)),
        ),
        ("503", UNAVAILABLE, Err(sts(503, "Service Unavailable"))),
        ("no reason", b"HTTP/1.1 503\r\n\r\n", Err(sts(503, ""))),
        ("empty reason", b"HTTP/1.1 503 \r\n\r\n", Err(sts(503, ""))),
        (
            "404",
            b"HTTP/1.1 404 Not Found\r\n\r\n",
            Err(sts(404, "Not Found")),
        ),
        ("199", b"HTTP/1.1 199 X\r\n\r\n", Err(sts(199, "X"))),
        ("600", b"HTTP/1.1 600 X\r\n\r\n", Err(sts(600, "X"))),
        (
            "two-digit status",
            b"HTTP/1.1 20 OK\r\n\r\n",
            Err(sts(20, "OK")),
        ),
        ("bare LF", b"HTTP/1.1 503 Down\n\n", Err(sts(503, "Down"))),
        (
            "HTTP/2.0 line",
            b"HTTP/2.0 503 Down\r\n\r\n",
            Err(sts(503, "Down")),
        ),
        (
            "reason kept",
            b"HTTP/1.1 503 Down Now  \r\n\r\n",
            Err(sts(503, "Down Now  ")),
        ),
        (
            "reason escaped",
            b"HTTP/1.1 503 \"q\" \t\xc3\xa9\x7f<>\\'\r\n\r\n",
            Err(sts(503, "<22>q<22> <09><C3><A9><7F><3C><3E>\\'")),
        ),
        (
            "body not awaited without a body expect",
            b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabc",
            Err(sts(500, "Oops")),
        ),
        ("not HTTP", b"hello\r\n", Err(rsp(""))),
        ("empty", b"", Err(rsp(""))),
        ("no end of headers", b"HTTP/1.1 200 OK\r\n", Err(rsp(""))),
        ("no end of line", b"HTTP/1.1 200 OK", Err(rsp(""))),
        ("bad status", b"HTTP/1.1 abc OK\r\n\r\n", Err(rsp(""))),
        ("ICY", b"ICY 200 OK\r\n\r\n", Err(rsp(""))),
        (
            "lower-case version",
            b"http/1.1 503 Down\r\n\r\n",
            Err(rsp("")),
        ),
        (
            "header without colon",
            b"HTTP/1.1 503 Down\r\nBad Header\r\n\r\n",
            Err(rsp("")),
        ),
    ];
    let e = response(vec![], false);
    for (what, input, want) in cases {
        let got = judge(&e, input);
        let want = match want {
            Ok(verdict) => Progress::Pass {
                consumed: input.len(),
                verdict,
            },
            Err(v) => Progress::Fail(v),
        };
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn explicit_expect_verdicts() {
    use HttpMatch::*;
    let pass = |code| Ok(ok(CheckStatus::L7Ok, code));
    let nomatch = Err(rsp("HTTP content check did not match"));
    let unwanted = Err(rsp("HTTP check matched unwanted content"));
    let nobody = Err(rsp("HTTP content check could not find a response body"));
    let s = |t: &str| String(t.to_string());
    #[rustfmt::skip]
    let cases: Vec<Case<Result<Verdict, Verdict>>> = vec![
        ("status ok", vec![expect(false, Status(vec![(200, 200)]))], OK_BODY, pass(200)),
        ("status bad", vec![expect(false, Status(vec![(200, 200)]))], UNAVAILABLE,
            Err(sts(503, "Service Unavailable"))),
        ("! status on match", vec![expect(true, Status(vec![(200, 200)]))], OK_BODY,
            Err(sts(200, "OK"))),
        ("! status passes", vec![expect(true, Status(vec![(200, 200)]))], UNAVAILABLE, pass(503)),
        ("range list", vec![expect(false, Status(vec![(200, 299), (503, 503)]))], UNAVAILABLE,
            pass(503)),
        ("range list miss", vec![expect(false, Status(vec![(300, 399), (404, 404)]))],
            UNAVAILABLE, Err(sts(503, "Service Unavailable"))),
        ("rstatus miss", vec![expect(false, RStatus(re("^2")))], UNAVAILABLE,
            Err(sts(503, "Service Unavailable"))),
        ("! rstatus match", vec![expect(true, RStatus(re("^5")))], UNAVAILABLE,
            Err(sts(503, "Service Unavailable"))),
        ("rstatus ok", vec![expect(false, RStatus(re("^2")))], OK_BODY, pass(200)),
        ("string found", vec![expect(false, s("hello"))], OK_BODY, pass(200)),
        ("string missing", vec![expect(false, s("nope"))], OK_BODY, nomatch.clone()),
        ("! string found", vec![expect(true, s("hello"))], OK_BODY, unwanted.clone()),
        ("! string missing", vec![expect(true, s("nope"))], OK_BODY, pass(200)),
        ("string ignores status", vec![expect(false, s("nope"))], UNAVAILABLE, pass(503)),
        ("rstring found", vec![expect(false, RString(re("wor.d")))], OK_BODY, pass(200)),
        ("rstring missing", vec![expect(false, RString(re("^x")))], OK_BODY, nomatch.clone()),
        ("! rstring found", vec![expect(true, RString(re("wor.d")))], OK_BODY, unwanted.clone()),
        ("first failure decides",
            vec![expect(false, Status(vec![(200, 200)])), expect(false, s("nope"))],
            OK_BODY, nomatch.clone()),
        ("status after body",
            vec![expect(false, s("hello")), expect(false, Status(vec![(201, 201)]))],
            OK_BODY, Err(sts(200, "OK"))),
        ("Content-Length: 0", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nobody.clone()),
        ("no body before close", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\n\r\n", nobody.clone()),
        ("! string, no body", vec![expect(true, s("hello"))],
            b"HTTP/1.1 200 OK\r\n\r\n", nobody.clone()),
        ("body until close", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\n\r\nxx hello", pass(200)),
        ("body cut short", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\n\r\nhel", nomatch.clone()),
        ("content-length cut short", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", nomatch.clone()),
        ("! string, cut short", vec![expect(true, s("hello"))],
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", pass(200)),
        ("bytes past Content-Length ignored", vec![expect(false, s("EXTRA"))],
            b"HTTP/1.1 200 OK\r\ncontent-length:  5 \r\n\r\nhelloEXTRA", nomatch.clone()),
        ("chunked, match across chunks", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            pass(200)),
        ("chunked cut short", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n",
            nomatch.clone()),
        ("chunked garbage", vec![expect(false, s("hello"))],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhel\r\n", Err(rsp(""))),
    ];
    for (what, expects, input, want) in cases {
        let e = response(expects, false);
        let want = match want {
            Ok(verdict) => Progress::Pass {
                consumed: input.len(),
                verdict,
            },
            Err(v) => Progress::Fail(v),
        };
        assert_eq!(judge(&e, input), want, "{what}");
    }
}

#[test]
fn disable_on_404_drains_whatever_the_expects() {
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nhello";
    let drained = Progress::Pass {
        consumed: not_found.len(),
        verdict: ok(CheckStatus::L7OkC, 404),
    };
    for expects in [
        vec![],
        vec![expect(false, HttpMatch::Status(vec![(200, 200)]))],
        vec![expect(false, HttpMatch::String("nope".into()))],
    ] {
        assert_eq!(judge(&response(expects, true), not_found), drained);
    }
    assert_eq!(
        judge(&response(vec![], true), UNAVAILABLE),
        Progress::Fail(sts(503, "Service Unavailable"))
    );
}

#[test]
fn waits_only_as_long_as_haproxy_does() {
    use HttpMatch::*;
    let s = |t: &str| String(t.to_string());
    let partial = &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel"[..];
    // (what, expects, bytes so far on an open connection, verdict or wait)
    let cases: Vec<Case<Option<Progress>>> = vec![
        ("nothing yet", vec![], b"", None),
        ("status line only", vec![], b"HTTP/1.1 200 OK\r\n", None),
        (
            "headers complete, no body expect",
            vec![],
            partial,
            Some(Progress::Pass {
                consumed: partial.len(),
                verdict: ok(CheckStatus::L7Ok, 200),
            }),
        ),
        (
            "body miss waits",
            vec![expect(false, s("hello"))],
            partial,
            None,
        ),
        (
            "body hit decides at once",
            vec![expect(false, s("hel"))],
            partial,
            Some(Progress::Pass {
                consumed: partial.len(),
                verdict: ok(CheckStatus::L7Ok, 200),
            }),
        ),
        (
            "unwanted hit decides at once",
            vec![expect(true, s("hel"))],
            partial,
            Some(Progress::Fail(rsp("HTTP check matched unwanted content"))),
        ),
        (
            "! miss waits for the whole body",
            vec![expect(true, s("nope"))],
            partial,
            None,
        ),
        (
            "no Content-Length waits for close",
            vec![expect(false, s("hel"))],
            b"HTTP/1.1 200 OK\r\n\r\n",
            None,
        ),
        (
            "garbage fails at once",
            vec![],
            b"ICY 200 OK\r\n",
            Some(Progress::Fail(rsp(""))),
        ),
    ];
    for (what, expects, input, want) in cases {
        let e = response(expects, false);
        assert_eq!(
            e.eval(input, false),
            want.unwrap_or(Progress::NeedMore),
            "{what}"
        );
    }
    assert_eq!(
        response(vec![], false).timeout(),
        Verdict::new(CheckStatus::L7Tout)
    );
}
