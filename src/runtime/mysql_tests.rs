//! Roles from what the monitor saw: which member writers and readers may
//! use, in the cases a database operator meets.

use std::time::Duration;

use super::mysql::{Channel, ClusterView, MemberView, Seen, Writer};
use crate::config::{ClusterServer, Location, MysqlCluster, Role, Secret};

fn cluster(n: usize) -> MysqlCluster {
    MysqlCluster {
        name: "db".into(),
        location: Location::default(),
        user: "mon".into(),
        password: Secret::default(),
        replication_user: None,
        replication_password: Secret::default(),
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(500),
        max_lag: Duration::from_secs(5),
        failover: true,
        failover_after: 3,
        failover_block: Duration::from_secs(60),
        failover_confirm: Duration::from_secs(1),
        servers: (0..n)
            .map(|i| ClusterServer {
                name: format!("db{}", i + 1),
                addr: format!("10.0.0.{}:3306", i + 1).parse().unwrap(),
                location: Location::default(),
            })
            .collect(),
    }
}

fn primary() -> MemberView {
    MemberView {
        answered: true,
        ever_seen: true,
        seen: Seen {
            read_only: Some(false),
            ..Seen::default()
        },
        ..MemberView::default()
    }
}

/// A replica of member `of` (0-based), `lag` seconds behind (None: NULL).
fn replica(of: usize, lag: Option<u64>) -> MemberView {
    let running = if lag.is_some() { "Yes" } else { "No" };
    MemberView {
        answered: true,
        ever_seen: true,
        seen: Seen {
            read_only: Some(true),
            channels: vec![Channel {
                master_host: format!("10.0.0.{}", of + 1),
                master_port: 3306,
                io: running.into(),
                sql: running.into(),
                lag,
                ..Channel::default()
            }],
            ..Seen::default()
        },
        ..MemberView::default()
    }
}

fn view(members: Vec<MemberView>) -> ClusterView {
    ClusterView {
        members,
        auto: true,
        ..ClusterView::default()
    }
}

const READ: Role = Role::Reader {
    max_lag: Duration::from_secs(5),
};

#[test]
fn roles_in_the_cases_an_operator_meets() {
    let down = MemberView {
        answered: false,
        ever_seen: true,
        fails: 5,
        ..primary()
    };
    let fenced = MemberView {
        fenced: Some("old primary".into()),
        ..primary()
    };
    let mut other_replica = primary();
    other_replica.seen.channels = vec![Channel {
        master_host: "192.0.2.9".into(),
        master_port: 3306,
        io: "Yes".into(),
        sql: "Yes".into(),
        lag: Some(0),
        ..Channel::default()
    }];
    // Promoted by the other load balancer, its STOP SLAVE still waiting.
    let mut promoted = replica(0, None);
    promoted.seen.read_only = Some(false);
    promoted.seen.channels[0].io = "Yes".into();
    let mut all_read_only = primary();
    all_read_only.seen.read_only = Some(true);
    // (what, members, writer backend's choice, reader backend's choice)
    type Case = (&'static str, Vec<MemberView>, Vec<bool>, Vec<bool>);
    let cases: Vec<Case> = vec![
        (
            "a primary and a fresh replica",
            vec![primary(), replica(0, Some(0))],
            vec![true, false],
            vec![false, true],
        ),
        (
            "a lagging replica: reads on the primary",
            vec![primary(), replica(0, Some(9))],
            vec![true, false],
            vec![true, false],
        ),
        (
            "replication stopped (NULL lag): reads on the primary",
            vec![primary(), replica(0, None)],
            vec![true, false],
            vec![true, false],
        ),
        (
            "two writable servers: no writes, reads on both",
            vec![primary(), primary()],
            vec![false, false],
            vec![true, true],
        ),
        (
            "the primary does not answer: no writes, the replica reads",
            vec![down.clone(), replica(0, Some(0))],
            vec![false, false],
            vec![false, true],
        ),
        (
            "the primary is dead and the replica's IO thread retries: it still reads",
            vec![down.clone(), replica(0, None)],
            vec![false, false],
            vec![false, true],
        ),
        (
            "a writable replica of a primary that does not answer is the primary",
            vec![down.clone(), promoted.clone()],
            vec![false, true],
            vec![false, true],
        ),
        (
            "a writable replica of a primary that answers is not",
            vec![primary(), promoted],
            vec![true, false],
            vec![true, false],
        ),
        (
            "a fenced old primary takes nothing",
            vec![fenced, primary()],
            vec![false, true],
            vec![false, true],
        ),
        (
            "writable but replicating from outside the cluster is a primary here",
            vec![other_replica, replica(0, Some(1))],
            vec![true, false],
            vec![false, true],
        ),
        (
            "no primary: nobody writes, the replica reads however stale",
            vec![all_read_only, replica(0, None)],
            vec![false, false],
            vec![false, true],
        ),
    ];
    let c = cluster(2);
    for (what, members, write, read) in cases {
        let v = view(members);
        assert_eq!(
            v.allowed(&c, Role::Writer, &[0, 1]),
            write,
            "{what}: writers"
        );
        assert_eq!(v.allowed(&c, READ, &[0, 1]), read, "{what}: readers");
        // A backend listing the servers the other way round gets the same.
        let mut rev = read.clone();
        rev.reverse();
        assert_eq!(
            v.allowed(&c, READ, &[1, 0]),
            rev,
            "{what}: readers, reversed"
        );
    }
}

#[test]
fn the_lag_bound_is_the_backends() {
    let c = cluster(2);
    let v = view(vec![primary(), replica(0, Some(3))]);
    let tight = Role::Reader {
        max_lag: Duration::from_secs(2),
    };
    assert_eq!(v.allowed(&c, tight, &[0, 1]), [true, false]);
    assert_eq!(v.allowed(&c, READ, &[0, 1]), [false, true]);
}

#[test]
fn two_writable_servers_are_a_conflict() {
    let c = cluster(3);
    let v = view(vec![primary(), replica(0, Some(0)), primary()]);
    assert_eq!(v.writer(&c), Writer::Conflict(vec![0, 2]));
}

#[test]
fn writes_wait_while_a_primary_is_expected() {
    let c = cluster(2);
    let mut v = view(vec![primary(), replica(0, Some(0))]);
    assert!(!v.hold_writes(&c), "a primary: no hold");
    v.last_primary = Some(0);
    // The primary missed a round: it may come back, or be failed over.
    v.members[0].answered = false;
    v.members[0].fails = 1;
    assert!(v.hold_writes(&c));
    // Dead for good, failover on: the replica will be promoted.
    v.members[0].fails = 10;
    assert!(v.hold_writes(&c));
    // Dead, no failover: nobody is coming; refuse at once.
    let mut manual = cluster(2);
    manual.failover = false;
    assert!(!v.hold_writes(&manual));
    // Never a primary since start: nothing to wait for.
    v.last_primary = None;
    assert!(!v.hold_writes(&c));
    // A switchover runs: hold.
    v.busy = true;
    assert!(v.hold_writes(&manual));
    // Two writable servers: refuse, never wait for one to win.
    let conflict = ClusterView {
        last_primary: Some(0),
        ..view(vec![primary(), primary()])
    };
    assert!(!conflict.hold_writes(&c));
}
