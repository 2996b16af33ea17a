//! `option mysql-check` against a real MariaDB: a server that lets the check
//! user in is UP with its version in the log, a refused login is DOWN with
//! MySQL's error number and message, and a stopped server is DOWN at layer 4
//! until it is started again.
//!
//! Skipped (with a message) when MariaDB is not installed, except under CI,
//! where it must be (scripts/test installs it).

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::mariadb::MariaDb;
use crate::common::*;

/// Stopping and starting MariaDB takes seconds on a slow machine.
const LIMIT: Duration = Duration::from_secs(30);

fn section(name: &str, check: &str, db: &MariaDb) -> String {
    format!(
        "listen {name}\n    bind 127.0.0.1:0\n    {check}\n    option log-health-checks\n    \
         server m1 {} check inter 200ms\n",
        db.addr
    )
}

/// The first bytes a client gets through `addr`: a MySQL greeting.
fn greeting(addr: std::net::SocketAddr) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 256];
    let n = (&s).read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn mysql_check_logs_in_and_follows_the_server() {
    let Some(mut db) = MariaDb::start("mysql_check_logs_in_and_follows_the_server") else {
        return;
    };
    db.create_check_user("haproxy");
    let version = db.version();
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "{}{}{}",
                section("db", "option mysql-check user haproxy post-41", &db),
                section("nouser", "option mysql-check", &db),
                section("stranger", "option mysql-check user nosuch post-41", &db),
            ),
        ),
        &["db", "nouser", "stranger"],
    );

    // A login as the check user passes; the info is the server's version.
    let ok = sp.wait_log(&["Health check for server db/m1 succeeded"], LIMIT);
    for part in ["reason: Layer7 check passed", &version, "status: 3/3 UP"] {
        assert!(ok.contains(part), "{part:?} missing in {ok:?}");
    }
    // Without a user only the greeting is read: passes as well.
    let ok = sp.wait_log(&["Health check for server nouser/m1 succeeded"], LIMIT);
    assert!(ok.contains(&version), "{ok:?}");
    // An unknown user is refused: DOWN with MySQL's errno and message.
    let denied = sp.wait_log(&["Server stranger/m1 is DOWN"], LIMIT);
    let failed = sp.wait_log(&["Health check for server stranger/m1 failed"], LIMIT);
    for part in [
        "reason: Layer7 wrong status",
        "code: 1045",
        "Access denied for user 'nosuch'",
    ] {
        assert!(failed.contains(part), "{part:?} missing in {failed:?}");
    }
    assert!(!denied.contains("reason:"), "{denied:?}");
    sp.wait_log(&["proxy stranger has no server available!"], LIMIT);
    assert!(greeting(sp.addr("db")).contains(&version));

    // Stop the server: DOWN at layer 4, clients turned away.
    db.stop();
    let down = sp.wait_log(&["Health check for server db/m1 failed"], LIMIT);
    for part in ["reason: Layer4 connection problem", "Connection refused"] {
        assert!(down.contains(part), "{part:?} missing in {down:?}");
    }
    sp.wait_log(&["Server db/m1 is DOWN."], LIMIT);
    assert_eq!(greeting(sp.addr("db")), "", "a client got through");

    // Start it again: UP, and clients get the greeting again.
    db.restart();
    sp.wait_log(&["Server db/m1 is UP."], LIMIT);
    assert!(
        sp.log_lines("Server db/m1 is UP.").len() == 1,
        "{}",
        sp.log_text()
    );
    assert!(greeting(sp.addr("db")).contains(&version));
    // The stranger stays refused all along.
    assert!(sp.log_lines("Server stranger/m1 is UP").is_empty());
}

/// Without `log-health-checks`, the transition lines carry the reason.
#[test]
fn mysql_down_and_up_lines_carry_the_reason() {
    let Some(mut db) = MariaDb::start("mysql_down_and_up_lines_carry_the_reason") else {
        return;
    };
    db.create_check_user("haproxy");
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "listen db\n    bind 127.0.0.1:0\n    option mysql-check user haproxy post-41\n    \
                 server m1 {} check inter 200ms rise 2 fall 2\n",
                db.addr
            ),
        ),
        &["db"],
    );
    db.stop();
    let down = sp.wait_log(&["Server db/m1 is DOWN"], LIMIT);
    // Refused once MariaDB is gone; on a loaded machine its shutdown can
    // outlast `fall 2` x 200 ms, and then the checks that fail are those
    // it accepted and closed unanswered.
    let reason = if down.contains("Layer7") {
        [
            "reason: Layer7 invalid response",
            "info: \"TCPCHK got an empty response at step ",
        ]
    } else {
        [
            "reason: Layer4 connection problem",
            "info: \"Connection refused\"",
        ]
    };
    for part in reason.iter().chain(&["0 active and 0 backup servers left"]) {
        assert!(down.contains(part), "{part:?} missing in {down:?}");
    }
    db.restart();
    // HAProxy 2.6 puts the version in the per-check line only (see above),
    // not in the UP line.
    let up = sp.wait_log(&["Server db/m1 is UP"], LIMIT);
    for part in [
        "reason: Layer7 check passed",
        "code: 0",
        "1 active and 0 backup servers online",
    ] {
        assert!(up.contains(part), "{part:?} missing in {up:?}");
    }
}
