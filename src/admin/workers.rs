//! Commands that the workers carry out: the admin thread sends each worker
//! a request with a reply channel and waits for the answers, at most
//! [`REPLY_WAIT`] in all. Only the admin thread waits; a worker answers
//! from its event loop without blocking (see `worker/ops.rs`).
//!
//! Here also `disable frontend` / `enable frontend`, which pause and
//! resume one frontend's listeners in every worker (what SIGTTOU and
//! SIGTTIN do for all of them).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::control::{AdminOp, Control, ControlLink};
use crate::runtime::FrontendState;

use super::cli::{Command, Ctx, cmd};
use crate::config::Level;

/// `disable frontend` and `enable frontend`.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["disable", "frontend"],
        Level::Admin,
        "disable frontend <frontend>",
        "temporarily disable specific frontend",
        |ctx, args, out| pause_frontend(ctx, args, out, true),
    ),
    cmd(
        &["enable", "frontend"],
        Level::Admin,
        "enable frontend <frontend>",
        "re-enable specific frontend",
        |ctx, args, out| pause_frontend(ctx, args, out, false),
    ),
];

/// The longest the admin thread waits for the workers to answer one
/// command (a worker answers on its next loop turn, well under this).
pub(super) const REPLY_WAIT: Duration = Duration::from_millis(500);

/// What the workers answered.
pub(super) struct Answers<T> {
    pub got: Vec<T>,
    /// Workers asked that did not answer in time (or are gone).
    pub missing: usize,
}

/// Sends every worker the request `make` builds around a reply channel,
/// then collects the answers until all came or [`REPLY_WAIT`] passed.
pub(super) fn ask_all<T>(
    workers: &[ControlLink],
    make: impl Fn(Sender<T>) -> AdminOp,
) -> Answers<T> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let asked = workers
        .iter()
        .filter(|w| w.deliver(Control::Admin(make(tx.clone()))))
        .count();
    // Only the requests hold senders now: a worker that drops its request
    // unanswered (it is exiting) ends the wait early.
    drop(tx);
    let deadline = Instant::now() + REPLY_WAIT;
    let mut got = Vec::with_capacity(asked);
    while got.len() < asked {
        match rx.recv_deadline(deadline) {
            Ok(answer) => got.push(answer),
            Err(_) => break,
        }
    }
    let missing = asked - got.len();
    if missing > 0 {
        log::warn!("runtime API: {missing} of {asked} workers did not answer in time");
    }
    Answers { got, missing }
}

/// A frontend by name or `#id`, or HAProxy's complaint.
pub(super) fn find_frontend<'a>(
    ctx: &Ctx<'a>,
    name: Option<&String>,
) -> Result<(usize, &'a FrontendState), &'static str> {
    let name = name.ok_or("A frontend name is expected.\n")?;
    let found = match name.strip_prefix('#') {
        Some(id) => ctx
            .rt
            .frontends
            .iter()
            .position(|f| id.parse() == Ok(f.config.uid)),
        None => ctx.rt.frontends.iter().position(|f| f.config.name == *name),
    };
    let i = found.ok_or("No such frontend.\n")?;
    Ok((i, &ctx.rt.frontends[i]))
}

/// `disable frontend F` (`pause`) and `enable frontend F`: HAProxy 2.6's
/// answers, including when nothing changes.
pub(super) fn pause_frontend(ctx: &mut Ctx<'_>, args: &[String], out: &mut String, pause: bool) {
    let (i, fe) = match find_frontend(ctx, args.get(2)) {
        Ok(found) => found,
        Err(e) => return out.push_str(e),
    };
    if fe.config.disabled {
        return out.push_str(if pause {
            "Frontend was previously shut down, cannot disable.\n"
        } else {
            "Frontend was previously shut down, cannot enable.\n"
        });
    }
    if fe.paused.load(Ordering::Acquire) == pause {
        return out.push_str(if pause {
            "All sockets are already disabled.\n"
        } else {
            "All sockets are already enabled.\n"
        });
    }
    let answers = ask_all(ctx.workers, |reply| AdminOp::PauseFrontend {
        frontend: crate::base::ids::FrontendId::new(i),
        pause,
        reply,
    });
    let ok = answers.missing == 0 && answers.got.iter().all(|done| *done);
    if ok {
        fe.paused.store(pause, Ordering::Release);
        log::info!(
            "frontend {} {} (runtime API)",
            fe.config.name,
            if pause { "paused" } else { "resumed" }
        );
    } else if pause {
        out.push_str("Failed to pause frontend, check logs for precise cause.\n");
    } else {
        out.push_str("Failed to resume frontend, check logs for precise cause (port conflict?).\n");
    }
}
