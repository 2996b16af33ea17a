//! The client's session rules on made-up packets: quitting, one query at
//! a time, the limits, and the packets a server should never send.

use super::auth_tests::{MYSQL8_CAPS, OK, frame, greeting};
use super::packet::{MAX_PAYLOAD, Reader};
use super::proto::{Client, Event, ProtoError};

const COM_QUIT: [u8; 5] = [1, 0, 0, 0, 1];

fn take(c: &mut Client) -> Vec<u8> {
    let out = c.output().to_vec();
    c.written(out.len());
    out
}

/// A client logged in to a MySQL 8 greeting, with or without DEPRECATE_EOF.
fn logged_in(deprecate_eof: bool) -> Client {
    let caps = if deprecate_eof {
        MYSQL8_CAPS
    } else {
        MYSQL8_CAPS & !0x0100_0000
    };
    let mut c = Client::new("monitor", "monpass");
    c.receive(&greeting(
        "5.5.5-10.11.19-MariaDB",
        caps,
        "mysql_native_password",
    ))
    .unwrap();
    c.receive(&frame(2, &OK)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::LoggedIn));
    take(&mut c);
    c
}

fn lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    assert!(s.len() < 0xFB);
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

fn column(name: &str) -> Vec<u8> {
    let mut p = Vec::new();
    for part in [&b"def"[..], b"", b"", b"", name.as_bytes(), b""] {
        lenenc_str(&mut p, part);
    }
    p.extend_from_slice(&[0x0C, 45, 0, 0, 1, 0, 0, 0xFD, 0, 0, 0, 0, 0]);
    p
}

#[test]
fn the_mariadb_version_prefix_is_dropped() {
    let c = logged_in(true);
    assert_eq!(c.server_version(), Some("10.11.19-MariaDB"));
}

#[test]
fn quit_during_the_login_waits_for_it() {
    let mut c = Client::new("monitor", "monpass");
    c.query("SELECT 1");
    c.quit();
    assert!(!c.busy(), "queued queries are dropped");
    assert!(c.output().is_empty());
    c.receive(&greeting("8.0.36", MYSQL8_CAPS, "mysql_native_password"))
        .unwrap();
    assert_eq!(take(&mut c)[3], 1, "the handshake response");
    c.receive(&frame(2, &OK)).unwrap();
    assert_eq!(take(&mut c), COM_QUIT);
    assert_eq!(c.poll_event(), None, "no LoggedIn for a client that quit");
    assert!(!c.logged_in());
    c.query("SELECT 2");
    assert!(
        c.output().is_empty() && !c.busy(),
        "queries after quit are ignored"
    );
}

#[test]
fn quit_with_a_query_in_flight_goes_at_once() {
    let mut c = logged_in(true);
    c.query("SELECT SLEEP(10)");
    take(&mut c);
    c.quit();
    assert_eq!(take(&mut c), COM_QUIT);
    // The answer still arrives, to nobody.
    c.receive(&frame(1, &OK)).unwrap();
    assert_eq!(c.poll_event(), None);
    c.receive(b"anything").unwrap();
}

#[test]
fn queries_go_one_at_a_time() {
    let mut c = logged_in(true);
    c.query("SELECT 1");
    c.query("SET @a = 1");
    assert_eq!(take(&mut c), frame(0, b"\x03SELECT 1"));
    let mut answer = frame(1, &[1]);
    answer.extend(frame(2, &column("1")));
    answer.extend(frame(3, b"\x011"));
    answer.extend(frame(4, &[0xFE, 0, 0, 2, 0, 0, 0]));
    // Only the column count: nothing is complete, nothing goes out.
    c.receive(&answer[..5]).unwrap();
    assert!(c.output().is_empty() && c.busy());
    c.receive(&answer[5..]).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Rows(_))));
    assert_eq!(take(&mut c), frame(0, b"\x03SET @a = 1"));
    c.receive(&frame(1, &OK)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Done { affected_rows: 0 }));
    assert!(!c.busy());
}

#[test]
fn an_error_in_the_middle_of_rows_ends_only_that_query() {
    let mut c = logged_in(false);
    c.query("SELECT a FROM t");
    c.query("SELECT 2");
    take(&mut c);
    let mut answer = frame(1, &[1]);
    answer.extend(frame(2, &column("a")));
    answer.extend(frame(3, &[0xFE, 0, 0, 2, 0]));
    answer.extend(frame(4, b"\x011"));
    answer.extend(frame(
        5,
        b"\xFF\x25\x05#70100Query execution was interrupted",
    ));
    c.receive(&answer).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(Event::QueryError {
            code: 1317,
            state: "70100".to_owned(),
            message: "Query execution was interrupted".to_owned(),
        })
    );
    assert_eq!(take(&mut c), frame(0, b"\x03SELECT 2"));
}

#[test]
fn written_takes_short_writes() {
    let mut c = logged_in(true);
    c.query("SELECT 1");
    let all = c.output().to_vec();
    c.written(3);
    assert_eq!(c.output(), &all[3..]);
    c.written(1000);
    assert!(c.output().is_empty());
}

#[test]
fn a_query_of_16_mib_goes_out_in_two_packets() {
    let mut c = logged_in(true);
    let sql = "x".repeat(0xFF_FFFF - 1);
    c.query(&sql);
    let out = take(&mut c);
    assert_eq!(out[..4], [0xFF, 0xFF, 0xFF, 0]);
    assert_eq!(out[4], 3);
    assert_eq!(
        out[4 + 0xFF_FFFF..],
        [0, 0, 0, 1],
        "an empty packet ends it"
    );
    // The server's answer carries the next sequence id.
    c.receive(&frame(2, &OK)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Done { affected_rows: 0 }));
}

#[test]
fn server_misbehaviour_is_a_fatal_error() {
    let big = MAX_PAYLOAD as u32 + 1;
    let cases: Vec<(&str, Vec<u8>, ProtoError)> = vec![
        (
            "a packet announcing more than the limit",
            [&big.to_le_bytes()[..3], &[1]].concat(),
            ProtoError::TooLarge,
        ),
        (
            "a continued packet",
            vec![0xFF, 0xFF, 0xFF, 1],
            ProtoError::TooLarge,
        ),
        (
            "a wrong sequence id",
            frame(5, &OK),
            ProtoError::OutOfSequence {
                expected: 1,
                got: 5,
            },
        ),
        (
            "a LOCAL INFILE request",
            frame(1, b"\xFB/etc/passwd"),
            ProtoError::Unexpected("a LOCAL INFILE request"),
        ),
        (
            "a truncated OK",
            frame(1, &[0]),
            ProtoError::Malformed("OK packet"),
        ),
        (
            "too many columns",
            frame(1, &[0xFC, 0x01, 0x10]),
            ProtoError::Malformed("column count"),
        ),
        (
            "a row short of a value",
            [
                frame(1, &[2]),
                frame(2, &column("a")),
                frame(3, &column("b")),
                frame(4, b"\x011"),
            ]
            .concat(),
            ProtoError::Malformed("row"),
        ),
        (
            "a row with bytes left over",
            [
                frame(1, &[1]),
                frame(2, &column("a")),
                frame(3, b"\x011\x00"),
            ]
            .concat(),
            ProtoError::Malformed("row"),
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut c = logged_in(true);
        c.query("SELECT 1");
        take(&mut c);
        assert_eq!(c.receive(&bytes), Err(expected), "{what}");
        assert!(!c.logged_in() && !c.busy(), "{what}");
        assert_eq!(
            c.receive(&frame(2, &OK)),
            Ok(()),
            "{what}: later bytes are ignored"
        );
        assert_eq!(c.poll_event(), None, "{what}");
    }
}

#[test]
fn an_answer_over_the_limit_is_refused() {
    let mut c = logged_in(true);
    c.query("SELECT repeat('x', 1000000) FROM seq_1_to_10");
    take(&mut c);
    let mut value = vec![0xFD];
    value.extend_from_slice(&1_000_000u32.to_le_bytes()[..3]);
    value.resize(4 + 1_000_000, b'x');
    c.receive(&frame(1, &[1])).unwrap();
    c.receive(&frame(2, &column("x"))).unwrap();
    let mut result = Ok(());
    for seq in 3..13 {
        result = c.receive(&frame(seq, &value));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ProtoError::TooLarge));
}

#[test]
fn packets_nobody_waits_for() {
    let mut c = logged_in(true);
    let error = c.receive(&frame(0, b"\xFF\x1d\x04#08S01Server shutdown in progress"));
    let error = error.unwrap_err();
    assert_eq!(
        error,
        ProtoError::Ended {
            code: 1053,
            message: "Server shutdown in progress".to_owned()
        }
    );
    assert_eq!(
        error.to_string(),
        "server ended the session: 1053 Server shutdown in progress"
    );

    let mut c = logged_in(true);
    let error = c.receive(&frame(0, &OK)).unwrap_err();
    assert!(matches!(error, ProtoError::Unexpected(_)), "{error:?}");
}

#[test]
fn old_servers_are_refused() {
    let mut v9 = greeting("3.23.58", MYSQL8_CAPS, "");
    v9[4] = 9;
    let no_41 = greeting("4.0.30", MYSQL8_CAPS & !0x0200, "mysql_native_password");
    for g in [v9, no_41] {
        let mut c = Client::new("monitor", "monpass");
        assert_eq!(c.receive(&g), Err(ProtoError::OldServer));
    }
}

#[test]
fn the_limits_and_encodings_of_fields() {
    let cases: [(&[u8], Result<u64, ()>); 8] = [
        (&[0], Ok(0)),
        (&[0xFA], Ok(250)),
        (&[0xFC, 0xFB, 0x00], Ok(251)),
        (&[0xFD, 1, 2, 3], Ok(0x030201)),
        (&[0xFE, 1, 2, 3, 4, 5, 6, 7, 8], Ok(0x0807060504030201)),
        (&[0xFB], Err(())),
        (&[0xFF], Err(())),
        (&[0xFD, 1, 2], Err(())),
    ];
    for (bytes, expected) in cases {
        let got = Reader::new(bytes, "test").lenenc().map_err(|_| ());
        assert_eq!(got, expected, "{bytes:?}");
    }
    let mut r = Reader::new(b"\xFB\x02ab\x00", "row");
    assert_eq!(r.lenenc_str(), Ok(None));
    assert_eq!(r.lenenc_str(), Ok(Some(&b"ab"[..])));
    assert_eq!(r.lenenc_str(), Ok(Some(&b""[..])));
    assert!(r.is_empty());
    assert_eq!(
        Reader::new(b"abc", "greeting").nul_str(),
        Err(ProtoError::Malformed("greeting"))
    );
}

#[test]
fn every_error_reads_as_a_sentence() {
    let cases = [
        (
            ProtoError::Server {
                code: 1045,
                message: "Access denied for user 'm'@'h' (using password: YES)".to_owned(),
            },
            "server refused the login: 1045 Access denied for user 'm'@'h' (using password: YES)",
        ),
        (
            ProtoError::OutOfSequence {
                expected: 2,
                got: 7,
            },
            "the server sent packet number 7 where 2 was due; the connection is out of step",
        ),
        (
            ProtoError::Malformed("row"),
            "the server sent a malformed row",
        ),
        (
            ProtoError::Unexpected("a LOCAL INFILE request"),
            "the server sent a LOCAL INFILE request, which the monitor did not ask for",
        ),
        (
            ProtoError::TooLarge,
            "the server sent more than 4 MiB in one packet or one answer; the monitor's \
             queries never need that much",
        ),
        (
            ProtoError::OldServer,
            "the server speaks a protocol older than MySQL 4.1, which splicer's monitor does not",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
