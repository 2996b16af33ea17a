//! Config generations inside a worker. A reload gives every worker a new
//! runtime; sessions already running keep the one they started with (their
//! frontend, backend and server indices mean something only there), so a
//! worker keeps each generation that still has sessions, with the
//! per-backend state that belongs to it (balancer, queues), and drops it
//! when its last session ends.

use std::sync::Arc;
use std::time::Instant;

use super::{Gate, Listening, Worker};

use crate::base::log::LogSender;
use crate::base::token;
use crate::control::Reload;
use crate::net::Listener;
use crate::runtime::Runtime;
use crate::session::BackendQueue;

/// One config's runtime as a worker uses it.
pub(super) struct Generation {
    pub rt: Arc<Runtime>,
    /// Per backend: the sessions waiting for a server slot.
    pub queues: Vec<BackendQueue>,
    /// This config's logger.
    pub logs: LogSender,
    /// Sessions of this worker that run under this config.
    pub sessions: usize,
}

impl Generation {
    pub(super) fn new(rt: Arc<Runtime>, logs: LogSender) -> Generation {
        Generation {
            queues: rt
                .backends
                .iter()
                .map(|_| BackendQueue::default())
                .collect(),
            rt,
            logs,
            sessions: 0,
        }
    }
}

impl Worker {
    /// Switches to a new config. Listeners whose address stays are kept
    /// (their queued clients go to the new config); the others first
    /// accept what is queued on them (under the old config), then close.
    /// Running sessions are left alone.
    pub(super) fn reload(&mut self, plan: &Reload, now: Instant) {
        for i in 0..self.listeners.len() {
            let Some(ls) = self.listeners[i].as_ref() else {
                continue;
            };
            if plan.keep.iter().any(|k| k.addr == ls.l.addr) {
                continue;
            }
            let gate = ls.gate;
            if gate != Gate::Stopped {
                self.set_gate(i, Gate::Open);
                self.accept_all(i, now);
            }
            if let Some(mut gone) = self.listeners[i].take() {
                let _ = gone.watch(false, self.poll.registry());
                log::debug!(
                    "worker {}: listener {} closed by reload ({gate:?})",
                    self.id,
                    gone.l.addr
                );
            }
        }
        let g = self
            .gens
            .insert(Generation::new(plan.rt.clone(), plan.logs.clone()));
        self.current = g;
        let registry = self.poll.registry();
        for ls in self.listeners.iter_mut().flatten() {
            let Some(k) = plan.keep.iter().find(|k| k.addr == ls.l.addr) else {
                continue;
            };
            ls.generation = g;
            ls.l.frontend = k.frontend;
            ls.l.luid = k.luid;
            ls.l.accept_proxy = k.accept_proxy;
            if k.backlog != ls.l.backlog {
                ls.l.backlog = k.backlog;
                if ls.gate != Gate::Stopped
                    && let Err(e) = ls.l.resume()
                {
                    log::warn!("listener {}: cannot change the backlog: {e}", ls.l.addr);
                }
            }
            // Limits are the new config's: look again at once.
            if ls.gate == Gate::Full {
                ls.set_gate(Gate::Open, registry);
            }
        }
        let opened = plan
            .opened
            .get(self.id)
            .map(|m| std::mem::take(&mut *m.lock()))
            .unwrap_or_default();
        for l in opened {
            self.add_listener(l, g);
        }
        self.retire_generations();
        // Kept listeners may hold clients that arrived during the switch.
        for i in 0..self.listeners.len() {
            self.accept(i, now);
        }
    }

    /// Puts a listener in a free slot (its token is the slot's).
    pub(super) fn add_listener(&mut self, l: Listener, gi: usize) {
        let slot = match self.listeners.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        let mut ls = Listening::new(l, gi, token::listener(slot));
        if self.paused {
            if let Err(e) = ls.l.pause() {
                log::warn!("listener {}: {e}", ls.l.addr);
            }
        } else {
            ls.gate = Gate::Open;
            if let Err(e) = ls.watch(true, self.poll.registry()) {
                log::error!(
                    "worker {}: cannot watch listener {}: {e}",
                    self.id,
                    ls.l.addr
                );
                return;
            }
        }
        self.listeners[slot] = Some(ls);
    }

    /// Drops the generations that are not current and have no session left.
    pub(super) fn retire_generations(&mut self) {
        let current = self.current;
        let done: Vec<usize> = self
            .gens
            .iter()
            .filter(|(k, g)| *k != current && g.sessions == 0)
            .map(|(k, _)| k)
            .collect();
        for k in done {
            self.gens.remove(k);
            log::debug!(
                "worker {}: an old configuration's last session ended",
                self.id
            );
        }
    }
}
