//! A session as the runtime API shows it (`show sess`): a plain copy of
//! what an operator reads (who, where, how long, how many bytes), made by
//! the worker that owns the session and sent to the admin thread, which
//! formats it. Names are resolved here, against the runtime the session
//! runs with, so the view stays right whatever the admin thread's runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::forward::{Flow, Half};
use crate::runtime::Runtime;

use super::{Phase, Session};

/// A proxy or server by name and number (`id` in the config or its rank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub id: u64,
}

/// One direction of a session (HAProxy's `req`: client to server, `res`:
/// server to client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectionView {
    /// Bytes written to the destination so far.
    pub total: u64,
    /// Bytes read and not yet written (in a pipe or a buffer).
    pub pending: usize,
    pub splicing: bool,
    /// `open`, `draining` (FIN received, data still to write) or `shut`.
    pub half: &'static str,
}

#[derive(Debug, Clone)]
pub struct SessionView {
    pub id: u64,
    /// Wall-clock accept time.
    pub accepted: SystemTime,
    pub age: Duration,
    /// The client (from the PROXY header, if any) and the address it reached.
    pub client: SocketAddr,
    pub local: SocketAddr,
    pub frontend: Named,
    pub backend: Option<Named>,
    /// The server it is connected or connecting to, and its address.
    pub server: Option<(Named, SocketAddr)>,
    /// Our address on the server connection (detailed views only).
    pub source: Option<SocketAddr>,
    /// `proxy-header`, `queue`, `connect`, `forwarding` or `idle`.
    pub phase: &'static str,
    /// Time left before the current timeout fires; `None` = never.
    pub expires: Option<Duration>,
    pub retries: u32,
    pub redispatched: bool,
    pub request: DirectionView,
    pub response: DirectionView,
}

impl Session {
    /// What `show sess` shows of this session; `detail` adds what costs a
    /// system call (the server connection's local address).
    pub fn view(&self, rt: &Runtime, detail: bool) -> SessionView {
        let now = Instant::now();
        let fe = &rt.frontends[self.frontend].config;
        let backend = self.backend.map(|b| &rt.backends[b]);
        let server = self.server().and_then(|s| {
            let b = backend?;
            let srv = b.servers.get(s)?;
            let named = Named {
                name: srv.name.clone(),
                id: s as u64 + 1,
            };
            Some((named, srv.addr))
        });
        let source = match &self.phase {
            Phase::Connecting { conn } | Phase::Forwarding { conn } if detail => {
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
