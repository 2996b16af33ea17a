//! Stick tables end to end: per-source connection-rate and concurrent
//! connection limits with `track-sc0`, general purpose counters, and what
//! `show table` / `clear table` say. Every test also passes against
//! HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::common::probe::{Answer, probe, probe_on};
use crate::common::tcplog::start;
use crate::common::*;

const WAIT: Duration = Duration::from_secs(5);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `show table f`'s entry lines, with the entry address and the expiry
/// (both change from run to run) left out.
fn entries(api: &Api) -> Vec<String> {
    crate::common::tables::entries(&api.ask("show table f"))
}

/// One source over its connection rate is refused with a reset from its
/// 4th connection; another source is served meanwhile; the table counts
/// every connection, and `clear table ... key` forgives the source.
#[test]
fn connection_rate_limit_per_source() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 100k expire 30s store conn_cnt,conn_cur,conn_rate(10s),sess_rate(10s)\n    \
             tcp-request connection track-sc0 src\n    \
             tcp-request connection reject if {{ sc0_conn_rate gt 3 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let got: Vec<Answer> = (0..6).map(|_| probe(lo(4), fe, b"", WAIT)).collect();
    assert_eq!(
        &got[..3],
        &[
            Answer::served("a"),
            Answer::served("a"),
            Answer::served("a")
        ]
    );
    assert_eq!(&got[3..], &[Answer::Reset, Answer::Reset, Answer::Reset]);
    assert_eq!(
        probe(lo(2), fe, b"", WAIT),
        Answer::served("a"),
        "another source"
    );
    wait_for("both entries idle", WAIT, || {
        entries(&api).iter().all(|e| e.contains(" use=0 "))
    });
    assert_eq!(
        entries(&api),
        [
            "key=127.0.0.2 use=0 conn_cnt=1 conn_rate(10000)=1 conn_cur=0 sess_rate(10000)=1",
            "key=127.0.0.4 use=0 conn_cnt=6 conn_rate(10000)=6 conn_cur=0 sess_rate(10000)=3",
        ]
    );
    assert!(
        api.ask("show table")
            .starts_with("# table: f, type: ip, size:102400, used:2\n"),
        "{}",
        api.ask("show table")
    );
    assert_eq!(api.ask("clear table f key 127.0.0.4"), "\n");
    assert_eq!(probe(lo(4), fe, b"", WAIT), Answer::served("a"), "forgiven");
    assert_eq!(api.ask("show table nosuch"), "No such table\n\n");
}

/// `sc0_conn_cur`: at most two connections at once per source; a third
/// is refused until one closes.
#[test]
fn concurrent_connection_limit_per_source() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k store conn_cur\n    \
             tcp-request connection track-sc0 src\n    \
             tcp-request connection reject if {{ sc0_conn_cur gt 2 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let (first, s1) = probe_on(lo(5), fe, b"", WAIT);
    let (second, _s2) = probe_on(lo(5), fe, b"", WAIT);
    assert_eq!((first, second), (Answer::served("a"), Answer::served("a")));
    assert_eq!(
        probe(lo(5), fe, b"", WAIT),
        Answer::Reset,
        "a third at once"
    );
    assert_eq!(
        probe(lo(6), fe, b"", WAIT),
        Answer::served("a"),
        "another source"
    );
    drop(s1);
    wait_for("one connection of 127.0.0.5 left", WAIT, || {
        entries(&api)
            .iter()
            .any(|e| e == "key=127.0.0.5 use=1 conn_cur=1")
    });
    assert_eq!(probe(lo(5), fe, b"", WAIT), Answer::served("a"));
}

/// A general purpose counter marks a source (`sc-inc-gpc0`); a content
/// rule refuses sources marked more than once (`src_get_gpc0`).
#[test]
fn gpc0_marks_sources() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store gpc0\n    \
             tcp-request connection track-sc1 src\n    \
             tcp-request connection sc-inc-gpc0(1) if {{ src 127.0.0.7 }}\n    \
             tcp-request content reject if {{ src_get_gpc0 gt 1 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    assert_eq!(
        probe(lo(7), fe, b"", WAIT),
        Answer::served("a"),
        "marked once"
    );
    assert_eq!(probe(lo(7), fe, b"", WAIT), Answer::Closed, "marked twice");
    assert_eq!(probe(lo(8), fe, b"", WAIT), Answer::served("a"));
    wait_for("entries idle", WAIT, || {
        entries(&api).iter().all(|e| e.contains(" use=0 "))
    });
    assert_eq!(
        entries(&api),
        ["key=127.0.0.7 use=0 gpc0=2", "key=127.0.0.8 use=0 gpc0=0"]
    );
}

/// `set table` makes and fills entries; `data.TYPE OP VALUE` filters pick
/// entries for `show table` and `clear table`; mistakes get HAProxy's
/// messages. A source set over the limit by hand is refused.
#[test]
fn set_show_and_clear_with_filters() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store gpc0,conn_cnt\n    \
             tcp-request connection track-sc0 src\n    \
             tcp-request connection reject if {{ sc0_get_gpc0 gt 5 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    assert_eq!(
        api.ask("set table f key 127.0.0.9 data.gpc0 7 data.conn_cnt 3"),
        "\n"
    );
    assert_eq!(api.ask("set table f key 127.0.0.10 data.gpc0 1"), "\n");
    assert_eq!(probe(lo(9), fe, b"", WAIT), Answer::Reset, "gpc0 7 > 5");
    assert_eq!(probe(lo(10), fe, b"", WAIT), Answer::served("a"));
    wait_for("entries idle", WAIT, || {
        entries(&api).iter().all(|e| e.contains(" use=0 "))
    });
    let picked = |f: &str| -> Vec<String> {
        api.ask(&format!("show table f {f}"))
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(" key=")
                    .nth(1)
                    .unwrap_or(l)
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(picked("data.gpc0 gt 5"), ["127.0.0.9"]);
    assert_eq!(picked("data.gpc0 le 5"), ["127.0.0.10"]);
    assert_eq!(picked("data.gpc0 ge 1 data.conn_cnt eq 4"), ["127.0.0.9"]);
    assert_eq!(
        api.ask("show table f data.bogus gt 1"),
        "Filter entry #1: Unknown data type\n\n"
    );
    assert_eq!(
        api.ask("show table f data.gpc0 xx 1"),
        "Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n\n"
    );
    assert_eq!(
        api.ask("set table f key 127.0.0.9 data.bogus 5"),
        "Unknown data type\n\n"
    );
    assert_eq!(
        api.ask("set table f key 127.0.0.9 data.gpc0 x"),
        "Require a valid integer value to store\n\n"
    );
    assert_eq!(
        api.ask("set table f data.gpc0 1"),
        "content-based lookup is only supported with the \"show\" and \"clear\" actions\n\n"
    );
    assert_eq!(api.ask("clear table f data.gpc0 gt 5"), "\n");
    assert_eq!(picked(""), ["127.0.0.10"]);
    assert_eq!(probe(lo(9), fe, b"", WAIT), Answer::served("a"), "cleared");
}
