//! The logging part of the model: a frontend's `log` targets and format.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Location;
use crate::config::logformat::{LogFormat, Var};

/// `log` lines of a frontend (`log global` expanded), and what it logs.
#[derive(Debug, Clone, Default)]
pub struct FrontendLog {
    /// Empty: the frontend logs nothing.
    pub targets: Vec<LogTarget>,
    /// `option tcplog` or `log-format`: one line at the end of each
    /// session. `None`: HAProxy's default, a `Connect from` line when the
    /// session starts.
    pub format: Option<LogFormat>,
    /// `option dontlognull`: no line for a session whose client sent nothing.
    pub dontlognull: bool,
    /// `log-tag` of the proxy, else of `global`.
    pub tag: Option<String>,
}

impl FrontendLog {
    /// Whether its lines show our side of the server connection (`%bi`,
    /// `%bp`), which costs a `getsockname` per session.
    pub fn wants_source(&self) -> bool {
        !self.targets.is_empty()
            && self
                .format
                .as_ref()
                .is_some_and(|f| f.uses(Var::BackendIp) || f.uses(Var::BackendPort))
    }
}

/// `len` when not set (HAProxy: 1024, what every syslog server accepts).
pub const DEFAULT_LOG_LEN: usize = 1024;
/// `len` bounds (HAProxy).
pub const MIN_LOG_LEN: usize = 80;
pub const MAX_LOG_LEN: usize = 65535;

/// One `log` line: a destination, its framing and its filter.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTarget {
    pub dest: LogDest,
    /// `len`: longest message sent, header included (not for stdout/stderr).
    pub max_len: usize,
    pub format: SyslogFormat,
    /// Syslog facility number (`local0` = 16).
    pub facility: u8,
    /// Messages less severe than this are not sent (7 = debug: all).
    pub level: u8,
    /// Messages more severe than this are sent at this level (0 = emerg).
    pub min_level: u8,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    Stdout,
    Stderr,
    /// A unix datagram socket such as `/dev/log`.
    Unix(PathBuf),
    Udp(SocketAddr),
}

/// `format` of a `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// RFC 3164 without the host name (HAProxy's default).
    #[default]
    Local,
    Rfc3164,
    Rfc5424,
    /// `<level>` then the message.
    Short,
    /// `<priority>` then the message.
    Priority,
    /// `<level>`, an ISO date, the message.
    Timed,
    /// An ISO date, the message.
    Iso,
    /// The message alone.
    Raw,
}
