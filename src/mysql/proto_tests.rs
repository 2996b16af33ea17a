//! The MySQL client codec against transcripts recorded from a live
//! MariaDB 10.11 (`fixtures/*.txt`): the events a monitor relies on, the
//! exact bytes the client wrote (which the server accepted), and property
//! tests over the same transcripts (any split gives the same result;
//! mangled or arbitrary bytes never panic).
//!
//! A fixture is lines of `user: `, `password: `, `query: ` (queued before
//! connecting, in order), `S: ` (a server packet, header included, hex)
//! and `C: ` (a client packet); `#` starts a comment. Replaying one queues
//! the queries, feeds every `S:` packet, then calls `quit()`; what the
//! client writes must be the `C:` packets.

use super::proto::{Client, Event, ProtoError, ResultSet};
use proptest::prelude::*;

pub(super) struct Transcript {
    pub(super) user: String,
    pub(super) password: String,
    pub(super) queries: Vec<String>,
    pub(super) server: Vec<u8>,
    pub(super) client: Vec<u8>,
}

pub(super) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn transcript(text: &str) -> Transcript {
    let mut t = Transcript {
        user: String::new(),
        password: String::new(),
        queries: Vec::new(),
        server: Vec::new(),
        client: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.split_once(": ").unwrap();
        match key {
            "user" => t.user = value.to_owned(),
            "password" => t.password = value.to_owned(),
            "query" => t.queries.push(value.to_owned()),
            "S" => t.server.extend(unhex(value)),
            "C" => t.client.extend(unhex(value)),
            _ => panic!("fixture line {line:?}"),
        }
    }
    t
}

macro_rules! fixture {
    ($name:literal) => {
        transcript(include_str!(concat!("fixtures/", $name, ".txt")))
    };
}

pub(super) fn all_fixtures() -> Vec<(&'static str, Transcript)> {
    vec![
        ("primary", fixture!("primary")),
        ("primary_eof", fixture!("primary_eof")),
        ("replica", fixture!("replica")),
        ("wrong_password", fixture!("wrong_password")),
        ("empty_password", fixture!("empty_password")),
        ("ed25519", fixture!("ed25519")),
        ("auth_switch", fixture!("auth_switch")),
        ("multi_results", fixture!("multi_results")),
        ("too_many", fixture!("too_many")),
        ("too_many_late", fixture!("too_many_late")),
        ("blocked", fixture!("blocked")),
    ]
}

/// What a replay saw.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) events: Vec<Event>,
    pub(super) error: Option<ProtoError>,
    pub(super) output: Vec<u8>,
}

/// Writes the client's output `write` bytes at a time, as short writes do.
pub(super) fn drain(c: &mut Client, write: usize, into: &mut Vec<u8>) {
    while !c.output().is_empty() {
        let n = c.output().len().min(write.max(1));
        into.extend_from_slice(&c.output()[..n]);
        c.written(n);
    }
}

/// Replays `t`, the server's bytes cut at `cuts` (offsets, any order).
pub(super) fn replay(t: &Transcript, cuts: &[usize], write: usize) -> (Outcome, Client) {
    let mut c = Client::new(&t.user, &t.password);
    for q in &t.queries {
        c.query(q);
    }
    let mut o = Outcome {
        events: Vec::new(),
        error: None,
        output: Vec::new(),
    };
    let mut cuts: Vec<usize> = cuts.iter().map(|&x| x % (t.server.len() + 1)).collect();
    cuts.push(t.server.len());
    cuts.sort_unstable();
    let mut at = 0;
    for cut in cuts {
        drain(&mut c, write, &mut o.output);
        if let Err(e) = c.receive(&t.server[at..cut]) {
            o.error.get_or_insert(e);
        }
        at = cut;
        o.events.extend(std::iter::from_fn(|| c.poll_event()));
    }
    c.quit();
    drain(&mut c, write, &mut o.output);
    (o, c)
}

fn replay_whole(t: &Transcript) -> (Outcome, Client) {
    let (o, c) = replay(t, &[], usize::MAX);
    assert_eq!(hex(&o.output), hex(&t.client), "the client's bytes");
    (o, c)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rows(e: &Event) -> &ResultSet {
    match e {
        Event::Rows(set) => set,
        e => panic!("not rows: {e:?}"),
    }
}

/// The primary's answers, with or without CLIENT_DEPRECATE_EOF: `gtid` is
/// the position when it was recorded.
fn check_primary(o: &Outcome, gtid: &str) {
    assert_eq!(o.error, None);
    assert_eq!(o.events.len(), 7, "{:?}", o.events);
    assert_eq!(o.events[0], Event::LoggedIn);

    let state = rows(&o.events[1]);
    assert_eq!(state.rows.len(), 1);
    assert_eq!(state.get(0, "@@READ_ONLY"), Some("0"));
    assert_eq!(state.get(0, "@@gtid_current_pos"), Some(gtid));
    assert_eq!(state.get(0, "@@gtid_binlog_pos"), Some(gtid));
    assert_eq!(state.get(0, "@@gtid_slave_pos"), Some(""));
    assert_eq!(state.get(0, "@@server_id"), Some("1"));

    let slaves = rows(&o.events[2]);
    assert_eq!(slaves.columns.len(), 62);
    assert!(slaves.rows.is_empty());
    assert_eq!(slaves.column("seconds_behind_master"), Some(34));

    let semi = rows(&o.events[3]);
    assert_eq!(semi.columns, ["Variable_name", "Value"]);
    assert_eq!(semi.rows.len(), 18);
    let status = (0..semi.rows.len())
        .find(|&r| semi.get(r, "Variable_name") == Some("Rpl_semi_sync_master_status"))
        .unwrap();
    assert_eq!(semi.get(status, "value"), Some("OFF"));

    // The ERR leaves the session usable: the next two queries are answered.
    assert_eq!(
        o.events[4],
        Event::QueryError {
            code: 1142,
            state: "42000".to_owned(),
            message: "SELECT command denied to user 'monitor'@'localhost' for table `mysql`.`user`"
                .to_owned(),
        }
    );
    assert_eq!(o.events[5], Event::Done { affected_rows: 2 });
    let values = rows(&o.events[6]);
    assert_eq!(values.columns, ["n", "e", "u"]);
    assert_eq!(
        values.rows,
        [[None, Some(String::new()), Some("café".to_owned())]]
    );
    assert_eq!(values.get(0, "n"), None);
    assert_eq!(values.get(0, "missing"), None);
    assert_eq!(values.get(1, "u"), None);
}

#[test]
fn the_primary_answers_the_monitors_queries() {
    let t = fixture!("primary");
    let (o, c) = replay_whole(&t);
    check_primary(&o, "0-1-13");
    assert_eq!(c.server_version(), Some("10.11.19-MariaDB-0+deb12u1-log"));
    assert_eq!(c.connection_id(), Some(11));
    // The client takes DEPRECATE_EOF (0x0100_0000) when offered.
    assert_eq!(t.client[4 + 3] & 0x01, 0x01);
}

#[test]
fn eof_terminated_result_sets_read_the_same() {
    let t = fixture!("primary_eof");
    let (o, _) = replay_whole(&t);
    check_primary(&o, "0-1-14");
    // The greeting did not offer DEPRECATE_EOF, so the client did not ask.
    assert_eq!(t.client[4 + 3] & 0x01, 0);
}

#[test]
fn a_replica_reports_its_replication_with_nulls() {
    let (o, c) = replay_whole(&fixture!("replica"));
    assert_eq!(o.error, None);
    assert_eq!(o.events.len(), 4);
    assert!(!c.logged_in(), "quit() ends the session");
    let state = rows(&o.events[1]);
    assert_eq!(state.get(0, "@@read_only"), Some("1"));
    assert_eq!(state.get(0, "@@gtid_slave_pos"), Some("0-1-14"));
    assert_eq!(state.get(0, "@@gtid_binlog_pos"), Some(""));
    assert_eq!(state.get(0, "@@server_id"), Some("2"));

    let slaves = rows(&o.events[2]);
    assert_eq!(slaves.rows.len(), 1);
    assert_eq!(slaves.rows[0].len(), 62);
    let expect = [
        ("Connection_name", Some("")),
        ("Master_Host", Some("127.0.0.1")),
        ("Master_Port", Some("45537")),
        ("Slave_IO_Running", Some("Yes")),
        ("slave_sql_running", Some("Yes")),
        ("Seconds_Behind_Master", Some("0")),
        ("Last_IO_Errno", Some("0")),
        ("Using_Gtid", Some("Slave_Pos")),
        ("SQL_Remaining_Delay", None),
        ("Gtid_Slave_Pos", Some("0-1-15")),
    ];
    for (name, value) in expect {
        assert_eq!(slaves.get(0, name), value, "{name}");
    }
    assert!(slaves.column("SQL_Remaining_Delay").is_some());
    assert_eq!(rows(&o.events[3]).rows.len(), 18);

    // What the monitor makes of that row.
    let ch = &super::observe::channels(slaves)[0];
    assert_eq!(
        (ch.master_host.as_str(), ch.master_port),
        ("127.0.0.1", 45537)
    );
    assert!(ch.io_running() && ch.sql_running());
    assert_eq!(ch.lag, Some(0));
    assert_eq!(
        ch.connect_retry,
        slaves.get(0, "Connect_Retry").and_then(|v| v.parse().ok())
    );
    assert!(ch.connect_retry.is_some(), "Connect_Retry");
    assert!(!ch.heartbeat_period.is_empty(), "Slave_heartbeat_period");
}

#[test]
fn login_refusals_name_the_servers_error() {
    let cases = [
        (
            "wrong_password",
            1045,
            "server refused the login: 1045 Access denied for user 'monitor'@'localhost' (using password: YES)",
        ),
        (
            "too_many",
            1040,
            "server refused the login: 1040 Too many connections",
        ),
        (
            "too_many_late",
            1040,
            "server refused the login: 1040 Too many connections",
        ),
        (
            "blocked",
            1129,
            "server refused the login: 1129 Host '127.0.0.2' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'",
        ),
    ];
    let fixtures = all_fixtures();
    for (name, code, text) in cases {
        let t = &fixtures.iter().find(|f| f.0 == name).unwrap().1;
        let (o, c) = replay_whole(t);
        assert!(o.events.is_empty(), "{name}");
        let error = o.error.expect(name);
        assert!(
            matches!(error, ProtoError::Server { code: c, .. } if c == code),
            "{name}"
        );
        assert_eq!(error.to_string(), text);
        assert!(!c.logged_in(), "{name}");
    }
}

#[test]
fn an_empty_password_sends_an_empty_auth_response() {
    let t = fixture!("empty_password");
    let (o, _) = replay_whole(&t);
    let user_end = 4 + 32 + "nopw".len();
    assert_eq!(&t.client[4 + 32..user_end], b"nopw");
    assert_eq!(
        t.client[user_end..user_end + 2],
        [0, 0],
        "NUL, then a zero length"
    );
    assert_eq!(rows(&o.events[1]).rows, [[Some("nopw@%".to_owned())]]);
}

#[test]
fn ed25519_is_refused_by_name() {
    let (o, c) = replay_whole(&fixture!("ed25519"));
    let error = o.error.unwrap();
    assert_eq!(
        error,
        ProtoError::UnsupportedPlugin("client_ed25519".to_owned())
    );
    assert_eq!(
        error.to_string(),
        "the server asks for auth plugin client_ed25519, which splicer's monitor does not speak; \
         give the monitor user mysql_native_password"
    );
    assert!(!c.busy() && !c.logged_in());
}

#[test]
fn an_auth_switch_to_native_password_is_answered() {
    let t = fixture!("auth_switch");
    let (o, _) = replay_whole(&t);
    // Answered for caching_sha2_password first (32 bytes), then with the
    // switch's nonce for mysql_native_password (20 bytes, seq 3).
    let first_len = 4 + 32 + "monitor".len() + 1;
    assert_eq!(t.client[first_len], 32);
    let second = &t.client[4 + usize::from(t.client[0])..];
    assert_eq!(second[..4], [20, 0, 0, 3]);
    assert_eq!(o.events[0], Event::LoggedIn);
    assert_eq!(rows(&o.events[1]).rows, [[Some("monitor@%".to_owned())]]);
}

#[test]
fn several_results_make_one_event_and_keep_in_step() {
    let (o, _) = replay_whole(&fixture!("multi_results"));
    assert_eq!(o.error, None);
    assert_eq!(o.events.len(), 3);
    assert_eq!(rows(&o.events[1]).columns, ["a"]);
    assert_eq!(rows(&o.events[1]).rows, [[Some("1".to_owned())]]);
    assert_eq!(rows(&o.events[2]).get(0, "c"), Some("3"));
}

#[test]
fn queries_queued_before_the_login_wait_for_it() {
    let t = fixture!("primary");
    let mut c = Client::new(&t.user, &t.password);
    c.query("SELECT 1");
    assert!(c.busy());
    assert!(c.output().is_empty(), "the server speaks first");
    let greeting_len = 4 + usize::from(t.server[0]);
    c.receive(&t.server[..greeting_len]).unwrap();
    assert_eq!(c.output()[3], 1, "only the handshake response, seq 1");
    assert_eq!(c.output().len(), 4 + usize::from(c.output()[0]));
    let n = c.output().len();
    c.written(n);
    assert!(!c.logged_in());
    // The OK of the login.
    c.receive(&t.server[greeting_len..greeting_len + 11])
        .unwrap();
    assert_eq!(c.poll_event(), Some(Event::LoggedIn));
    assert!(c.logged_in() && c.busy());
    assert_eq!(c.output(), b"\x09\x00\x00\x00\x03SELECT 1");
}

proptest! {
    #[test]
    fn any_split_gives_the_same_result(
        which in 0usize..11,
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        write in 1usize..64,
    ) {
        let fixtures = all_fixtures();
        let t = &fixtures[which].1;
        let (whole, _) = replay(t, &[], usize::MAX);
        let (split, _) = replay(t, &cuts, write);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let t = Transcript {
            user: "monitor".to_owned(),
            password: "pw".to_owned(),
            queries: vec!["SELECT 1".to_owned()],
            server: bytes,
            client: Vec::new(),
        };
        replay(&t, &cuts, 7);
    }

    /// After a real login, any sequence of well-framed payloads: this
    /// reaches the answer parser, which random bytes rarely do.
    #[test]
    fn arbitrary_answers_never_panic(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..12),
        first in prop_oneof![Just(0u8), Just(1), Just(0xFE), Just(0xFF), Just(0xFB), any::<u8>()],
    ) {
        let mut t = fixture!("primary");
        let login_end = 4 + usize::from(t.server[0]) + 11;
        t.server.truncate(login_end);
        for (i, mut p) in payloads.into_iter().enumerate() {
            if let Some(b) = p.first_mut() {
                *b = if i % 3 == 0 { first } else { *b };
            }
            t.server.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
            t.server.push(i as u8 + 1);
            t.server.extend_from_slice(&p);
        }
        replay(&t, &[], usize::MAX);
    }

    #[test]
    fn mangled_transcripts_never_panic(
        which in 0usize..11,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let fixtures = all_fixtures();
        let mut t = fixtures.into_iter().nth(which).unwrap().1;
        for (at, b) in edits {
            let at = at % t.server.len();
            t.server[at] = b;
        }
        let keep = cut % (t.server.len() + 1);
        t.server.truncate(keep.max(t.server.len() / 2));
        replay(&t, &[cut], 5);
    }
}
