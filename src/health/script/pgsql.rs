//! `option pgsql-check user U`.
//!
//! Observed on HAProxy 2.6 against a scripted server:
//! - HAProxy sends a StartupMessage, protocol 3.0, with the `user`
//!   parameter only: length (big-endian, 4 bytes), `00 03 00 00`,
//!   `user` NUL, the user NUL, and the closing NUL.
//! - An `E` first byte fails, as L7RSP, with the text from offset 6 to the
//!   next NUL as info: after `E`, the length and the first field's type
//!   byte, so with a real server the severity ("FATAL"). HAProxy judges
//!   the first read that holds the `E`; splicer waits for the NUL (or the
//!   close), so a text cut by the reads is never shown cut.
//! - An authentication request passes, L7OK "PostgreSQL server is ok":
//!   `R`, a length of the form `00 00 00 xx`, and a method of `00 00 00`
//!   followed by 0 (ok), 2, 3, 4, 5, 6, 7, 9 or 10 (SASL); 1, 8, 11, 12 do
//!   not pass. Only the 9 bytes are looked at, so a password request
//!   counts as "up".
//! - Anything else, once the server closed: L7STS "PostgreSQL unknown
//!   error" (logged with code 0). While the connection stays open HAProxy keeps
//!   waiting, which ends as L7TOUT.
//! - A close before any byte: L7RSP "TCPCHK got an empty response at step 3".

use super::super::status::{CheckStatus, Verdict, printable};
use super::{Progress, empty_response, non_empty};

/// The StartupMessage HAProxy sends.
pub(super) fn startup(user: &str) -> Vec<u8> {
    let mut body = vec![0x00, 0x03, 0x00, 0x00];
    body.extend_from_slice(b"user\0");
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(b"\0\0");
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Authentication methods HAProxy takes for "up" (last byte of the
/// AuthenticationRequest).
const AUTH_METHODS: [u8; 9] = [0, 2, 3, 4, 5, 6, 7, 9, 10];

pub(super) fn eval(buf: &[u8], eof: bool) -> Progress {
    if buf.first() == Some(&b'E') {
        // The text runs to a NUL: wait for it, so that where the reads
        // end cannot cut it (a real server's error comes in one read, and
        // HAProxy then says the same; it judges whatever one read gave).
        let text = buf.get(6..).unwrap_or_default();
        if !eof && !text.contains(&0) {
            return Progress::NeedMore;
        }
        let verdict = Verdict::new(CheckStatus::L7Rsp);
        return Progress::Fail(match buf.get(6..).map(printable).and_then(non_empty) {
            Some(info) => verdict.info(info),
            None => verdict,
        });
    }
    if let [b'R', 0, 0, 0, _, 0, 0, 0, method, ..] = buf
        && AUTH_METHODS.contains(method)
    {
        return Progress::Pass {
            consumed: buf.len(),
            verdict: Verdict::new(CheckStatus::L7Ok).info("PostgreSQL server is ok"),
        };
    }
    match (eof, buf.is_empty()) {
        (false, _) => Progress::NeedMore,
        (true, true) => Progress::Fail(empty_response(CheckStatus::L7Rsp, 3)),
        (true, false) => {
            Progress::Fail(Verdict::new(CheckStatus::L7Sts).info("PostgreSQL unknown error"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_matches_haproxy_bytes() {
        assert_eq!(
            startup("haproxy"),
            b"\x00\x00\x00\x16\x00\x03\x00\x00user\x00haproxy\x00\x00"
        );
        assert_eq!(
            startup("pg"),
            b"\x00\x00\x00\x11\x00\x03\x00\x00user\x00pg\x00\x00"
        );
    }

    #[test]
    fn verdicts() {
        let ok = Ok(Verdict::new(CheckStatus::L7Ok).info("PostgreSQL server is ok"));
        let unknown = Err(Verdict::new(CheckStatus::L7Sts).info("PostgreSQL unknown error"));
        let fatal = b"E\x00\x00\x00\x5aSFATAL\x00VFATAL\x00C28000\x00Mrole \"nobody\" does not exist\x00\x00";
        #[rustfmt::skip]
        let cases: Vec<(&str, &[u8], Result<Verdict, Verdict>)> = vec![
            ("auth ok", b"R\x00\x00\x00\x08\x00\x00\x00\x00", ok.clone()),
            ("auth ok + more", b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x16", ok.clone()),
            ("md5 request", b"R\x00\x00\x00\x0c\x00\x00\x00\x05\xaa\xbb\xcc\xdd", ok.clone()),
            ("cleartext request", b"R\x00\x00\x00\x08\x00\x00\x00\x03", ok.clone()),
            ("SASL request", b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00", ok.clone()),
            ("method 1", b"R\x00\x00\x00\x08\x00\x00\x00\x01", unknown.clone()),
            ("method 8", b"R\x00\x00\x00\x08\x00\x00\x00\x08", unknown.clone()),
            ("method 11", b"R\x00\x00\x00\x08\x00\x00\x00\x0b", unknown.clone()),
            ("long length", b"R\x00\x00\x01\x08\x00\x00\x00\x00", unknown.clone()),
            ("wide method", b"R\x00\x00\x00\x08\x00\x00\x01\x00", unknown.clone()),
            ("error", fatal, Err(Verdict::new(CheckStatus::L7Rsp).info("FATAL"))),
            ("error, other first field", b"E\x00\x00\x00\x0aMxyz\x00",
                Err(Verdict::new(CheckStatus::L7Rsp).info("xyz"))),
            ("error header only", b"E\x00\x00\x00\x0a", Err(Verdict::new(CheckStatus::L7Rsp))),
            ("partial R", b"R\x00\x00\x00\x08", unknown.clone()),
            ("notice", b"N\x00\x00\x00\x0aSFATAL\x00", unknown.clone()),
            ("garbage", b"hello", unknown.clone()),
            ("close at once", b"", Err(Verdict::new(CheckStatus::L7Rsp)
                .info("TCPCHK got an empty response at step 3"))),
        ];
        for (what, input, want) in cases {
            let want = match want {
                Ok(verdict) => Progress::Pass {
                    consumed: input.len(),
                    verdict,
                },
                Err(v) => Progress::Fail(v),
            };
            let got = match eval(input, false) {
                Progress::NeedMore => eval(input, true),
                done => done,
            };
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn error_fails_once_its_text_is_in_others_wait() {
        let fatal = b"E\x00\x00\x00\x60SFATAL\x00";
        assert_eq!(
            eval(fatal, false),
            Progress::Fail(Verdict::new(CheckStatus::L7Rsp).info("FATAL"))
        );
        // The text cut by a read: wait for the rest, or the close.
        assert_eq!(eval(&fatal[..8], false), Progress::NeedMore);
        assert_eq!(
            eval(&fatal[..8], true),
            Progress::Fail(Verdict::new(CheckStatus::L7Rsp).info("FA"))
        );
        for input in [&b""[..], b"R\x00\x00\x00\x08", b"hello"] {
            assert_eq!(eval(input, false), Progress::NeedMore, "{input:?}");
        }
    }
}
