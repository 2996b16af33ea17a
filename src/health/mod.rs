//! Health checks: one thread with its own `mio::Poll` runs every server's
//! check (and agent check) as a non-blocking probe, keeps HAProxy's rise/fall
//! counters, and publishes each server's state through the runtime's atomics,
//! which every worker reads on its next pick.

pub mod agent;
pub mod script;
pub mod status;
