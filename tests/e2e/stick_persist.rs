//! Persistence through stick tables (`stick on`, `stick match`, `stick
//! store-request`): a source keeps its server across connections, the
//! table says which, a server in maintenance loses its sources while a
//! draining one keeps them, and a DOWN server's sources are re-balanced
//! unless `option persist` (then `option redispatch` moves the last
//! retry). Every test also passes against HAProxy 2.6
//! (`SPLICER_TEST_BIN=haproxy`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::common::probe::{Answer, probe};
use crate::common::tcplog::{Tcplog, start};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(5);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The server names of `n` connections from `src`.
fn visits(src: IpAddr, fe: std::net::SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| match probe(src, fe, b"", WAIT) {
            Answer::Served(s) => s,
            other => panic!("{src}: {other:?}"),
        })
        .collect()
}

/// `show table NAME`'s entry for `key`, without its address and expiry.
fn entry(api: &Api, table: &str, key: &str) -> Option<String> {
    crate::common::tables::entry(&api.ask(&format!("show table {table}")), key)
}

fn servers(names: &[&'static str]) -> Vec<Backend> {
    names.iter().map(|n| Backend::named(n)).collect()
}

fn server_lines(b: &[Backend], extra: &str) -> String {
    b.iter()
        .enumerate()
        .map(|(i, s)| format!("    server s{} {}{extra}\n", i + 1, s.addr))
        .collect()
}

#[test]
fn a_source_keeps_its_server_and_the_table_says_which() {
    let b = servers(&["s1", "s2", "s3"]);
    let lines = server_lines(&b, "");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             frontend plain\n    bind 127.0.0.1:0\n    default_backend rr\n\
             backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 60s\n    stick on src\n{lines}\
             backend rr\n    balance roundrobin\n{lines}"
        ),
        &["f", "plain"],
    );
    // Without a stick rule, one source goes round the servers.
    let rr: BTreeSet<String> = visits(lo(7), api.sp.addr("plain"), 6).into_iter().collect();
    assert!(rr.len() > 1, "roundrobin: {rr:?}");
    for src in [5, 6] {
        let got = visits(lo(src), api.sp.addr("f"), 6);
        assert!(got.iter().all(|s| *s == got[0]), "127.0.0.{src}: {got:?}");
        let id = &got[0][1..];
        wait_for("the stored server", WAIT, || {
            entry(&api, "be", &format!("127.0.0.{src}"))
                == Some(format!(
                    "key=127.0.0.{src} use=0 server_id={id} server_key={}",
                    got[0]
                ))
        });
    }
}

#[test]
fn maintenance_moves_a_source_and_drain_keeps_it() {
    let b = servers(&["s1", "s2", "s3"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    stick-table type ip size 1k expire 60s\n    \
             stick match src\n    stick store-request src\n{}",
            server_lines(&b, "")
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let first = visits(lo(5), fe, 1).remove(0);
    // Draining: the source stays; other sources go elsewhere.
    api.ask(&format!("set server be/{first} state drain"));
    assert_eq!(
        visits(lo(5), fe, 3),
        vec![first.clone(); 3],
        "drain keeps it"
    );
    assert!(
        !visits(lo(9), fe, 3).contains(&first),
        "new sources avoid it"
    );
    // Maintenance: the source moves, and is stored with its new server.
    api.ask(&format!("set server be/{first} state maint"));
    let moved = visits(lo(5), fe, 3);
    assert!(
        moved.iter().all(|s| *s == moved[0] && *s != first),
        "{moved:?}"
    );
    api.ask(&format!("set server be/{first} state ready"));
    assert_eq!(
        visits(lo(5), fe, 3),
        vec![moved[0].clone(); 3],
        "stays on the new one"
    );
    let key = entry(&api, "be", "127.0.0.5").unwrap();
    assert!(key.ends_with(&format!(" server_key={}", moved[0])), "{key}");
}

/// A stuck server that goes DOWN: re-balanced at once without `option
/// persist`; with it (and `option redispatch`, `retries 1`), tried
/// first, then redispatched, which the log line's retries field says
/// (`+1`).
#[test]
fn a_down_server_is_left_unless_persist() {
    for persist in [false, true] {
        let b = servers(&["s1", "s2"]);
        let opts = if persist {
            "    option persist\n    option redispatch\n    retries 1\n"
        } else {
            "    option redispatch\n    retries 1\n"
        };
        let mut b = b;
        let api = start(
            &format!(
                "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
                 backend be\n    balance roundrobin\n{opts}    timeout connect 500ms\n    \
                 stick-table type ip size 1k expire 60s\n    stick on src\n{}",
                server_lines(&b, " check inter 100ms fall 1 rise 1")
            ),
            &["f"],
        );
        let fe = api.sp.addr("f");
        let first = visits(lo(5), fe, 1).remove(0);
        let i: usize = first[1..].parse().unwrap();
        drop(b.remove(i - 1));
        api.sp
            .wait_log(&[&format!("Server be/{first} is DOWN")], WAIT);
        let other = if i == 1 { "s2" } else { "s1" };
        assert_eq!(visits(lo(5), fe, 1), [other], "persist {persist}");
        let line = api
            .sp
            .wait_log(&["127.0.0.5:", &format!(" f be/{other} ")], WAIT);
        let l = Tcplog::parse(&line);
        let want = if persist { "+1" } else { "0" };
        assert_eq!(l.conns[4], want, "persist {persist}: {line}");
    }
}

/// `stick store-response` on the server's first bytes (held by
/// `tcp-response` rules), matched later on the client's first bytes: the
/// servers greet with their name, so a client that opens with a server's
/// name is sent to that server once the name was stored.
#[test]
fn a_key_the_server_sent_brings_its_clients_back() {
    let b = servers(&["s1", "s2"]);
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    default_backend be\n\
             backend be\n    balance roundrobin\n    stick-table type string len 2 size 1k expire 60s\n    \
             tcp-request inspect-delay 2s\n    tcp-request content accept if {{ req.len ge 2 }}\n    \
             tcp-response inspect-delay 2s\n    tcp-response content accept if {{ res.len ge 2 }}\n    \
             stick match req.payload(0,2)\n    stick store-response res.payload(0,2)\n{}",
            server_lines(&b, "")
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    // Until both names are stored, the algorithm picks.
    wait_for("both servers' names stored", WAIT, || {
        let _ = probe(lo(5), fe, b"xx", WAIT);
        entry(&api, "be", "s1").is_some() && entry(&api, "be", "s2").is_some()
    });
    for name in ["s1", "s2"] {
        for _ in 0..4 {
            assert_eq!(
                probe(lo(5), fe, name.as_bytes(), WAIT),
                Answer::served(name)
            );
        }
        let e = entry(&api, "be", name).unwrap();
        assert!(e.ends_with(&format!(" server_key={name}")), "{e}");
    }
}
