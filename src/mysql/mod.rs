//! The MySQL/MariaDB cluster monitor: one thread with its own `mio::Poll`
//! keeps one logged-in connection per server of each `mysql-cluster`
//! section, reads every server's role, GTID positions and replication lag
//! each round, and publishes which servers the `role writer` and `role
//! reader` backends may use through the runtime's atomics. Workers never
//! wait on it.
//!
//! `proto` is the client protocol (sans-IO), over `packet` (framing and
//! field encodings), `auth` (password scrambles) and `answer` (OK, ERR and
//! result sets).

#![cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the monitor thread (issue 14) is the codec's first user"
    )
)]

mod answer;
mod auth;
mod packet;
pub(crate) mod proto;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod proto_tests;
#[cfg(test)]
mod session_tests;
