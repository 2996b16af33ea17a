//! What the open files limit allows: the `maxconn` HAProxy 2.6 derives
//! when the config sets none, the descriptors a `maxconn` needs (its
//! maxsock), and `strict-limits`' verdict when the limit holds fewer.

use super::{Config, Global};

/// The smallest maxconn derived from the open files limit (HAProxy's
/// DEFAULT_MAXCONN): a process with very few descriptors still takes 100.
pub const MIN_DERIVED_MAXCONN: usize = 100;

/// What the descriptors of an unset `maxconn` are shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The open files limit the process will have: `ulimit-n`, else the
    /// larger of the soft and hard limits (splicer raises the soft one).
    pub limit: u64,
    /// Descriptors that are not sessions': listeners, health checks,
    /// runtime API sockets and clients, each worker's poller and waker, and
    /// 10 for the rest (logs, files), as HAProxy counts them.
    pub reserved: u64,
    /// `maxpipes` when set; `None` = a quarter of maxconn.
    pub maxpipes: Option<u64>,
    /// Whether sessions splice (`nosplice` unset): a pipe takes 2 fds.
    pub splice: bool,
}

impl FdBudget {
    /// What an unset `maxconn` shares the open files limit `limit` with
    /// (HAProxy's count): 10, each listener (one socket per worker and bind
    /// here), each server (its check's socket), each runtime API socket and
    /// its clients, and each worker's poller and waker (HAProxy: 3 a
    /// thread).
    pub fn of(global: &Global, binds: usize, servers: usize, limit: u64) -> FdBudget {
        let workers = global.workers() as u64;
        let api = global.stats_sockets.len() as u64 * (1 + global.stats_maxconn as u64);
        FdBudget {
            limit: global.ulimit_n.unwrap_or(limit),
            reserved: 10 + binds as u64 * workers + servers as u64 + api + 3 * workers,
            maxpipes: global.maxpipes.map(|p| p as u64),
            splice: !global.nosplice,
        }
    }

    /// The descriptors `maxconn` sessions must be able to take (HAProxy's
    /// maxsock): the reserved ones, 2 a session, and 2 for each pipe of a
    /// `maxpipes` set. Pipes on demand are left out: a session that cannot
    /// get one copies instead, so a config HAProxy (which splices only
    /// when asked) starts with, splicer starts with too.
    pub fn maxsock(&self, maxconn: usize) -> u64 {
        let pipes = match (self.splice, self.maxpipes) {
            (true, Some(p)) => p,
            _ => 0,
        };
        self.reserved + 2 * maxconn as u64 + 2 * pipes
    }
}

/// HAProxy's `maxconn` when the config sets none: as many sessions as the
/// open files limit holds once `reserved` is taken, each session 2
/// descriptors and, when splicing with pipes on demand (a quarter of the
/// sessions), half a descriptor more; a `maxpipes` set is taken off
/// first when it fits. Never below [`MIN_DERIVED_MAXCONN`].
pub fn ideal_maxconn(b: FdBudget) -> usize {
    let mut remain = b.limit.saturating_sub(b.reserved);
    let n = match (b.splice, b.maxpipes) {
        (false, _) => remain / 2,
        (true, Some(p)) => {
            if p.saturating_mul(2) < remain {
                remain -= p * 2;
            }
            remain / 2
        }
        // 2 fds a session + 2 per pipe, a pipe per 4 sessions: 2.5 each.
        (true, None) => remain.saturating_mul(2) / 5,
    };
    usize::try_from(n)
        .unwrap_or(usize::MAX)
        .max(MIN_DERIVED_MAXCONN)
}

impl Config {
    /// Whether the open files limit `limit` holds what `maxconn` sessions
    /// need (HAProxy's maxsock): `Ok(None)` when it does; when it does not,
    /// HAProxy 2.6's refusal under `strict-limits` (its default), or its
    /// warning with `no strict-limits`.
    pub fn fd_limit_check(&self, limit: u64) -> Result<Option<String>, String> {
        let binds = self.frontends.iter().map(|f| f.binds.len()).sum();
        let servers = self.backends.iter().map(|b| b.servers.len()).sum();
        let maxconn = self.global.maxconn;
        let maxsock = FdBudget::of(&self.global, binds, servers, limit).maxsock(maxconn);
        if limit >= maxsock {
            Ok(None)
        } else if self.global.strict_limits {
            Err(format!(
                "Cannot raise FD limit to {maxsock}, limit is {limit}."
            ))
        } else {
            Ok(Some(format!(
                "FD limit ({limit}) too low for maxconn={maxconn}/maxsock={maxsock}. Please raise 'ulimit-n' to {maxsock} or more to avoid any trouble."
            )))
        }
    }

    /// [`Config::fd_limit_check`] against the limit in force now: logs
    /// the warning (`no strict-limits`), returns the refusal.
    pub fn enforce_fd_limit(&self) -> Result<(), String> {
        let Ok(limit) = crate::sys::nofile_limit() else {
            return Ok(());
        };
        if let Some(warning) = self.fd_limit_check(limit)? {
            log::warn!("{warning}");
        }
        Ok(())
    }
}
