//! Property tests of the expects: whatever a server answers, judging it
//! never panics, and where the answer is cut into reads never changes the
//! verdict (an expect that decides on a prefix decides the same on the
//! whole answer; one that waits, waits).

use proptest::prelude::*;

use super::{Expect, ExpectKind, Progress, Step, http, mysql, script};
use crate::config::CheckKind;

/// One expect of every kind, the configurable ones as a config sets them.
fn expects() -> Vec<(String, Expect)> {
    let mut out = vec![
        ("pgsql".to_string(), Expect::new(ExpectKind::Pgsql)),
        ("redis".to_string(), Expect::new(ExpectKind::Redis)),
        ("ssl-hello".to_string(), Expect::new(ExpectKind::SslHello)),
        ("agent".to_string(), Expect::new(ExpectKind::Agent)),
        (
            "mysql greeting".to_string(),
            Expect::new(ExpectKind::Mysql(mysql::Reply::new(false))),
        ),
        (
            "mysql login".to_string(),
            Expect::new(ExpectKind::Mysql(mysql::Reply::new(true))),
        ),
        (
            "httpchk".to_string(),
            Expect::new(ExpectKind::Http(http::Response::new(&Default::default()))),
        ),
    ];
    let configs = [
        "option httpchk GET /\n    http-check expect status 200",
        "option httpchk GET /\n    http-check expect rstring ^ok",
        "option httpchk GET /\n    http-check expect ! string down",
        "option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG",
        "option tcp-check\n    tcp-check expect rstring ^220\n    tcp-check expect ! string 5",
        "option tcp-check\n    tcp-check expect binary 0a",
    ];
    for cfg in configs {
        let text = format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             listen b\n    bind 127.0.0.1:0\n    {cfg}\n    server s 127.0.0.1:1 check\n"
        );
        let loaded =
            crate::config::parse_str("props.cfg", &text).unwrap_or_else(|e| panic!("{cfg}: {e:?}"));
        let kind: &CheckKind = &loaded.config.backends[0].check;
        for step in script(kind) {
            if let Step::Expect(e) = step {
                out.push((cfg.to_string(), e));
            }
        }
    }
    out
}

/// What the engine concludes when the bytes arrive in reads ending at
/// `cuts` (then the rest, then the close).
fn in_reads(e: &Expect, input: &[u8], cuts: &[usize]) -> Progress {
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(input.len());
    for end in ends {
        match e.eval(&input[..end], false) {
            Progress::NeedMore => {}
            decided => return decided,
        }
    }
    e.eval(input, true)
}

fn without_consumed(p: &Progress) -> Progress {
    match p {
        Progress::Pass { verdict, .. } => Progress::Pass {
            consumed: 0,
            verdict: verdict.clone(),
        },
        other => other.clone(),
    }
}

/// Answers that look like what the checks expect, so that the cases reach
/// past the first byte: a prefix a protocol starts with, then anything.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    let starts: Vec<&'static [u8]> = vec![
        b"",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 503 Service Unavailable\r\n\r\nok",
        b"+PONG\r\n",
        b"-ERR\r\n",
        b"R\0\0\0\x08\0\0\0\0",
        b"E\0\0\0",
        b"\x16\x03\x03\0\x2a",
        b"\x4a\0\0\0\x0a10.11.6-MariaDB\0",
        b"\x07\0\0\x02\0\0\0\x02\0\0\0",
        b"\xff\x15\x04#28000",
        b"up 75%\n",
        b"220 ready\r\n",
        b"ok\n",
    ];
    (
        proptest::sample::select(starts),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(start, rest)| {
            let mut v = start.to_vec();
            v.extend_from_slice(&rest);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_answer_in_any_reads_gives_one_verdict(
        input in answer(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        for (what, e) in expects() {
            let whole = in_reads(&e, &input, &[]);
            let split = in_reads(&e, &input, &cuts);
            // The verdict, not how many bytes it leaves: an expect that
            // passes drops what it has read by then (as HAProxy drops its
            // buffer at the next send), which depends on when bytes that
            // follow the match arrive, with HAProxy too.
            prop_assert_eq!(
                without_consumed(&split),
                without_consumed(&whole),
                "{} on {:?} cut at {:?}", what, input, cuts
            );
            prop_assert!(whole != Progress::NeedMore, "{what}: NeedMore after the close");
            if let Progress::Pass { consumed, .. } = whole {
                prop_assert!(consumed <= input.len(), "{what}: consumed {consumed} of {}", input.len());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (_, e) in expects() {
            let _ = e.eval(&input, false);
            let _ = e.eval(&input, true);
        }
    }
}
