//! Plain types and messages that every thread uses, so that threads talk
//! without importing each other's modules: ids of proxies and servers
//! ([`ids`]), the clock, the timer heap, the token layout of the event
//! loops, counted places (`slot`), what goes to the logger (`log`), what
//! the VRRP speaker and the announce thread publish (`vrrp`, `announce`) and the handle of a background
//! thread (`service`). Nothing here imports another module of the crate
//! except `sys`.

pub(crate) mod announce;
pub(crate) mod clock;
pub mod ids;
pub(crate) mod log;
pub(crate) mod service;
pub(crate) mod slot;
pub(crate) mod timers;
pub(crate) mod token;
pub(crate) mod vrrp;
