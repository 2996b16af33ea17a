//! splicer: a Layer-4 TCP load balancer that reads HAProxy's TCP-mode config.

pub mod balance;
pub mod config;
