//! What the runtime API asks of a worker: list its sessions (`show sess`),
//! close one (`shutdown session`) or a server's (`shutdown sessions
//! server`), pause or resume one frontend's listeners (`disable frontend` /
//! `enable frontend`).
//!
//! A request is one `Control::Admin` message; the answer goes back on
//! the reply channel it carries. The admin thread waits for the answers (a
//! bounded time); a worker never waits: the reply channels are unbounded,
//! so a send cannot block, and an answer nobody waits for any more is
//! dropped.

use super::Worker;
use crate::base::ids::FrontendId;
use crate::base::log::Cause;
use crate::control::{AdminOp, SessionView};
use crate::session::Close;

/// Process-unique session ids: the worker's number (plus one, so that no
/// id is 0, HAProxy's "no session") above a per-worker sequence.
const SEQ_BITS: u32 = 40;

impl Worker {
    /// The id of the next session this worker accepts.
    pub(super) fn next_session_id(&mut self) -> u64 {
        self.session_seq = (self.session_seq + 1) & ((1 << SEQ_BITS) - 1);
        ((self.id as u64 + 1) << SEQ_BITS) | self.session_seq
    }

    pub(super) fn on_admin(&mut self, op: AdminOp) {
        // Answers are sent without waiting: the channels are unbounded, and
        // an error only means the admin thread stopped waiting.
        match op {
            AdminOp::ShowSessions { id, detail, reply } => {
                let _ = reply.send(self.show_sessions(id, detail));
            }
            AdminOp::ShutdownSession { id, reply } => {
                let _ = reply.send(self.shutdown_session(id));
            }
            AdminOp::ShutdownServer {
                backend,
                server,
                reply,
            } => {
                let rt = &self.gens[self.current].rt;
                let name = rt.backend(backend).server(server).name.clone();
                let n = self.sessions_on(backend, |s| s.name == name).len();
                self.shutdown_sessions(backend, Cause::Killed, |s| s.name == name);
                let _ = reply.send(n);
            }
            AdminOp::PauseFrontend {
                frontend,
                pause,
                reply,
            } => {
                let _ = reply.send(self.pause_frontend(frontend, pause));
            }
        }
    }

    fn show_sessions(&self, id: Option<u64>, detail: bool) -> Vec<SessionView> {
        self.sessions
            .iter()
            .filter(|(k, s)| id.is_none_or(|id| s.id == id) && !self.is_closed(*k))
            .map(|(_, s)| s.view(&self.gens[s.generation].rt, detail))
            .collect()
    }

    /// Closes the session `id` if this worker has it, with HAProxy's
    /// termination cause `K` (killed by the administrator). The client and
    /// the server get a reset, as for every session splicer cuts: a
    /// transfer cut in the middle must not look complete.
    fn shutdown_session(&mut self, id: u64) -> bool {
        let key = self
            .sessions
            .iter()
            .find(|(k, s)| s.id == id && !self.is_closed(*k))
            .map(|(k, _)| k);
        let Some(key) = key else {
            return false;
        };
        log::debug!("worker {}: session {id:#x} killed (runtime API)", self.id);
        self.sessions[key].kill(Cause::Killed);
        self.close(key, Close::Abort);
        true
    }

    /// Pauses or resumes the listeners of `frontend`, as SIGTTOU/SIGTTIN
    /// do for all of them. Returns false when one of them failed (logged).
    fn pause_frontend(&mut self, frontend: FrontendId, pause: bool) -> bool {
        let current = self.current;
        self.pause_where(pause, |ls| {
            ls.generation == current && ls.l.frontend == frontend
        })
    }
}
