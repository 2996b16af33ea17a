//! The MySQL/MariaDB cluster monitor: one thread with its own `mio::Poll`
//! keeps one logged-in connection per server of each `mysql-cluster`
//! section, reads every server's role, GTID positions and replication lag
//! each round, and publishes which servers the `role writer` and `role
//! reader` backends may use through the runtime's atomics. Workers never
//! wait on it.

pub(crate) mod proto;
