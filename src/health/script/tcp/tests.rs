//! Expected texts are what HAProxy 2.6.12 logged for the same rules and
//! server behaviour.

use super::*;
use crate::config::{CheckKind, Pattern};
use crate::health::script::runner::{Peer, simulate};
use crate::health::script::{script as script_of, step_context as context_of};

fn send(s: &str) -> TcpCheckRule {
    TcpCheckRule::Send(s.as_bytes().to_vec())
}

fn expect(negate: bool, matcher: TcpMatch) -> TcpCheckRule {
    TcpCheckRule::Expect { negate, matcher }
}

fn string(s: &str) -> TcpMatch {
    TcpMatch::String(s.as_bytes().to_vec())
}

fn re(s: &str) -> Pattern {
    Pattern(regex::bytes::Regex::new(s).expect("test regex"))
}

const CONNECT: TcpCheckRule = TcpCheckRule::Connect {
    port: None,
    send_proxy: false,
};

/// The Redis master check of HAProxy's documentation.
fn redis_master(explicit_connect: bool) -> Vec<TcpCheckRule> {
    let mut rules = vec![
        send("PING\r\n"),
        expect(false, string("+PONG")),
        send("info replication\r\n"),
        expect(false, string("role:master")),
        send("QUIT\r\n"),
        expect(false, string("+OK")),
    ];
    if explicit_connect {
        rules.insert(0, CONNECT);
    }
    rules
}

fn l7ok() -> Verdict {
    Verdict::new(CheckStatus::L7Ok).info("(tcp-check)")
}

fn rsp(info: &str) -> Verdict {
    Verdict::new(CheckStatus::L7Rsp).info(info)
}

fn tout(info: &str) -> Verdict {
    Verdict::new(CheckStatus::L7Tout).info(info)
}

const MASTER: &[u8] = b"$30\r\n# Replication\r\nrole:master\r\n\r\n";
const SLAVE: &[u8] = b"$30\r\n# Replication\r\nrole:slave\r\n\r\n";

/// (what, explicit connect, replies, server closes after them, verdict)
type RedisCase<'a> = (&'a str, bool, Vec<&'a [u8]>, bool, Verdict);

#[test]
fn redis_master_script() {
    #[rustfmt::skip]
    let cases: Vec<RedisCase> = vec![
        ("master", true, vec![b"+PONG\r\n", MASTER, b"+OK\r\n"], true, l7ok()),
        ("replica, server stays", true, vec![b"+PONG\r\n", SLAVE, b"+OK\r\n"], false,
            tout(" at step 5 of tcp-check (expect string 'role:master')")),
        ("replica, server closes", true, vec![b"+PONG\r\n", SLAVE], true,
            rsp("TCPCHK did not match content 'role:master' at step 5")),
        ("silent after PONG", true, vec![b"+PONG\r\n"], false,
            tout(" at step 5 of tcp-check (expect string 'role:master')")),
        ("closes after PONG", true, vec![b"+PONG\r\n"], true,
            rsp("TCPCHK got an empty response at step 5")),
        ("no implicit step: replica", false, vec![b"+PONG\r\n", SLAVE], true,
            rsp("TCPCHK did not match content 'role:master' at step 4")),
        ("no implicit step: silent", false, vec![], false,
            tout(" at step 2 of tcp-check (expect string '+PONG')")),
        ("no implicit step: master", false, vec![b"+PONG\r\n", MASTER, b"+OK\r\n"], true, l7ok()),
        ("error reply", true, vec![b"-NOAUTH Authentication required.\r\n"], true,
            rsp("TCPCHK did not match content '+PONG' at step 3")),
    ];
    for (what, explicit, replies, close, want) in cases {
        let steps = script(&redis_master(explicit));
        // Fed byte by byte, the CRLF after "+PONG" arrives after the next
        // send and is what step 5 then sees: HAProxy would say "did not
        // match" too if the server's segments were split that way.
        let splits = if what == "closes after PONG" {
            &[false][..]
        } else {
            &[false, true][..]
        };
        for &bytewise in splits {
            let peer = Peer {
                greeting: b"",
                replies: replies.clone(),
                close,
                bytewise,
            };
            let run = simulate(&steps, &peer);
            assert_eq!(run.verdict, want, "{what} (bytewise: {bytewise})");
            if what == "master" {
                assert_eq!(run.sent, b"PING\r\ninfo replication\r\nQUIT\r\n");
            }
        }
    }
}

#[test]
fn bytes_are_kept_between_expects_and_dropped_at_a_send() {
    let both = b"+PONG\r\nrole:master\r\n";
    // Two expects in a row judge the same bytes (HAProxy passes this).
    let consecutive = vec![
        send("PING\r\n"),
        expect(false, string("+PONG")),
        expect(false, string("role:master")),
    ];
    // A send in between drops what the first expect left (HAProxy times
    // out at step 4 although "role:master" had arrived).
    let separated = vec![
        send("PING\r\n"),
        expect(false, string("+PONG")),
        send("X\r\n"),
        expect(false, string("role:master")),
    ];
    let peer = Peer {
        greeting: b"",
        replies: vec![both],
        close: false,
        bytewise: false,
    };
    assert_eq!(simulate(&script(&consecutive), &peer).verdict, l7ok());
    assert_eq!(
        simulate(&script(&separated), &peer).verdict,
        tout(" at step 4 of tcp-check (expect string 'role:master')")
    );
}

#[test]
fn expect_verdicts() {
    use TcpMatch::*;
    let m = |negate, matcher| Rule {
        negate,
        matcher,
        step: 2,
        keep: false,
    };
    let reply = b"-ERR x\r\n";
    let pass = Ok(l7ok());
    #[rustfmt::skip]
    let cases: Vec<(&str, Rule, Result<Verdict, Verdict>)> = vec![
        ("string", m(false, string("-ERR")), pass.clone()),
        ("string miss", m(false, string("+PONG")),
            Err(rsp("TCPCHK did not match content '+PONG' at step 2"))),
        ("! string hit", m(true, string("-ERR")),
            Err(rsp("TCPCHK matched unwanted content '-ERR' at step 2"))),
        ("! string miss", m(true, string("+OK")), pass.clone()),
        ("rstring miss", m(false, RString(re(r"^\+P.NG"))),
            Err(rsp("TCPCHK did not match content (regex) at step 2"))),
        ("! rstring hit", m(true, RString(re("^-"))),
            Err(rsp("TCPCHK matched unwanted content (regex) at step 2"))),
        ("binary miss", m(false, Binary(b"+PONG".to_vec())),
            Err(rsp("TCPCHK did not match content (binary) at step 2"))),
        ("! binary hit", m(true, Binary(b"-ERR".to_vec())),
            Err(rsp("TCPCHK matched unwanted content (binary) at step 2"))),
        ("rbinary miss", m(false, RBinary(re("^2B50"))),
            Err(rsp("TCPCHK did not match content (binary regex) at step 2"))),
        ("rbinary on upper-case hex", m(true, RBinary(re("^2D45"))),
            Err(rsp("TCPCHK matched unwanted content (binary regex) at step 2"))),
        ("lower-case hex never matches", m(true, RBinary(re("^2d45"))), pass.clone()),
        ("string with NUL shown up to it", m(false, String(b"A\x00\xffB".to_vec())),
            Err(rsp("TCPCHK did not match content 'A' at step 2"))),
    ];
    for (what, rule, want) in cases {
        let got = match rule.eval(reply, false) {
            Progress::NeedMore => rule.eval(reply, true),
            done => done,
        };
        let want = match want {
            Ok(verdict) => Progress::Pass {
                consumed: reply.len(),
                verdict,
            },
            Err(v) => Progress::Fail(v),
        };
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn waiting_and_timeouts() {
    use TcpMatch::*;
    let m = |negate, matcher| Rule {
        negate,
        matcher,
        step: 2,
        keep: false,
    };
    // A miss waits, a `!` miss too (it passes only at the close), and a
    // close before any byte is an empty response even for `!`.
    assert_eq!(
        m(false, string("+PONG")).eval(b"+PO", false),
        Progress::NeedMore
    );
    assert_eq!(
        m(true, string("-ERR")).eval(b"+OK x\r\n", false),
        Progress::NeedMore
    );
    assert_eq!(
        m(true, string("-ERR")).eval(b"", true),
        Progress::Fail(rsp("TCPCHK got an empty response at step 2"))
    );
    let timeouts = [
        (
            m(true, string("-ERR")),
            " at step 2 of tcp-check (expect string '-ERR')",
        ),
        (
            m(false, RString(re("^x"))),
            " at step 2 of tcp-check (expect regex)",
        ),
        (
            m(false, Binary(b"+PONG".to_vec())),
            " at step 2 of tcp-check (expect binary '+PONG')",
        ),
        (
            m(true, RBinary(re("^2B50"))),
            " at step 2 of tcp-check (expect binary regex)",
        ),
        (
            m(false, string("it's\r\n")),
            " at step 2 of tcp-check (expect string 'it's<0D><0A>')",
        ),
    ];
    for (rule, want) in timeouts {
        assert_eq!(Expect::new(ExpectKind::Tcp(rule)).timeout(), tout(want));
    }
}

#[test]
fn checks_without_a_final_expect() {
    let run = |rules: Vec<TcpCheckRule>| {
        let peer = Peer {
            greeting: b"",
            replies: vec![],
            close: false,
            bytewise: false,
        };
        simulate(&script(&rules), &peer).verdict
    };
    assert_eq!(run(vec![send("hi\n")]), l7ok());
    assert_eq!(
        run(vec![CONNECT]),
        Verdict::new(CheckStatus::L4Ok).info("(tcp-check)")
    );
    assert_eq!(run(vec![]), Verdict::new(CheckStatus::L4Ok));
    assert_eq!(script(&[]).len(), 1);
}

#[test]
fn step_contexts() {
    let second_connect = vec![
        CONNECT,
        send("PING\r\n"),
        expect(false, string("+PONG")),
        TcpCheckRule::Connect {
            port: Some(39109),
            send_proxy: true,
        },
        send("x\n"),
    ];
    let kind = CheckKind::Tcp(second_connect);
    let want = [
        Some(" at step 1 of tcp-check (connect)"),
        Some(" at step 2 of tcp-check (send)"),
        Some(" at step 3 of tcp-check (expect string '+PONG')"),
        Some(" at step 4 of tcp-check (connect port 39109)"),
        Some(" at step 5 of tcp-check (send)"),
        None, // the closing expect the model adds
    ];
    assert_eq!(script_of(&kind).len(), want.len());
    for (i, w) in want.iter().enumerate() {
        assert_eq!(context_of(&kind, i).as_deref(), *w, "step index {i}");
    }

    let implicit = CheckKind::Tcp(vec![send("PING\r\n"), expect(false, string("+PONG"))]);
    assert_eq!(
        context_of(&implicit, 0).as_deref(),
        Some(" at initial connection step of tcp-check")
    );
    assert_eq!(
        context_of(&implicit, 2).as_deref(),
        Some(" at step 2 of tcp-check (expect string '+PONG')")
    );
    assert_eq!(context_of(&CheckKind::Tcp(vec![]), 0), None);
    assert_eq!(context_of(&CheckKind::Redis, 0), None);
}

#[test]
fn redis_check() {
    let steps = script_of(&CheckKind::Redis);
    let run = |replies: Vec<&[u8]>, close| {
        let peer = Peer {
            greeting: b"",
            replies,
            close,
            bytewise: true,
        };
        simulate(&steps, &peer)
    };
    let sts = |info: &str| Verdict::new(CheckStatus::L7Sts).info(info);
    let ok = Verdict::new(CheckStatus::L7Ok).info("Redis server is ok");
    assert_eq!(run(vec![b"+PONG\r\n"], false).sent, b"*1\r\n$4\r\nPING\r\n");
    #[rustfmt::skip]
    let cases: Vec<(&str, &[u8], bool, Verdict)> = vec![
        ("pong", b"+PONG\r\n", false, ok.clone()),
        ("pong anywhere", b"xx+PONG\r\n", false, ok.clone()),
        ("pong without CRLF, then close", b"+PONG", true, sts("+PONG")),
        ("error, then close", b"-NOAUTH Authentication required.\r\n", true,
            sts("-NOAUTH Authentication required.")),
        ("error, server stays", b"-NOAUTH Authentication required.\r\n", false,
            Verdict::new(CheckStatus::L7Tout)),
        ("first line only", b"-ERR a\nb\r\n", true, sts("-ERR a")),
        ("empty first line", b"\r\nfoo", true, Verdict::new(CheckStatus::L7Sts)),
        ("escaped", b"-ERR \"q\"\r\n", true, sts("-ERR <22>q<22>")),
        ("close at once", b"", true, sts("TCPCHK got an empty response at step 2")),
        ("partial, server stays", b"+PO", false, Verdict::new(CheckStatus::L7Tout)),
    ];
    for (what, reply, close, want) in cases {
        assert_eq!(run(vec![reply], close).verdict, want, "{what}");
    }
}
