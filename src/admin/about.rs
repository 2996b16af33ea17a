//! `show version`, `show env [NAME]` and `show errors`: what the process
//! is and runs with, in HAProxy 2.6's words. TCP mode captures no
//! malformed request or response, so `show errors` has no event to show;
//! its header says so as HAProxy's does.

use crate::base::clock;
use crate::config::Level;

use super::cli::{Command, Ctx, cmd};
use super::commands::find_backend;

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "env"],
        Level::Operator,
        "show env [var]",
        "dump environment variables known to the process",
        show_env,
    ),
    cmd(
        &["show", "version"],
        Level::User,
        "show version",
        "show version of the current process",
        |_, _, out| {
            out.push_str(env!("CARGO_PKG_VERSION"));
            out.push('\n');
        },
    ),
    cmd(
        &["show", "errors"],
        Level::Operator,
        "show errors [<px>] [request|response]",
        "report last request and/or response errors for each proxy",
        show_errors,
    ),
];

/// Every `NAME=value` of the environment, in its order; with a name, that
/// variable alone (HAProxy compares the name as a prefix up to `=`).
fn show_env(_: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let vars = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
    match args.get(2).filter(|n| !n.is_empty()) {
        Some(name) => match vars.into_iter().find(|l| {
            l.strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with('='))
        }) {
            Some(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            None => out.push_str("Variable not found\n"),
        },
        None => {
            for line in vars {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
}

/// `show errors [PROXY|ID] [request|response]`: the header and no event.
fn show_errors(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    if let Some(px) = args.get(2).filter(|p| !p.is_empty()) {
        let known = ctx.rt.frontends.iter().any(|f| f.config.name == *px)
            || find_backend(ctx.rt, px).is_some()
            || px.parse::<u32>().is_ok_and(|id| {
                id != 0
                    && (ctx.rt.frontends.iter().any(|f| f.config.uid == id)
                        || ctx.rt.backends.iter().any(|b| b.config.uid == id))
            });
        // HAProxy takes any number other than 0 as an id.
        if !known && px.parse::<i64>().map_or(true, |n| n == 0) {
            return out.push_str("No such proxy.\n");
        }
    }
    out.push_str("Total events captured on [");
    clock::accept_date(std::time::SystemTime::now(), out);
    out.push_str("] : 0\n");
}
