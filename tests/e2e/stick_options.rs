//! `stick` rules with what surrounds them: a table filled from the runtime
//! API and only matched (`stick match` stores nothing), `disable server`,
//! `option persist` sending a source to a server its checks marked DOWN
//! (even when no server is up, as for `use-server`), `option redispatch`
//! leaving a DOWN stuck server after one failed connect, a full stuck
//! server that its source waits for while others pass, `non-stick`
//! servers, `srvkey addr` and where `show table` puts the server.
//! Every test also passes against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::common::probe::{Answer, probe};
use crate::common::tcplog::{Tcplog, start};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(5);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// What `n` connections from `src` got.
fn answers(src: IpAddr, fe: SocketAddr, n: usize) -> Vec<Answer> {
    (0..n).map(|_| probe(src, fe, b"", WAIT)).collect()
}

/// The server names of `n` connections from `src`.
fn visits(src: IpAddr, fe: SocketAddr, n: usize) -> Vec<String> {
    answers(src, fe, n)
        .into_iter()
        .map(|a| match a {
            Answer::Served(s) => s,
            other => panic!("{src}: {other:?}"),
        })
        .collect()
}

/// `show table NAME`'s entries, without their address and expiry.
fn entries(api: &Api, table: &str) -> Vec<String> {
    tables::entries(&api.ask(&format!("show table {table}")))
}

fn entry(api: &Api, table: &str, key: &str) -> Option<String> {
    tables::entry(&api.ask(&format!("show table {table}")), key)
}

/// `server sN ADDR{extra}` lines for `addrs`, numbered from 1.
fn server_lines(addrs: &[SocketAddr], extra: &str) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("    server s{} {a}{extra}\n", i + 1))
        .collect()
}

fn named(names: &[&'static str]) -> Vec<Backend> {
    names.iter().map(|n| Backend::named(n)).collect()
}

fn addrs(b: &[Backend]) -> Vec<SocketAddr> {
    b.iter().map(|s| s.addr).collect()
}

/// `stick match` alone: a key put in the table from the runtime API sends
/// its source to the server it names (by `server_id`, as no `server_key`
/// was stored); other sources are balanced and nothing is stored.
#[test]
fn stick_match_alone_follows_the_table_and_stores_nothing() {
    let b = named(&["s1", "s2", "s3"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 60s\n    \
             stick match src\n{}",
            server_lines(&addrs(&b), "")
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    api.ask("set table be key 127.0.0.5 data.server_id 2");
    assert_eq!(visits(lo(5), fe, 6), vec!["s2"; 6]);
    let rr: BTreeSet<String> = visits(lo(6), fe, 6).into_iter().collect();
    assert!(rr.len() > 1, "an unknown source is balanced: {rr:?}");
    assert_eq!(
        entries(&api, "be"),
        ["key=127.0.0.5 use=0 server_id=2 server_key=-"],
        "only the entry the API made"
    );
}

/// `disable server` (as `set server ... state maint`) moves the sources
/// stuck to the server, and they are stored with their new one.
#[test]
fn a_disabled_server_loses_its_sources() {
    let b = named(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 60s\n    \
             stick on src\n{}",
            server_lines(&addrs(&b), "")
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let first = visits(lo(5), fe, 1).remove(0);
    let other = if first == "s1" { "s2" } else { "s1" };
    api.ask(&format!("disable server be/{first}"));
    assert_eq!(visits(lo(5), fe, 3), vec![other; 3]);
    api.ask(&format!("enable server be/{first}"));
    assert_eq!(visits(lo(5), fe, 3), vec![other; 3], "stored anew");
    assert_eq!(
        entry(&api, "be", "127.0.0.5").as_deref(),
        Some(
            format!(
                "key=127.0.0.5 use=0 server_id={} server_key={other}",
                &other[1..]
            )
            .as_str()
        )
    );
}

/// A server whose checks fail (they go to a port where nothing listens)
/// while it serves: with `option persist` its sources still go to it,
/// without it they are balanced elsewhere.
#[test]
fn persist_keeps_a_source_on_a_server_marked_down() {
    let dead = dead_addr().port();
    for persist in [false, true] {
        let b = named(&["s1", "s2"]);
        let opt = if persist { "    option persist\n" } else { "" };
        let api = start(
            &format!(
                "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
                 backend be\n    balance roundrobin\n{opt}    \
                 stick-table type ip size 1k expire 60s\n    stick on src\n    \
                 server s1 {} check port {dead} inter 100ms fall 1 rise 1\n    server s2 {}\n",
                b[0].addr, b[1].addr
            ),
            &["f"],
        );
        let fe = api.sp.addr("f");
        api.sp.wait_log(&["Server be/s1 is DOWN"], WAIT);
        api.ask("set table be key 127.0.0.5 data.server_id 1");
        let want = if persist { "s1" } else { "s2" };
        assert_eq!(visits(lo(5), fe, 3), vec![want; 3], "persist {persist}");
        assert_eq!(visits(lo(6), fe, 2), vec!["s2"; 2], "persist {persist}");
    }
}

/// Every server DOWN: a source stuck to one still reaches it with `option
/// persist`; any other source finds no server.
#[test]
fn persist_reaches_a_stuck_server_when_none_is_up() {
    let dead = dead_addr().port();
    for persist in [false, true] {
        let b = named(&["s1", "s2"]);
        let opt = if persist { "    option persist\n" } else { "" };
        let api = start(
            &format!(
                "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
                 backend be\n    balance roundrobin\n{opt}    \
                 stick-table type ip size 1k expire 60s\n    stick on src\n{}",
                server_lines(
                    &addrs(&b),
                    &format!(" check port {dead} inter 100ms fall 1 rise 1")
                )
            ),
            &["f"],
        );
        let fe = api.sp.addr("f");
        api.sp.wait_log(&["Server be/s1 is DOWN"], WAIT);
        api.sp.wait_log(&["Server be/s2 is DOWN"], WAIT);
        api.ask("set table be key 127.0.0.5 data.server_id 2");
        let want = if persist {
            Answer::served("s2")
        } else {
            Answer::Closed
        };
        assert_eq!(probe(lo(5), fe, b"", WAIT), want, "persist {persist}");
        assert_eq!(probe(lo(6), fe, b"", WAIT), Answer::Closed);
        let line = api.sp.wait_log(&["127.0.0.5:", " f be/"], WAIT);
        let l = Tcplog::parse(&line);
        let (server, term) = if persist {
            ("s2", "--")
        } else {
            ("<NOSRV>", "SC")
        };
        assert_eq!(
            (l.server.as_str(), l.term.as_str()),
            (server, term),
            "{line}"
        );
    }
}

/// The same holds for `use-server`: with `option persist` the server it
/// names is reached while every server is DOWN.
#[test]
fn persist_reaches_a_use_server_target_when_none_is_up() {
    let dead = dead_addr().port();
    let b = named(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    option persist\n    \
             use-server s2 if {{ src 127.0.0.5 }}\n{}",
            server_lines(
                &addrs(&b),
                &format!(" check port {dead} inter 100ms fall 1 rise 1")
            )
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    api.sp.wait_log(&["Server be/s1 is DOWN"], WAIT);
    api.sp.wait_log(&["Server be/s2 is DOWN"], WAIT);
    assert_eq!(probe(lo(5), fe, b"", WAIT), Answer::served("s2"));
    assert_eq!(probe(lo(6), fe, b"", WAIT), Answer::Closed);
}

/// A stuck server that went DOWN and refuses connections, with `option
/// persist`, `option redispatch` and `retries 3`: it is tried once, and
/// the first failure moves the session (HAProxy redispatches at once from
/// a server that is not running), so the log says `+1`. Without
/// `redispatch` every retry goes to it and the session fails.
#[test]
fn persist_leaves_a_down_server_after_one_failure_with_redispatch() {
    for redispatch in [true, false] {
        let mut b = named(&["s1", "s2"]);
        let opts = if redispatch {
            "    option persist\n    option redispatch\n"
        } else {
            "    option persist\n"
        };
        let api = start(
            &format!(
                "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
                 backend be\n    balance roundrobin\n{opts}    retries 3\n    timeout connect 200ms\n    \
                 stick-table type ip size 1k expire 60s\n    stick on src\n{}",
                server_lines(&addrs(&b), " check inter 100ms fall 1 rise 1")
            ),
            &["f"],
        );
        let fe = api.sp.addr("f");
        drop(b.remove(0));
        api.sp.wait_log(&["Server be/s1 is DOWN"], WAIT);
        api.ask("set table be key 127.0.0.5 data.server_id 1");
        let got = probe(lo(5), fe, b"", WAIT);
        let line = api.sp.wait_log(&["127.0.0.5:", " f be/"], WAIT);
        let l = Tcplog::parse(&line);
        if redispatch {
            assert_eq!(got, Answer::served("s2"));
            assert_eq!(
                (l.server.as_str(), l.conns[4].as_str()),
                ("s2", "+1"),
                "{line}"
            );
        } else {
            assert_eq!(got, Answer::Closed);
            assert_eq!(
                (l.server.as_str(), l.term.as_str(), l.conns[4].as_str()),
                ("s1", "SC", "3"),
                "{line}"
            );
        }
    }
}

/// A `non-stick` server's sessions are never stored; the other server's
/// are.
#[test]
fn a_non_stick_server_is_never_stored() {
    let b = named(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 60s\n    \
             stick on src\n    server s1 {}\n    server s2 {} non-stick\n",
            b[0].addr, b[1].addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let mut on_s1 = Vec::new();
    for src in 10..16 {
        if visits(lo(src), fe, 1)[0] == "s1" {
            on_s1.push(format!("key=127.0.0.{src} use=0 server_id=1 server_key=s1"));
        }
    }
    assert!((1..6).contains(&on_s1.len()), "roundrobin: {on_s1:?}");
    let mut got = entries(&api, "be");
    got.sort();
    assert_eq!(got, on_s1);
}

/// `srvkey addr`: the server is stored (and found again) by its address.
#[test]
fn srvkey_addr_stores_the_address() {
    let b = named(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    \
             stick-table type ip size 1k expire 60s srvkey addr\n    stick on src\n{}",
            server_lines(&addrs(&b), "")
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let got = visits(lo(5), fe, 4);
    assert!(got.iter().all(|s| *s == got[0]), "{got:?}");
    let i: usize = got[0][1..].parse().unwrap();
    assert_eq!(
        entry(&api, "be", "127.0.0.5"),
        Some(format!(
            "key=127.0.0.5 use=0 server_id={i} server_key={}",
            b[i - 1].addr
        ))
    );
}

/// A stuck server at its `maxconn`: the source waits for it (HAProxy
/// queues the session on that server) while other sources are served by
/// the other server at once.
#[test]
fn a_full_stuck_server_makes_its_source_wait() {
    let b = named(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    timeout queue 5s\n    \
             stick-table type ip size 1k expire 60s\n    stick on src\n    \
             server s1 {} maxconn 1\n    server s2 {}\n",
            b[0].addr, b[1].addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    api.ask("set table be key 127.0.0.5 data.server_id 1");
    let (first, held) = crate::common::probe::probe_on(lo(5), fe, b"", WAIT);
    assert_eq!(first, Answer::served("s1"));
    let waiting = connect_from(lo(5), fe).unwrap();
    assert_eq!(
        crate::common::probe::read_line_answer(&waiting, Duration::from_millis(300)),
        Answer::Silent,
        "queued behind the held connection"
    );
    // Whichever worker has the waiting session, the others get through.
    for src in 6..10 {
        assert_eq!(
            probe(lo(src), fe, b"", Duration::from_secs(1)),
            Answer::served("s2"),
            "127.0.0.{src} is not held up"
        );
    }
    drop(held);
    assert_eq!(
        crate::common::probe::read_line_answer(&waiting, WAIT),
        Answer::served("s1"),
        "{}",
        api.sp.log_text()
    );
}

/// `show table` puts `server_id` first and `server_key` after `gpc1`, in
/// HAProxy's order of data types.
#[test]
fn show_table_orders_the_server_as_haproxy() {
    let b = named(&["s1"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    stick-table type ip size 1k expire 60s store gpc1,conn_cnt,http_fail_cnt,gpt0\n    \
             tcp-request content track-sc0 src\n    stick on src\n{}",
            server_lines(&addrs(&b), "")
        ),
        &["f"],
    );
    assert_eq!(visits(lo(5), api.sp.addr("f"), 1), ["s1"]);
    wait_for("the entry", WAIT, || {
        entry(&api, "be", "127.0.0.5").as_deref()
            == Some(
                "key=127.0.0.5 use=0 server_id=1 gpt0=0 conn_cnt=1 gpc1=0 server_key=s1 http_fail_cnt=0",
            )
    });
}
