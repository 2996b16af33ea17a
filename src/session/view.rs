//! A session as the runtime API shows it (`show sess`): a plain copy of
//! what an operator reads (who, where, how long, how many bytes; a
//! [`SessionView`]), made by the worker that owns the session and sent to
//! the admin thread, which formats it. Names are resolved here, against the runtime the session
//! runs with, so the view stays right whatever the admin thread's runtime.

use std::time::Instant;

use crate::control::{DirectionView, Named, SessionView};
use crate::forward::{Flow, Half};
use crate::runtime::Runtime;

use super::{Phase, Session};

impl Session {
    /// What `show sess` shows of this session; `detail` adds what costs a
    /// system call (the server connection's local address).
    pub(crate) fn view(&self, rt: &Runtime, detail: bool) -> SessionView {
        let now = Instant::now();
        let fe = &rt.frontend(self.frontend).config;
        let backend = self.backend.map(|b| rt.backend(b));
        let server = self.server().and_then(|s| {
            let b = backend?;
            let srv = b.servers.get(s.index())?;
            let named = Named {
                name: srv.name.clone(),
                id: s.index() as u64 + 1,
            };
            Some((named, srv.addr.get()))
        });
        let source = match &self.phase {
            Phase::Connecting { conn } | Phase::Forwarding { conn, .. } if detail => {
                conn.stream.local_addr().ok()
            }
            _ => None,
        };
        SessionView {
            id: self.id,
            accepted: self.trace.accepted,
            age: now.saturating_duration_since(self.started),
            client: self.client_addr,
            local: self.local_addr,
            frontend: Named {
                name: fe.name.clone(),
                id: fe.uid.into(),
            },
            backend: backend.map(|b| Named {
                name: b.config.name.clone(),
                id: b.config.uid.into(),
            }),
            server,
            source,
            phase: self.phase_name(),
            expires: self.deadline.at.map(|t| t.saturating_duration_since(now)),
            retries: self.trace.retries,
            redispatched: self.trace.redispatched,
            request: direction(&self.up),
            response: direction(&self.down),
        }
    }
}

fn direction(f: &Flow) -> DirectionView {
    DirectionView {
        total: f.bytes,
        pending: f.pending(),
        splicing: f.is_splicing(),
        half: match f.half {
            Half::Open => "open",
            Half::Draining => "draining",
            Half::Shut => "shut",
        },
    }
}
