//! `show mysql [CLUSTER]` and `mysql switchover CLUSTER [SERVER]`
//! (splicer's own commands; HAProxy has no database roles).
//!
//! `show mysql` prints a header naming its columns, one line per member
//! (space-separated; the last column, the error, may hold spaces), then
//! `# ` lines per cluster: the primary, the failover setting and the last
//! failover with its steps.

use std::fmt::Write;
use std::time::Duration;

use super::cli::{Command, Ctx, cmd};
use crate::config::Level;
use crate::runtime::mysql::{ClusterState, MemberView, Request};

/// How long `mysql switchover` waits for the monitor's answer.
const SWITCHOVER_WAIT: Duration = Duration::from_secs(30);

pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "mysql"],
        Level::Operator,
        "show mysql [cluster]",
        "report roles, lag and GTID of mysql-cluster servers (splicer)",
        show_mysql,
    ),
    cmd(
        &["mysql", "switchover"],
        Level::Admin,
        "mysql switchover <cluster> [server]",
        "hand the primary role to a replica without losing a write (splicer)",
        switchover,
    ),
];

pub(super) const HEADER: &str =
    "# cluster server addr state role read_only lag gtid io sql semi_sync error\n";

fn show_mysql(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let clusters: Vec<&ClusterState> = match args.get(2) {
        Some(name) => match ctx.rt.mysql.iter().find(|c| c.config.name == *name) {
            Some(c) => vec![c],
            None => {
                let _ = writeln!(out, "No such mysql-cluster '{name}'.");
                return;
            }
        },
        None => ctx.rt.mysql.iter().map(|c| &**c).collect(),
    };
    if ctx.rt.mysql.is_empty() {
        out.push_str("No mysql-cluster section in the configuration.\n");
        return;
    }
    out.push_str(HEADER);
    let mut tails = String::new();
    for c in clusters {
        let view = c.view.lock();
        for (i, m) in view.members.iter().enumerate() {
            let addr = c.config.servers[i].addr;
            let replica = view.source_of(&c.config, i).is_some();
            let role = role_of(c, &view, i);
            let _ = writeln!(
                out,
                "{} {} {addr} {} {role} {} {} {} {} {} {} {}",
                c.config.name,
                m.name,
                if m.answered { "up" } else { "down" },
                opt(m.seen.read_only.map(u8::from)),
                lag(m),
                dash(&m.seen.gtid_current),
                dash(m.seen.channels.first().map_or("", |ch| ch.io.as_str())),
                dash(m.seen.channels.first().map_or("", |ch| ch.sql.as_str())),
                semi_sync(m, replica),
                error(m),
            );
        }
        let primary = view
            .writer
            .map_or("none".to_string(), |w| view.members[w].name.clone());
        let failover = match (&view.auto_off, c.config.failover, view.auto) {
            (Some(why), _, false) => format!("off ({why})"),
            (_, true, true) => "auto".to_string(),
            _ => "off".to_string(),
        };
        let _ = writeln!(
            tails,
            "# {}: primary {primary}; failover {failover}; {} failovers{}",
            c.config.name,
            view.failovers,
            if view.busy {
                "; a failover or switchover is running"
            } else {
                ""
            }
        );
        if let Some(last) = &view.last {
            let result = match &last.result {
                None => "running".to_string(),
                Some(Ok(())) => format!("ok in {} ms", last.duration_ms),
                Some(Err(e)) => format!("failed after {} ms: {e}", last.duration_ms),
            };
            let _ = writeln!(
                tails,
                "# {}: last {} {} -> {} at {}: {result}",
                c.config.name,
                if last.kind == "auto" {
                    "failover"
                } else {
                    last.kind
                },
                last.from,
                last.to,
                iso_utc(last.started_unix),
            );
            for (ms, step) in &last.steps {
                let _ = writeln!(tails, "# {}:   +{ms} ms {step}", c.config.name);
            }
        }
    }
    out.push_str(&tails);
}

/// `2026-12-04T22:10:11Z`.
fn iso_utc(secs: u64) -> String {
    let c = crate::base::clock::utc(secs as i64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

fn opt(v: Option<u8>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Seconds behind, `null` when the server says NULL, `-` when it
/// replicates from nobody.
fn lag(m: &MemberView) -> String {
    match m.seen.channels.first() {
        None => "-".to_string(),
        Some(c) => c.lag.map_or("null".to_string(), |l| l.to_string()),
    }
}

fn semi_sync(m: &MemberView, replica: bool) -> &'static str {
    let on = if replica {
        m.seen.semi_slave
    } else {
        m.seen.semi_master
    };
    match on {
        Some(true) => "on",
        Some(false) => "off",
        None => "-",
    }
}

fn error(m: &MemberView) -> String {
    let text = m
        .fenced
        .clone()
        .or_else(|| m.error.clone())
        .or_else(|| {
            let c = m.seen.channels.first()?;
            if c.last_io_errno != 0 {
                Some(format!(
                    "replication IO {}: {}",
                    c.last_io_errno, c.last_io_error
                ))
            } else if c.last_sql_errno != 0 {
                Some(format!(
                    "replication SQL {}: {}",
                    c.last_sql_errno, c.last_sql_error
                ))
            } else {
                None
            }
        })
        .unwrap_or_default();
    let one_line = text.replace(['\n', '\r'], " ");
    dash(&one_line).to_string()
}

fn switchover(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(2) else {
        out.push_str("Usage: mysql switchover <cluster> [server]\n");
        return;
    };
    let Some(c) = ctx.rt.mysql.iter().find(|c| c.config.name == *name) else {
        let _ = writeln!(out, "No such mysql-cluster '{name}'.");
        return;
    };
    let (tx, rx) = crossbeam_channel::bounded(1);
    let request = Request::Switchover {
        to: args.get(3).cloned(),
        reply: tx,
    };
    if !c.ask(request) {
        out.push_str("The mysql monitor is not running.\n");
        return;
    }
    match rx.recv_timeout(SWITCHOVER_WAIT) {
        Ok(answer) => out.push_str(&answer),
        Err(_) => out.push_str("No answer from the mysql monitor in time; see 'show mysql'.\n"),
    }
}

/// The roles `splicer_mysql_server_role` has a series for.
const ROLES: [&str; 4] = ["primary", "replica", "none", "fenced"];

fn role_of(c: &ClusterState, view: &crate::runtime::mysql::ClusterView, i: usize) -> &'static str {
    if view.members[i].fenced.is_some() {
        "fenced"
    } else if view.writer == Some(i) {
        "primary"
    } else if view.source_of(&c.config, i).is_some() {
        "replica"
    } else {
        "none"
    }
}

/// `splicer_mysql_*` on /metrics: per server whether the monitor hears
/// it, its role (a state set, as HAProxy's `status`), its lag (NaN when
/// the server says NULL), and per cluster the failovers so far and
/// whether automatic failover is on.
pub(super) fn metrics(rt: &crate::runtime::Runtime, out: &mut String) {
    if rt.mysql.is_empty() {
        return;
    }
    let views: Vec<_> = rt
        .mysql
        .iter()
        .map(|c| (c, c.view.lock().clone()))
        .collect();
    let families: [(&str, &str, &str); 3] = [
        (
            "server_up",
            "gauge",
            "Whether the last monitor round of the server got every answer.",
        ),
        (
            "server_role",
            "gauge",
            "The server's role as the monitor sees it (1 for the current one).",
        ),
        (
            "replication_lag_seconds",
            "gauge",
            "Seconds_Behind_Master of a replica; NaN when replication is not running.",
        ),
    ];
    for (name, ty, help) in families {
        let _ = writeln!(out, "# HELP splicer_mysql_{name} {help}");
        let _ = writeln!(out, "# TYPE splicer_mysql_{name} {ty}");
        for (c, view) in &views {
            for (i, m) in view.members.iter().enumerate() {
                let labels = format!("cluster=\"{}\",server=\"{}\"", c.config.name, m.name);
                match name {
                    "server_up" => {
                        let _ = writeln!(
                            out,
                            "splicer_mysql_{name}{{{labels}}} {}",
                            u8::from(m.answered)
                        );
                    }
                    "server_role" => {
                        let role = role_of(c, view, i);
                        for r in ROLES {
                            let _ = writeln!(
                                out,
                                "splicer_mysql_{name}{{{labels},role=\"{r}\"}} {}",
                                u8::from(r == role)
                            );
                        }
                    }
                    _ => {
                        if let Some(ch) = m.seen.channels.first() {
                            let v = ch.lag.map_or("NaN".to_string(), |l| l.to_string());
                            let _ = writeln!(out, "splicer_mysql_{name}{{{labels}}} {v}");
                        }
                    }
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP splicer_mysql_failovers_total Failovers and switchovers completed."
    );
    let _ = writeln!(out, "# TYPE splicer_mysql_failovers_total counter");
    for (c, view) in &views {
        let _ = writeln!(
            out,
            "splicer_mysql_failovers_total{{cluster=\"{}\"}} {}",
            c.config.name, view.failovers
        );
    }
    let _ = writeln!(
        out,
        "# HELP splicer_mysql_failover_auto Whether automatic failover is on."
    );
    let _ = writeln!(out, "# TYPE splicer_mysql_failover_auto gauge");
    for (c, view) in &views {
        let on = c.config.failover && view.auto;
        let _ = writeln!(
            out,
            "splicer_mysql_failover_auto{{cluster=\"{}\"}} {}",
            c.config.name,
            u8::from(on)
        );
    }
}
