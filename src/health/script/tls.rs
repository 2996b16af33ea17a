//! `option ssl-hello-chk`: an SSLv3 ClientHello, and any TLS record header
//! back means the TLS layer is alive.
//!
//! Observed on HAProxy 2.6 with a capture server and `openssl s_server`
//! (which answers HAProxy's SSLv3 hello with a protocol_version alert):
//! - the hello is one record of 126 bytes: record header `16 03 00 00 79`,
//!   ClientHello `01 00 00 75`, version `03 00`, random = the current Unix
//!   time (4 bytes, big-endian) then `HAPROXYSSLCHK\n` twice, an empty
//!   session id, 39 cipher suites (`00 01` to `00 1b`, then `00 2f` to
//!   `00 3a`), one compression method (null);
//! - HAProxy waits for 5 bytes (a record header), or for the close, then
//!   passes (L6OK, no info) when the first byte is 0x15 (alert) or 0x16
//!   (handshake), and fails (L6RSP, no info) otherwise;
//! - a close before any byte: L6RSP "TCPCHK got an empty response at
//!   step 2"; no answer in time: L6TOUT.

use super::super::status::{CheckStatus, Verdict};
use super::{Progress, empty_response};

const RANDOM_TAIL: &[u8; 28] = b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n";

/// The ClientHello, with `now` (Unix seconds) as its `gmt_unix_time`.
pub(super) fn client_hello(now: u32) -> Vec<u8> {
    let suites: Vec<u16> = (0x0001..=0x001b).chain(0x002f..=0x003a).collect();
    let mut hello = vec![0x03, 0x00];
    hello.extend_from_slice(&now.to_be_bytes());
    hello.extend_from_slice(RANDOM_TAIL);
    hello.push(0); // session id length
    hello.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        hello.extend_from_slice(&s.to_be_bytes());
    }
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null only

    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x00];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Bytes of a TLS record header: HAProxy judges nothing shorter unless
/// the server closed.
const RECORD_HEADER: usize = 5;

pub(super) fn eval(buf: &[u8], eof: bool) -> Progress {
    if buf.len() < RECORD_HEADER && !eof {
        return Progress::NeedMore;
    }
    match buf.first() {
        None => Progress::Fail(empty_response(CheckStatus::L6Rsp, 2)),
        Some(0x15 | 0x16) => Progress::Pass {
            consumed: buf.len(),
            verdict: Verdict::new(CheckStatus::L6Ok),
        },
        Some(_) => Progress::Fail(Verdict::new(CheckStatus::L6Rsp)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_matches_haproxy_bytes() {
        // Captured from HAProxy 2.6 (its clock read 0x6b0177ed).
        let want = "16030000790100007503006b0177ed484150524f585953534c43484b0a484150524f58595353\
            4c43484b0a00004e000100020003000400050006000700080009000a000b000c000d000e000f00100011\
            00120013001400150016001700180019001a001b002f0030003100320033003400350036003700380039\
            003a0100";
        let got: String = client_hello(0x6b0177ed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn verdicts() {
        let ok = Progress::Pass {
            consumed: 7,
            verdict: Verdict::new(CheckStatus::L6Ok),
        };
        let bad = Progress::Fail(Verdict::new(CheckStatus::L6Rsp));
        // (what, bytes, closed, answer)
        let cases: Vec<(&str, &[u8], bool, Progress)> = vec![
            (
                "alert from openssl",
                b"\x15\x03\x00\x00\x02\x02\x28",
                false,
                ok.clone(),
            ),
            (
                "handshake",
                b"\x16\x03\x03\x00\x04\x02\x00",
                false,
                Progress::Pass {
                    consumed: 7,
                    verdict: Verdict::new(CheckStatus::L6Ok),
                },
            ),
            (
                "any version",
                b"\x16\xff\xff\xff\xff",
                false,
                Progress::Pass {
                    consumed: 5,
                    verdict: Verdict::new(CheckStatus::L6Ok),
                },
            ),
            (
                "short, open",
                b"\x16\x03\x03\x00",
                false,
                Progress::NeedMore,
            ),
            (
                "short, closed",
                b"\x16",
                true,
                Progress::Pass {
                    consumed: 1,
                    verdict: Verdict::new(CheckStatus::L6Ok),
                },
            ),
            (
                "application data",
                b"\x17\x03\x03\x00\x04",
                false,
                bad.clone(),
            ),
            ("HTTP", b"HTTP/1.1 400 Bad\r\n\r\n", false, bad.clone()),
            (
                "record further in",
                b"\x00\x16\x03\x03\x00",
                false,
                bad.clone(),
            ),
            ("short garbage, closed", b"\x1f", true, bad.clone()),
            ("nothing, open", b"", false, Progress::NeedMore),
            (
                "nothing, closed",
                b"",
                true,
                Progress::Fail(
                    Verdict::new(CheckStatus::L6Rsp).info("TCPCHK got an empty response at step 2"),
                ),
            ),
        ];
        for (what, input, eof, want) in cases {
            assert_eq!(eval(input, eof), want, "{what}");
        }
    }
}
