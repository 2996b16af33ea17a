//! From check results to server state: the health counter, the agent's
//! words, the published `Oper` and admin flags, HAProxy's log lines for
//! every transition, and the session shutdowns a transition asks for.

use std::time::Duration;

use super::agent::{AgentAdmin, AgentOper, parse_agent};
use super::state::Change;
use super::status::{CheckStatus, Verdict};
use super::{Thread, Tracked};
use crate::config::{OnMarkedDown, OnMarkedUp};
use crate::logging::{self, LEVEL_ALERT, LEVEL_EMERG, LEVEL_NOTICE};
use crate::runtime::{BackendState, Oper, ServerState, admin};
use crate::worker::Control;
use log::Level;

impl Thread {
    pub(super) fn on_health_result(&mut self, t: usize, v: &Verdict, duration: Duration) {
        let passed = v.status.passed();
        let Some(h) = self.servers[t].health.as_mut() else {
            return;
        };
        let change = h.record(passed);
        let value = h.value();
        let status_text = h.status_text();
        let tr = &mut self.servers[t];
        tr.nolb = v.status == CheckStatus::L7OkC;
        let (b, s) = (tr.backend, tr.server);
        let backend = &self.rt.backends[b];
        let log_checks = backend.config.log_health_checks;
        if log_checks && tr.last != Some((passed, value)) {
            let what = if passed { "succeeded" } else { "failed" };
            let msg = format!(
                "Health check for {}server {}/{} {what}, {}, check duration: {}ms, status: {status_text}.",
                if backend.servers[s].backup {
                    "backup "
                } else {
                    ""
                },
                backend.config.name,
                backend.servers[s].name,
                v.reason(),
                duration.as_millis(),
            );
            let level = if passed { Level::Info } else { Level::Warn };
            logging::event(backend, level, LEVEL_NOTICE, msg);
        }
        tr.last = Some((passed, value));
        let detail = (!log_checks).then(|| check_detail(v, duration));
        match change {
            Change::WentDown => self.publish(t, Transition::Down(detail)),
            Change::WentUp => self.publish(t, Transition::Up(detail)),
            Change::None => self.publish(t, Transition::Quiet),
        }
    }

    /// `on-error mark-down`: DOWN now, whatever the counter said.
    pub(super) fn force_down(&mut self, t: usize, v: &Verdict) {
        let Some(h) = self.servers[t].health.as_mut() else {
            return;
        };
        if h.force_down() == Change::WentDown {
            let detail = check_detail(v, Duration::ZERO);
            self.publish(t, Transition::Down(Some(detail)));
        }
    }

    pub(super) fn on_agent_result(&mut self, t: usize, v: &Verdict) {
        let (b, s) = (self.servers[t].backend, self.servers[t].server);
        if let Some(c) = &self.rt.backends[b].servers[s].check {
            let mut c = c.lock();
            c.agent_status = v.status.code();
            c.agent_desc = v.status.description();
        }
        // HAProxy: an agent that cannot be reached changes nothing; the
        // regular check tests connectivity.
        if !v.status.passed() {
            log::debug!("agent check failed: {}", v.reason());
            return;
        }
        let reply = parse_agent(v.info.as_deref().unwrap_or(""));
        let srv = &self.rt.backends[b].servers[s];
        if let Some(c) = &srv.check {
            c.lock().agent = v.info.clone();
        }
        if let Some(pct) = reply.weight_pct {
            let w = (u64::from(srv.initial_weight) * u64::from(pct) / 100)
                .min(u64::from(crate::config::MAX_WEIGHT)) as u32;
            srv.weight.store(w, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(a) = reply.admin {
            self.agent_admin(t, a);
        }
        let said = |word: &str| match &reply.message {
            Some(m) => format!("via agent : {word} ({m})"),
            None => format!("via agent : {word}"),
        };
        match reply.oper {
            Some(AgentOper::Down(word)) if !self.servers[t].agent_down => {
                self.servers[t].agent_down = true;
                let v = Verdict::new(CheckStatus::L7Sts).code(0).info(said(word));
                let detail = check_detail(&v, Duration::ZERO);
                self.publish(t, Transition::Down(Some(detail)));
            }
            Some(AgentOper::Up) if self.servers[t].agent_down => {
                self.servers[t].agent_down = false;
                let v = Verdict::new(CheckStatus::L7Ok).code(0).info(said("up"));
                let detail = check_detail(&v, Duration::ZERO);
                self.publish(t, Transition::Up(Some(detail)));
            }
            _ => {}
        }
    }

    fn agent_admin(&mut self, t: usize, a: AgentAdmin) {
        let backend = &self.rt.backends[self.servers[t].backend];
        let s = self.servers[t].server;
        // The agent leaves only the maintenance it forced, never the
        // config's `disabled`.
        match a {
            AgentAdmin::Maint => set_maint(backend, s, true, admin::FORCED_MAINT),
            AgentAdmin::Drain => set_drain(backend, s, true),
            AgentAdmin::Ready => {
                set_maint(backend, s, false, admin::FORCED_MAINT);
                set_drain(backend, s, false);
            }
        }
    }

    /// Publishes the tracked server's operational state; logs the
    /// transition and acts on it.
    fn publish(&mut self, t: usize, tr: Transition) {
        let tracked = &self.servers[t];
        let (b, s) = (tracked.backend, tracked.server);
        let backend = &self.rt.backends[b];
        let srv = &backend.servers[s];
        let was_usable = srv.usable();
        // A server already out of the rotation (draining) going DOWN is
        // news, not an alert (HAProxy's levels).
        let was_draining = srv.status() == crate::runtime::ServerStatus::Drain;
        let oper = oper_of(tracked);
        srv.set_oper(oper);
        backend.refresh_state();
        let who = who(backend, srv);
        match tr {
            Transition::Down(detail) if oper == Oper::Down => {
                if let Some(c) = &srv.check {
                    c.lock().downs += 1;
                }
                let syslog = if was_draining {
                    LEVEL_NOTICE
                } else {
                    LEVEL_ALERT
                };
                let text = format!(
                    "{who} is DOWN{}. {}",
                    detail.unwrap_or_default(),
                    left(backend, srv)
                );
                logging::event(backend, Level::Warn, syslog, text);
                if tracked.params.on_marked_down == Some(OnMarkedDown::ShutdownSessions) {
                    self.broadcast(Control::ShutdownServer {
                        backend: b,
                        server: s,
                    });
                }
                after_loss(&self.rt.backends[b], s, was_usable);
            }
            Transition::Up(detail) if oper != Oper::Down => {
                let text = format!(
                    "{who} is UP{}. {}",
                    detail.unwrap_or_default(),
                    online(backend)
                );
                logging::event(backend, Level::Info, LEVEL_NOTICE, text);
                if !srv.backup
                    && tracked.params.on_marked_up == Some(OnMarkedUp::ShutdownBackupSessions)
                {
                    self.broadcast(Control::ShutdownBackups { backend: b });
                }
            }
            _ => {}
        }
    }

    fn broadcast(&self, msg: Control) {
        for w in &self.workers {
            w.send(msg.clone());
        }
    }
}

/// Why `publish` was called.
enum Transition {
    /// The server went down; the detail is `, reason: ..., check duration: Nms`
    /// (none with `option log-health-checks`, whose own line said it).
    Down(Option<String>),
    Up(Option<String>),
    /// No transition, but a flag such as NOLB may have changed.
    Quiet,
}

fn oper_of(t: &Tracked) -> Oper {
    let check_down = t.health.as_ref().is_some_and(|h| !h.is_up());
    if check_down || t.agent_down {
        Oper::Down
    } else if t.nolb {
        Oper::NoLb
    } else {
        Oper::Up
    }
}

fn check_detail(v: &Verdict, duration: Duration) -> String {
    format!(
        ", {}, check duration: {}ms",
        v.reason(),
        duration.as_millis()
    )
}

/// Enters forced maintenance, or leaves it by clearing `leave` (the agent
/// clears its own flag; the runtime API also the config's `disabled`);
/// logs as HAProxy does. Shared by the agent and the runtime API.
pub(crate) fn set_maint(backend: &BackendState, s: usize, on: bool, leave: u8) {
    let srv = &backend.servers[s];
    let flags = srv.admin_flags();
    if on && flags & admin::FORCED_MAINT == 0 {
        let was_usable = srv.usable();
        srv.set_admin(admin::FORCED_MAINT, true);
        let text = format!(
            "{} is going DOWN for maintenance. {}",
            who(backend, srv),
            left(backend, srv)
        );
        logging::event(backend, Level::Warn, LEVEL_ALERT, text);
        after_loss(backend, s, was_usable);
    } else if !on && flags & leave != 0 {
        srv.set_admin(leave, false);
        let text = format!(
            "{} is UP/READY (leaving forced maintenance).",
            who(backend, srv)
        );
        logging::event(backend, Level::Warn, LEVEL_NOTICE, text);
    }
    backend.refresh_state();
}

/// Enters or leaves forced drain, logging as HAProxy does.
pub(crate) fn set_drain(backend: &BackendState, s: usize, on: bool) {
    let srv = &backend.servers[s];
    let draining = srv.admin_flags() & admin::FORCED_DRAIN != 0;
    if on && !draining {
        let was_usable = srv.usable();
        srv.set_admin(admin::FORCED_DRAIN, true);
        let text = format!(
            "{} enters drain state. {}",
            who(backend, srv),
            online(backend)
        );
        logging::event(backend, Level::Warn, LEVEL_NOTICE, text);
        after_loss(backend, s, was_usable);
    } else if !on && draining {
        srv.set_admin(admin::FORCED_DRAIN, false);
        let text = format!("{} is UP (leaving forced drain).", who(backend, srv));
        logging::event(backend, Level::Warn, LEVEL_NOTICE, text);
    }
    backend.refresh_state();
}

/// After a server stopped taking sessions: says so when it was the
/// backend's last one.
fn after_loss(backend: &BackendState, s: usize, was_usable: bool) {
    if was_usable && !backend.servers[s].usable() && backend.usable_counts() == (0, 0) {
        let kind = if backend.config.listen {
            "proxy"
        } else {
            "backend"
        };
        let text = format!("{kind} {} has no server available!", backend.config.name);
        logging::event(backend, Level::Error, LEVEL_EMERG, text);
    }
}

/// `Server web/w1` or `Backup Server web/b1`.
fn who(backend: &BackendState, srv: &ServerState) -> String {
    let kind = if srv.backup {
        "Backup Server"
    } else {
        "Server"
    };
    format!("{kind} {}/{}", backend.config.name, srv.name)
}

/// The tail of a DOWN line.
fn left(backend: &BackendState, srv: &ServerState) -> String {
    format!(
        "{} {} sessions active, 0 requeued, 0 remaining in queue.",
        servers_left(backend, "left"),
        srv.active.load(std::sync::atomic::Ordering::Relaxed)
    )
}

/// The tail of an UP (or drain) line.
fn online(backend: &BackendState) -> String {
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
