//! splicer's end-to-end tests, one test binary (`cargo test --test e2e`):
//! they run the real `splicer` binary (or HAProxy, with
//! `SPLICER_TEST_BIN=haproxy`) on configs with loopback binds, with real
//! sockets, real clients and servers (nginx, MariaDB, keepalived, Chromium
//! where a test needs them), and the project's own network namespaces for
//! the VRRP and lab tests.
//!
//! Layout: `common/` holds the shared harness (starting splicer and learning
//! its ports, fake and real backends, the runtime API, network namespaces);
//! every other module is one area of behaviour (`admin`, `balance`,
//! `health_http`, `vrrp`...), and its tests are named `MODULE::TEST`, so
//! `cargo test --release --test e2e -- vrrp::` runs one area. The config
//! corpus read by `config_corpus` stays in `tests/configs/`.
//!
//! The modules share one process and their tests run concurrently: a test
//! must not change process-wide state (environment variables, the current
//! directory, signal dispositions, lowered resource limits); what a child
//! process needs is set on its `Command` or in a wrapper shell (see
//! `fd_exhaustion`).

mod common;

mod admin;
mod admin_clients;
mod admin_sessions;
mod announce;
mod balance;
mod cli;
mod cli_about;
mod cli_servers;
mod config_corpus;
mod daemon;
mod dns;
mod fd_exhaustion;
mod halfclose;
mod health_agent;
mod health_failover;
mod health_http;
mod health_mysql;
mod health_tcpcheck;
mod health_timing;
mod lab;
mod lifecycle;
mod limits;
mod logging;
mod logging_events;
mod logging_options;
mod mysql_cluster;
mod mysql_failover;
mod mysql_failover_guards;
mod peers;
mod privileges;
mod proxy_protocol;
mod reload;
mod reset;
mod retries;
mod rules_acl;
mod rules_api;
mod rules_content;
mod service_unit;
mod signals;
mod sockopts;
mod source_addr;
mod stats_metrics;
mod stats_page;
mod stick_data;
mod stick_options;
mod stick_persist;
mod stick_tables;
mod timeouts;
mod tls_admin;
mod tls_config;
mod tls_rules;
mod tls_runtime;
mod tls_server;
mod tls_terminate;
mod transfer;
mod unix_bind;
mod vrrp;
mod vrrp_keepalived;
