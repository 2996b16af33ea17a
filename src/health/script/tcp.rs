//! `option tcp-check` rules, and `option redis-check`, which HAProxy runs as
//! a fixed tcp-check.
//!
//! Observed on HAProxy 2.6 against scripted servers:
//! - Steps are numbered over the configured rules from 1; an implicit
//!   first connect is not counted (its errors say "at initial connection
//!   step of tcp-check"). `tcp-check comment` lines count too, but the
//!   config model drops them, so a config with comments gets lower numbers
//!   here than in HAProxy's logs.
//! - An expect is judged against everything received since the last send:
//!   two expects in a row see the same bytes, and a send discards what the
//!   previous expect did not need. [`Rule`] reproduces that through
//!   `consumed`.
//! - A match passes at once; a miss waits for more until the server closes
//!   (then L7RSP "TCPCHK did not match content 'role:master' at step 5") or
//!   the timeout (L7TOUT " at step 5 of tcp-check (expect string
//!   'role:master')", leading space included). `!` fails at once on a match
//!   ("TCPCHK matched unwanted content ...") and passes only at the close.
//!   A close before any byte is "TCPCHK got an empty response at step N".
//!   Regexes and binaries are not quoted: "(regex)", "(binary)", "(binary
//!   regex)"; `rbinary` matches the upper-case hex of the bytes.
//! - A check that passes says L7OK "(tcp-check)", or L4OK "(tcp-check)"
//!   when all rules are connects; no rule at all is a plain connect.
//! - redis-check sends `PING` as a RESP array, passes on "+PONG\r\n"
//!   anywhere (L7OK "Redis server is ok"), and on a close otherwise fails
//!   as L7STS with the first line received as info.

use super::super::status::{CheckStatus, Verdict, printable};
use super::{Expect, ExpectKind, Progress, Step, empty_response, find, first_line};
use crate::config::{TcpCheckRule, TcpMatch};

/// What redis-check sends: not the inline `PING\r\n` but a RESP array.
pub(super) const REDIS_PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

pub(super) fn eval_redis(buf: &[u8], eof: bool) -> Progress {
    if find(buf, b"+PONG\r\n").is_some() {
        return Progress::Pass {
            consumed: buf.len(),
            verdict: Verdict::new(CheckStatus::L7Ok).info("Redis server is ok"),
        };
    }
    if !eof {
        return Progress::NeedMore;
    }
    if buf.is_empty() {
        return Progress::Fail(empty_response(CheckStatus::L7Sts, 2));
    }
    let verdict = Verdict::new(CheckStatus::L7Sts);
    Progress::Fail(match first_line(buf) {
        Some(line) => verdict.info(line),
        None => verdict,
    })
}

/// One `tcp-check expect` rule, with its place in the rule list.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    negate: bool,
    matcher: TcpMatch,
    /// HAProxy's step number, for the logs.
    step: usize,
    /// The next rule is an expect too: leave the bytes for it.
    keep: bool,
}

/// The verdict of every passing tcp-check.
fn passed(status: CheckStatus) -> Verdict {
    Verdict::new(status).info("(tcp-check)")
}

impl Rule {
    pub(super) fn eval(&self, buf: &[u8], eof: bool) -> Progress {
        let found = match &self.matcher {
            TcpMatch::String(s) | TcpMatch::Binary(s) => find(buf, s).is_some(),
            TcpMatch::RString(re) => re.0.is_match(buf),
            TcpMatch::RBinary(re) => re.0.is_match(upper_hex(buf).as_bytes()),
        };
        if found && self.negate {
            return self.fail("TCPCHK matched unwanted content");
        }
        if !found && !eof {
            return Progress::NeedMore;
        }
        if !found && buf.is_empty() {
            return Progress::Fail(empty_response(CheckStatus::L7Rsp, self.step));
        }
        if !found && !self.negate {
            return self.fail("TCPCHK did not match content");
        }
        Progress::Pass {
            consumed: if self.keep { 0 } else { buf.len() },
            verdict: passed(CheckStatus::L7Ok),
        }
    }

    fn fail(&self, what: &str) -> Progress {
        let pattern = match &self.matcher {
            TcpMatch::String(s) => format!("'{}'", printable(s)),
            TcpMatch::RString(_) => "(regex)".into(),
            TcpMatch::Binary(_) => "(binary)".into(),
            TcpMatch::RBinary(_) => "(binary regex)".into(),
        };
        Progress::Fail(
            Verdict::new(CheckStatus::L7Rsp)
                .info(format!("{what} {pattern} at step {}", self.step)),
        )
    }

    /// " at step 5 of tcp-check (expect string 'role:master')": the timeout
    /// info, and what HAProxy appends to a socket error here. A binary is
    /// shown as text; `!` is not shown.
    pub(super) fn context(&self) -> String {
        let what = match &self.matcher {
            TcpMatch::String(s) => format!("string '{}'", printable(s)),
            TcpMatch::RString(_) => "regex".into(),
            TcpMatch::Binary(b) => format!("binary '{}'", printable(b)),
            TcpMatch::RBinary(_) => "binary regex".into(),
        };
        format!(" at step {} of tcp-check (expect {what})", self.step)
    }
}

fn upper_hex(buf: &[u8]) -> String {
    buf.iter().map(|b| format!("{b:02X}")).collect()
}

/// The script of `option tcp-check` with these rules.
pub(super) fn script(rules: &[TcpCheckRule]) -> Vec<Step> {
    let mut steps = Vec::with_capacity(rules.len() + 2);
    if !matches!(rules.first(), Some(TcpCheckRule::Connect { .. })) {
        steps.push(Step::Connect {
            port: None,
            send_proxy: false,
        });
    }
    for (i, rule) in rules.iter().enumerate() {
        steps.push(match rule {
            TcpCheckRule::Connect { port, send_proxy } => Step::Connect {
                port: *port,
                send_proxy: *send_proxy,
            },
            TcpCheckRule::Send(bytes) => Step::Send(bytes.clone()),
            TcpCheckRule::Expect { negate, matcher } => {
                Step::Expect(Expect::new(ExpectKind::Tcp(Rule {
                    negate: *negate,
                    matcher: matcher.clone(),
                    step: i + 1,
                    keep: matches!(rules.get(i + 1), Some(TcpCheckRule::Expect { .. })),
                })))
            }
        });
    }
    // HAProxy's verdict for a passing tcp-check is never the bare L4OK the
    // engine gives a script without expects.
    if !rules.is_empty() && !matches!(rules.last(), Some(TcpCheckRule::Expect { .. })) {
        let all_connects = rules
            .iter()
            .all(|r| matches!(r, TcpCheckRule::Connect { .. }));
        let status = if all_connects {
            CheckStatus::L4Ok
        } else {
            CheckStatus::L7Ok
        };
        steps.push(Step::Expect(Expect::new(ExpectKind::Done(passed(status)))));
    }
    steps
}

/// See [`super::step_context`]; `index` is in `script(rules)`.
pub(super) fn step_context(rules: &[TcpCheckRule], index: usize) -> Option<String> {
    if rules.is_empty() {
        return None;
    }
    let implicit = !matches!(rules.first(), Some(TcpCheckRule::Connect { .. }));
    let rule = match (implicit, index) {
        (true, 0) => return Some(" at initial connection step of tcp-check".into()),
        (true, i) => i - 1,
        (false, i) => i,
    };
    let step = rule + 1;
    Some(match rules.get(rule)? {
        // `send-proxy` is not shown by HAProxy.
        TcpCheckRule::Connect { port: Some(p), .. } => {
            format!(" at step {step} of tcp-check (connect port {p})")
        }
        TcpCheckRule::Connect { port: None, .. } => {
            format!(" at step {step} of tcp-check (connect)")
        }
        TcpCheckRule::Send(_) => format!(" at step {step} of tcp-check (send)"),
        TcpCheckRule::Expect { negate, matcher } => Rule {
            negate: *negate,
            matcher: matcher.clone(),
            step,
            keep: false,
        }
        .context(),
    })
}

#[cfg(test)]
mod tests;
