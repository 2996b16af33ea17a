//! `set server B/S health up|stopping|down` and `set server B/S agent
//! up|down` (runtime API): the admin thread leaves the request on the
//! server and wakes the checker, which sets its counters as HAProxy does
//! (UP: the whole margin; DOWN: zero) and publishes the state; the next
//! check's result goes on from there.

use std::sync::atomic::Ordering;

use super::Thread;
use super::apply::Transition;
use super::state::Health;
use crate::base::ids::ServerId;
use crate::runtime::events::{force_oper, forced};

/// What the log lines add after "is UP" / "is DOWN".
const REASON: &str = ", changed from CLI";

impl Thread {
    /// Applies the requests waiting on every server.
    pub(super) fn forced(&mut self) {
        let rt = self.rt.clone();
        for be in &rt.backends {
            for (s, srv) in be.servers.iter().enumerate() {
                let what = srv.forced.swap(0, Ordering::AcqRel);
                if what == 0 {
                    continue;
                }
                let id = ServerId::new(s);
                match self
                    .servers
                    .iter()
                    .position(|t| t.backend == be.id && t.server == id)
                {
                    Some(t) => self.force_tracked(t, what),
                    None => force_oper(&rt, be, id, what),
                }
            }
        }
    }

    fn force_tracked(&mut self, t: usize, what: u8) {
        let tr = &mut self.servers[t];
        let (rise, fall) = (tr.params.rise, tr.params.fall);
        let transition = match what {
            forced::HEALTH_UP | forced::HEALTH_STOPPING => {
                if let Some(h) = tr.health.as_mut() {
                    *h = Health::resume(rise, fall, u32::MAX);
                }
                tr.nolb = what == forced::HEALTH_STOPPING;
                Transition::Up(Some(REASON.into()))
            }
            forced::HEALTH_DOWN => {
                if let Some(h) = tr.health.as_mut() {
                    *h = Health::resume(rise, fall, 0);
                }
                Transition::Down(Some(REASON.into()))
            }
            forced::AGENT_UP => {
                tr.agent_down = false;
                Transition::Up(Some(REASON.into()))
            }
            forced::AGENT_DOWN => {
                tr.agent_down = true;
                Transition::Down(Some(REASON.into()))
            }
            _ => return,
        };
        let value = tr.health.as_ref().map(Health::value);
        let srv = self.rt.backend(tr.backend).server(tr.server);
        if let (Some(info), Some(v)) = (&srv.check, value) {
            info.lock().health = v;
        }
        // Only a real change is logged: publish says UP only when the
        // server was not, DOWN only when it was not already.
        let was = srv.oper();
        let transition = match transition {
            Transition::Down(_) if was == crate::runtime::Oper::Down => Transition::Quiet,
            Transition::Up(_) if was != crate::runtime::Oper::Down => Transition::Quiet,
            t => t,
        };
        self.publish(t, transition);
    }
}
