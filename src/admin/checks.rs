//! `disable health` and `enable health`: pausing a server's health checks
//! (its state stays as it was until they run again).

use std::sync::atomic::Ordering;

use crate::config::Level;

use super::cli::{Command, Ctx, cmd};
use super::commands::{find_server, with_server};

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["disable", "health"],
        Level::Admin,
        "disable health",
        "disable health checks",
        |ctx, args, out| {
            with_server(ctx.rt, args.get(2), out, |b, s| {
                b.servers[s].check_disabled.store(true, Ordering::Relaxed)
            })
        },
    ),
    cmd(
        &["enable", "health"],
        Level::Admin,
        "enable health",
        "enable health checks",
        enable_health,
    ),
];

fn enable_health(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    match find_server(ctx.rt, args.get(2)) {
        Ok((b, s)) if b.config.servers[s].check.enabled => {
            b.servers[s].check_disabled.store(false, Ordering::Relaxed);
        }
        Ok(_) => out.push_str("Health check was not configured on this server, cannot enable.\n"),
        Err(e) => out.push_str(e),
    }
}
