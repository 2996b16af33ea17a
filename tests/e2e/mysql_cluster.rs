//! `mysql-cluster` (issue 14) against a real replicated MariaDB set on
//! 127.0.0.1: the `mysql-role writer` backend follows the one writable server,
//! the `mysql-role reader` backend the replicas within their lag bound, `show
//! mysql` tells what the monitor sees, and the monitor never gets its host
//! blocked by logins it leaves half done.
//!
//! splicer's own feature: with `SPLICER_TEST_BIN=haproxy` the tests that
//! need it are skipped (HAProxy has no such section). Skipped (with a
//! message) when MariaDB is not installed, except under CI.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::mariadb_set::{MON_PASS, MON_USER, MONITOR_GRANTS, Replicated, SetOptions};
use crate::common::mysql_lb::*;
use crate::common::*;

#[test]
fn writes_land_on_the_primary_and_reads_on_the_replica() {
    let Some((set, lb)) = start_both("writes_land_on_the_primary_and_reads_on_the_replica", 1)
    else {
        return;
    };
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    for v in 0..5 {
        assert_eq!(
            set.app_query(
                lb.write(),
                &format!("INSERT INTO w (v) VALUES ({v}); SELECT @@server_id")
            ),
            Ok("1".to_string()),
            "write {v}"
        );
    }
    assert_eq!(set.sql(0, "SELECT COUNT(*) FROM t.w"), "5");

    lb.wait_served_by(&set, "read", 2, ROUNDS);
    set.wait_replicated(1);
    for _ in 0..5 {
        assert_eq!(
            set.app_query(lb.read(), "SELECT COUNT(*), @@server_id FROM w"),
            Ok("5\t2".to_string()),
            "the rows written through `write`, read from the replica"
        );
    }
}

#[test]
fn a_role_swap_moves_writes_and_cuts_sessions_on_the_old_primary() {
    let Some((set, lb)) = start_both(
        "a_role_swap_moves_writes_and_cuts_sessions_on_the_old_primary",
        1,
    ) else {
        return;
    };
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    let mut held = set.session(lb.write());
    assert_eq!(held.query("SELECT @@server_id"), Ok("1".to_string()));

    // The operator's swap: the replica takes writes, then the old primary
    // stops taking them and follows the new one.
    set.promote(1);
    set.sql(0, "SET GLOBAL read_only=1");
    set.replicate_from(0, 1);

    lb.wait_served_by(&set, "write", 2, ROUNDS);
    wait_roles(&lb, &set, 1);
    // The session held on db1 is cut: its next query fails, at once or
    // within a round of the new writer taking over.
    let err = lb.poll(
        "the session on the old primary to be cut",
        Duration::from_secs(3),
        || match held.query("SELECT @@server_id") {
            Ok(id) => {
                assert_eq!(id, "1", "the held session moved servers");
                Err("the session still answers".to_string())
            }
            Err(e) => Ok(e),
        },
    );
    assert!(
        ["2013", "2006", "Lost connection", "gone away"]
            .iter()
            .any(|p| err.contains(p)),
        "{err}"
    );

    // The set works the other way round: a write through `write` lands on
    // db2 and reaches db1 by replication.
    assert_eq!(
        set.app_query(
            lb.write(),
            "INSERT INTO w (v) VALUES (7); SELECT @@server_id"
        ),
        Ok("2".to_string())
    );
    set.wait_replicated(0);
    assert_eq!(set.sql(0, "SELECT COUNT(*) FROM t.w WHERE v = 7"), "1");
}

#[test]
fn two_writable_servers_leave_the_writer_backend_empty() {
    let Some((set, lb)) = start_both("two_writable_servers_leave_the_writer_backend_empty", 1)
    else {
        return;
    };
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    let conflicts = lb.writer_conflict_lines("db1", "db2").len();

    // db2 promoted while db1 still takes writes: nobody may write.
    set.promote(1);
    lb.poll("`write` to turn clients away", ROUNDS, || {
        match set.server_id_at(lb.write()) {
            Ok(id) => Err(format!("served by server_id {id}")),
            Err(e) => Ok(e),
        }
    });
    for name in ["db1", "db2"] {
        lb.wait_row(name, "up and writable", ROUNDS, |r| {
            r["state"] == "up" && writable(r)
        });
    }
    for _ in 0..5 {
        let got = set.server_id_at(lb.write());
        assert!(got.is_err(), "a client got a writer: {got:?}");
    }
    lb.poll("a log line about two writable servers", ROUNDS, || {
        let lines = lb.writer_conflict_lines("db1", "db2");
        if lines.len() > conflicts {
            Ok(())
        } else {
            Err(format!("{lines:?}"))
        }
    });

    // db2 back to a read-only replica of db1: writes resume on db1.
    set.sql(1, "SET GLOBAL read_only=1");
    set.replicate_from(1, 0);
    lb.wait_served_by(&set, "write", 1, ROUNDS);
    wait_roles(&lb, &set, 0);
}

#[test]
fn reads_leave_a_replica_that_stops_or_lags_and_come_back() {
    let Some((set, lb)) = start_both("reads_leave_a_replica_that_stops_or_lags_and_come_back", 1)
    else {
        return;
    };
    lb.wait_served_by(&set, "read", 2, ROUNDS);

    // Not replicating: infinitely behind, the primary takes the reads.
    set.sql(1, "STOP SLAVE");
    lb.wait_served_by(&set, "read", 1, Duration::from_secs(3));
    lb.wait_row("db2", "lag null", ROUNDS, |r| r["lag"] == "null");
    set.sql(1, "START SLAVE");
    lb.wait_served_by(&set, "read", 2, ROUNDS);

    // A real lag: db2 applies each write 5 s late, beyond max-lag 2s,
    // while db1 keeps taking writes.
    set.sql(
        1,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=5; START SLAVE",
    );
    lb.wait_served_by(&set, "read", 2, ROUNDS);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                set.sql(0, "INSERT INTO t.w (v) VALUES (1)");
                thread::sleep(Duration::from_millis(100));
            }
        });
        lb.poll(
            "reads to leave the lagging replica",
            Duration::from_secs(15),
            || match set.server_id_at(lb.read())? {
                1 => Ok(()),
                id => Err(format!(
                    "served by server_id {id}; db2: {:?}",
                    lb.row("db2")
                )),
            },
        );
        lb.wait_row("db2", "lag beyond 2 s", ROUNDS, |r| {
            lag(r).is_some_and(|l| l > 2.0)
        });
        stop.store(true, Ordering::Relaxed);
    });
    // The writes stopped: db2 catches up within its 5 s delay.
    lb.wait_served_by(&set, "read", 2, Duration::from_secs(15));
    set.wait_replicated(1);
}

/// A TCP relay on 127.0.0.1 that reaches `to` from 127.0.0.2: MariaDB
/// never blocks 127.0.0.1 (it is its `localhost`), but it does block
/// 127.0.0.2 after `max_connect_errors` handshakes left half done, as it
/// would a monitor on another machine.
fn relay_from_second_loopback(to: SocketAddr) -> Backend {
    Backend::spawn(move |client| {
        let Ok(server) = connect_from(second_loopback(), to) else {
            return;
        };
        let (mut from_client, mut to_server) =
            (client.try_clone().unwrap(), server.try_clone().unwrap());
        let up = thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_server);
            let _ = to_server.shutdown(std::net::Shutdown::Write);
        });
        let (mut from_server, mut to_client) = (server, client);
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
        let _ = up.join();
    })
}

fn second_loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

#[test]
fn a_refused_monitor_login_is_down_and_never_gets_its_host_blocked() {
    let test = "a_refused_monitor_login_is_down_and_never_gets_its_host_blocked";
    if haproxy_has_none(test) {
        return;
    }
    let Some(set) = Replicated::start(test, 1) else {
        return;
    };
    // The monitor and the app may log in from 127.0.0.2 too.
    set.sql(
        0,
        &format!(
            "CREATE USER '{MON_USER}'@'127.0.0.2' IDENTIFIED BY '{MON_PASS}'; \
             GRANT {MONITOR_GRANTS} ON *.* TO '{MON_USER}'@'127.0.0.2'; \
             CREATE USER 'app'@'127.0.0.2' IDENTIFIED BY 'apppass'; \
             GRANT ALL ON t.* TO 'app'@'127.0.0.2'"
        ),
    );
    set.wait_replicated(1);
    for i in 0..set.len() {
        set.sql(i, "SET GLOBAL max_connect_errors=3");
    }
    let relays: Vec<Backend> = (0..set.len())
        .map(|i| relay_from_second_loopback(set.addr(i)))
        .collect();
    let via_relays: Vec<(String, SocketAddr)> = relays
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("db{}", i + 1), r.addr))
        .collect();
    let lb = Lb::start(&cluster_config(
        &via_relays,
        "password \"not-the-password\"",
        "",
        "max-lag 2s",
    ));

    for name in ["db1", "db2"] {
        let row = lb.wait_row(name, "down, refused", ROUNDS, |r| {
            r["state"] == "down" && r["error"].contains("1045")
        });
        assert!(row["error"].contains("Access denied"), "{row:?}");
    }
    // More refused logins on each server than max_connect_errors allows
    // half-done handshakes (the monitor backs off after a refusal, so not
    // one per round)...
    for r in &relays {
        lb.poll("5 monitor logins", SLOW, || {
            if r.accepted() >= 5 {
                Ok(())
            } else {
                Err(format!("{} logins", r.accepted()))
            }
        });
    }
    // ...and the hosts are still welcome: the monitor's error is still
    // the refusal (not 1129, blocked), and clients get in from 127.0.0.2
    // and from 127.0.0.1.
    for name in ["db1", "db2"] {
        let row = lb.row(name).unwrap();
        assert!(row["error"].contains("1045"), "{row:?}");
    }
    for (i, r) in relays.iter().enumerate() {
        assert_eq!(
            set.server_id_at(r.addr),
            Ok(set.server_id(i)),
            "from 127.0.0.2"
        );
        assert_eq!(
            set.server_id_at(set.addr(i)),
            Ok(set.server_id(i)),
            "from 127.0.0.1"
        );
    }
    // Control: a client that leaves its handshake half done gets 127.0.0.2
    // blocked within a few tries; the monitor above never did.
    lb.poll(
        "127.0.0.2 to be blocked by half-done handshakes",
        SLOW,
        || {
            let mut s = TcpStream::connect(relays[0].addr).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut greeting = [0u8; 256];
            let n = s.read(&mut greeting).map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&greeting[..n]).into_owned();
            if text.contains("is blocked") {
                Ok(())
            } else {
                Err(text)
            }
        },
    );
    let blocked = set.server_id_at(relays[0].addr);
    assert!(
        blocked.as_ref().is_err_and(|e| e.contains("1129")),
        "{blocked:?}"
    );
}

#[test]
fn a_killed_server_is_down_until_it_starts_again() {
    let Some((mut set, lb)) = start_both("a_killed_server_is_down_until_it_starts_again", 1) else {
        return;
    };
    lb.wait_served_by(&set, "read", 2, ROUNDS);
    set.kill9(1);
    lb.wait_row("db2", "down", ROUNDS, |r| r["state"] == "down");
    lb.wait_served_by(&set, "read", 1, ROUNDS);

    set.restart(1);
    lb.wait_row("db2", "up, replica", ROUNDS, |r| {
        r["state"] == "up" && r["role"] == "replica"
    });
    set.wait_replicated(1);
    lb.wait_served_by(&set, "read", 2, ROUNDS);
}

#[test]
fn the_monitor_password_comes_from_the_environment_or_a_file() {
    let test = "the_monitor_password_comes_from_the_environment_or_a_file";
    if haproxy_has_none(test) {
        return;
    }
    let Some(set) = Replicated::start(test, 1) else {
        return;
    };
    let from_env = Lb::start_env(
        &cluster_config(&servers(&set), "password \"${DB_MON_PASS}\"", "", ""),
        &format!("export DB_MON_PASS={MON_PASS}"),
    );
    let dir = Scratch::new("mysql-pass");
    let file = dir.0.join("mon.pass");
    std::fs::write(&file, format!("{MON_PASS}\nnot this line\n")).unwrap();
    let from_file = Lb::start(&cluster_config(
        &servers(&set),
        &format!("password-file {}", file.display()),
        "",
        "",
    ));
    for lb in [&from_env, &from_file] {
        wait_roles(lb, &set, 0);
        lb.wait_served_by(&set, "write", 1, ROUNDS);
    }
}

/// `splicer -c -f FILE` on a config: its exit code and stderr.
fn check_config(text: &str) -> (Option<i32>, String, String) {
    let path = scratch_dir("mysql-cfg").join("cluster.cfg");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(splicer_bin())
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

#[test]
fn config_errors_name_the_file_and_line() {
    if haproxy_has_none("config_errors_name_the_file_and_line") {
        return;
    }
    let servers = vec![
        ("db1".to_string(), "127.0.0.1:3306".parse().unwrap()),
        ("db2".to_string(), "127.0.0.1:3307".parse().unwrap()),
    ];
    let good = config("", "", &cluster_config(&servers, "password \"x\"", "", ""));
    let (code, err, _) = check_config(&good);
    assert_eq!(
        code,
        Some(0),
        "the config the cases break is valid:\n{err}\n{good}"
    );

    // (what is wrong, line of `good` -> its replacement, what the error names)
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "a backend names an unknown cluster",
            "    mysql-role writer cluster db",
            "    mysql-role writer cluster nosuch",
            "nosuch",
        ),
        (
            "an unknown role",
            "    mysql-role reader cluster db",
            "    mysql-role leader cluster db",
            "leader",
        ),
        (
            "a backend server not in the cluster",
            "backend db_write\n    mysql-role writer cluster db\n    server db1 127.0.0.1:3306",
            "backend db_write\n    mysql-role writer cluster db\n    server db3 127.0.0.1:3308",
            "db3",
        ),
        (
            "a cluster without a user",
            &format!("mysql-cluster db\n    user {MON_USER}"),
            "mysql-cluster db",
            "user",
        ),
    ];
    for (what, from, to, names) in cases {
        assert!(good.contains(from), "{what}: {from:?} not in the config");
        let bad = good.replacen(from, to, 1);
        // The line of the error: the replaced text's last line (the
        // section line for the missing user).
        let at = bad.find(to).unwrap() + to.len();
        let line = bad[..at].lines().count();
        let (code, err, path) = check_config(&bad);
        assert_eq!(code, Some(1), "{what}: not refused:\n{err}\n{bad}");
        let wanted = format!("{path}:{line}:");
        assert!(
            err.lines()
                .any(|l| l.contains(&wanted) && l.contains(names)),
            "{what}: no error at {wanted} naming {names:?}:\n{err}\n{bad}"
        );
    }
}

/// The harness's promise: the monitor account's grants (`MONITOR_GRANTS`)
/// are enough for what a monitor reads and for a switchover, on this
/// MariaDB. Runs without splicer.
#[test]
fn the_monitor_account_can_run_a_switchover() {
    let began = Instant::now();
    let Some(set) = Replicated::start("the_monitor_account_can_run_a_switchover", 1) else {
        return;
    };
    eprintln!("Replicated::start(.., 1) took {:?}", began.elapsed());
    let mon = |i: usize, q: &str| {
        set.query_as(MON_USER, MON_PASS, set.addr(i), q)
            .unwrap_or_else(|e| panic!("server {i}: `{q}` as {MON_USER}: {e}"))
    };
    let pos = mon(0, "SELECT @@gtid_binlog_pos");
    for i in 0..set.len() {
        mon(i, "SHOW ALL SLAVES STATUS");
        mon(i, "SHOW MASTER STATUS");
        mon(i, "SHOW BINARY LOGS");
        mon(i, "SHOW FULL PROCESSLIST");
        mon(
            i,
            "SELECT @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos, @@server_id",
        );
        mon(i, "SET GLOBAL rpl_semi_sync_master_enabled=0");
        mon(i, "SET GLOBAL rpl_semi_sync_slave_enabled=0");
    }
    assert_eq!(
        mon(1, &format!("SELECT MASTER_GTID_WAIT('{pos}', 10)")),
        "0"
    );
    assert_eq!(mon(1, "SELECT MASTER_GTID_WAIT('0-1-5', 1)"), "0");
    let status = mon(1, "SHOW ALL SLAVES STATUS");
    assert!(status.contains("Yes\tYes"), "db2 replicates: {status}");

    // The switchover, every statement as the monitor.
    mon(1, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0");
    mon(0, "SET GLOBAL read_only=1");
    mon(
        0,
        &crate::common::mariadb_set::change_master_sql(set.addr(1)),
    );
    assert_eq!(
        mon(1, "SHOW ALL SLAVES STATUS"),
        "",
        "db2 forgot its primary"
    );
    assert_eq!(
        set.app_query(
            set.addr(1),
            "INSERT INTO w (v) VALUES (42); SELECT @@server_id"
        ),
        Ok("2".to_string())
    );
    set.wait_replicated(0);
    assert_eq!(set.sql(0, "SELECT COUNT(*) FROM t.w WHERE v = 42"), "1");
    let refused = set.app_query(set.addr(0), "INSERT INTO w (v) VALUES (43)");
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("1290")),
        "the old primary is read-only: {refused:?}"
    );
}

/// The harness's semi-synchronous set: the primary waits for its replica's
/// acknowledgement (AFTER_SYNC). Runs without splicer.
#[test]
fn a_semi_sync_set_acknowledges_each_commit() {
    let Some(set) = Replicated::start_with(
        "a_semi_sync_set_acknowledges_each_commit",
        1,
        SetOptions { semi_sync: true },
    ) else {
        return;
    };
    let status = |name: &str| {
        set.sql(
            0,
            &format!(
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME='{name}'"
            ),
        )
    };
    assert_eq!(status("Rpl_semi_sync_master_status"), "ON");
    assert_eq!(
        set.sql(0, "SELECT @@rpl_semi_sync_master_wait_point"),
        "AFTER_SYNC"
    );
    let before: u64 = status("Rpl_semi_sync_master_yes_tx").parse().unwrap();
    set.sql(0, "INSERT INTO t.w (v) VALUES (1)");
    let after: u64 = status("Rpl_semi_sync_master_yes_tx").parse().unwrap();
    assert_eq!(after, before + 1, "the commit was acknowledged");
}
