//! Rules that look at the bytes: `tcp-request inspect-delay` with
//! `tcp-request content` rules on payload fetches, SNI routing on a TLS
//! ClientHello (`req.ssl_hello_type`, `req.ssl_sni`, whole or in several
//! segments), and `tcp-response inspect-delay` / `tcp-response content`.
//! Each test asserts what a client or an operator sees: which backend
//! answered, the bytes intact, a close with no data, the tcplog line and
//! termination state, `show stat`'s dreq/dresp. Every expectation was
//! checked against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::probe::{Answer, probe, probe_on, read_line_answer};
use crate::common::tcplog::{Tcplog, start, wait_stats};
use crate::common::tls::{Hello, client_hello, make_cert, sni_of, tls_server, write_split};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Reads exactly `n` bytes (a `Backend::named` server's echo).
fn read_n(s: &TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; n];
    (&*s).read_exact(&mut buf).unwrap();
    buf
}

/// The tcplog line of the session of `client`.
fn log_of(api: &Api, client: SocketAddr) -> Tcplog {
    Tcplog::parse(&api.sp.wait_log(&[&format!("{client} [")], WAIT))
}

/// A content `reject` on the first bytes: the client is closed with no
/// data (a FIN), the session logged with termination state `PR`, no
/// backend (`FRONTEND/<NOSRV>`), `-1/-1` for Tw/Tc, and counted in `dreq`.
/// A rule that cannot decide on the bytes so far waits for more, even when
/// a later rule would already match; rules after a matching `accept` are
/// not run.
#[test]
fn content_reject_on_the_first_bytes() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content reject if {{ req.payload(0,4) -m bin 47455420 }}\n    \
             tcp-request content accept if {{ req.len gt 0 }}\n    default_backend be\n\
             frontend first\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.len gt 0 }}\n    \
             tcp-request content reject if {{ req.payload(0,4) -m bin 47455420 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe", "first"],
    );
    let fe = api.sp.addr("fe");
    let (answer, s) = probe_on(LOCAL, fe, b"GET / HTTP/1.0\r\n\r\n", WAIT);
    assert_eq!(answer, Answer::Closed);
    let l = log_of(&api, s.local_addr().unwrap());
    assert_eq!(
        (&*l.frontend, &*l.backend, &*l.server, &*l.term, l.bytes),
        ("fe", "fe", "<NOSRV>", "PR", 0),
        "{l:?}"
    );
    assert_eq!(&l.timers[..2], &[-1, -1], "{l:?}");

    // "GE", then the rest: the reject rule waits for its four bytes
    // although the accept rule below it would match "GE".
    let s = connect_from(LOCAL, fe).unwrap();
    s.set_nodelay(true).unwrap();
    (&s).write_all(b"GE").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    (&s).write_all(b"T / HTTP/1.0\r\n").unwrap();
    assert_eq!(read_line_answer(&s, WAIT), Answer::Closed);
    let l = log_of(&api, s.local_addr().unwrap());
    assert_eq!(&*l.term, "PR", "{l:?}");

    let (answer, s) = probe_on(LOCAL, fe, b"POST / HTTP/1.0\r\n", WAIT);
    assert_eq!(answer, Answer::served("a"));
    assert_eq!(read_n(&s, 17), b"POST / HTTP/1.0\r\n", "bytes intact");
    drop(s);

    // `accept` first: the reject below it is never reached.
    let (answer, s) = probe_on(LOCAL, api.sp.addr("first"), b"GET / HTTP/1.0\r\n", WAIT);
    assert_eq!(answer, Answer::served("a"));
    assert_eq!(read_n(&s, 16), b"GET / HTTP/1.0\r\n");
    assert_eq!(a.accepted(), 2, "rejected sessions never reach the server");
    wait_stats(
        &api,
        &[
            ("fe", "FRONTEND", "dreq", 2),
            ("fe", "FRONTEND", "dcon", 0),
            ("fe", "FRONTEND", "dses", 0),
            ("fe", "FRONTEND", "stot", 3),
            ("first", "FRONTEND", "dreq", 0),
        ],
    );
}

/// A content `silent-drop`: nothing reaches the client; the session is
/// logged `PR` with no server and counted in `dreq`.
#[test]
fn content_silent_drop_is_logged_pr() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content silent-drop if {{ req.payload(0,4) -m str DROP }}\n    \
             tcp-request content accept if {{ req.len gt 0 }}\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let (answer, s) = probe_on(
        LOCAL,
        api.sp.addr("fe"),
        b"DROP me",
        Duration::from_millis(800),
    );
    if root {
        assert_eq!(answer, Answer::Silent);
    } else {
        assert!(
            matches!(answer, Answer::Silent | Answer::Reset),
            "{answer:?}"
        );
    }
    let l = log_of(&api, s.local_addr().unwrap());
    assert_eq!(
        (&*l.backend, &*l.server, &*l.term, l.bytes),
        ("fe", "<NOSRV>", "PR", 0),
        "{l:?}"
    );
    assert_eq!(
        probe(LOCAL, api.sp.addr("fe"), b"keep me", WAIT),
        Answer::served("a")
    );
    assert_eq!(a.accepted(), 1);
    wait_stats(&api, &[("fe", "FRONTEND", "dreq", 1)]);
}

/// A client that sends nothing: the content rules cannot decide until
/// `inspect-delay` ends, then the session goes on with the default
/// (accept) — the server's greeting comes no sooner than the delay.
#[test]
fn inspect_delay_expires_into_default_accept() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 1s\n    \
             tcp-request content reject if {{ req.payload(0,4) -m bin 47455420 }}\n    \
             tcp-request content accept if {{ req.len gt 0 }}\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    let began = Instant::now();
    let (answer, mut s) = probe_on(LOCAL, api.sp.addr("fe"), b"", WAIT);
    let waited = began.elapsed();
    assert_eq!(answer, Answer::served("a"));
    assert!(
        waited >= Duration::from_millis(950),
        "the greeting came after {waited:?}, before the 1s inspect-delay ended"
    );
    // The session then forwards as usual (now GET is just data).
    s.write_all(b"GET /").unwrap();
    assert_eq!(read_n(&s, 5), b"GET /");
    let client = s.local_addr().unwrap();
    drop(s);
    let l = log_of(&api, client);
    assert_eq!((&*l.server, &*l.term, l.bytes), ("s1", "--", 7), "{l:?}");
    wait_stats(&api, &[("fe", "FRONTEND", "dreq", 0)]);
}

/// Content rules that only use layer-4 fetches decide at once: a server
/// that speaks first greets a silent client without waiting for
/// `inspect-delay`.
#[test]
fn layer4_content_rules_do_not_wait_for_data() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content reject if {{ src 127.0.0.2 }}\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let began = Instant::now();
    assert_eq!(probe(LOCAL, fe, b"", WAIT), Answer::served("a"));
    let waited = began.elapsed();
    assert!(
        waited < Duration::from_millis(2500),
        "greeting after {waited:?}: the rules waited for the 5s inspect-delay"
    );
    let lo2 = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(probe(lo2, fe, b"", WAIT), Answer::Closed);
    wait_stats(&api, &[("fe", "FRONTEND", "dreq", 1)]);
}

/// `use_backend` on a payload fetch does not wait for data by itself,
/// `inspect-delay` or not: without a content rule it is evaluated at once
/// on an empty buffer (default backend); a content rule that waits for the
/// bytes makes it see them.
#[test]
fn payload_use_backend_waits_only_behind_a_content_rule() {
    let (be1, be2) = (Backend::named("be1"), Backend::named("be2"));
    let api = start(
        &format!(
            "frontend bare\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             use_backend be2 if {{ req.payload(0,4) -m str ABCD }}\n    default_backend be1\n\
             frontend ruled\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.len ge 4 }}\n    \
             use_backend be2 if {{ req.payload(0,4) -m str ABCD }}\n    default_backend be1\n\
             backend be1\n    server s {}\n\
             backend be2\n    server s {}\n",
            be1.addr, be2.addr
        ),
        &["bare", "ruled"],
    );
    let began = Instant::now();
    let (answer, s) = probe_on(LOCAL, api.sp.addr("bare"), b"", WAIT);
    assert_eq!(answer, Answer::served("be1"));
    assert!(began.elapsed() < Duration::from_millis(2500), "it waited");
    (&s).write_all(b"ABCD").unwrap();
    assert_eq!(read_n(&s, 4), b"ABCD");

    // The client waits for nothing (be2 speaks after the rule decided).
    let s = connect_from(LOCAL, api.sp.addr("ruled")).unwrap();
    write_split(&s, b"ABCDEF", 2, Duration::from_millis(100));
    assert_eq!(read_line_answer(&s, WAIT), Answer::served("be2"));
    assert_eq!(read_n(&s, 6), b"ABCDEF");
}

const SNI_RULES: &str = "    tcp-request inspect-delay 5s\n    \
     tcp-request content accept if { req.ssl_hello_type 1 }\n    \
     use_backend www if { req.ssl_sni -i www.foobar.com }\n    \
     use_backend static if { req.ssl_sni -i static.foobar.com }\n    \
     default_backend other\n";

struct Sni {
    api: Api,
    _servers: [Backend; 3],
}

fn sni_proxy(rules: &str) -> Sni {
    let servers = [
        Backend::named("www"),
        Backend::named("static"),
        Backend::named("other"),
    ];
    let mut rest = format!("frontend fe\n    bind 127.0.0.1:0\n{rules}");
    for (name, b) in ["www", "static", "other"].iter().zip(&servers) {
        rest.push_str(&format!("backend {name}\n    server s {}\n", b.addr));
    }
    Sni {
        api: start(&rest, &["fe"]),
        _servers: servers,
    }
}

/// Sends `hello` in `pieces` writes; returns the backend that answered,
/// after checking that it echoed the hello byte for byte.
fn route_hello(fe: SocketAddr, hello: &[u8], pieces: usize) -> String {
    let s = connect_from(LOCAL, fe).unwrap();
    write_split(&s, hello, pieces, Duration::from_millis(100));
    let Answer::Served(name) = read_line_answer(&s, WAIT) else {
        panic!("hello not served");
    };
    assert!(
        read_n(&s, hello.len()) == hello,
        "the hello arrived altered at {name}"
    );
    name
}

/// The builder's own check: the SNI reads back, the lengths add up.
#[test]
fn client_hello_builder_is_consistent() {
    for tls13 in [false, true] {
        let h = client_hello(&Hello {
            sni: Some("www.foobar.com"),
            alpn: &["h2", "http/1.1"],
            tls13,
            size: Some(1700),
            seed: 3,
        });
        assert_eq!(h.len(), 1700);
        assert_eq!(usize::from(u16::from_be_bytes([h[3], h[4]])), h.len() - 5);
        assert_eq!(
            u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize,
            h.len() - 9
        );
        assert_eq!(sni_of(&h).as_deref(), Some("www.foobar.com"));
    }
    assert_eq!(sni_of(&client_hello(&Hello::default())), None);
}

/// SNI routing as HAProxy's documentation writes it: each name reaches its
/// backend (case-insensitively), with TLS 1.2 and 1.3 hellos; no SNI, an
/// unknown name and non-TLS bytes go to the default backend; the hello
/// arrives intact.
#[test]
fn sni_routing_picks_the_backend_by_name() {
    let p = sni_proxy(SNI_RULES);
    let fe = p.api.sp.addr("fe");
    let cases: &[(Option<&str>, bool, &str)] = &[
        (Some("www.foobar.com"), true, "www"),
        (Some("www.foobar.com"), false, "www"),
        (Some("STATIC.FooBar.com"), true, "static"),
        (Some("static.foobar.com"), false, "static"),
        (Some("foobar.com"), true, "other"),
        (Some("www.foobar.com.evil"), true, "other"),
        (None, true, "other"),
    ];
    for (i, (sni, tls13, want)) in cases.iter().enumerate() {
        let hello = client_hello(&Hello {
            sni: *sni,
            alpn: &["h2", "http/1.1"],
            tls13: *tls13,
            size: None,
            seed: i as u64,
        });
        assert_eq!(
            route_hello(fe, &hello, 1),
            *want,
            "SNI {sni:?} tls13 {tls13}"
        );
    }
    // Not TLS: the hello-type rule does not match, nothing is left to
    // wait for; the default backend, at once.
    let began = Instant::now();
    let (answer, s) = probe_on(LOCAL, fe, b"hello\n", WAIT);
    assert_eq!(answer, Answer::served("other"));
    assert!(began.elapsed() < Duration::from_millis(2500));
    assert_eq!(read_n(&s, 6), b"hello\n");
}

/// A 1.7 KB hello in three segments 100 ms apart: the rules wait for the
/// whole record, route on its SNI, and the backend gets every byte.
#[test]
fn sni_routing_waits_for_a_split_hello() {
    let p = sni_proxy(SNI_RULES);
    let fe = p.api.sp.addr("fe");
    for (sni, want) in [("static.foobar.com", "static"), ("www.foobar.com", "www")] {
        let hello = client_hello(&Hello {
            sni: Some(sni),
            alpn: &["h2"],
            tls13: true,
            size: Some(1700),
            seed: 7,
        });
        assert_eq!(route_hello(fe, &hello, 3), want);
    }
    let hello = client_hello(&Hello {
        sni: Some("unknown.foobar.com"),
        size: Some(1700),
        ..Hello::default()
    });
    assert_eq!(route_hello(fe, &hello, 3), "other");
}

/// The pre-2.x fetch names `req_ssl_hello_type` and `req_ssl_sni` still
/// work, as do SNI names from a file (`-f`) and `-m end`.
#[test]
fn sni_routing_old_names_and_pattern_file() {
    let dir = scratch_dir("rules-sni");
    let names = dir.join("static.lst");
    std::fs::write(
        &names,
        "# static hosts\nstatic.foobar.com\n\nimg.foobar.com\n",
    )
    .unwrap();
    let p = sni_proxy(&format!(
        "    tcp-request inspect-delay 5s\n    \
         tcp-request content accept if {{ req_ssl_hello_type 1 }}\n    \
         use_backend www if {{ req_ssl_sni -i www.foobar.com }}\n    \
         use_backend static if {{ req.ssl_sni -i -f {} }}\n    \
         use_backend www if {{ req.ssl_sni -m end .www.foobar.com }}\n    \
         default_backend other\n",
        names.display()
    ));
    let fe = p.api.sp.addr("fe");
    for (i, (sni, want)) in [
        ("WWW.foobar.com", "www"),
        ("img.foobar.com", "static"),
        ("IMG.FOOBAR.COM", "static"),
        ("a.www.foobar.com", "www"),
        ("foobar.com", "other"),
    ]
    .into_iter()
    .enumerate()
    {
        let hello = client_hello(&Hello {
            sni: Some(sni),
            seed: i as u64,
            ..Hello::default()
        });
        assert_eq!(route_hello(fe, &hello, 1), want, "{sni}");
    }
}

/// The routed hello is a real one: a TLS server (`openssl s_server`)
/// behind the SNI rule answers it with a ServerHello.
#[test]
fn sni_routed_hello_is_answered_by_a_tls_server() {
    let Some(tools) = require_tools("sni_routed_hello_is_answered_by_a_tls_server", &["openssl"])
    else {
        return;
    };
    let dir = scratch_dir("rules-tls");
    make_cert(&tools[0], &dir);
    let tls_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _server = tls_server(&tools[0], &dir, tls_addr);
    wait_for("s_server to listen", WAIT, || {
        TcpStream::connect(tls_addr).is_ok()
    });
    let other = Backend::named("other");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.ssl_hello_type 1 }}\n    \
             use_backend tls if {{ req.ssl_sni -i www.foobar.com }}\n    \
             default_backend other\n\
             backend tls\n    server s {tls_addr}\n\
             backend other\n    server s {}\n",
            other.addr
        ),
        &["fe"],
    );
    for tls13 in [true, false] {
        let hello = client_hello(&Hello {
            sni: Some("www.foobar.com"),
            alpn: &["http/1.1"],
            tls13,
            size: Some(1700),
            seed: 11,
        });
        let s = connect_from(LOCAL, api.sp.addr("fe")).unwrap();
        write_split(&s, &hello, 3, Duration::from_millis(50));
        let head = read_n(&s, 6);
        assert_eq!(
            (head[0], head[1], head[5]),
            (0x16, 0x03, 0x02),
            "a handshake record holding a ServerHello (tls13 {tls13}): {head:?}"
        );
    }
    assert_eq!(other.accepted(), 0);
}

/// `tcp-response content reject` on the server's first bytes: the client
/// gets nothing and a close; the session is logged `PD` with the bytes the
/// server sent counted, and `dresp` moves on the frontend, backend and
/// server. Other answers pass untouched.
#[test]
fn response_content_reject() {
    let srv = Backend::spawn(|mut s| {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = [0u8; 3];
        if s.read_exact(&mut req).is_err() {
            return;
        }
        let answer: &[u8] = if &req == b"bad" {
            b"BAD response"
        } else {
            b"GOOD response"
        };
        let _ = s.write_all(answer);
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    tcp-response inspect-delay 2s\n    \
             tcp-response content reject if {{ res.payload(0,3) -m str BAD }}\n    \
             server s1 {}\n",
            srv.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let mut c = connect_from(LOCAL, fe).unwrap();
    c.write_all(b"bad").unwrap();
    let (got, end) = read_to_end_or_err(&c, WAIT);
    assert!(got.is_empty(), "the client got {got:?}");
    end.expect("a clean close");
    let l = log_of(&api, c.local_addr().unwrap());
    assert_eq!(
        (&*l.backend, &*l.server, &*l.term, l.bytes),
        ("be", "s1", "PD", 12),
        "{l:?}"
    );
    assert!(l.timers[1] >= 0, "the server was connected: {l:?}");

    let mut c = connect_from(LOCAL, fe).unwrap();
    c.write_all(b"hey").unwrap();
    assert_eq!(read_n(&c, 13), b"GOOD response");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (rest, end) = read_to_end_or_err(&c, WAIT);
    assert!(rest.is_empty());
    end.unwrap();
    wait_stats(
        &api,
        &[
            ("fe", "FRONTEND", "dresp", 1),
            ("be", "BACKEND", "dresp", 1),
            ("be", "s1", "dresp", 1),
            ("fe", "FRONTEND", "dreq", 0),
        ],
    );
}
