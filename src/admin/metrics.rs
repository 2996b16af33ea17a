//! Prometheus metrics (text exposition format 0.0.4) under the names of
//! HAProxy 2.6's built-in exporter, so that dashboards made for it work
//! unchanged: `haproxy_process_*` from `show info`'s fields,
//! `haproxy_frontend_*`, `haproxy_backend_*` and `haproxy_server_*` from
//! `show stat`'s rows, labelled `proxy` and `server`, states as one series
//! per `state` label. Each metric is one field of those rows; fields
//! splicer does not measure (queue, connect and response times, aborts)
//! have no metric rather than a made-up zero. An empty field is `NaN`, as
//! in HAProxy.
//!
//! `haproxy_sticktable_size` and `haproxy_sticktable_used` give each stick
//! table's size and entries in use, labelled `name` and `type` (HAProxy
//! 2.6's exporter has these two only; `show stat` has no table rows).
//!
//! The query string takes HAProxy's
//! `scope=global|frontend|backend|server|sticktable` (repeatable) and
//! `no-maint` (servers in maintenance left out).

use std::fmt::Write;

use super::field::Field;
use super::info;
use super::stat::{self, Filter, Kind, Row};
use crate::runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
}

use Type::{Counter, Gauge};

impl Type {
    fn word(self) -> &'static str {
        match self {
            Gauge => "gauge",
            Counter => "counter",
        }
    }
}

/// Row kinds a metric exists for.
const F: u8 = 1;
const B: u8 = 2;
const S: u8 = 4;

/// How a field becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// The field as it is.
    Plain,
    /// Milliseconds, exported in seconds.
    Millis,
    /// One series per state: 1 for the row's state, 0 for the others.
    States(&'static [&'static str]),
    /// Per state, the number of the backend's servers in it.
    ServerCount(Field, &'static [&'static str]),
}

use Value::{Millis, Plain, ServerCount, States};

/// A metric: its name after `haproxy_<kind>_`, the `show stat` field it
/// reads, its type, help, and the row kinds it exists for.
struct Metric {
    name: &'static str,
    field: Field,
    ty: Type,
    value: Value,
    kinds: u8,
    help: &'static str,
}

const fn m(name: &'static str, field: Field, ty: Type, kinds: u8, help: &'static str) -> Metric {
    Metric {
        name,
        field,
        ty,
        value: Plain,
        kinds,
        help,
    }
}

const fn special(
    name: &'static str,
    field: Field,
    value: Value,
    kinds: u8,
    help: &'static str,
) -> Metric {
    Metric {
        name,
        field,
        ty: Gauge,
        value,
        kinds,
        help,
    }
}

/// HAProxy 2.6's states of `haproxy_frontend_status` and `haproxy_backend_status`.
const PROXY_STATES: &[&str] = &["DOWN", "UP"];
/// ... of `haproxy_server_status`.
const SERVER_STATES: &[&str] = &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
/// ... of `haproxy_server_check_status` (HAProxy's check result codes).
const CHECK_STATES: &[&str] = &[
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// In HAProxy's order.
#[rustfmt::skip]
const METRICS: &[Metric] = &[
    m("current_queue", Field::Qcur, Gauge, B | S, "Requests waiting in the queue now"),
    m("max_queue", Field::Qmax, Gauge, B | S, "Most requests ever waiting in the queue"),
    m("current_sessions", Field::Scur, Gauge, F | B | S, "Sessions open now"),
    m("max_sessions", Field::Smax, Gauge, F | B | S, "Most sessions ever open at once"),
    m("limit_sessions", Field::Slim, Gauge, F | B | S, "Session limit (maxconn)"),
    m("sessions_total", Field::Stot, Counter, F | B | S, "Sessions since start"),
    m("bytes_in_total", Field::Bin, Counter, F | B | S, "Bytes received from clients"),
    m("bytes_out_total", Field::Bout, Counter, F | B | S, "Bytes sent to clients"),
    m("requests_denied_total", Field::Dreq, Counter, F | B, "Requests denied by rules"),
    m("responses_denied_total", Field::Dresp, Counter, F | B | S, "Responses denied by rules"),
    m("request_errors_total", Field::Ereq, Counter, F, "Request errors"),
    m("connection_errors_total", Field::Econ, Counter, B | S, "Failed connections to servers"),
    m("retry_warnings_total", Field::Wretr, Counter, B | S, "Connection attempts retried"),
    m("redispatch_warnings_total", Field::Wredis, Counter, B | S, "Retries sent to another server"),
    special("status", Field::Status, States(PROXY_STATES), F | B, "Current status, one series per state"),
    special("status", Field::Status, States(SERVER_STATES), S, "Current status, one series per state"),
    m("weight", Field::Weight, Gauge, B | S, "Effective weight (sum over the servers taking sessions for a backend)"),
    m("active_servers", Field::Act, Gauge, B, "Active servers taking sessions"),
    m("backup_servers", Field::Bck, Gauge, B, "Backup servers taking sessions"),
    m("check_failures_total", Field::Chkfail, Counter, S, "Failed health checks"),
    m("check_up_down_total", Field::Chkdown, Counter, B | S, "UP to DOWN transitions"),
    m("check_last_change_seconds", Field::Lastchg, Gauge, B | S, "Seconds since the last status change"),
    m("downtime_seconds_total", Field::Downtime, Counter, B | S, "Seconds spent DOWN"),
    m("queue_limit", Field::Qlimit, Gauge, S, "Queue limit"),
    m("current_throttle", Field::Throttle, Gauge, S, "Throttle percentage during slowstart"),
    m("loadbalanced_total", Field::Lbtot, Counter, B | S, "Times a server was picked"),
    m("limit_session_rate", Field::RateLim, Gauge, F, "Session rate limit"),
    m("max_session_rate", Field::RateMax, Gauge, F | B | S, "Most new sessions in one second"),
    special("check_status", Field::CheckStatus, States(CHECK_STATES), S, "Result of the last health check, one series per code"),
    m("check_code", Field::CheckCode, Gauge, S, "Layer-5/6/7 code of the last health check"),
    special("check_duration_seconds", Field::CheckDuration, Millis, S, "Duration of the last health check"),
    m("connections_rate_max", Field::ConnRateMax, Gauge, F, "Most new connections in one second"),
    m("connections_total", Field::ConnTot, Counter, F, "Connections since start"),
    m("denied_connections_total", Field::Dcon, Counter, F, "Connections denied by rules"),
    m("denied_sessions_total", Field::Dses, Counter, F, "Sessions denied by rules"),
    m("last_session_seconds", Field::Lastsess, Gauge, B | S, "Seconds since the last session (-1: none yet)"),
    m("connection_attempts_total", Field::Connect, Counter, B | S, "Connection attempts to servers"),
    m("connection_reuses_total", Field::Reuse, Counter, B | S, "Server connections reused"),
    m("used_connections_current", Field::UsedConnCur, Gauge, S, "Server connections in use now"),
    m("uweight", Field::Uweight, Gauge, B | S, "Weight set by the configuration or the runtime API"),
    special("agg_server_status", Field::Status, ServerCount(Field::Status, SERVER_STATES), B, "Servers of the backend in each state"),
    special("agg_check_status", Field::CheckStatus, ServerCount(Field::CheckStatus, CHECK_STATES), B, "Servers of the backend per last health check code"),
];

/// Process metrics: name after `haproxy_process_`, `show info` field, type, help.
#[rustfmt::skip]
const PROCESS: &[(&str, &str, Type, &str)] = &[
    ("nbthread", "Nbthread", Gauge, "Worker threads"),
    ("nbproc", "Nbproc", Gauge, "Processes (always 1)"),
    ("relative_process_id", "Process_num", Gauge, "Process number (1)"),
    ("uptime_seconds", "Uptime_sec", Gauge, "Seconds since start"),
    ("max_fds", "Ulimit-n", Gauge, "Limit on open file descriptors"),
    ("max_connections", "Maxconn", Gauge, "Session limit in effect (maxconn)"),
    ("hard_max_connections", "Hard_maxconn", Gauge, "Configured global maxconn"),
    ("current_connections", "CurrConns", Gauge, "Sessions open now"),
    ("connections_total", "CumConns", Counter, "Sessions since start"),
    ("max_pipes", "Maxpipes", Gauge, "Limit on pipes for splicing"),
    ("pipes_used_total", "PipesUsed", Counter, "Pipes in use now"),
    ("current_connection_rate", "ConnRate", Gauge, "New connections in the last second"),
    ("current_session_rate", "SessRate", Gauge, "New sessions in the last second"),
    ("listeners", "Listeners", Gauge, "Listening sockets"),
    ("bytes_out_total", "TotalBytesOut", Counter, "Bytes sent to clients"),
    ("start_time_seconds", "Start_time_sec", Gauge, "Start time, in seconds since the epoch"),
];

/// The query's bit for the stick tables.
const TABLES: u8 = 0x10;
/// The query's bit for the MySQL clusters (splicer's `splicer_mysql_*`).
const MYSQL: u8 = 0x20;
/// The query's bit for the VRRP instances (splicer's `splicer_vrrp_*`).
const VRRP: u8 = 0x40;
/// Every scope.
const ALL: u8 = 0x7f;

/// What the query string asks for.
struct Query {
    /// Bits: 1 global, then [`F`], [`B`], [`S`] shifted by one, then
    /// [`TABLES`].
    scopes: u8,
    no_maint: bool,
}

fn query(q: &str) -> Query {
    let mut scopes = 0;
    let mut no_maint = false;
    for part in q.split('&') {
        match part {
            "scope=global" => scopes |= 1,
            "scope=frontend" => scopes |= F << 1,
            "scope=backend" => scopes |= B << 1,
            "scope=server" => scopes |= S << 1,
            "scope=sticktable" => scopes |= TABLES,
            "scope=mysql" => scopes |= MYSQL,
            "scope=vrrp" => scopes |= VRRP,
            // `scope=*` and `scope=` mean everything, as in HAProxy.
            "scope=*" => scopes |= ALL,
            "no-maint" => no_maint = true,
            _ => {}
        }
    }
    Query {
        scopes: if scopes == 0 { ALL } else { scopes },
        no_maint,
    }
}

/// The whole exposition for one scrape.
pub(super) fn render(rt: &Runtime, query_string: &str) -> String {
    let q = query(query_string);
    let mut out = String::with_capacity(64 * 1024);
    if q.scopes & 1 != 0 {
        process(rt, &mut out);
    }
    let filter = Filter {
        no_maint: q.no_maint,
        ..Filter::default()
    };
    let rows = stat::rows(rt, &filter);
    for (kind, bit, word) in [
        (Kind::Frontend, F, "frontend"),
        (Kind::Backend, B, "backend"),
        (Kind::Server, S, "server"),
    ] {
        if q.scopes & (bit << 1) == 0 {
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for metric in METRICS.iter().filter(|m| m.kinds & bit != 0) {
            let mut body = String::new();
            for row in rows.iter().filter(|r| r.kind == kind) {
                series(metric, row, &rows, word, &mut body);
            }
            // HELP and TYPE once per family, even where two entries of the
            // table share a name (status of proxies and of servers).
            if !body.is_empty() && !seen.contains(&metric.name) {
                seen.push(metric.name);
                let _ = writeln!(out, "# HELP haproxy_{word}_{} {}", metric.name, metric.help);
                let _ = writeln!(
                    out,
                    "# TYPE haproxy_{word}_{} {}",
                    metric.name,
                    metric.ty.word()
                );
            }
            out.push_str(&body);
        }
    }
    if q.scopes & TABLES != 0 {
        sticktables(rt, &mut out);
    }
    if q.scopes & MYSQL != 0 {
        super::mysql::metrics(rt, &mut out);
    }
    if q.scopes & VRRP != 0 {
        super::vrrp::metrics(rt, &mut out);
    }
    out
}

/// `haproxy_sticktable_size` and `haproxy_sticktable_used`, with HAProxy
/// 2.6's help texts, each table in the order HAProxy lists them (the last
/// declared first).
fn sticktables(rt: &Runtime, out: &mut String) {
    let tables = &rt.rules.tables;
    if tables.is_empty() {
        return;
    }
    // Expired entries dropped first, as HAProxy's expiry task would have.
    let now = crate::base::clock::now_ms();
    let used: Vec<usize> = tables
        .iter()
        .map(|t| {
            t.purge(now);
            t.used()
        })
        .collect();
    for (name, help, size) in [
        ("size", "Stick table size.", true),
        ("used", "Number of entries used in this stick table.", false),
    ] {
        let _ = writeln!(out, "# HELP haproxy_sticktable_{name} {help}");
        let _ = writeln!(out, "# TYPE haproxy_sticktable_{name} gauge");
        for (t, used) in tables.iter().zip(&used).rev() {
            let _ = writeln!(
                out,
                "haproxy_sticktable_{name}{{name=\"{}\",type=\"{}\"}} {}",
                label(&t.config.name),
                t.config.key.name(),
                if size { t.config.size } else { *used }
            );
        }
    }
}

fn process(rt: &Runtime, out: &mut String) {
    let fields = info::fields(rt);
    for (name, field, ty, help) in PROCESS {
        let Some((_, v)) = fields.iter().find(|(f, _)| f == field) else {
            continue;
        };
        let _ = writeln!(out, "# HELP haproxy_process_{name} {help}");
        let _ = writeln!(out, "# TYPE haproxy_process_{name} {}", ty.word());
        let _ = writeln!(out, "haproxy_process_{name} {}", number(v));
    }
    let _ = writeln!(
        out,
        "# HELP haproxy_process_build_info Build information (the version of splicer)"
    );
    let _ = writeln!(out, "# TYPE haproxy_process_build_info gauge");
    let _ = writeln!(
        out,
        "haproxy_process_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
}

/// The series of one metric for one row (none where it does not apply).
fn series(metric: &Metric, row: &Row, rows: &[Row], word: &str, out: &mut String) {
    let px = label(row.text(Field::Pxname));
    let labels = if row.kind == Kind::Server {
        format!(
            "proxy=\"{px}\",server=\"{}\"",
            label(row.text(Field::Svname))
        )
    } else {
        format!("proxy=\"{px}\"")
    };
    let name = format!("haproxy_{word}_{}", metric.name);
    let field = row.text(metric.field);
    // Check results only exist for servers that are checked (HAProxy).
    let checked = !row.text(Field::CheckStatus).is_empty();
    if matches!(
        metric.field,
        Field::CheckStatus | Field::CheckCode | Field::CheckDuration
    ) && row.kind == Kind::Server
        && !checked
    {
        return;
    }
    match metric.value {
        // HAProxy prints 0 for a check without a layer-7 code.
        Plain if metric.field == Field::CheckCode && field.is_empty() => {
            let _ = writeln!(out, "{name}{{{labels}}} 0");
        }
        Plain => {
            let _ = writeln!(out, "{name}{{{labels}}} {}", number(field));
        }
        Millis => {
            let v = field
                .parse::<f64>()
                .map_or("NaN".into(), |ms| format!("{:.6}", ms / 1000.0));
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
        States(states) => {
            let current = state_of(metric.field, field);
            for s in states {
                let _ = writeln!(
                    out,
                    "{name}{{{labels},state=\"{s}\"}} {}",
                    u8::from(current == *s)
                );
            }
        }
        ServerCount(f, states) => {
            let servers: Vec<&str> = rows
                .iter()
                .filter(|r| {
                    r.kind == Kind::Server && r.text(Field::Pxname) == row.text(Field::Pxname)
                })
                .map(|r| state_of(f, r.text(f)))
                .collect();
            for s in states {
                let n = servers.iter().filter(|x| *x == s).count();
                let _ = writeln!(out, "{name}{{{labels},state=\"{s}\"}} {n}");
            }
        }
    }
}

/// The `state` label a status field stands for: `UP 1/3` is UP, `no
/// check` UP, a frontend's `OPEN`/`FULL` UP and `STOP` DOWN; a check code
/// is itself.
fn state_of(field: Field, value: &str) -> &str {
    if field != Field::Status {
        return value;
    }
    match value.split(' ').next().unwrap_or("") {
        // A paused frontend (`disable frontend`) still exists: UP.
        "OPEN" | "FULL" | "PAUSED" | "no" => "UP",
        "STOP" => "DOWN",
        word => word,
    }
}

/// A field as a sample value: the number, or `NaN` when empty or not a number.
fn number(v: &str) -> &str {
    if !v.is_empty() && v.parse::<f64>().is_ok() {
        v
    } else {
        "NaN"
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_values_read_as_haproxys() {
        let cases: &[(Field, &str, &str)] = &[
            (Field::Status, "UP 1/3", "UP"),
            (Field::Status, "DOWN 1/2", "DOWN"),
            (Field::Status, "no check", "UP"),
            (Field::Status, "OPEN", "UP"),
            (Field::Status, "FULL", "UP"),
            (Field::Status, "STOP", "DOWN"),
            (Field::Status, "DRAIN", "DRAIN"),
            (Field::CheckStatus, "L7OK", "L7OK"),
        ];
        for (field, value, want) in cases {
            assert_eq!(state_of(*field, value), *want, "{}={value}", field.name());
        }
        assert_eq!(number(""), "NaN");
        assert_eq!(number("12"), "12");
        assert_eq!(number("-1"), "-1");
        assert_eq!(number("x"), "NaN");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let q = query("scope=server&no-maint");
        assert_eq!((q.scopes, q.no_maint), (S << 1, true));
        assert_eq!(query("").scopes, ALL);
        assert_eq!(query("scope=sticktable").scopes, TABLES);
    }
}
