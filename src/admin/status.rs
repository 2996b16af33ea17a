//! How a server's state reads in `show stat` and `show servers state`:
//! its check settings and last results, and HAProxy's status words.

use std::sync::atomic::Ordering;

use crate::config::Balance;
use crate::runtime::{BackendState, CheckInfo, Oper, ServerState, admin};

/// What `show stat` and `show servers state` say of a server's checks.
pub(super) struct Checks {
    /// A health check is configured and not disabled at run time.
    pub health: bool,
    pub agent: bool,
    pub info: CheckInfo,
}

pub(super) fn checks(b: &BackendState, s: usize) -> Checks {
    let srv = &b.servers[s];
    let params = &b.config.servers[s].check;
    Checks {
        health: params.enabled && !srv.check_disabled.load(Ordering::Relaxed),
        agent: params.agent && !srv.agent_disabled.load(Ordering::Relaxed),
        info: srv
            .check
            .as_ref()
            .map(|c| c.lock().clone())
            .unwrap_or_default(),
    }
}

/// HAProxy's `status` of a server: MAINT, DRAIN, NOLB, DOWN, UP or
/// `no check`, with the `UP 1/3` / `DOWN 1/2` forms while the health
/// counter moves between the two.
pub(super) fn server_status(srv: &ServerState, c: &Checks) -> String {
    let flags = srv.admin_flags();
    let (health, rise, fall) = (c.info.health, c.info.rise.max(1), c.info.fall.max(1));
    let top = rise + fall - 1;
    let going_down = c.health && health < top;
    let margin = || format!("{}/{fall}", (health + 1).saturating_sub(rise));
    if flags & admin::RESOLUTION_MAINT != 0 {
        return "MAINT (resolution)".into();
    }
    if flags & admin::MAINT != 0 {
        return "MAINT".into();
    }
    match srv.oper() {
        Oper::Up if flags & admin::FORCED_DRAIN != 0 => {
            if going_down {
                format!("DRAIN {}", margin())
            } else {
                "DRAIN".into()
            }
        }
        Oper::Up if going_down => format!("UP {}", margin()),
        Oper::Up if !c.health => "no check".into(),
        Oper::Up => "UP".into(),
        Oper::NoLb if going_down => format!("NOLB {}", margin()),
        Oper::NoLb => "NOLB".into(),
        // The agent took it down while the check (if any) says up.
        Oper::Down if c.agent && (!c.health || health >= rise) => "DOWN (agent)".into(),
        Oper::Down if c.health && health > 0 => format!("DOWN {health}/{rise}"),
        Oper::Down => "DOWN".into(),
    }
}

/// HAProxy's name of a balance algorithm (`algo`).
pub(super) fn algo(b: Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Random { .. } => "random",
    }
}
