//! A check as a script of steps, as HAProxy runs every check type since 2.2:
//! connect, send bytes, expect something back. Every check type of the config
//! ([`CheckKind`]) becomes such a script here; the probe in `probe.rs` runs it
//! without knowing any protocol.
//!
//! How the probe runs a script:
//! - Steps run in order; the first step is always a `Connect` (added when
//!   the rules do not start with one). A later `Connect` closes the previous
//!   connection, empties the buffer and opens a new one.
//! - `Send` writes all its bytes.
//! - `Expect` reads into a buffer (at most [`MAX_RESPONSE`] bytes) and calls
//!   [`Expect::eval`] once on entering the step, with whatever the buffer
//!   still holds, then after every read, with `eof` set once the peer
//!   closed, the connection failed while reading, or the buffer is full.
//!   With `eof` set, `eval` never answers `NeedMore`. `Pass { consumed }`
//!   drops that many bytes from the front of the buffer before the next
//!   step. The call on entry matters: two tcp-check expects in a row judge
//!   the same bytes (HAProxy keeps them until the next send), and the
//!   closing expect of a tcp-check without one passes on an empty buffer.
//! - A timeout in an `Expect` step gives [`Expect::timeout`].
//! - When every step passed, the check's verdict is that of the last
//!   `Expect`, or `L4OK` when there was none.
//! - An error on a step (connection refused, reset) is logged by HAProxy
//!   with [`step_context`] appended to the system's text.
//!
//! Bytes sent and verdicts were taken from HAProxy 2.6 itself, by running
//! it against capture servers and real MariaDB, PostgreSQL, nginx and
//! `openssl s_server`; each protocol module says what it observed.

mod http;
mod mysql;
mod pgsql;
#[cfg(test)]
mod props;
#[cfg(test)]
pub(crate) mod runner;
mod tcp;
mod tls;

use super::status::{CheckStatus, Verdict, printable};
use crate::config::CheckKind;

/// Most bytes kept from a check's response (HAProxy: one buffer, 16 KiB).
pub(crate) const MAX_RESPONSE: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Connect to the check address; `port` overrides the check port.
    Connect {
        port: Option<u16>,
        send_proxy: bool,
    },
    Send(Vec<u8>),
    Expect(Expect),
}

/// What an `Expect` step answers after a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    NeedMore,
    Pass { consumed: usize, verdict: Verdict },
    Fail(Verdict),
}

/// One expectation on the bytes received so far.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    kind: ExpectKind,
}

#[derive(Debug, Clone)]
enum ExpectKind {
    Http(http::Response),
    Mysql(mysql::Reply),
    Pgsql,
    Redis,
    SslHello,
    Tcp(tcp::Rule),
    /// Ends a tcp-check whose last rule is not an expect: passes at once
    /// with HAProxy's verdict for such a check.
    Done(Verdict),
    Agent,
}

impl Expect {
    fn new(kind: ExpectKind) -> Self {
        Expect { kind }
    }

    /// Judges what has been received so far.
    pub(crate) fn eval(&self, buf: &[u8], eof: bool) -> Progress {
        match &self.kind {
            ExpectKind::Http(r) => r.eval(buf, eof),
            ExpectKind::Mysql(r) => r.eval(buf, eof),
            ExpectKind::Pgsql => pgsql::eval(buf, eof),
            ExpectKind::Redis => tcp::eval_redis(buf, eof),
            ExpectKind::SslHello => tls::eval(buf, eof),
            ExpectKind::Tcp(r) => r.eval(buf, eof),
            ExpectKind::Done(v) => Progress::Pass {
                consumed: 0,
                verdict: v.clone(),
            },
            ExpectKind::Agent => eval_agent(buf, eof),
        }
    }

    /// The verdict when the check times out while waiting here.
    pub(crate) fn timeout(&self) -> Verdict {
        match &self.kind {
            ExpectKind::SslHello => Verdict::new(CheckStatus::L6Tout),
            // HAProxy names the step only for `option tcp-check` rules.
            ExpectKind::Tcp(r) => Verdict::new(CheckStatus::L7Tout).info(r.context()),
            _ => Verdict::new(CheckStatus::L7Tout),
        }
    }
}

/// The script of a server's health check.
pub(crate) fn script(kind: &CheckKind) -> Vec<Step> {
    let connect = Step::Connect {
        port: None,
        send_proxy: false,
    };
    let expect = |k| Step::Expect(Expect::new(k));
    match kind {
        CheckKind::Connect => vec![connect],
        CheckKind::Http(check) => vec![
            connect,
            Step::Send(http::request(check)),
            expect(ExpectKind::Http(http::Response::new(check))),
        ],
        CheckKind::Mysql { user, post41 } => {
            let mut steps = vec![connect];
            if let Some(user) = user {
                steps.push(Step::Send(mysql::login_and_quit(user, *post41)));
            }
            steps.push(expect(ExpectKind::Mysql(mysql::Reply::new(user.is_some()))));
            steps
        }
        CheckKind::Pgsql { user } => vec![
            connect,
            Step::Send(pgsql::startup(user)),
            expect(ExpectKind::Pgsql),
        ],
        CheckKind::Redis => vec![
            connect,
            Step::Send(tcp::REDIS_PING.to_vec()),
            expect(ExpectKind::Redis),
        ],
        CheckKind::SslHello => vec![
            connect,
            Step::Send(tls::client_hello(unix_time())),
            expect(ExpectKind::SslHello),
        ],
        CheckKind::Tcp(rules) => tcp::script(rules),
    }
}

/// What HAProxy appends to the error text of a failed step (`Connection
/// refused` + ` at step 4 of tcp-check (connect port 3307)`), for the step
/// at `index` in `script(kind)`. Only `option tcp-check` rules are named;
/// the built-in checks log the bare error.
pub(crate) fn step_context(kind: &CheckKind, index: usize) -> Option<String> {
    match kind {
        CheckKind::Tcp(rules) => tcp::step_context(rules, index),
        _ => None,
    }
}

/// The script of an agent check: connect to the agent port, send
/// `agent-send` if set, read one line. The verdict's info is the line.
pub(crate) fn agent_script(send: Option<&str>) -> Vec<Step> {
    let mut steps = vec![Step::Connect {
        port: None,
        send_proxy: false,
    }];
    if let Some(send) = send {
        steps.push(Step::Send(send.as_bytes().to_vec()));
    }
    steps.push(Step::Expect(Expect::new(ExpectKind::Agent)));
    steps
}

/// The agent's answer is one line, ended by CR or LF. HAProxy 2.6 ignores
/// an unterminated line even when the agent closed after it, and reports
/// that as a timeout (its stats say "Ignoring incomplete line from agent");
/// the mailing list confirms the terminator is mandatory in practice.
fn eval_agent(buf: &[u8], eof: bool) -> Progress {
    if let Some(end) = buf.iter().position(|&b| b == b'\r' || b == b'\n') {
        return Progress::Pass {
            consumed: buf.len(),
            verdict: Verdict::new(CheckStatus::L7Ok)
                .info(String::from_utf8_lossy(&buf[..end]).into_owned()),
        };
    }
    match (eof, buf.is_empty()) {
        (false, _) => Progress::NeedMore,
        (true, true) => Progress::Fail(empty_response(CheckStatus::L7Rsp, 2)),
        (true, false) => Progress::Fail(Verdict::new(CheckStatus::L7Tout)),
    }
}

/// The verdict of a check whose server closed without sending a byte.
/// HAProxy 2.6 numbers the step from its internal rule list for the check
/// type, so callers pass the number it logs (mysql-check: 2, or 3 with a
/// user; pgsql-check: 3; redis-check, ssl-hello-chk, agent: 2).
fn empty_response(status: CheckStatus, step: usize) -> Verdict {
    Verdict::new(status).info(format!("TCPCHK got an empty response at step {step}"))
}

/// Text from the network up to its first CR or LF, escaped for the log.
fn first_line(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    non_empty(printable(&bytes[..end]))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Seconds since the epoch, for the ClientHello's `gmt_unix_time` (HAProxy
/// puts the current time there).
fn unix_time() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// Where `needle` first occurs in `hay` (an empty needle is found at 0).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an expect over `input` as the engine would on a closed
    /// connection: once with eof unset, then with eof set.
    pub(super) fn judge(expect: &Expect, input: &[u8]) -> Progress {
        match expect.eval(input, false) {
            Progress::NeedMore => expect.eval(input, true),
            done => done,
        }
    }

    fn agent() -> Expect {
        match agent_script(None).pop() {
            Some(Step::Expect(e)) => e,
            other => panic!("agent script ends with {other:?}"),
        }
    }

    #[test]
    fn agent_script_sends_agent_send_verbatim() {
        let steps = agent_script(Some("hello\n"));
        assert!(matches!(steps[0], Step::Connect { port: None, .. }));
        assert!(matches!(&steps[1], Step::Send(b) if b == b"hello\n"));
        assert!(matches!(steps[2], Step::Expect(_)));
        assert_eq!(agent_script(None).len(), 2);
    }

    #[test]
    fn agent_line_verdicts() {
        let ok = |line: &str, n| Progress::Pass {
            consumed: n,
            verdict: Verdict::new(CheckStatus::L7Ok).info(line),
        };
        let cases = [
            ("LF", &b"up 75%\n"[..], false, ok("up 75%", 7)),
            ("CRLF", b"drain # x\r\n", false, ok("drain # x", 11)),
            ("CR alone ends the line", b"up\r", false, ok("up", 3)),
            ("first line only", b"down\nup\n", false, ok("down", 8)),
            ("empty line", b"\n", false, ok("", 1)),
            ("partial line", b"up", false, Progress::NeedMore),
            (
                "partial line then close",
                b"up",
                true,
                Progress::Fail(Verdict::new(CheckStatus::L7Tout)),
            ),
            (
                "close at once",
                b"",
                true,
                Progress::Fail(
                    Verdict::new(CheckStatus::L7Rsp).info("TCPCHK got an empty response at step 2"),
                ),
            ),
        ];
        let e = agent();
        for (what, input, eof, want) in cases {
            assert_eq!(e.eval(input, eof), want, "{what}");
        }
        assert_eq!(e.timeout(), Verdict::new(CheckStatus::L7Tout));
    }

    #[test]
    fn plain_connect_is_one_step() {
        let steps = script(&CheckKind::Connect);
        assert_eq!(steps.len(), 1);
        assert!(matches!(
            steps[0],
            Step::Connect {
                port: None,
                send_proxy: false
            }
        ));
        assert_eq!(step_context(&CheckKind::Connect, 0), None);
    }
}
