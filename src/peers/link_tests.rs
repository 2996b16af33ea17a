//! Two links talking to each other without sockets: updates both ways,
//! a full resync, garbage, and the handshake's status codes.

use std::time::Instant;

use super::codec;
use super::link::*;
use crate::config::DataType;
use crate::rules::Sample;
use crate::rules::table::{Key, Table};

fn section(local: &str, store: &str) -> Section {
    let table = crate::rules::sync::shared_table(1000, store);
    Section {
        name: "p".into(),
        local: local.into(),
        tables: vec![Shared::new(table, 1)],
        resync: Resync {
            done: true,
            assigned: false,
            recorded: false,
            deadline: Instant::now(),
        },
    }
}

/// Moves bytes both ways until neither side has more to say.
fn shuttle(a: &mut Link, sa: &mut Section, b: &mut Link, sb: &mut Section) {
    let now = Instant::now();
    let known = |n: &str| n == "lb1" || n == "lb2";
    for _ in 0..20 {
        a.send(sa, now);
        b.send(sb, now);
        if a.out.is_empty() && b.out.is_empty() {
            return;
        }
        b.inbuf.append(&mut a.out);
        a.inbuf.append(&mut b.out);
        b.receive(sb, &known, now).unwrap();
        a.receive(sa, &known, now).unwrap();
    }
    panic!("the links never went quiet");
}

fn key(t: &Table, ip: &str) -> Key {
    t.key(&Sample::Str(ip.as_bytes().to_vec())).unwrap()
}

#[test]
fn updates_flow_both_ways_and_are_acknowledged() {
    let store = "conn_cur,conn_cnt,conn_rate(10s),gpc0";
    let (mut s1, mut s2) = (section("lb1", store), section("lb2", store));
    let now = Instant::now();
    let mut a = Link::connect(&s1, "lb2", 1, now);
    let mut b = Link::accept(&s2, now);
    shuttle(&mut a, &mut s1, &mut b, &mut s2);
    assert!(a.ready() && b.ready());
    assert_eq!(b.peer.as_deref(), Some("lb1"));

    let t1 = s1.tables[0].table.clone();
    let held: Vec<_> = (0..4)
        .map(|_| t1.track(key(&t1, "127.0.0.5")).unwrap())
        .collect();
    t1.inc_gp(held[0].entry(), DataType::Gpc0, 0);
    t1.collect_updates();
    shuttle(&mut a, &mut s1, &mut b, &mut s2);
    let t2 = s2.tables[0].table.clone();
    let e = t2.get(&key(&t2, "127.0.0.5")).expect("learnt");
    assert_eq!(t2.read(&e, DataType::ConnCnt), Some(4));
    assert_eq!(t2.read(&e, DataType::ConnRate), Some(4));
    assert_eq!(t2.read(&e, DataType::Gpc0), Some(1));
    assert_eq!(t2.read(&e, DataType::ConnCur), Some(0));
    let acked = t1
        .sync
        .as_ref()
        .unwrap()
        .log
        .lock()
        .acked
        .get("lb2")
        .copied();
    assert_eq!(acked, Some(1), "lb2 acknowledged update 1");

    // And back: lb2 counts on the same key; lb1 takes its counters.
    let h2 = t2.track(key(&t2, "127.0.0.5")).unwrap();
    t2.collect_updates();
    shuttle(&mut a, &mut s1, &mut b, &mut s2);
    let e1 = t1.get(&key(&t1, "127.0.0.5")).unwrap();
    assert_eq!(t1.read(&e1, DataType::ConnCnt), Some(5));
    assert_eq!(t1.read(&e1, DataType::ConnCur), Some(4), "its own sessions");
    drop((held, h2));
}

#[test]
fn a_new_peer_learns_the_whole_table() {
    let store = "conn_cnt,gpc0";
    let (mut s1, mut s2) = (section("lb1", store), section("lb2", store));
    let t1 = s1.tables[0].table.clone();
    for i in 0..300 {
        drop(
            t1.track(key(&t1, &format!("127.0.{}.{}", i / 200, i % 200)))
                .unwrap(),
        );
    }
    // lb1's pushes were all acknowledged by someone else before:
    // only a resync can teach lb2.
    t1.collect_updates();
    let last = t1.sync.as_ref().unwrap().log.lock().last;
    t1.sync
        .as_ref()
        .unwrap()
        .log
        .lock()
        .acked
        .insert("lb2".into(), last);
    s2.resync.done = false;
    let now = Instant::now();
    let mut b = Link::connect(&s2, "lb1", 1, now);
    let mut a = Link::accept(&s1, now);
    shuttle(&mut b, &mut s2, &mut a, &mut s1);
    assert!(s2.resync.done, "lb1 said it finished");
    assert_eq!(s2.tables[0].table.used(), 300);
    assert!(!a.teaching(), "lb2 confirmed");
}

#[test]
fn garbage_ends_the_link_with_an_error_message() {
    let (mut s1, mut s2) = (section("lb1", "gpc0"), section("lb2", "gpc0"));
    let now = Instant::now();
    let mut a = Link::connect(&s1, "lb2", 1, now);
    let mut b = Link::accept(&s2, now);
    shuttle(&mut a, &mut s1, &mut b, &mut s2);
    b.inbuf.extend_from_slice(&[255, 0]);
    let known = |_: &str| true;
    assert!(matches!(
        b.receive(&mut s2, &known, now),
        Err(Close::Protocol(_))
    ));
    assert_eq!(b.out, vec![codec::CLASS_ERROR, codec::ERR_PROTOCOL]);
}

#[test]
fn handshakes_refuse_with_haproxy_status_codes() {
    let known = |n: &str| n == "lb1";
    let cases = [
        ("HAProxyS 2.1\nlb2\nlb1 10 1\n", None),
        ("HAProxyS 2.0\nlb2\nlb1 10 1\n", None),
        ("HAProxyS 3.0\nlb2\nlb1 10 1\n", Some(codec::STATUS_VERSION)),
        (
            "HTTP/1.0 2.1\nlb2\nlb1 10 1\n",
            Some(codec::STATUS_PROTOCOL),
        ),
        ("HAProxyS 2.1\nother\nlb1 10 1\n", Some(codec::STATUS_HOST)),
        (
            "HAProxyS 2.1\nlb2\nstranger 10 1\n",
            Some(codec::STATUS_PEER),
        ),
        ("HAProxyS 2.1\nlb2\nlb1\n", Some(codec::STATUS_PROTOCOL)),
    ];
    for (hello, want) in cases {
        let mut s = section("lb2", "gpc0");
        let mut l = Link::accept(&s, Instant::now());
        l.inbuf.extend_from_slice(hello.as_bytes());
        let got = l.receive(&mut s, &known, Instant::now());
        match want {
            None => assert_eq!(got, Ok(true), "{hello:?}"),
            Some(code) => {
                assert_eq!(got, Err(Close::Refused(code)), "{hello:?}");
                assert_eq!(l.out, format!("{code}\n").into_bytes());
            }
        }
    }
}
