//! Server state changes made by the operator or an agent (maintenance,
//! drain), and the words of HAProxy's log lines for every server event:
//! shared by the health checker and the runtime API, logged through
//! [`Runtime::event`].

use log::Level;

use super::{BackendState, Runtime, ServerState, admin};
use crate::base::ids::ServerId;
use crate::base::log::{LEVEL_ALERT, LEVEL_EMERG, LEVEL_NOTICE};

/// Enters forced maintenance, or leaves it by clearing `leave` (the agent
/// clears its own flag; the runtime API also the config's `disabled`);
/// logs as HAProxy does. Shared by the agent and the runtime API.
pub(crate) fn set_maint(rt: &Runtime, backend: &BackendState, s: ServerId, on: bool, leave: u8) {
    let srv = backend.server(s);
    let flags = srv.admin_flags();
    if on && flags & admin::FORCED_MAINT == 0 {
        let was_usable = srv.usable();
        srv.set_admin(admin::FORCED_MAINT, true);
        let text = format!(
            "{} is going DOWN for maintenance. {}",
            who(backend, srv),
            left(backend, srv)
        );
        rt.event(backend, Level::Warn, LEVEL_ALERT, text);
        after_loss(rt, backend, s, was_usable);
    } else if !on && flags & leave != 0 {
        srv.set_admin(leave, false);
        let text = format!(
            "{} is UP/READY (leaving forced maintenance).",
            who(backend, srv)
        );
        rt.event(backend, Level::Warn, LEVEL_NOTICE, text);
    }
    backend.refresh_state();
}

/// Enters or leaves forced drain, logging as HAProxy does.
pub(crate) fn set_drain(rt: &Runtime, backend: &BackendState, s: ServerId, on: bool) {
    let srv = backend.server(s);
    let draining = srv.admin_flags() & admin::FORCED_DRAIN != 0;
    if on && !draining {
        let was_usable = srv.usable();
        srv.set_admin(admin::FORCED_DRAIN, true);
        let text = format!(
            "{} enters drain state. {}",
            who(backend, srv),
            online(backend)
        );
        rt.event(backend, Level::Warn, LEVEL_NOTICE, text);
        after_loss(rt, backend, s, was_usable);
    } else if !on && draining {
        srv.set_admin(admin::FORCED_DRAIN, false);
        let text = format!("{} is UP (leaving forced drain).", who(backend, srv));
        rt.event(backend, Level::Warn, LEVEL_NOTICE, text);
    }
    backend.refresh_state();
}

/// After a server stopped taking sessions: says so when it was the
/// backend's last one.
pub(crate) fn after_loss(rt: &Runtime, backend: &BackendState, s: ServerId, was_usable: bool) {
    if was_usable && !backend.server(s).usable() && backend.usable_counts() == (0, 0) {
        let kind = if backend.config.listen {
            "proxy"
        } else {
            "backend"
        };
        let text = format!("{kind} {} has no server available!", backend.config.name);
        rt.event(backend, Level::Error, LEVEL_EMERG, text);
    }
}

/// `Server web/w1` or `Backup Server web/b1`.
pub(crate) fn who(backend: &BackendState, srv: &ServerState) -> String {
    let kind = if srv.backup {
        "Backup Server"
    } else {
        "Server"
    };
    format!("{kind} {}/{}", backend.config.name, srv.name)
}

/// The tail of a DOWN line.
pub(crate) fn left(backend: &BackendState, srv: &ServerState) -> String {
    format!(
        "{} {} sessions active, 0 requeued, 0 remaining in queue.",
        servers_left(backend, "left"),
        srv.active.get()
    )
}

/// The tail of an UP (or drain) line.
pub(crate) fn online(backend: &BackendState) -> String {
    format!(
        "{} 0 sessions requeued, 0 total in queue.",
        servers_left(backend, "online")
    )
}

/// `N active and M backup servers left.`, plus ` Running on backup.` when
/// only backups serve.
fn servers_left(backend: &BackendState, word: &str) -> String {
    let (active, backup) = backend.usable_counts();
    let running_on_backup = if active == 0 && backup > 0 {
        " Running on backup."
    } else {
        ""
    };
    format!("{active} active and {backup} backup servers {word}.{running_on_backup}")
}

/// `set server B/S health|agent ...`: what the runtime API asked of a
/// server's operational state, for the health checker to apply (it owns
/// the health counters); 0 when nothing is asked.
pub(crate) mod forced {
    pub(crate) const HEALTH_UP: u8 = 1;
    pub(crate) const HEALTH_STOPPING: u8 = 2;
    pub(crate) const HEALTH_DOWN: u8 = 3;
    pub(crate) const AGENT_UP: u8 = 4;
    pub(crate) const AGENT_DOWN: u8 = 5;
}

/// Applies a forced state to a server no check follows (the health
/// checker applies it to the ones it checks), logging as HAProxy does.
pub(crate) fn force_oper(rt: &Runtime, backend: &BackendState, s: ServerId, what: u8) {
    let srv = backend.server(s);
    let oper = match what {
        forced::HEALTH_UP | forced::AGENT_UP => super::Oper::Up,
        forced::HEALTH_STOPPING => super::Oper::NoLb,
        forced::HEALTH_DOWN | forced::AGENT_DOWN => super::Oper::Down,
        _ => return,
    };
    let was = srv.oper();
    let was_usable = srv.usable();
    srv.set_oper(oper);
    backend.refresh_state();
    if was == oper {
        return;
    }
    match oper {
        super::Oper::Down => {
            let text = format!(
                "{} is DOWN, changed from CLI. {}",
                who(backend, srv),
                left(backend, srv)
            );
            rt.event(backend, Level::Warn, LEVEL_ALERT, text);
            after_loss(rt, backend, s, was_usable);
        }
        _ if was == super::Oper::Down => {
            let text = format!(
                "{} is UP, changed from CLI. {}",
                who(backend, srv),
                online(backend)
            );
            rt.event(backend, Level::Info, LEVEL_NOTICE, text);
        }
        _ => {}
    }
}
