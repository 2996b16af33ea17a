//! A check as a script of steps, as HAProxy runs every check type since 2.2:
//! connect, send bytes, expect something back. Every check type of the config
//! ([`CheckKind`]) becomes such a script here; the probe in `probe.rs` runs it
//! without knowing any protocol.
//!
//! How the probe runs a script:
//! - Steps run in order; the first step is always a `Connect` (added when
//!   the rules do not start with one). A later `Connect` closes the previous
//!   connection and opens a new one.
//! - `Send` writes all its bytes.
//! - `Expect` reads into a buffer (at most [`MAX_RESPONSE`] bytes) and calls
//!   [`Expect::eval`] after every read, with `eof` set once the peer closed,
//!   the connection failed while reading, or the buffer is full. With `eof`
//!   set, `eval` never answers `NeedMore`. `Pass { consumed }` drops that
//!   many bytes from the front of the buffer before the next step.
//! - A timeout in an `Expect` step gives [`Expect::timeout`].
//! - When every step passed, the check's verdict is that of the last
//!   `Expect`, or `L4OK` when there was none.

use super::status::Verdict;
use crate::config::CheckKind;

/// Most bytes kept from a check's response (HAProxy: one buffer, 16 KiB).
pub const MAX_RESPONSE: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub enum Step {
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
pub enum Progress {
    NeedMore,
    Pass { consumed: usize, verdict: Verdict },
    Fail(Verdict),
}

/// One expectation on the bytes received so far.
#[derive(Debug, Clone)]
pub struct Expect {
    // Filled in by the protocol implementations.
}

impl Expect {
    /// Judges what has been received so far.
    pub fn eval(&self, _buf: &[u8], _eof: bool) -> Progress {
        todo!()
    }

    /// The verdict when the check times out while waiting here.
    pub fn timeout(&self) -> Verdict {
        todo!()
    }
}

/// The script of a server's health check.
pub fn script(_kind: &CheckKind) -> Vec<Step> {
    todo!()
}

/// The script of an agent check: connect to the agent port, send
/// `agent-send` if set, read one line. The verdict's info is the line.
pub fn agent_script(_send: Option<&str>) -> Vec<Step> {
    todo!()
}
