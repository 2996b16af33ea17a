//! `load-server-state-from-file`: at start, the servers take the states an
//! operator saved with `show servers state > FILE` (HAProxy's version 1
//! format): maintenance and drain set on the runtime API, weights, the
//! health seen by the checks, checks disabled, and when the state last
//! changed. As in HAProxy, the config wins where it changed: a server
//! whose `disabled` or `weight` differs from the saved config keeps the new
//! config's.
//!
//! A reload carries every server's state over by name already, newer than
//! any file, so only a start reads the files.

use std::sync::atomic::Ordering;

use super::{BackendState, Oper, Runtime, ServerState, admin};
use crate::base::clock::now_ms;

/// HAProxy's `srv_admin_state` bits.
const FMAINT: u32 = 0x1;
const CMAINT: u32 = 0x4;
const FDRAIN: u32 = 0x8;
/// HAProxy's `srv_op_state` values.
const STOPPED: u32 = 0;
const STOPPING: u32 = 3;
/// Check state bits: configured, enabled.
const CHECK_CONFIGURED: u32 = 0x2;
const CHECK_ENABLED: u32 = 0x4;

/// The columns a line must have (up to `srv_agent_state`).
const MIN_FIELDS: usize = 15;

/// One server's line of a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved<'a> {
    backend: &'a str,
    server: &'a str,
    op: u32,
    admin: u32,
    uweight: u32,
    iweight: u32,
    since_secs: u64,
    check_state: u32,
}

/// The server lines of a state file; an unknown version, or a line that
/// does not read, is left out (HAProxy skips them too).
fn parse(text: &str) -> Result<Vec<Saved<'_>>, String> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("1") => {}
        Some(v) => return Err(format!("unknown state file version '{v}'")),
        None => return Err("empty state file".into()),
    }
    Ok(lines
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < MIN_FIELDS {
                return None;
            }
            let n = |i: usize| f[i].parse::<u32>().ok();
            Some(Saved {
                backend: f[1],
                server: f[3],
                op: n(5)?,
                admin: n(6)?,
                uweight: n(7)?,
                iweight: n(8)?,
                since_secs: f[9].parse().ok()?,
                check_state: n(13)?,
            })
        })
        .collect())
}

/// Applies the state files of `rt`'s backends; logs what it did and why
/// a file could not be read.
pub(crate) fn load(rt: &Runtime) {
    let mut paths: Vec<&std::path::Path> = Vec::new();
    for p in rt
        .backends
        .iter()
        .filter_map(|b| b.config.state_file.as_deref())
    {
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    for path in paths {
        let text = match crate::host::read_file(path) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("cannot open server state file '{}': {e}", path.display());
                continue;
            }
        };
        let saved = match parse(&text) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("server state file '{}': {e}", path.display());
                continue;
            }
        };
        let mut applied = 0;
        for b in rt
            .backends
            .iter()
            .filter(|b| b.config.state_file.as_deref() == Some(path))
        {
            for s in saved.iter().filter(|s| s.backend == b.config.name) {
                if let Some(i) = b.servers.iter().position(|v| v.name == s.server) {
                    apply(b, i, s);
                    applied += 1;
                }
            }
            b.up.store(b.servers.iter().any(ServerState::usable), Ordering::Relaxed);
        }
        log::info!(
            "server state file '{}': {applied} server state(s) applied",
            path.display()
        );
    }
}

/// HAProxy's rules for one server (`srv_state_srv_update`).
fn apply(b: &BackendState, i: usize, s: &Saved<'_>) {
    let srv = &b.servers[i];
    let cfg = &b.config.servers[i];
    if let Some(check) = &srv.check {
        let mut c = check.lock();
        let (health, oper) = match s.op {
            STOPPED => (0, Oper::Down),
            STOPPING => (c.rise + c.fall - 1, Oper::NoLb),
            _ => (c.rise + c.fall - 1, Oper::Up),
        };
        c.health = health;
        drop(c);
        srv.set_oper(oper);
        if s.check_state & CHECK_CONFIGURED != 0 && s.check_state & CHECK_ENABLED == 0 {
            srv.check_disabled.store(true, Ordering::Relaxed);
        }
    }
    // Maintenance: a changed `disabled` in the config wins; else the
    // saved forced maintenance comes back.
    let was_config_maint = s.admin & CMAINT != 0;
    if was_config_maint == cfg.disabled && s.admin & FMAINT != 0 && !cfg.disabled {
        srv.set_admin(admin::FORCED_MAINT, true);
    }
    // Drain: kept unless it only came from a zero weight the config no
    // longer has.
    if srv.admin_flags() & admin::MAINT == 0
        && s.admin & FDRAIN != 0
        && (s.iweight > 0 || cfg.weight == 0)
    {
        srv.set_admin(admin::FORCED_DRAIN, true);
    }
    // The runtime weight, unless the config's weight changed.
    if s.iweight == cfg.weight {
        srv.weight.store(s.uweight, Ordering::Relaxed);
    }
    let since = now_ms().saturating_sub(s.since_secs.saturating_mul(1000));
    srv.last_change_ms.store(since, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
        2 web 1 w1 127.0.0.1 0 1 1 1 30 1 0 0 6 0 0 0 - 8001 - 0 0 - - 0\n\
        2 web 2 w2 127.0.0.1 2 8 5 1 12 6 3 4 2 0 0 0 - 8002 - 0 0 - - 0\n\
        2 web 3 short line\n";

    fn runtime(servers: &str) -> Runtime {
        let text = format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             listen web\n bind 127.0.0.1:8000\n{servers}"
        );
        Runtime::first(crate::config::parse_str("t.cfg", &text).unwrap().config)
    }

    fn saved(op: u32, admin: u32, uweight: u32, iweight: u32) -> Saved<'static> {
        Saved {
            backend: "web",
            server: "w1",
            op,
            admin,
            uweight,
            iweight,
            since_secs: 0,
            check_state: 6,
        }
    }

    #[test]
    fn the_config_wins_where_it_changed() {
        use crate::runtime::ServerStatus;
        // (description, server line, saved state, status, weight)
        let cases = [
            (
                "a checked server saved DOWN",
                " server w1 127.0.0.1:1 check\n",
                saved(0, 0, 1, 1),
                ServerStatus::Down,
                1,
            ),
            (
                "saved UP",
                " server w1 127.0.0.1:1 check\n",
                saved(2, 0, 1, 1),
                ServerStatus::Up,
                1,
            ),
            (
                "forced maintenance",
                " server w1 127.0.0.1:1\n",
                saved(0, FMAINT, 1, 1),
                ServerStatus::Maint,
                1,
            ),
            (
                "maintenance of a config since enabled",
                " server w1 127.0.0.1:1\n",
                saved(0, FMAINT | CMAINT, 1, 1),
                ServerStatus::Up,
                1,
            ),
            (
                "drain",
                " server w1 127.0.0.1:1\n",
                saved(2, FDRAIN, 1, 1),
                ServerStatus::Drain,
                1,
            ),
            (
                "runtime weight",
                " server w1 127.0.0.1:1 weight 3\n",
                saved(2, 0, 9, 3),
                ServerStatus::Up,
                9,
            ),
            (
                "config weight changed",
                " server w1 127.0.0.1:1 weight 4\n",
                saved(2, 0, 9, 3),
                ServerStatus::Up,
                4,
            ),
        ];
        for (what, line, s, status, weight) in cases {
            let rt = runtime(line);
            apply(&rt.backends[0], 0, &s);
            let srv = &rt.backends[0].servers[0];
            assert_eq!(srv.status(), status, "{what}");
            assert_eq!(srv.weight.load(Ordering::Relaxed), weight, "{what}");
        }
    }

    #[test]
    fn lines_read_as_show_servers_state_writes_them() {
        let saved = parse(FILE).unwrap();
        assert_eq!(saved.len(), 2, "the short line is left out");
        assert_eq!(
            saved[1],
            Saved {
                backend: "web",
                server: "w2",
                op: 2,
                admin: 8,
                uweight: 5,
                iweight: 1,
                since_secs: 12,
                check_state: 2,
            }
        );
        assert!(parse("2\n").is_err());
        assert!(parse("").is_err());
    }
}
