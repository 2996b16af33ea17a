//! The `-S` socket: HAProxy's master CLI, as far as splicer has a use for
//! it. HAProxy's master process routes `@N CMD` / `@!PID CMD` to a worker
//! and answers `show proc` and `reload` itself; splicer is one process that
//! reloads in place, so every route leads to it, `show proc` lists it (and
//! the privileged parent as the master, when there is one) and `reload`
//! reloads it. Plain runtime API commands work without a route as well
//! (HAProxy's master would refuse them: a deliberate superset).

use std::sync::atomic::Ordering;

use crate::runtime::Runtime;

/// What the master CLI made of a command.
pub(super) enum Routed<'w> {
    /// Answered here.
    Done,
    /// A runtime API command, its route (if any) taken off.
    Worker(&'w [String]),
}

/// Takes a route off, or answers a master command.
pub(super) fn run<'w>(words: &'w [String], rt: &Runtime, out: &mut String) -> Routed<'w> {
    let first = words.first().map(String::as_str).unwrap_or("");
    if first.starts_with('@') {
        return Routed::Worker(&words[1..]);
    }
    match words {
        [a, b] if a == "show" && b == "proc" => show_proc(rt, out),
        [a] if a == "reload" => reload(out),
        _ => return Routed::Worker(words),
    }
    Routed::Done
}

/// `show proc`: HAProxy's table of the master and its workers.
fn show_proc(rt: &Runtime, out: &mut String) {
    let p = &rt.process;
    let uptime = compact_uptime(p.started.elapsed().as_secs());
    let version = env!("CARGO_PKG_VERSION");
    let reloads = p.reloads.load(Ordering::Relaxed);
    let failed = p.failed_reloads.load(Ordering::Relaxed);
    let me = std::process::id();
    let master = crate::host::main_pid();
    out.push_str("#<PID>          <type>          <reloads>       <uptime>        <version>\n");
    let reload_col = format!("{reloads} [failed: {failed}]");
    out.push_str(&format!(
        "{master:<16}master          {reload_col:<16}{uptime:<16}{version}\n"
    ));
    out.push_str("# workers\n");
    if master != me {
        out.push_str(&format!(
            "{me:<16}worker          {reloads:<16}{uptime:<16}{version}\n"
        ));
    }
    out.push_str("# old workers\n# programs\n");
}

/// `reload`: the same as SIGUSR2 to the process.
fn reload(out: &mut String) {
    if let Err(e) = crate::sys::process::kill(std::process::id() as libc::pid_t, libc::SIGUSR2) {
        out.push_str(&format!("cannot reload: {e}\n"));
    }
}

/// `0d00h02m07s`, as `show proc` writes uptimes.
fn compact_uptime(secs: u64) -> String {
    format!(
        "{}d{:02}h{:02}m{:02}s",
        secs / 86400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_as_show_procs() {
        assert_eq!(compact_uptime(127), "0d00h02m07s");
        assert_eq!(compact_uptime(90_061), "1d01h01m01s");
    }
}
