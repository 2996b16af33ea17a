//! The messages between threads: what the main thread, the health checker
//! and the runtime API ask of a worker ([`Control`], [`AdminOp`]), the way
//! to reach a worker ([`ControlLink`]: a channel plus a wake-up), and what
//! comes back ([`SessionView`]). Every thread uses these types; none of
//! them imports the worker to talk to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use mio::Waker;
use parking_lot::Mutex;

use crate::base::ids::{BackendId, FrontendId, ServerId};
use crate::base::log::LogSender;
use crate::net::Listener;
use crate::runtime::Runtime;

/// A message from the main thread or the health checker.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// Close listeners, let sessions finish, then exit.
    SoftStop,
    /// Exit now, closing every session.
    Stop,
    /// `on-marked-down shutdown-sessions`: close this server's sessions.
    ShutdownServer {
        backend: BackendId,
        server: ServerId,
    },
    /// `on-marked-up shutdown-backup-sessions`: close the sessions on this
    /// backend's backup servers.
    ShutdownBackups { backend: BackendId },
    /// Look at the backend queues again: a `mysql-role writer` backend
    /// stopped holding its sessions (the loop serves queues every turn).
    Wake,
    /// SIGTTOU: stop listening, keep the sockets and the sessions.
    PauseListeners,
    /// SIGTTIN: listen again.
    ResumeListeners,
    /// SIGHUP/SIGUSR2: switch to a new config.
    Reload(Arc<Reload>),
    /// A runtime API request.
    Admin(AdminOp),
}

/// The name of worker `id`'s thread, which the kernel shows as its `comm`
/// (`show threads` finds the workers by it).
pub(crate) fn worker_thread_name(id: usize) -> String {
    format!("worker-{id}")
}

/// The way to reach one worker: a channel plus a wake-up.
#[derive(Clone)]
pub(crate) struct ControlLink {
    tx: Sender<Control>,
    waker: Arc<Waker>,
}

impl ControlLink {
    pub(crate) fn new(tx: Sender<Control>, waker: Arc<Waker>) -> Self {
        ControlLink { tx, waker }
    }

    /// Sends `msg` and wakes the worker; a worker already gone drops it.
    pub(crate) fn send(&self, msg: Control) {
        self.deliver(msg);
    }

    /// Sends `msg` and wakes the worker; false when the worker is gone (it
    /// will never answer).
    pub(crate) fn deliver(&self, msg: Control) -> bool {
        if self.tx.send(msg).is_err() {
            return false;
        }
        let _ = self.waker.wake();
        true
    }
}

/// A runtime API request to one worker.
#[derive(Debug, Clone)]
pub(crate) enum AdminOp {
    /// `show sess [ID|all]`: this worker's sessions, or only the one with
    /// `id`; `detail` for the views that cost a system call each.
    ShowSessions {
        id: Option<u64>,
        detail: bool,
        reply: Sender<Vec<SessionView>>,
    },
    /// `shutdown session ID`: answers whether this worker had it.
    ShutdownSession { id: u64, reply: Sender<bool> },
    /// `shutdown sessions server B/S`: answers how many it closed.
    ShutdownServer {
        backend: BackendId,
        server: ServerId,
        reply: Sender<usize>,
    },
    /// `disable frontend` (pause) / `enable frontend`: answers whether
    /// every listener of the frontend in this worker did it.
    PauseFrontend {
        frontend: FrontendId,
        pause: bool,
        reply: Sender<bool>,
    },
}

/// A listener that stays open across a reload, found by the address it is
/// bound to, and what it feeds under the new config.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub addr: crate::config::BindAddr,
    /// The bind's number in its (new) frontend.
    pub luid: u32,
    pub frontend: FrontendId,
    pub accept_proxy: bool,
    pub backlog: i32,
}

/// What the main thread sends every worker on reload.
#[derive(Debug)]
pub(crate) struct Reload {
    pub rt: Arc<Runtime>,
    pub logs: LogSender,
    pub keep: Vec<Kept>,
    /// Per worker: its sockets for the binds that are new (taken once).
    pub opened: Vec<Mutex<Vec<Listener>>>,
}

/// A proxy or server by name and number (`id` in the config or its rank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub name: String,
    pub id: u64,
}

/// One direction of a session (HAProxy's `req`: client to server, `res`:
/// server to client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirectionView {
    /// Bytes written to the destination so far.
    pub total: u64,
    /// Bytes read and not yet written (in a pipe or a buffer).
    pub pending: usize,
    pub splicing: bool,
    /// `open`, `draining` (FIN received, data still to write) or `shut`.
    pub half: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct SessionView {
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
