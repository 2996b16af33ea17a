//! What health states do to traffic: backups take over when every active
//! server is DOWN and give back when one returns; a proxy with no usable
//! server turns clients away at once and says so once; sessions on a server
//! that goes DOWN, or on a backup when an active returns, are cut only when
//! `on-marked-down` / `on-marked-up` ask for it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::fake::{FakeWeb, Held, start_web, web};
use crate::common::*;

const LIMIT: Duration = Duration::from_secs(10);
const CHECK: &str = "check inter 200ms rise 2 fall 2";

fn tally(fe: SocketAddr, n: usize) -> HashMap<String, usize> {
    http_tally(fe, n)
}

fn only(t: &HashMap<String, usize>, names: &[&str]) -> bool {
    t.keys().all(|k| names.contains(&k.as_str())) && names.iter().all(|n| t.contains_key(*n))
}

fn assert_parts(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{part:?} missing in {line:?}");
    }
}

#[test]
fn backup_takes_over_and_gives_back() {
    let [w1, w2, b1, b2] = ["w1", "w2", "b1", "b2"].map(FakeWeb::start);
    let backup = format!("{CHECK} backup");
    let sp = start_web(&web(
        "    balance roundrobin",
        &[(&w1, CHECK), (&w2, CHECK), (&b1, &backup), (&b2, &backup)],
    ));
    let fe = sp.addr("web");
    let t = tally(fe, 20);
    assert!(
        only(&t, &["w1", "w2"]),
        "backups used while actives are up: {t:?}"
    );

    w1.sick();
    let l = sp.wait_log(&["Server web/w1 is DOWN"], LIMIT);
    assert_parts(&l, &["1 active and 2 backup servers left"]);
    assert!(!l.contains("Running on backup"), "{l:?}");
    w2.sick();
    let l = sp.wait_log(&["Server web/w2 is DOWN"], LIMIT);
    assert_parts(
        &l,
        &["0 active and 2 backup servers left. Running on backup."],
    );
    // Without `option allbackups`, only the first backup serves.
    let t = tally(fe, 20);
    assert!(only(&t, &["b1"]), "{t:?}");

    b1.sick();
    let l = sp.wait_log(&["Backup Server web/b1 is DOWN"], LIMIT);
    assert_parts(
        &l,
        &["0 active and 1 backup servers left. Running on backup."],
    );
    let t = tally(fe, 20);
    assert!(
        only(&t, &["b2"]),
        "the next backup did not take over: {t:?}"
    );

    w1.heal();
    let l = sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    assert_parts(&l, &["1 active and 1 backup servers online"]);
    let t = tally(fe, 20);
    assert!(
        only(&t, &["w1"]),
        "backup kept traffic after an active returned: {t:?}"
    );
    assert!(sp.log_lines("has no server available").is_empty());
}

#[test]
fn allbackups_shares_among_backups() {
    let [w1, b1, b2] = ["w1", "b1", "b2"].map(FakeWeb::start);
    let backup = format!("{CHECK} backup");
    let sp = start_web(&web(
        "    balance roundrobin\n    option allbackups",
        &[(&w1, CHECK), (&b1, &backup), (&b2, &backup)],
    ));
    let fe = sp.addr("web");
    assert!(only(&tally(fe, 10), &["w1"]));
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN", "Running on backup"], LIMIT);
    let t = tally(fe, 40);
    assert!(only(&t, &["b1", "b2"]), "{t:?}");
    assert!(
        t["b1"].abs_diff(t["b2"]) <= 4,
        "backups not shared evenly: {t:?}"
    );
    w1.heal();
    sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    assert!(only(&tally(fe, 10), &["w1"]));
}

/// A client of a proxy with no usable server: closed without data, fast.
fn turned_away_at_once(fe: SocketAddr) {
    let t0 = Instant::now();
    let c = TcpStream::connect(fe).unwrap();
    let (data, end) = read_to_end_or_err(&c, LIMIT);
    assert!(data.is_empty(), "got {data:?}");
    if let Err(e) = &end {
        assert!(!is_timeout(e), "client left hanging");
    }
    // `timeout connect 2s` and 3 retries would take seconds.
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn no_server_available_turns_clients_away_and_says_so_once() {
    let w1 = FakeWeb::start("w1");
    let sp = start_web(&web("", &[(&w1, CHECK)]));
    let fe = sp.addr("web");
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN"], LIMIT);
    sp.wait_log(&["proxy web has no server available!"], LIMIT);
    for _ in 0..5 {
        turned_away_at_once(fe);
    }
    w1.wait_checks(3);
    let said = |sp: &Splicer| sp.log_lines("web has no server available!").len();
    assert_eq!(said(&sp), 1, "{}", sp.log_text());

    // A second outage is a second line.
    w1.heal();
    sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    assert_eq!(served_by(fe).unwrap(), "w1");
    w1.sick();
    sp.wait_log_count(&["proxy web has no server available!"], 2, LIMIT);
    turned_away_at_once(fe);
}

/// The same for a `backend` section behind a `frontend`: the line names it
/// "backend".
#[test]
fn no_server_available_names_a_backend_section() {
    let w1 = FakeWeb::start("w1");
    let sp = Splicer::start(
        &config(
            "",
            "",
            &format!(
                "frontend fe\n    bind 127.0.0.1:0\n    default_backend app\n\
                 backend app\n    option httpchk GET /health\n    server w1 {} {CHECK}\n",
                w1.addr()
            ),
        ),
        &["fe"],
    );
    w1.sick();
    sp.wait_log(&["Server app/w1 is DOWN"], LIMIT);
    sp.wait_log(&["backend app has no server available!"], LIMIT);
    turned_away_at_once(sp.addr("fe"));
}

/// Holds sessions until at least `n` are on `name` (at most 40 tries);
/// returns those.
fn hold_on(fe: SocketAddr, name: &str, n: usize) -> Vec<Held> {
    let mut held = Vec::new();
    for _ in 0..40 {
        let h = Held::open(fe).unwrap();
        if h.name == name {
            held.push(h);
            if held.len() == n {
                return held;
            }
        }
    }
    panic!("could not place {n} sessions on {name}");
}

#[test]
fn sessions_survive_marked_down_by_default() {
    let [w1, w2] = ["w1", "w2"].map(FakeWeb::start);
    let sp = start_web(&web(
        "    balance roundrobin",
        &[(&w1, CHECK), (&w2, CHECK)],
    ));
    let held = hold_on(sp.addr("web"), "w1", 2);
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN"], LIMIT);
    w1.wait_checks(3);
    for h in &held {
        assert!(h.alive(), "a session on the DOWN server was cut");
    }
}

#[test]
fn on_marked_down_shutdown_sessions_cuts_them() {
    let [w1, w2] = ["w1", "w2"].map(FakeWeb::start);
    let params = format!("{CHECK} on-marked-down shutdown-sessions");
    let sp = start_web(&web(
        "    balance roundrobin",
        &[(&w1, &params), (&w2, &params)],
    ));
    let fe = sp.addr("web");
    let on_w1 = hold_on(fe, "w1", 2);
    let on_w2 = hold_on(fe, "w2", 1);
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN"], LIMIT);
    for h in &on_w1 {
        assert!(
            h.closed_within(LIMIT),
            "a session on the DOWN server stayed open"
        );
    }
    assert!(on_w2[0].alive(), "a session on the healthy server was cut");
}

#[test]
fn on_marked_up_shutdown_backup_sessions_moves_clients_back() {
    let [w1, b1] = ["w1", "b1"].map(FakeWeb::start);
    let sp = start_web(&web(
        "",
        &[
            (
                &w1,
                &format!("{CHECK} on-marked-up shutdown-backup-sessions"),
            ),
            (&b1, &format!("{CHECK} backup")),
        ],
    ));
    let fe = sp.addr("web");
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN", "Running on backup"], LIMIT);
    let on_b1 = hold_on(fe, "b1", 2);
    for h in &on_b1 {
        assert!(h.alive());
    }
    w1.heal();
    sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    for h in &on_b1 {
        assert!(h.closed_within(LIMIT), "a backup session stayed open");
    }
    assert_eq!(served_by(fe).unwrap(), "w1");
}

/// Without the option, backup sessions go on after the active returns.
#[test]
fn backup_sessions_survive_an_active_returning_by_default() {
    let [w1, b1] = ["w1", "b1"].map(FakeWeb::start);
    let sp = start_web(&web("", &[(&w1, CHECK), (&b1, &format!("{CHECK} backup"))]));
    let fe = sp.addr("web");
    w1.sick();
    sp.wait_log(&["Server web/w1 is DOWN", "Running on backup"], LIMIT);
    let on_b1 = hold_on(fe, "b1", 1);
    w1.heal();
    sp.wait_log(&["Server web/w1 is UP"], LIMIT);
    w1.wait_checks(3);
    assert!(on_b1[0].alive(), "a backup session was cut");
    assert_eq!(served_by(fe).unwrap(), "w1");
}

/// `on-marked-down shutdown-sessions` cuts the sessions a server carries,
/// not those still waiting for it to answer their connect: their connect
/// fails on its own and the retry goes elsewhere (`option redispatch`),
/// so the client is served rather than reset.
#[test]
fn a_session_still_connecting_is_redispatched_not_cut() {
    use std::io::{BufRead, BufReader};
    // Takes no connection, but its checks (on another port) pass until the
    // check port closes.
    let (hole, _keep) = unanswered_server();
    let check_port = Backend::echo();
    let live = Backend::named("live");
    let cfg = config(
        "",
        "    timeout connect 1500ms",
        &listen(
            "    balance first\n    retries 1\n    option redispatch",
            &[
                (
                    "hole",
                    hole,
                    &format!(
                        "check port {} inter 100ms fall 1 on-marked-down shutdown-sessions",
                        check_port.addr.port()
                    ),
                ),
                ("live", live.addr, ""),
            ],
        ),
    );
    let sp = Splicer::start(&cfg, &["fe"]);
    let c = TcpStream::connect(sp.addr("fe")).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    // The session is connecting to `hole` when its checks start failing.
    drop(check_port);
    sp.wait_log(&["fe/hole is DOWN"], LIMIT);
    let mut line = String::new();
    BufReader::new(&c)
        .read_line(&mut line)
        .expect("the connecting session was cut");
    assert_eq!(line, "live\n");
}

/// `track BACKEND/SERVER`: a server without a check of its own follows
/// another one's health, with HAProxy's "via" lines and the `tracked`
/// column of `show stat`.
#[test]
fn a_tracking_server_follows_the_tracked_one() {
    let s1 = Backend::named("s1");
    let s1_addr = s1.addr;
    let s2 = Backend::named("s2");
    let dir = scratch_dir("track");
    let sock = dir.join("admin.sock");
    let sp = Splicer::start(
        &config(
            &format!("    stats socket {} level admin", sock.display()),
            "    log global",
            &format!(
                "backend b\n    server s1 {s1_addr} check inter 100ms fall 1 rise 1\n\
                 listen fe\n    bind 127.0.0.1:0\n    server s2 {} track b/s1\n",
                s2.addr
            ),
        ),
        &["fe"],
    );
    let fe = sp.addr("fe");
    assert_eq!(server_name(fe), "s2");
    assert_eq!(
        stat_field(&ask(&sock, "show stat"), "fe", "s2", "tracked"),
        "b/s1"
    );
    drop(s1);
    sp.wait_log(&["fe/s2 is DOWN via b/s1"], LIMIT);
    wait_for("fe/s2 DOWN in show stat", LIMIT, || {
        stat_field(&ask(&sock, "show stat"), "fe", "s2", "status") == "DOWN"
    });
    // No server left: the client is turned away.
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(
        std::io::Read::read(&mut c, &mut buf),
        Ok(0) | Err(_)
    ));
    let _s1 = Backend::spawn_on(s1_addr, |mut s| {
        let _ = std::io::Write::write_all(&mut s, b"s1\n");
    });
    sp.wait_log(&["fe/s2 is UP via b/s1"], LIMIT);
    assert_eq!(server_name(fe), "s2");
}
