//! The MySQL/MariaDB cluster monitor: one thread with its own `mio::Poll`
//! keeps one logged-in connection per server of each `mysql-cluster`
//! section, reads every server's role, GTID positions and replication lag
//! each round, and publishes which servers the `mysql-role writer` and
//! `mysql-role reader` backends may use through the runtime's atomics
//! (`runtime::mysql`). Workers never wait on it. With `failover auto` it
//! also promotes a replica when the primary dies, and the runtime API can
//! ask it for a planned switchover.
//!
//! `monitor` is the thread (sockets, rounds, publishing), `observe` the
//! round's questions and answers; `failover` decides when a run of
//! statements moves the primary role (failover, switchover, rejoin),
//! `plan` says what each run does, `run` drives it. `proto` is the client protocol (sans-IO), over
//! `packet` (framing and field encodings), `auth` (password scrambles)
//! and `answer` (OK, ERR and result sets).

mod answer;
mod auth;
mod failover;
mod monitor;
mod observe;
mod packet;
mod plan;
pub(crate) mod proto;
mod run;

pub(crate) use monitor::start;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod proto_tests;
#[cfg(test)]
mod session_tests;
