//! Sockets as splicer opens them: the listeners of the frontends (one
//! SO_REUSEPORT socket per worker) and of the runtime API, and the
//! non-blocking connections to servers and health-check targets.

pub(crate) mod connect;
pub(crate) mod listener;
pub(crate) mod sockopt;

pub(crate) use listener::{BindError, ListenSocket, Listener, open_bind};
pub(crate) use sockopt::Buffers;
