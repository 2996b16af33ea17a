//! `option mysql-check [user U [post-41|pre-41]]`.
//!
//! Observed on HAProxy 2.6 through a logging relay to MariaDB 10.11 and
//! against a scripted server:
//! - Without a user nothing is sent; the greeting alone decides.
//! - With a user, HAProxy writes a client authentication packet (sequence
//!   1, empty password) and a COM_QUIT packet (sequence 0) in one write,
//!   right after connecting, without waiting for the greeting. post-41 is
//!   HAProxy's default. Field by field (all little-endian):
//!   - post-41: capabilities `00 82 00 00` (PROTOCOL_41 | SECURE_CONNECTION),
//!     max packet `00 80 00 01`, charset `0x21`, 23 zero bytes, user NUL,
//!     auth length 0;
//!   - pre-41: capabilities `00 80` (SECURE_CONNECTION), max packet
//!     `00 00 01`, user NUL, one zero byte;
//!   - COM_QUIT: `01 00 00 00 01`.
//! - Verdicts: a first packet that is an ERR (`0xff`, e.g. "Host ... is not
//!   allowed to connect") is L7STS with the MySQL error number as code and
//!   the message as info. With a user, the second packet decides the same
//!   way; anything but an ERR there passes (OK, EOF, even an auth switch).
//!   A pass is L7OK with the server version from the greeting as info.
//!   The message is everything after the error number, so a 4.1 server's
//!   `#28000` SQL state stays in front of it, as HAProxy logs it.
//! - Neither the protocol version nor sequence numbers are checked.
//! - Packets cut short by a close: L7RSP without info. A close before any
//!   byte: L7RSP "TCPCHK got an empty response at step 2" (3 with a user);
//!   HAProxy does not report that as a layer-4 problem.
//! - No answer in time: L7TOUT without info.

use super::super::status::{CheckStatus, Verdict, printable};
use super::{Progress, empty_response, non_empty};

/// The bytes HAProxy sends when `option mysql-check` names a user.
pub(super) fn login_and_quit(user: &str, post41: bool) -> Vec<u8> {
    let mut payload = Vec::new();
    if post41 {
        payload.extend_from_slice(&[0x00, 0x82, 0x00, 0x00]);
        payload.extend_from_slice(&[0x00, 0x80, 0x00, 0x01]);
        payload.push(0x21);
        payload.extend_from_slice(&[0; 23]);
    } else {
        payload.extend_from_slice(&[0x00, 0x80]);
        payload.extend_from_slice(&[0x00, 0x00, 0x01]);
    }
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    payload.push(0);

    let mut out = packet_header(payload.len(), 1);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x01]);
    out
}

fn packet_header(len: usize, seq: u8) -> Vec<u8> {
    // Packets carry a 3-byte length; a user name of 16 MiB is not a concern.
    let len = (len as u32).to_le_bytes();
    vec![len[0], len[1], len[2], seq]
}

/// Judges the greeting, and with a user the answer to the login.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    with_user: bool,
}

impl Reply {
    pub(super) fn new(with_user: bool) -> Self {
        Reply { with_user }
    }

    pub(super) fn eval(&self, buf: &[u8], eof: bool) -> Progress {
        let incomplete = || {
            if !eof {
                Progress::NeedMore
            } else if buf.is_empty() {
                let step = if self.with_user { 3 } else { 2 };
                Progress::Fail(empty_response(CheckStatus::L7Rsp, step))
            } else {
                Progress::Fail(Verdict::new(CheckStatus::L7Rsp))
            }
        };
        let Some((greeting, rest)) = packet(buf) else {
            return incomplete();
        };
        if let Some(err) = error(greeting) {
            return Progress::Fail(err);
        }
        if self.with_user {
            let Some((answer, _)) = packet(rest) else {
                return incomplete();
            };
            if let Some(err) = error(answer) {
                return Progress::Fail(err);
            }
        }
        // The version is a NUL-terminated string after the protocol byte.
        let version = greeting.get(1..).map(printable).and_then(non_empty);
        let verdict = Verdict::new(CheckStatus::L7Ok);
        Progress::Pass {
            consumed: buf.len(),
            verdict: match version {
                Some(v) => verdict.info(v),
                None => verdict,
            },
        }
    }
}

/// The payload of the first complete packet and what follows it.
fn packet(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let [a, b, c, _seq, rest @ ..] = buf else {
        return None;
    };
    let len = u32::from_le_bytes([*a, *b, *c, 0]) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The verdict of an ERR packet: `0xff`, error number, message.
fn error(payload: &[u8]) -> Option<Verdict> {
    let [0xff, rest @ ..] = payload else {
        return None;
    };
    let code = match rest {
        [lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        // HAProxy reads past such a packet and logs a garbage code.
        _ => 0,
    };
    let verdict = Verdict::new(CheckStatus::L7Sts).code(u32::from(code));
    Some(match rest.get(2..).map(printable).and_then(non_empty) {
        Some(message) => verdict.info(message),
        None => verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::script::tests::judge;
    use crate::health::script::{Expect, ExpectKind};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    #[test]
    fn login_packets_match_haproxy_bytes() {
        // Captured between HAProxy 2.6 and MariaDB 10.11.
        let cases = [
            (
                "post-41, haproxy",
                "haproxy",
                true,
                "29000001 00820000 00800001 21 0000000000000000000000000000000000000000000000
                 686170726f787900 00 0100000001",
            ),
            (
                "post-41, nobody",
                "nobody",
                true,
                "28000001 00820000 00800001 21 0000000000000000000000000000000000000000000000
                 6e6f626f647900 00 0100000001",
            ),
            (
                "pre-41, haproxy",
                "haproxy",
                false,
                "0e000001 0080 000001 686170726f787900 00 0100000001",
            ),
            (
                "pre-41, pw",
                "pw",
                false,
                "09000001 0080 000001 707700 00 0100000001",
            ),
        ];
        for (what, user, post41, want) in cases {
            assert_eq!(login_and_quit(user, post41), hex(want), "{what}");
        }
    }

    /// MariaDB 10.11's greeting, as captured.
    const GREETING: &str = "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132
        75310017000000694f2f3e274a7b5200fef7080200ff81150000000000001d000000637e6d2b2a325b536e
        512c24006d7973716c5f6e61746976655f70617373776f726400";
    const VERSION: &str = "5.5.5-10.11.19-MariaDB-0+deb12u1";

    fn reply(with_user: bool) -> Expect {
        Expect::new(ExpectKind::Mysql(Reply::new(with_user)))
    }

    #[test]
    fn verdicts() {
        let ok = |info: &str| Ok(Verdict::new(CheckStatus::L7Ok).info(info));
        // "Host '127.0.0.1' is not allowed ..." as MariaDB sends it: no SQL
        // state in a greeting.
        let host_msg = "Host '127.0.0.1' is not allowed to connect to this MariaDB server";
        let mut host_denied = vec![host_msg.len() as u8 + 3, 0, 0, 0, 0xff, 0x6a, 0x04];
        host_denied.extend_from_slice(host_msg.as_bytes());
        let host_denied = host_denied
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        // MariaDB's answer to the post-41 login of an unknown user.
        let denied41 = "49000002ff15042332383030304163636573732064656e69656420666f7220757365722027
            6e6f626f64792740276c6f63616c686f73742720287573696e672070617373776f72643a204e4f29";
        // The same to a pre-41 login: no SQL state.
        let denied40 = "3f000002ff15044163636573732064656e69656420666f722075736572202770772740276c
            6f63616c686f73742720287573696e672070617373776f72643a204e4f29";
        let g = GREETING;
        #[rustfmt::skip]
        let cases: Vec<(&str, bool, String, Result<Verdict, Verdict>)> = vec![
            ("greeting, no user", false, g.into(), ok(VERSION)),
            ("greeting + OK", true, format!("{g} 0700000200000002000000"), ok(VERSION)),
            ("greeting + pre-41 OK", true, format!("{g} 03000002000000"), ok(VERSION)),
            ("greeting + denied (4.1)", true, format!("{g} {denied41}"),
                Err(Verdict::new(CheckStatus::L7Sts).code(1045)
                    .info("#28000Access denied for user 'nobody'@'localhost' (using password: NO)"))),
            ("greeting + denied (4.0)", true, format!("{g} {denied40}"),
                Err(Verdict::new(CheckStatus::L7Sts).code(1045)
                    .info("Access denied for user 'pw'@'localhost' (using password: NO)"))),
            ("host not allowed, no user", false, host_denied.clone(),
                Err(Verdict::new(CheckStatus::L7Sts).code(1130).info(host_msg))),
            ("host not allowed, user", true, host_denied.clone(),
                Err(Verdict::new(CheckStatus::L7Sts).code(1130).info(host_msg))),
            ("auth switch passes", true, format!("{g} 0500000201fe414243"), ok(VERSION)),
            ("EOF packet passes", true, format!("{g} 05000002fe00000200"), ok(VERSION)),
            ("empty second packet passes", true, format!("{g} 00000002"), ok(VERSION)),
            ("protocol 9 passes", false, format!("6400000009{}", &g[10..]), ok(VERSION)),
            ("version without NUL", false, "050000000a41424344".into(), ok("ABCD")),
            ("version stops at NUL", false, "070000000a41420043440045".into(), ok("AB")),
            ("no version", false, "010000000a".into(), Ok(Verdict::new(CheckStatus::L7Ok))),
            ("empty packet", false, "00000000".into(), Ok(Verdict::new(CheckStatus::L7Ok))),
            ("ERR without message", true, format!("{g} 03000002ff1504"),
                Err(Verdict::new(CheckStatus::L7Sts).code(1045))),
            ("greeting only, then close", true, g.into(), Err(Verdict::new(CheckStatus::L7Rsp))),
            ("half a greeting", false, g[..40].into(), Err(Verdict::new(CheckStatus::L7Rsp))),
            ("garbage", false, "68656c6c6f20776f726c640d0a".into(),
                Err(Verdict::new(CheckStatus::L7Rsp))),
            ("close at once", false, String::new(), Err(Verdict::new(CheckStatus::L7Rsp)
                .info("TCPCHK got an empty response at step 2"))),
            ("close at once, user", true, String::new(), Err(Verdict::new(CheckStatus::L7Rsp)
                .info("TCPCHK got an empty response at step 3"))),
        ];
        for (what, with_user, input, want) in cases {
            let input = hex(&input);
            let want = match want {
                Ok(verdict) => Progress::Pass {
                    consumed: input.len(),
                    verdict,
                },
                Err(v) => Progress::Fail(v),
            };
            assert_eq!(judge(&reply(with_user), &input), want, "{what}");
        }
    }

    #[test]
    fn waits_for_whole_packets() {
        let g = hex(GREETING);
        let cases: Vec<(&str, bool, Vec<u8>)> = vec![
            ("nothing", false, vec![]),
            ("half a greeting", false, g[..20].to_vec()),
            ("greeting, user", true, g.clone()),
            ("greeting + half OK", true, [&g[..], &[7, 0, 0, 2]].concat()),
        ];
        for (what, with_user, input) in cases {
            assert_eq!(
                reply(with_user).eval(&input, false),
                Progress::NeedMore,
                "{what}"
            );
        }
        assert_eq!(reply(true).timeout(), Verdict::new(CheckStatus::L7Tout));
    }
}
