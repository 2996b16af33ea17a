//! Stick-table data of HAProxy 2.6 end to end: arrays of general purpose
//! counters and tags (`gpc(N)`, `gpt(N)`, `gpc_rate(N,period)`) as rules
//! use them and `show table` prints them, the `table_*` converters and
//! the fetches that count, and the tables in `/metrics`. Every test also
//! passes against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::common::probe::{Answer, probe};
use crate::common::statspage::send;
use crate::common::tcplog::start;
use crate::common::*;

const WAIT: Duration = Duration::from_secs(5);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `show table NAME`'s entry lines without the entry's address and its
/// expiry (both change from run to run).
fn entries(api: &Api, table: &str) -> Vec<String> {
    crate::common::tables::entries(&api.ask(&format!("show table {table}")))
}

/// A source counted in element 1 of a `gpc` array is refused from its
/// third connection (`sc_get_gpc`); a tag array element is set, -1 being
/// HAProxy's unsigned 4294967295; `show table` prints each element under
/// its own name; `set table` and filters name an array's first element.
#[test]
fn gpc_arrays_limit_sources_and_show_per_element() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store gpt(2),gpc(2),gpc_rate(2,10s)\n    \
             tcp-request connection track-sc0 src\n    \
             tcp-request connection sc-inc-gpc(1,0) if {{ src 127.0.0.21 }}\n    \
             tcp-request connection sc-set-gpt(1,0) -1 if {{ src 127.0.0.21 }}\n    \
             tcp-request connection reject if {{ sc_get_gpc(1,0) gt 2 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    let got: Vec<Answer> = (0..4).map(|_| probe(lo(21), fe, b"", WAIT)).collect();
    assert_eq!(
        got,
        [
            Answer::served("a"),
            Answer::served("a"),
            Answer::Reset,
            Answer::Reset
        ]
    );
    assert_eq!(probe(lo(22), fe, b"", WAIT), Answer::served("a"));
    wait_for("the entries idle", WAIT, || {
        let e = entries(&api, "f");
        e.len() == 2 && e.iter().all(|e| e.contains(" use=0 "))
    });
    assert_eq!(
        entries(&api, "f"),
        [
            "key=127.0.0.21 use=0 gpt0=0 gpt1=4294967295 gpc0=0 gpc1=4 gpc0_rate(10000)=0 gpc1_rate(10000)=4",
            "key=127.0.0.22 use=0 gpt0=0 gpt1=0 gpc0=0 gpc1=0 gpc0_rate(10000)=0 gpc1_rate(10000)=0",
        ]
    );
    // `data.gpc` is the array's first element, for set and for filters.
    assert_eq!(api.ask("set table f key 127.0.0.22 data.gpc 5"), "\n");
    let picked = api.ask("show table f data.gpc gt 4");
    assert!(
        picked.contains(" key=127.0.0.22 ") && !picked.contains("127.0.0.21"),
        "{picked}"
    );
    assert!(
        entries(&api, "f").contains(
            &"key=127.0.0.22 use=0 gpt0=0 gpt1=0 gpc0=5 gpc1=0 gpc0_rate(10000)=0 gpc1_rate(10000)=0"
                .to_string()
        ),
        "{:?}",
        entries(&api, "f")
    );
    assert_eq!(
        api.ask("set table f key 127.0.0.22 data.gpc0 5"),
        "Data type not stored in this table\n\n"
    );
    assert_eq!(
        api.ask("show table f data.conn_cnt gt 1"),
        "Filter entry #1: Data type not stored in this table\n\n"
    );
}

/// Converters in rules: a source another table holds is refused
/// (`in_table`), and a dynamic backend name shows what `table_trackers`,
/// `table_gpc` and the counting fetch `src_inc_gpc` answer.
#[test]
fn converters_and_counting_fetches_in_rules() {
    let names = ["n0", "n1", "n2", "n3"];
    let servers: Vec<Backend> = names.iter().map(|n| Backend::named(n)).collect();
    let mut backends = String::new();
    for (n, s) in names.iter().zip(&servers) {
        backends.push_str(&format!("backend be_{n}\n    server s {}\n", s.addr));
    }
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store conn_cnt,gpc(2)\n    \
             tcp-request connection track-sc0 src\n    \
             tcp-request content reject if {{ src,in_table(abuse) }}\n    \
             use_backend be_n%[src_inc_gpc(1,f)] if {{ src 127.0.0.31 }}\n    \
             use_backend be_n%[src,table_gpc(0,abuse)] if {{ src 127.0.0.32 }}\n    \
             use_backend be_n%[table_cnt(abuse)] if {{ src 127.0.0.34 }}\n    \
             use_backend be_n%[sc_trackers(0)] if {{ src 127.0.0.35 }}\n    \
             use_backend be_n%[src,table_trackers(f)]\n\
             backend abuse\n    stick-table type ip size 10 expire 1m store gpc(1)\n\
             {backends}"
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    // src_inc_gpc counts each connection and answers the new count.
    let got: Vec<Answer> = (0..3).map(|_| probe(lo(31), fe, b"", WAIT)).collect();
    assert_eq!(
        got,
        [
            Answer::served("n1"),
            Answer::served("n2"),
            Answer::served("n3")
        ]
    );
    // A key not in the table reads as 0; once set, its element.
    assert_eq!(probe(lo(32), fe, b"", WAIT), Answer::served("n0"));
    assert_eq!(
        probe(lo(34), fe, b"", WAIT),
        Answer::served("n0"),
        "table_cnt"
    );
    assert_eq!(api.ask("set table abuse key 127.0.0.32 data.gpc 2"), "\n");
    assert_eq!(probe(lo(32), fe, b"", WAIT), Answer::Closed, "in abuse");
    assert_eq!(
        probe(lo(34), fe, b"", WAIT),
        Answer::served("n1"),
        "table_cnt"
    );
    // sc_trackers: this session, which tracks its entry.
    assert_eq!(probe(lo(35), fe, b"", WAIT), Answer::served("n1"));
    // HAProxy 2.6 counts its own lookup in table_trackers: this session
    // tracks the entry, and the converter says 2.
    assert_eq!(probe(lo(33), fe, b"", WAIT), Answer::served("n2"));
}

/// `haproxy_sticktable_size` and `haproxy_sticktable_used`: one series per
/// table with HAProxy 2.6's help, type and labels, the last declared
/// first (as `show table` lists them), `used` following the entries;
/// `scope=sticktable` alone.
#[test]
fn tables_in_metrics() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store conn_cnt\n    \
             tcp-request connection track-sc0 src\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n\
             backend names\n    stick-table type string len 16 size 10 expire 1m store gpc(1)\n\
             listen stats\n    mode http\n    bind 127.0.0.1:0\n    timeout client 5s\n    \
             http-request use-service prometheus-exporter if {{ path /metrics }}\n",
            a.addr
        ),
        &["f", "stats"],
    );
    let scrape = |query: &str| {
        let r = send(
            api.sp.addr("stats"),
            format!("GET /metrics{query} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 200);
        r.body
    };
    let tables = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("haproxy_sticktable_"))
            .map(str::to_string)
            .collect()
    };
    let fe = api.sp.addr("f");
    assert_eq!(probe(lo(41), fe, b"", WAIT), Answer::served("a"));
    assert_eq!(probe(lo(42), fe, b"", WAIT), Answer::served("a"));
    assert_eq!(api.ask("set table names key alice data.gpc 1"), "\n");
    let want = [
        "# HELP haproxy_sticktable_size Stick table size.",
        "# TYPE haproxy_sticktable_size gauge",
        "haproxy_sticktable_size{name=\"names\",type=\"string\"} 10",
        "haproxy_sticktable_size{name=\"f\",type=\"ip\"} 1024",
        "# HELP haproxy_sticktable_used Number of entries used in this stick table.",
        "# TYPE haproxy_sticktable_used gauge",
        "haproxy_sticktable_used{name=\"names\",type=\"string\"} 1",
        "haproxy_sticktable_used{name=\"f\",type=\"ip\"} 2",
    ];
    assert_eq!(tables(&scrape("")), want);
    // `show table` lists them in the same order.
    assert_eq!(
        api.ask("show table"),
        "# table: names, type: string, size:10, used:1\n# table: f, type: ip, size:1024, used:2\n\n"
    );
    let only = scrape("?scope=sticktable");
    assert_eq!(tables(&only), want);
    assert!(!only.contains("haproxy_process_") && !only.contains("haproxy_frontend_"));
    assert!(tables(&scrape("?scope=frontend")).is_empty());
    assert_eq!(api.ask("clear table names"), "\n");
    assert!(
        scrape("?scope=sticktable")
            .contains("haproxy_sticktable_used{name=\"names\",type=\"string\"} 0")
    );
}

/// The legacy names on a table that stores arrays instead: `gpc0`,
/// `gpc1` and `gpt0` are elements 0 and 1 of `gpc` and element 0 of `gpt`
/// for the actions and fetches (HAProxy 2.6's fallback).
#[test]
fn legacy_names_reach_the_arrays() {
    let a = Backend::named("a");
    let api = start(
        &format!(
            "frontend f\n    bind 127.0.0.1:0\n    \
             stick-table type ip size 1k expire 1m store gpt(1),gpc(2),gpc_rate(2,1m)\n    \
             tcp-request connection track-sc2 src\n    \
             tcp-request connection sc-inc-gpc1(2)\n    \
             tcp-request connection sc-set-gpt0(2) 3\n    \
             tcp-request connection reject if {{ sc2_get_gpc1 gt 1 }} {{ sc2_get_gpt0 eq 3 }} {{ sc2_gpc1_rate gt 1 }}\n    \
             default_backend be\n\
             backend be\n    server s1 {}\n",
            a.addr
        ),
        &["f"],
    );
    let fe = api.sp.addr("f");
    assert_eq!(probe(lo(51), fe, b"", WAIT), Answer::served("a"));
    assert_eq!(probe(lo(51), fe, b"", WAIT), Answer::Reset);
    wait_for("the entry idle", WAIT, || {
        entries(&api, "f").iter().all(|e| e.contains(" use=0 "))
    });
    assert_eq!(
        entries(&api, "f"),
        ["key=127.0.0.51 use=0 gpt0=3 gpc0=0 gpc1=2 gpc0_rate(60000)=0 gpc1_rate(60000)=2"]
    );
}
