//! The logging part of the model: a frontend's `log` targets, its formats
//! (`log-format`, `log-format-sd`, `error-log-format`) and the options that
//! choose when a line goes out and at which level.

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
    /// `log-format-sd`: the structured-data part of lines sent to
    /// `format rfc5424` targets (others ignore it). `None`: `-`.
    pub format_sd: Option<LogFormat>,
    /// `error-log-format`: the line of a connection that failed before it
    /// became a session (a bad PROXY header), instead of HAProxy's text.
    pub error_format: Option<LogFormat>,
    /// `option logasap`: the line goes out when the server connection is
    /// up (`+` before `%Tt` and `%B`, which are not final).
    pub logasap: bool,
    /// `option dontlog-normal`: no line for a session without error,
    /// retry or redispatch ([`crate::base::log::Record::is_error`]).
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: those lines at `err`, not `info`.
    pub separate_errors: bool,
}

impl FrontendLog {
    /// Whether its lines show our side of the server connection (`%bi`,
    /// `%bp`), which costs a `getsockname` per session.
    pub fn wants_source(&self) -> bool {
        let uses = |f: &Option<LogFormat>| {
            f.as_ref()
                .is_some_and(|f| f.uses(Var::BackendIp) || f.uses(Var::BackendPort))
        };
        !self.targets.is_empty() && (uses(&self.format) || uses(&self.format_sd))
    }

    /// Whether a session's line goes out once its server connection is up
    /// rather than at its end: with `option logasap`, or when no variable
    /// of its formats waits for the end (HAProxy's `LW_BYTES`, from every
    /// format the frontend has, as HAProxy sums them).
    pub fn logs_at_connect(&self) -> bool {
        let Some(format) = &self.format else {
            return false;
        };
        let others = [&self.format_sd, &self.error_format];
        let waits = format.waits_for_end()
            || others
                .iter()
                .any(|f| f.as_ref().is_some_and(|f| f.waits_for_end()));
        self.logasap || !waits
    }

    /// Whether connection errors (a bad PROXY header) are logged. HAProxy
    /// logs them once some format was compiled for the frontend: a
    /// `log-format` (or `option tcplog`), an `error-log-format`, a
    /// `log-format-sd`, or the default structured data it sets up for a
    /// `format rfc5424` target. With none, its default `Connect from`
    /// format logs nothing about them.
    pub fn logs_connection_errors(&self) -> bool {
        !self.targets.is_empty()
            && (self.format.is_some()
                || self.format_sd.is_some()
                || self.error_format.is_some()
                || self
                    .targets
                    .iter()
                    .any(|t| t.format == SyslogFormat::Rfc5424))
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
