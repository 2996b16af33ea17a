//! The guards of `failover auto` against a real replicated MariaDB set
//! on 127.0.0.1: no failover while a replica still hears the primary that
//! splicer lost (a partition), before a healthy primary was seen, within
//! `failover-block` of the last one, after a failed attempt (which turns
//! automatic failover off), or on a VRRP BACKUP. Each test waits until
//! the guard has spoken (its log line) and then watches that nobody is
//! promoted for a few seconds, well past what a failover takes.
//!
//! splicer's own feature: skipped with `SPLICER_TEST_BIN=haproxy`, and when
//! MariaDB is not installed outside CI (as `mysql_cluster`); the VRRP test
//! also needs root for its network namespaces.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::common::mariadb_set::{
    MON_USER, Replicated, SetOptions, app_query_with, change_master_sql,
};
use crate::common::mysql_lb::*;
use crate::common::netns::{Lan, can_run, in_netns};
use crate::common::relay::Relay;
use crate::common::statspage::metric;
use crate::common::*;

#[test]
fn a_primary_splicer_cannot_reach_but_its_replica_hears_is_not_failed_over() {
    let test = "a_primary_splicer_cannot_reach_but_its_replica_hears_is_not_failed_over";
    if haproxy_has_none(test) {
        return;
    }
    let Some(mut set) = Replicated::start(test, 1) else {
        return;
    };
    // db1 is at the relay's address for everyone: splicer, and db2, which
    // replicates through it. The cut spares db2's link alone.
    let relay = Relay::start(fresh_listener(), set.addr(0));
    set.sql(1, &change_master_sql(relay.addr));
    wait_for("db2 to replicate through the relay", SLOW, || {
        relay.open() == 1
            && set
                .slave_status(1)
                .is_some_and(|s| s["Slave_IO_Running"] == "Yes")
    });
    relay.spare_open();
    let mut via_relay = servers(&set);
    via_relay[0].1 = relay.addr;
    let lb = Lb::start(&failover_config(&via_relay, "", "1s"));
    wait_roles(&lb, &set, 0);
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    let rows = set.sql(0, "SELECT COUNT(*) FROM t.w");

    relay.cut();
    lb.wait_row("db1", "down", ROUNDS, |r| r["state"] == "down");
    let line = lb.sp.wait_log(
        &["primary db1 is not answering, but replica db2 still hears from it: no failover"],
        ROUNDS,
    );
    println!("{test}: {line}");
    no_promotion(&lb, "no failover while db2 hears db1");
    assert_eq!(set.sql(1, "SELECT @@read_only"), "1");
    assert_eq!(set.sql(0, "SELECT @@read_only"), "0");
    assert!(
        set.slave_status(1)
            .is_some_and(|s| s["Slave_IO_Running"] == "Yes"),
        "db2 lost db1 too: the test cut the wrong link"
    );
    // Writes wait in the queue for a primary (1 s here), then fail.
    let asked = Instant::now();
    let refused = set.app_query(lb.write(), "INSERT INTO w (v) VALUES (1)");
    let waited = asked.elapsed();
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        waited >= Duration::from_millis(900),
        "refused after {waited:?}, not held in the queue: {refused:?}"
    );
    assert_eq!(
        set.sql(0, "SELECT COUNT(*) FROM t.w"),
        rows,
        "db1 got a write"
    );

    relay.restore();
    lb.wait_row("db1", "primary again", ROUNDS, |r| {
        r["state"] == "up" && r["role"] == "primary"
    });
    assert_eq!(
        set.app_query(
            lb.write(),
            "INSERT INTO w (v) VALUES (2); SELECT @@server_id"
        ),
        Ok("1".to_string())
    );

    // The guard is no latch: cut again, and db1 dies for real while cut
    // (db2 loses it too): db2 is promoted.
    relay.cut();
    lb.wait_row("db1", "down", ROUNDS, |r| r["state"] == "down");
    set.kill9(0);
    lb.sp
        .wait_log(&["failover from db1 to db2 done in"], ROUNDS);
    lb.wait_served_by(&set, "write", 2, ROUNDS);
}

#[test]
fn no_failover_without_a_healthy_primary_seen_since_start() {
    let test = "no_failover_without_a_healthy_primary_seen_since_start";
    if haproxy_has_none(test) {
        return;
    }
    let Some(mut set) = Replicated::start(test, 1) else {
        return;
    };
    set.kill9(0);
    let lb = Lb::start(&failover_config(&servers(&set), "", "1s"));
    lb.wait_row("db2", "up, replica", ROUNDS, |r| {
        r["state"] == "up" && r["role"] == "replica"
    });
    lb.wait_row("db1", "down", ROUNDS, |r| r["state"] == "down");
    no_promotion(&lb, "no promotion");
    assert_eq!(set.sql(1, "SELECT @@read_only"), "1");
    let refused = set.server_id_at(lb.write());
    assert!(refused.is_err(), "{refused:?}");

    // The operator brings db1 back writable: it is the primary.
    set.restart(0);
    set.sql(0, "SET GLOBAL read_only=0");
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    assert!(lb.summary().contains("# db: primary db1;"));
}

/// `failover-block` in [`the_most_advanced_replica_is_promoted_and_failover_block_delays_a_second`].
const BLOCK: Duration = Duration::from_secs(6);

#[test]
fn the_most_advanced_replica_is_promoted_and_failover_block_delays_a_second() {
    let test = "the_most_advanced_replica_is_promoted_and_failover_block_delays_a_second";
    let Some((mut set, lb)) = start_failover(
        test,
        2,
        SetOptions::default(),
        &format!("    failover-block {}s\n", BLOCK.as_secs()),
    ) else {
        return;
    };
    // db3 stops receiving; db2 gets rows db3 lacks: db2 is the most
    // advanced when db1 dies, and db3 must get the rows from it.
    set.sql(2, "STOP SLAVE IO_THREAD");
    for id in 1..=3 {
        assert_eq!(
            set.app_query(
                lb.write(),
                &format!("INSERT INTO w (id, v) VALUES ({id}, 1); SELECT @@server_id")
            ),
            Ok("1".to_string())
        );
    }
    set.wait_replicated(1);
    kill_and_fail_over(&mut set, &lb, 0, 1);
    let promoted = Instant::now();
    lb.wait_row("db3", "a replica, replicating", ROUNDS, |r| {
        r["role"] == "replica" && r["io"] == "Yes" && r["sql"] == "Yes"
    });
    let status = set.slave_status(2).expect("db3 replicates");
    assert_eq!(
        status["Master_Port"],
        set.addr(1).port().to_string(),
        "db3 follows db2"
    );
    let summary = lb.summary();
    assert!(
        summary.contains(&format!(
            "db3: CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}",
            set.addr(1).port()
        )),
        "{summary}"
    );
    assert_eq!(
        set.app_query(
            lb.write(),
            "INSERT INTO w (id, v) VALUES (4, 1); SELECT @@server_id"
        ),
        Ok("2".to_string())
    );
    set.wait_replicated(2);
    assert_eq!(set.sql(2, "SELECT COUNT(*) FROM t.w WHERE id <= 4"), "4");

    // The new primary dies too: nobody is promoted within failover-block
    // (watched until just before it ends)...
    set.kill9(1);
    let line = lb.sp.wait_log(
        &[
            "primary db2 is lost",
            "no second failover within failover-block",
        ],
        ROUNDS,
    );
    println!("{test}: {line}");
    let block_ends = promoted + BLOCK;
    holds_until(
        &lb,
        "no second failover",
        block_ends - Duration::from_millis(500),
        || {
            let row = lb.row("db3")?;
            if row["role"] != "replica" || writable(&row) {
                return Err(format!("db3: {row:?}"));
            }
            let summary = lb.summary();
            if !summary.contains("# db: primary none; failover auto; 1 failovers\n") {
                return Err(summary);
            }
            Ok(())
        },
    );
    assert_eq!(lb.sp.log_lines("begins").len(), 1, "{}", lb.sp.log_text());
    assert_eq!(set.sql(2, "SELECT @@read_only"), "1");
    // ...and once it is over, db3 is.
    lb.sp
        .wait_log(&["failover from db2 to db3 done in"], BLOCK + ROUNDS);
    println!(
        "{test}: second failover {:?} after the first",
        promoted.elapsed()
    );
    lb.wait_served_by(&set, "write", 3, ROUNDS);
    assert_eq!(set.sql(2, "SELECT COUNT(*) FROM t.w WHERE id <= 4"), "4");
}

#[test]
fn a_failed_failover_turns_automatic_failover_off() {
    let test = "a_failed_failover_turns_automatic_failover_off";
    if haproxy_has_none(test) {
        return;
    }
    let Some(mut set) = Replicated::start(test, 1) else {
        return;
    };
    // On db2 alone (not replicated, not in its binlog), the monitor loses
    // READ_ONLY ADMIN, which SET GLOBAL read_only needs: promoting db2
    // fails before it takes any write.
    set.sql(
        1,
        &format!(
            "SET sql_log_bin=0; REVOKE READ_ONLY ADMIN ON *.* FROM '{MON_USER}'@'127.0.0.1'; \
             REVOKE READ_ONLY ADMIN ON *.* FROM '{MON_USER}'@'localhost'"
        ),
    );
    let lb = Lb::start(&failover_config(&servers(&set), "", "1s"));
    wait_roles(&lb, &set, 0);
    lb.wait_served_by(&set, "write", 1, ROUNDS);

    set.kill9(0);
    let line = lb.sp.wait_log(
        &[
            "failover from db1 to db2 failed",
            "automatic failover is now off",
        ],
        ROUNDS,
    );
    println!("{test}: {line}");
    let summary = lb.summary();
    let setting = summary
        .lines()
        .find(|l| l.starts_with("# db: primary none; failover off ("))
        .unwrap_or_else(|| panic!("failover not off in\n{summary}"));
    assert!(
        setting.contains("failed") && setting.contains("read_only=0"),
        "{setting}"
    );
    assert!(
        summary.contains("# db: last failover db1 -> db2 at ")
            && summary.contains(": failed after "),
        "{summary}"
    );
    let m = mysql_metrics(&lb);
    assert_eq!(
        metric(&m, r#"splicer_mysql_failover_auto{cluster="db"}"#),
        0.0
    );
    assert_eq!(
        metric(&m, r#"splicer_mysql_failovers_total{cluster="db"}"#),
        0.0
    );
    // No second try, and no primary.
    holds_for(&lb, "no second attempt", || {
        if lb.sp.log_lines("begins").len() != 1 {
            return Err("another attempt".into());
        }
        let row = lb.row("db2")?;
        if writable(&row) {
            return Err(format!("db2: {row:?}"));
        }
        Ok(())
    });
    assert_eq!(set.sql(1, "SELECT @@read_only"), "1");
    // Until someone fixes what failed: a reload keeps it off.
    reload(&lb, 1);
    assert!(
        lb.summary().contains("# db: primary none; failover off ("),
        "{}",
        lb.summary()
    );
}

#[test]
fn only_the_vrrp_master_fails_over() {
    let test = "only_the_vrrp_master_fails_over";
    if haproxy_has_none(test) || !can_run(test) {
        return;
    }
    let Some(mut set) = Replicated::start(test, 1) else {
        return;
    };
    let mut lan = Lan::new();
    lan.add_host("lb1", "198.51.100.11/24");
    lan.add_host("lb2", "198.51.100.12/24");
    // Inside each load balancer's namespace, 127.0.0.1 at a server's port
    // leads to that server: splicer there uses the addresses the servers
    // give each other.
    let _relays: Vec<Relay> = ["lb1", "lb2"]
        .iter()
        .flat_map(|host| (0..set.len()).map(move |i| (*host, i)))
        .map(|(host, i)| {
            let addr = set.addr(i);
            let l = in_netns(&lan.ns(host), || TcpListener::bind(addr).unwrap());
            Relay::start(l, addr)
        })
        .collect();
    let start = |host: &str, failover: &str, priority: u32| {
        let cfg = format!(
            "{}vrrp VI_1\n    interface eth0\n    virtual_router_id 51\n    advert_int 100ms\n    \
             virtual_ipaddress 198.51.100.100/24\n    priority {priority}\n",
            failover_config(&servers(&set), &format!("    failover {failover}\n"), "1s")
        );
        let lb = Lb::start_by(&cfg, |cfg, fes| lan.splicer(host, cfg, fes));
        wait_roles(&lb, &set, 0);
        lb
    };
    // lb1, the MASTER, does not fail over; lb2 would, but is the BACKUP.
    let lb1 = start("lb1", "off", 150);
    let lb2 = start("lb2", "auto", 100);
    wait_for("lb1 MASTER, lb2 BACKUP", ROUNDS, || {
        lb1.ask("show vrrp").contains("state: MASTER\n")
            && lb2.ask("show vrrp").contains("state: BACKUP\n")
    });

    set.kill9(0);
    let line = lb2.sp.wait_log(
        &["primary db1 is lost; this node is not the VRRP MASTER"],
        ROUNDS,
    );
    println!("{test}: lb2: {line}");
    holds_for(&lb2, "the BACKUP promotes nobody", || {
        let summary = lb2.summary();
        if !summary.contains("# db: primary none; failover auto; 0 failovers\n") {
            return Err(summary);
        }
        Ok(())
    });
    assert!(
        lb2.sp.log_lines("begins").is_empty(),
        "{}",
        lb2.sp.log_text()
    );
    assert_eq!(set.sql(1, "SELECT @@read_only"), "1");

    // lb1 stops (a priority 0 advert): lb2 is the MASTER and fails over.
    lb1.sp.signal("TERM");
    wait_for("lb2 MASTER", ROUNDS, || {
        lb2.ask("show vrrp").contains("state: MASTER\n")
    });
    lb2.sp
        .wait_log(&["failover from db1 to db2 done in"], ROUNDS);
    lb2.wait_row("db2", "primary", ROUNDS, |r| r["role"] == "primary");
    let client = set.server(0).client().to_path_buf();
    let addr = lb2.write();
    let id = in_netns(&lan.ns("lb2"), || {
        app_query_with(&client, addr, "SELECT @@server_id")
    });
    assert_eq!(id, Ok("2".to_string()));
}

/// Over a few rounds, db2 stays a read-only replica and no failover
/// begins.
fn no_promotion(lb: &Lb, what: &str) {
    holds_for(lb, what, || {
        let row = lb.row("db2")?;
        if row["role"] != "replica" || writable(&row) {
            return Err(format!("db2: {row:?}"));
        }
        let summary = lb.summary();
        if !summary.contains("# db: primary none; failover auto; 0 failovers\n") {
            return Err(summary);
        }
        Ok(())
    });
    assert!(lb.sp.log_lines("begins").is_empty(), "{}", lb.sp.log_text());
}
