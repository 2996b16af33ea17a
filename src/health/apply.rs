//! From check results to server state: the health counter, the agent's
//! words, the published `Oper` and admin flags, HAProxy's log lines for
//! every transition, and the session shutdowns a transition asks for.

use std::time::Duration;

use super::agent::{AgentAdmin, AgentOper, parse_agent};
use super::state::Change;
use super::status::{CheckStatus, Verdict};
use super::{Thread, Tracked};
use crate::base::ids::{BackendId, ServerId};
use crate::base::log::{LEVEL_ALERT, LEVEL_NOTICE};
use crate::config::{OnMarkedDown, OnMarkedUp};
use crate::control::Control;
use crate::runtime::events::{after_loss, left, online, set_drain, set_maint, who};
use crate::runtime::{Oper, admin};

/// Longest chain of `track` followed (HAProxy refuses loops; this bounds
/// them).
const MAX_TRACK_DEPTH: usize = 16;
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
        let backend = self.rt.backend(b);
        let log_checks = backend.config.log_health_checks;
        if log_checks && tr.last != Some((passed, value)) {
            let what = if passed { "succeeded" } else { "failed" };
            let msg = format!(
                "Health check for {}server {}/{} {what}, {}, check duration: {}ms, status: {status_text}.",
                if backend.server(s).backup {
                    "backup "
                } else {
                    ""
                },
                backend.config.name,
                backend.server(s).name,
                v.reason(),
                duration.as_millis(),
            );
            let level = if passed { Level::Info } else { Level::Warn };
            self.rt.event(backend, level, LEVEL_NOTICE, msg);
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
        if let Some(c) = &self.rt.backend(b).server(s).check {
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
        let srv = &self.rt.backend(b).server(s);
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
        let rt = &self.rt;
        let backend = rt.backend(self.servers[t].backend);
        let s = self.servers[t].server;
        // The agent leaves only the maintenance it forced, never the
        // config's `disabled`.
        match a {
            AgentAdmin::Maint => set_maint(rt, backend, s, true, admin::FORCED_MAINT),
            AgentAdmin::Drain => set_drain(rt, backend, s, true),
            AgentAdmin::Ready => {
                set_maint(rt, backend, s, false, admin::FORCED_MAINT);
                set_drain(rt, backend, s, false);
            }
        }
    }

    /// Publishes the tracked server's operational state; logs the
    /// transition and acts on it.
    pub(super) fn publish(&mut self, t: usize, tr: Transition) {
        let tracked = &self.servers[t];
        let (b, s) = (tracked.backend, tracked.server);
        let backend = self.rt.backend(b);
        let srv = &backend.server(s);
        let was_usable = srv.usable();
        // A server already out of the rotation (draining) going DOWN is
        // news, not an alert (HAProxy's levels).
        let was_draining = srv.status() == crate::runtime::ServerStatus::Drain;
        let oper = oper_of(tracked);
        srv.set_oper(oper);
        backend.refresh_state();
        self.follow(b, s, 0);
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
                self.rt.event(backend, Level::Warn, syslog, text);
                if tracked.params.on_marked_down == Some(OnMarkedDown::ShutdownSessions) {
                    self.broadcast(Control::ShutdownServer {
                        backend: b,
                        server: s,
                    });
                }
                after_loss(&self.rt, self.rt.backend(b), s, was_usable);
            }
            Transition::Up(detail) if oper != Oper::Down => {
                let text = format!(
                    "{who} is UP{}. {}",
                    detail.unwrap_or_default(),
                    online(backend)
                );
                self.rt.event(backend, Level::Info, LEVEL_NOTICE, text);
                if !srv.backup
                    && tracked.params.on_marked_up == Some(OnMarkedUp::ShutdownBackupSessions)
                {
                    self.broadcast(Control::ShutdownBackups { backend: b });
                }
            }
            _ => {}
        }
    }

    /// Servers that `track` server `s` of `b` take its state (and their
    /// own trackers after them), with HAProxy's "via" lines.
    pub(super) fn follow(&self, b: BackendId, s: ServerId, depth: usize) {
        if depth >= MAX_TRACK_DEPTH {
            return;
        }
        let from = self.rt.backend(b);
        let oper = from.server(s).oper();
        let via = format!("{}/{}", from.config.name, from.server(s).name);
        for be in &self.rt.backends {
            for (si, cfg) in be.config.servers.iter().enumerate() {
                let srv = &be.servers[si];
                if cfg.track != Some((b, s)) || srv.oper() == oper {
                    continue;
                }
                let was_usable = srv.usable();
                srv.set_oper(oper);
                be.refresh_state();
                let who = who(be, srv);
                if oper == Oper::Down {
                    let text = format!("{who} is DOWN via {via}. {}", left(be, srv));
                    self.rt.event(be, Level::Warn, LEVEL_ALERT, text);
                    after_loss(&self.rt, be, ServerId::new(si), was_usable);
                } else {
                    let text = format!("{who} is UP via {via}. {}", online(be));
                    self.rt.event(be, Level::Info, LEVEL_NOTICE, text);
                }
                self.follow(be.id, ServerId::new(si), depth + 1);
            }
        }
    }

    fn broadcast(&self, msg: Control) {
        for w in &self.workers {
            w.send(msg.clone());
        }
    }
}

/// Why `publish` was called.
pub(super) enum Transition {
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
