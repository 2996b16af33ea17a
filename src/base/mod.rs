//! Plain types and messages that every thread uses, so that threads talk
//! without importing each other's modules: the clock, the timer heap, ...
//! Nothing here imports another module of the crate except [`crate::sys`].

pub mod clock;
pub mod timers;
