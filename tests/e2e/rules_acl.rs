//! ACLs and the rules that run before a server is chosen: the condition
//! language (named and anonymous ACLs, `if`/`unless`, `!`, `or`/`||`,
//! implicit AND, predefined ACLs, match flags and methods, pattern files),
//! `tcp-request connection` and `tcp-request session` actions,
//! `use_backend` (static and `%[...]` names) and `use-server`. What is
//! asserted is what a user notices: which backend answered, a connection
//! reset or closed with no data, the log lines, `show stat` counters.
//! Every expectation was checked against HAProxy 2.6
//! (`SPLICER_TEST_BIN=haproxy`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::common::probe::{Answer, probe, probe_on, read_line_answer};
use crate::common::tcplog::{Tcplog, start, wait_stats};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `CumConns` of `show info`.
fn cum_conns(api: &Api) -> u64 {
    let info = api.ask("show info");
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("CumConns: "))
        .unwrap_or_else(|| panic!("no CumConns in {info}"));
    line.trim().parse().unwrap()
}

/// One frontend of the condition table: its rule lines, then probes
/// `(source 127.0.0.N, bytes sent, backend expected)`.
struct Case {
    rules: &'static str,
    probes: &'static [(u8, &'static str, &'static str)],
}

const fn case(rules: &'static str, probes: &'static [(u8, &'static str, &'static str)]) -> Case {
    Case { rules, probes }
}

/// The condition language, one frontend per case. Every frontend waits for
/// the client's first bytes (`inspect-delay` + `accept if { req.len gt 0 }`)
/// so payload fetches see them, then routes with `use_backend` to `yes`,
/// `other` or its `default_backend no`. `FILE_IPS` and `FILE_WORDS` stand
/// for pattern files written by the test.
const CASES: &[Case] = &[
    // Anonymous and named ACLs, if / unless, negation.
    case(
        "use_backend yes if { src 127.0.0.2 }",
        &[(2, "x", "yes"), (1, "x", "no")],
    ),
    case(
        "acl two src 127.0.0.2\n    use_backend yes if two",
        &[(2, "x", "yes"), (1, "x", "no")],
    ),
    case(
        "use_backend yes unless { src 127.0.0.2 }",
        &[(2, "x", "no"), (1, "x", "yes")],
    ),
    case(
        "acl two src 127.0.0.2\n    use_backend yes if !two",
        &[(2, "x", "no"), (1, "x", "yes")],
    ),
    case(
        "use_backend yes if !{ src 127.0.0.2 }",
        &[(2, "x", "no"), (3, "x", "yes")],
    ),
    case(
        "acl two src 127.0.0.2\n    use_backend yes unless !two",
        &[(2, "x", "yes"), (1, "x", "no")],
    ),
    // OR in both spellings, implicit AND, AND binding tighter than OR.
    case(
        "use_backend yes if { src 127.0.0.2 } or { src 127.0.0.3 }",
        &[(2, "x", "yes"), (3, "x", "yes"), (1, "x", "no")],
    ),
    case(
        "use_backend yes if { src 127.0.0.2 } || { src 127.0.0.3 }",
        &[(2, "x", "yes"), (3, "x", "yes"), (1, "x", "no")],
    ),
    case(
        "use_backend yes if { src 127.0.0.2 } { req.len 5 }",
        &[(2, "hello", "yes"), (2, "hi", "no"), (1, "hello", "no")],
    ),
    case(
        "use_backend yes if { src 127.0.0.2 } { req.len 5 } || { src 127.0.0.3 }",
        &[
            (2, "hello", "yes"),
            (2, "hi", "no"),
            (3, "hi", "yes"),
            (1, "hello", "no"),
        ],
    ),
    case(
        "acl two src 127.0.0.2\n    acl five req.len 5\n    use_backend yes if two !five or !two five",
        &[
            (2, "hi", "yes"),
            (2, "hello", "no"),
            (1, "hello", "yes"),
            (1, "hi", "no"),
        ],
    ),
    // Several lines with one name are OR-ed, as are several values.
    case(
        "acl some src 127.0.0.2\n    acl some src 127.0.0.3\n    use_backend yes if some",
        &[(2, "x", "yes"), (3, "x", "yes"), (4, "x", "no")],
    ),
    case(
        "acl some src 127.0.0.2 127.0.0.3\n    use_backend yes if some",
        &[(2, "x", "yes"), (3, "x", "yes"), (4, "x", "no")],
    ),
    // The first use_backend that matches wins.
    case(
        "use_backend yes if { src 127.0.0.2 }\n    use_backend other if TRUE\n    use_backend yes if TRUE",
        &[(2, "x", "yes"), (1, "x", "other")],
    ),
    // Predefined ACLs.
    case("use_backend yes if TRUE", &[(1, "x", "yes")]),
    case("use_backend yes if FALSE", &[(1, "x", "no")]),
    case(
        "use_backend yes if LOCALHOST",
        &[(1, "x", "yes"), (9, "x", "yes")],
    ),
    case("use_backend yes if !LOCALHOST", &[(1, "x", "no")]),
    // String match methods on the client's bytes; -i; several patterns.
    case(
        "use_backend yes if { req.payload(0,0) -m str hello }",
        &[(1, "hello", "yes"), (1, "hello!", "no"), (1, "HELLO", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -i -m str hello }",
        &[(1, "HeLLo", "yes"), (1, "hell", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m str foo bar }",
        &[(1, "foo", "yes"), (1, "bar", "yes"), (1, "baz", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m beg GET }",
        &[(1, "GET /", "yes"), (1, "XGET", "no"), (1, "get /", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -i -m beg GET }",
        &[(1, "get /", "yes")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m end .com }",
        &[(1, "www.foobar.com", "yes"), (1, "www.foobar.org", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m sub bar }",
        &[(1, "foobarbaz", "yes"), (1, "foobaz", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m reg ^[a-z]+[0-9][0-9]$ }",
        &[(1, "abc12", "yes"), (1, "abc1", "no"), (1, "ABC12", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -i -m reg ^abc }",
        &[(1, "ABCdef", "yes"), (1, "xabc", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m len 5 }",
        &[(1, "hello", "yes"), (1, "hell", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m len 3:4 }",
        &[(1, "abc", "yes"), (1, "abcd", "yes"), (1, "abcde", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,4) -m found }",
        &[(1, "hello", "yes"), (1, "hi", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,4) -m bin 47455420 }",
        &[(1, "GET / HTTP/1.0", "yes"), (1, "PUT / HTTP/1.0", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m str -- -i }",
        &[(1, "-i", "yes"), (1, "x", "no")],
    ),
    // Integers: the default match, operators, ranges.
    case(
        "use_backend yes if { req.len 5 }",
        &[(1, "hello", "yes"), (1, "hell", "no")],
    ),
    case(
        "use_backend yes if { req.len -m int eq 5 }",
        &[(1, "hello", "yes"), (1, "hello!", "no")],
    ),
    case(
        "use_backend yes if { req.len lt 4 }",
        &[(1, "abc", "yes"), (1, "abcd", "no")],
    ),
    case(
        "use_backend yes if { req.len le 4 }",
        &[(1, "abcd", "yes"), (1, "abcde", "no")],
    ),
    case(
        "use_backend yes if { req.len gt 4 }",
        &[(1, "abcde", "yes"), (1, "abcd", "no")],
    ),
    case(
        "use_backend yes if { req.len ge 4 }",
        &[(1, "abcd", "yes"), (1, "abc", "no")],
    ),
    case(
        "use_backend yes if { req.len 3:5 }",
        &[
            (1, "ab", "no"),
            (1, "abc", "yes"),
            (1, "abcde", "yes"),
            (1, "abcdef", "no"),
        ],
    ),
    case(
        "use_backend yes if { req.len 6: }",
        &[(1, "abcdef", "yes"), (1, "abcde", "no")],
    ),
    case(
        "use_backend yes if { req.len 1 3 5 }",
        &[(1, "abc", "yes"), (1, "ab", "no")],
    ),
    // Address and port fetches (the frontend's port is an ephemeral one).
    case(
        "use_backend yes if { dst_port 1024:65535 }",
        &[(1, "x", "yes")],
    ),
    case("use_backend yes if { dst_port lt 1024 }", &[(1, "x", "no")]),
    case(
        "use_backend yes if { dst_port gt 1023 }",
        &[(1, "x", "yes")],
    ),
    case("use_backend yes if { src_port 0:1023 }", &[(1, "x", "no")]),
    case("use_backend yes if { dst 127.0.0.1 }", &[(2, "x", "yes")]),
    case(
        "use_backend yes if { src -m ip 127.0.0.2/31 }",
        &[
            (2, "x", "yes"),
            (3, "x", "yes"),
            (4, "x", "no"),
            (1, "x", "no"),
        ],
    ),
    case(
        "use_backend yes if { src 127.0.0.0/30 127.0.0.9 }",
        &[(3, "x", "yes"), (9, "x", "yes"), (4, "x", "no")],
    ),
    // Pattern files: comments, blank lines, leading blanks; with inline
    // patterns after -f; -i applying to the file's words.
    case(
        "use_backend yes if { src -f FILE_IPS }",
        &[
            (2, "x", "yes"),
            (200, "x", "yes"),
            (1, "x", "no"),
            (127, "x", "no"),
        ],
    ),
    case(
        "use_backend yes if { src -f FILE_IPS 127.0.0.5 }",
        &[(5, "x", "yes"), (2, "x", "yes"), (6, "x", "no")],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m str -i -f FILE_WORDS }",
        &[
            (1, "ALPHA", "yes"),
            (1, "beta", "yes"),
            (1, "gamma", "no"),
            (1, "# comment", "no"),
        ],
    ),
    case(
        "use_backend yes if { req.payload(0,0) -m str -f FILE_WORDS }",
        &[(1, "alpha", "yes"), (1, "ALPHA", "no")],
    ),
];

/// Blocklist file: comments, blank lines, a network, a leading blank.
const IPS: &str = "# blocked clients\n\n127.0.0.2\n  127.0.0.128/25\n\n# end\n";
const WORDS: &str = "# words\nalpha\n\n   beta\n";

#[test]
fn condition_language_table() {
    let dir = scratch_dir("rules-acl");
    let (ips, words) = (dir.join("ips.lst"), dir.join("words.lst"));
    std::fs::write(&ips, IPS).unwrap();
    std::fs::write(&words, WORDS).unwrap();
    let (yes, no, other) = (
        Backend::named("yes"),
        Backend::named("no"),
        Backend::named("other"),
    );
    let mut rest = String::new();
    let names: Vec<String> = (0..CASES.len()).map(|i| format!("c{i}")).collect();
    for (name, c) in names.iter().zip(CASES) {
        let rules = c
            .rules
            .replace("FILE_IPS", &ips.display().to_string())
            .replace("FILE_WORDS", &words.display().to_string());
        rest.push_str(&format!(
            "frontend {name}\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.len gt 0 }}\n    {rules}\n    default_backend no\n"
        ));
    }
    for (be, srv) in [("yes", &yes), ("no", &no), ("other", &other)] {
        rest.push_str(&format!("backend {be}\n    server s {}\n", srv.addr));
    }
    let fes: Vec<&str> = names.iter().map(String::as_str).collect();
    let api = start(&rest, &fes);
    let mut wrong = Vec::new();
    for (name, c) in names.iter().zip(CASES) {
        for (src, send, want) in c.probes {
            let got = probe(lo(*src), api.sp.addr(name), send.as_bytes(), WAIT);
            if got != Answer::served(want) {
                wrong.push(format!(
                    "{:?} from 127.0.0.{src} sending {send:?}: want {want}, got {got:?}",
                    c.rules
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// `tcp-request connection reject` with a blocklist file: a blocked client
/// gets a reset before any byte, others are served; rejected connections
/// leave no log line, count in `dcon` (not `dses`, not `stot`) and in
/// `show info`'s CumConns.
#[test]
fn connection_reject_from_blocklist_file() {
    let dir = scratch_dir("rules-block");
    let list = dir.join("blocklist.lst");
    std::fs::write(&list, IPS).unwrap();
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    \
             tcp-request connection reject if {{ src -f {} }}\n    default_backend be\n\
             backend be\n    server s1 {}\n",
            list.display(),
            a.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    // The harness's probes of the stats sockets may still be waiting to
    // be accepted (HAProxy counts them): start from a quiet count, where
    // one query moves it by its own connection at most.
    let mut before = cum_conns(&api);
    for _ in 0..100 {
        let now = cum_conns(&api);
        let quiet = now - before <= 1;
        before = now;
        if quiet {
            break;
        }
    }
    let mut rejected_ports = Vec::new();
    for src in [2, 200] {
        let (answer, s) = probe_on(lo(src), fe, b"", WAIT);
        assert_eq!(answer, Answer::Reset, "127.0.0.{src} is blocked");
        rejected_ports.push((src, s.local_addr().unwrap().port()));
    }
    let mut served = Vec::new();
    for src in [1, 127] {
        let (answer, mut s) = probe_on(lo(src), fe, b"", WAIT);
        assert_eq!(answer, Answer::served("a"), "127.0.0.{src} is not blocked");
        s.write_all(b"ping").unwrap();
        let mut echo = [0u8; 4];
        s.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"ping");
        served.push(s.local_addr().unwrap());
    }
    assert_eq!(a.accepted(), 2, "the server saw only the allowed clients");
    for addr in &served {
        api.sp.wait_log(&[&format!("{addr} ["), " fe be/s1 "], WAIT);
    }
    for (src, port) in rejected_ports {
        let hits = api.sp.log_lines(&format!("127.0.0.{src}:{port}"));
        assert!(
            hits.is_empty(),
            "a rejected connection is not logged: {hits:?}"
        );
    }
    // HAProxy also counts its CLI connections in CumConns (this `show
    // info`'s own); the four clients count, rejected or not.
    let delta = cum_conns(&api) - before;
    assert!(
        (4..=5).contains(&delta),
        "CumConns moved by {delta}, expected the 4 clients (+ 1 CLI connection)"
    );
    wait_stats(
        &api,
        &[
            ("fe", "FRONTEND", "dcon", 2),
            ("fe", "FRONTEND", "dses", 0),
            ("fe", "FRONTEND", "dreq", 0),
            ("fe", "FRONTEND", "conn_tot", 4),
            ("fe", "FRONTEND", "stot", 2),
            ("be", "BACKEND", "stot", 2),
        ],
    );
}

/// Connection rules run in order and the first that matches decides; an
/// `accept` there does not skip the content rules.
#[test]
fn connection_rules_first_match_wins() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    \
             tcp-request connection accept if {{ src 127.0.0.2 }} || {{ src 127.0.0.3 }}\n    \
             tcp-request connection reject if {{ src 127.0.0.0/24 }}\n    \
             tcp-request connection accept\n    \
             tcp-request content reject if {{ src 127.0.0.3 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    assert_eq!(probe(lo(2), fe, b"", WAIT), Answer::served("a"));
    assert_eq!(probe(lo(1), fe, b"", WAIT), Answer::Reset);
    assert_eq!(probe(lo(4), fe, b"", WAIT), Answer::Reset);
    // Accepted by the connection rule, rejected by the content rule: a
    // plain close, no server connection.
    assert_eq!(probe(lo(3), fe, b"", WAIT), Answer::Closed);
    assert_eq!(a.accepted(), 1);
    wait_stats(
        &api,
        &[("fe", "FRONTEND", "dcon", 2), ("fe", "FRONTEND", "dreq", 1)],
    );
}

/// `expect-proxy layer4` reads a PROXY header only from the clients its
/// condition selects; `tcp-request session` rules then see the relayed
/// source. A session reject closes the client (FIN: nothing of its was
/// left unread) and counts in `dses`. It leaves no tcplog line; after a
/// PROXY handshake HAProxy logs instead its short connection-error line
/// `SRC:PORT [DATE] FRONTEND/BIND: Success` (the bind has no name: its
/// number).
#[test]
fn expect_proxy_then_session_reject_on_relayed_source() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    \
             tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}\n    \
             tcp-request session reject if {{ src 127.0.0.9 }} || {{ src 127.0.0.3 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let banned = b"PROXY TCP4 127.0.0.9 127.0.0.1 4009 80\r\n";
    assert_eq!(probe(lo(1), fe, banned, WAIT), Answer::Closed);
    let line = api.sp.wait_log(&["127.0.0.9:4009 ["], WAIT);
    assert!(line.contains("] fe/1: "), "{line}");
    // Rejected on its real source, without a handshake: not logged.
    let (answer, s) = probe_on(lo(3), fe, b"", WAIT);
    assert_eq!(answer, Answer::Closed);
    let plain = s.local_addr().unwrap();

    let (answer, mut s) = probe_on(
        lo(1),
        fe,
        b"PROXY TCP4 127.0.0.8 127.0.0.1 4008 80\r\nping",
        WAIT,
    );
    assert_eq!(answer, Answer::served("a"));
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping", "the header is consumed, the data passes");
    drop(s);
    let line = api.sp.wait_log(&["127.0.0.8:4008 [", " fe be/s1 "], WAIT);
    let l = Tcplog::parse(&line);
    assert_eq!(
        (l.bytes, &*l.term),
        (6, "--"),
        "logged with the relayed source: {line}"
    );

    // From another source no header is expected: the same bytes are data.
    let (answer, mut s) = probe_on(lo(2), fe, banned, WAIT);
    assert_eq!(answer, Answer::served("a"));
    let mut echo = vec![0u8; banned.len()];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(echo, banned);
    let last = s.local_addr().unwrap();
    drop(s);
    api.sp.wait_log(&[&format!("{last} ["), " fe be/s1 "], WAIT);

    assert_eq!(a.accepted(), 2);
    let hits = api.sp.log_lines(&plain.to_string());
    assert!(hits.is_empty(), "{hits:?}");
    assert!(
        api.sp
            .log_lines(" fe be/")
            .iter()
            .all(|l| !l.contains("127.0.0.9")),
        "no tcplog line for the rejected session:\n{}",
        api.sp.log_text()
    );
    wait_stats(
        &api,
        &[
            ("fe", "FRONTEND", "dses", 2),
            ("fe", "FRONTEND", "dcon", 0),
            ("fe", "FRONTEND", "conn_tot", 4),
            ("fe", "FRONTEND", "stot", 2),
        ],
    );
}

/// `tcp-request connection silent-drop`: the client gets nothing at all,
/// neither data nor FIN nor RST; the proxy forgot the connection, so the
/// client's next bytes are answered by the kernel with a reset. Counted in
/// `dreq`, not logged. (Closing without any packet needs TCP_REPAIR, so
/// CAP_NET_ADMIN; without it HAProxy resets with a TTL of 1, which on
/// loopback still arrives.)
#[test]
fn silent_drop_leaves_the_client_hanging() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    \
             tcp-request connection silent-drop if {{ src 127.0.0.2 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let (answer, mut s) = probe_on(lo(2), fe, b"", Duration::from_millis(800));
    let port = s.local_addr().unwrap().port();
    if root {
        assert_eq!(answer, Answer::Silent, "no data, no FIN, no RST");
        // The proxy closed the socket without telling: the kernel resets.
        s.write_all(b"anyone?").unwrap();
        assert_eq!(read_line_answer(&s, WAIT), Answer::Reset);
    } else {
        assert!(
            matches!(answer, Answer::Silent | Answer::Reset),
            "{answer:?}"
        );
    }
    drop(s);
    let (answer, s) = probe_on(lo(1), fe, b"", WAIT);
    assert_eq!(answer, Answer::served("a"));
    let client = s.local_addr().unwrap();
    drop(s);
    api.sp
        .wait_log(&[&format!("{client} ["), " fe be/s1 "], WAIT);
    let hits = api.sp.log_lines(&format!("127.0.0.2:{port}"));
    assert!(hits.is_empty(), "a silent drop is not logged: {hits:?}");
    assert_eq!(a.accepted(), 1);
    wait_stats(
        &api,
        &[
            ("fe", "FRONTEND", "dreq", 1),
            ("fe", "FRONTEND", "dcon", 0),
            ("fe", "FRONTEND", "dses", 0),
            ("fe", "FRONTEND", "conn_tot", 2),
            ("fe", "FRONTEND", "stot", 1),
        ],
    );
}

/// `use_backend` with a `%[...]` name: the backend of that name when it
/// exists, else the `default_backend` (no error, no reject).
#[test]
fn dynamic_use_backend_name_and_fallback() {
    let (www, other, def) = (
        Backend::named("www"),
        Backend::named("dog"),
        Backend::named("default"),
    );
    let api = start(
        &format!(
            "frontend by_port\n    bind 127.0.0.1:0\n    use_backend be_%[dst_port]\n    \
             default_backend def\n\
             frontend by_data\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.len ge 3 }}\n    \
             use_backend be_%[req.payload(0,3)]\n    default_backend def\n\
             backend be_www\n    server s {}\n\
             backend be_dog\n    server s {}\n\
             backend def\n    server s {}\n",
            www.addr, other.addr, def.addr
        ),
        &["by_port", "by_data"],
    );
    let (by_port, by_data) = (api.sp.addr("by_port"), api.sp.addr("by_data"));
    assert_eq!(probe(lo(1), by_port, b"", WAIT), Answer::served("default"));
    assert_eq!(probe(lo(1), by_data, b"www", WAIT), Answer::served("www"));
    assert_eq!(probe(lo(1), by_data, b"dog", WAIT), Answer::served("dog"));
    assert_eq!(
        probe(lo(1), by_data, b"dogs", WAIT),
        Answer::served("dog"),
        "the name takes the first 3 bytes"
    );
    assert_eq!(
        probe(lo(1), by_data, b"zzz", WAIT),
        Answer::served("default")
    );
    let line = api.sp.wait_log(&[" by_port def/s "], WAIT);
    assert_eq!(Tcplog::parse(&line).term, "--", "{line}");
}

/// `use-server NAME if COND` picks that server, but a DOWN server is
/// skipped (the session is balanced as usual) unless `option persist`,
/// which sends it to the dead server anyway: the connection fails (`SC`).
#[test]
fn use_server_skips_a_down_server_unless_persist() {
    let (www, st) = (Backend::named("www"), Backend::named("st"));
    let dead = dead_addr();
    let api = start(
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    default_backend bus\n\
             frontend fe_persist\n    bind 127.0.0.1:0\n    default_backend busp\n\
             backend bus\n    balance roundrobin\n    \
             use-server dead if {{ src 127.0.0.2 }}\n    \
             use-server st if {{ src 127.0.0.3 }}\n    \
             server www {w}\n    server dead {dead} check inter 200ms\n    server st {s}\n\
             backend busp\n    option persist\n    retries 0\n    \
             use-server dead if {{ src 127.0.0.2 }}\n    \
             server www {w}\n    server dead {dead} check inter 200ms\n",
            w = www.addr,
            s = st.addr
        ),
        &["fe", "fe_persist"],
    );
    wait_for("both dead servers DOWN", WAIT, || {
        let csv = api.ask("show stat");
        stat_field(&csv, "bus", "dead", "status") == "DOWN"
            && stat_field(&csv, "busp", "dead", "status") == "DOWN"
    });
    let fe = api.sp.addr("fe");
    for _ in 0..4 {
        assert_eq!(probe(lo(3), fe, b"", WAIT), Answer::served("st"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        match probe(lo(2), fe, b"", WAIT) {
            Answer::Served(name) => seen.insert(name),
            other => panic!("use-server to a DOWN server must be skipped: {other:?}"),
        };
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["st", "www"],
        "balanced over the live servers"
    );

    let (answer, s) = probe_on(lo(2), api.sp.addr("fe_persist"), b"", WAIT);
    assert_eq!(answer, Answer::Closed, "persisted to the dead server");
    let client = s.local_addr().unwrap();
    let line = api.sp.wait_log(&[&format!("{client} [")], WAIT);
    let l = Tcplog::parse(&line);
    assert_eq!(
        (&*l.backend, &*l.server, &*l.term),
        ("busp", "dead", "SC"),
        "{line}"
    );
    assert_eq!(
        probe(lo(1), api.sp.addr("fe_persist"), b"", WAIT),
        Answer::served("www")
    );
}
