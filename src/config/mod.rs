//! Configuration: HAProxy's file format (TCP mode) read into the typed model.
//!
//! Text enters through [`load`] (files; [`load_with`] adds what the command
//! line says, `-L`) or [`parse_with_env`] (tests); the lexer
//! splits lines into words (quotes, escapes, `${ENV}`), conditional blocks
//! (`.if`) choose the lines, the parser applies sections and keywords,
//! validation resolves names. Every error carries its
//! `FILE:LINE`; all of them are collected before giving up.

mod acl;
pub(crate) mod announce;
mod bind;
mod checks;
mod cond_expr;
mod conditions;
pub(crate) mod cpumap;
mod environment;
mod global;
mod keywords;
mod lexer;
pub(crate) mod logformat;
mod logs;
mod model;
pub(crate) mod mysql;
mod options;
mod parser;
pub mod pattern;
mod peers;
mod proxy;
mod proxy_servers;
pub(crate) mod resolvers;
mod rules;
mod runtime_servers;
mod sample;
mod server;
mod server_dns;
mod stats;
mod stats_page;
mod stick_rules;
mod stick_samples;
mod table_actions;
mod table_store;
mod tcp;
mod tcp_rules;
mod tls;
mod tls_bind;
mod tls_global;
mod tls_names;
mod tls_server;
mod validate;
mod validate_rules;
mod values;
pub(crate) mod vrrp;

pub use logformat::LogFormat;
pub use model::*;
pub use mysql::{ClusterServer, MysqlCluster, MysqlRole, Role, Secret};
pub use resolvers::{Hold, Nameserver, RESOLV_CONF, Resolvers};
pub use runtime_servers::{AddedServer, Change as ServerChange, Overlay, Setting, api_location};
pub use stats_page::{
    DEFAULT_STATS_REALM, DEFAULT_STATS_TIMEOUT, DEFAULT_STATS_URI, PathMatch, PathRule, SrcRule,
    StatsPage, StatsUi,
};
pub use values::parse_time;

/// The value of `name` after `setenv`-family lines `ops`, over `base`: what
/// the parser saw, for the process to apply to its own environment.
pub(crate) fn env_after(
    ops: &[EnvOp],
    base: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Option<String> {
    environment::lookup(ops, base, name)
}
pub use announce::Announce;
pub use vrrp::{InitialState, Preempt, Vip, VrrpInstance};

use std::path::PathBuf;

/// Why a config was refused: every error, plus the warnings seen so far.
#[derive(Debug)]
pub struct LoadError {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// What the command line tells the parser, beside the files (HAProxy's
/// flag in brackets).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The local peer name (`-L`): which `peer` line of a `peers` section
    /// is this process. Over global `localpeer`; `None`: `localpeer`, else
    /// the host name.
    pub localpeer: Option<String>,
    /// What the runtime API changed in the servers, applied over the files.
    pub overlay: Overlay,
}

/// The text of each config file as read (or why it could not be), kept so
/// that a runtime API change parses the same files again, not what they
/// became since.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<(PathBuf, Result<String, String>)>,
}

impl Sources {
    /// Reads `paths` in order.
    pub fn read(paths: &[PathBuf]) -> Sources {
        Sources {
            files: paths
                .iter()
                .map(|p| {
                    let text = crate::host::read_file(p).map_err(|e| e.to_string());
                    (p.clone(), text)
                })
                .collect(),
        }
    }

    /// Parses the files as [`load_with`] does.
    pub fn parse(&self, options: &LoadOptions) -> Result<Loaded, LoadError> {
        let env = |name: &str| std::env::var(name).ok();
        let mut parser = parser::Parser::new(&env, options);
        for (path, text) in &self.files {
            match text {
                Ok(text) => parser.feed(path, text),
                Err(e) => parser.diags.error(
                    &Location {
                        file: path.clone(),
                        line: 0,
                    },
                    format!("cannot read configuration file: {e}"),
                ),
            }
        }
        let paths: Vec<PathBuf> = self.files.iter().map(|(p, _)| p.clone()).collect();
        finish(parser, &paths)
    }
}

/// Reads and parses `paths` in order, as `haproxy -f a -f b` does: sections
/// end with their file, the last `defaults` carries over. An unreadable file
/// is an error naming it; the other files are still checked.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    load_with(paths, &LoadOptions::default())
}

/// [`load`], with what the command line adds (`-L`).
pub fn load_with(paths: &[PathBuf], options: &LoadOptions) -> Result<Loaded, LoadError> {
    Sources::read(paths).parse(options)
}

/// Parses `text` as if read from a file named `file` (unit tests).
#[cfg(test)]
pub(crate) fn parse_str(file: &str, text: &str) -> Result<Loaded, LoadError> {
    let env = |name: &str| std::env::var(name).ok();
    parse_with_env(file, text, &env)
}

/// Parses `text` as if read from a file named `file`, with a chosen
/// environment for `${VAR}` (unit tests, the config corpus test).
pub fn parse_with_env(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadError> {
    parse_with(file, text, env, &LoadOptions::default())
}

/// [`parse_with_env`], with what the command line adds (`-L`).
pub fn parse_with(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    options: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let mut parser = parser::Parser::new(env, options);
    parser.feed(std::path::Path::new(file), text);
    finish(parser, &[PathBuf::from(file)])
}

fn finish(mut parser: parser::Parser<'_>, files: &[PathBuf]) -> Result<Loaded, LoadError> {
    // As HAProxy, nothing is checked after an error that stops the load.
    if parser.aborted {
        return Err(LoadError {
            errors: parser.diags.errors,
            warnings: parser.diags.warnings,
        });
    }
    let overlay = std::mem::take(&mut parser.overlay);
    parser.apply_overlay(&overlay);
    let (mut config, diags) = validate::finish(parser, files);
    runtime_servers::apply_settings(&mut config, &overlay);
    if diags.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: diags.warnings,
        })
    } else {
        Err(LoadError {
            errors: diags.errors,
            warnings: diags.warnings,
        })
    }
}

#[cfg(test)]
mod tests;
