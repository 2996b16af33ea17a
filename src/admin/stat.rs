//! `show stat`: HAProxy 2.6's CSV, with the same header, field order and
//! meaning: one FRONTEND row per frontend, one row per server and one
//! BACKEND row per backend, proxies in config order. Fields splicer does
//! not track are left empty where HAProxy leaves them empty for a field
//! that does not apply, and 0 where HAProxy prints a counter that stays 0
//! in TCP mode (HTTP responses, compression, SSL, ...).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use crate::base::clock::now_ms;
use crate::config::Frontend;
use crate::runtime::{
    BackendState, Counters, FrontendState, Runtime, ServerState, ServerStatus, admin,
};

use super::cli::Ctx;
use super::status::{algo, checks, server_status};
use super::typed;

/// The columns, in HAProxy 2.6's order (`-` separates the built-in fields
/// from those of its statistics modules: SSL, HTTP/2, HTTP/1).
pub(crate) const FIELDS: [&str; 128] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The first column of the statistics modules (after `-`), and where the
/// SSL module's three columns end.
const MODULES: usize = 104;
const SSL_END: usize = MODULES + 3;

/// `type`: what a row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Frontend = 0,
    Backend = 1,
    Server = 2,
}

/// One row being filled by column name. A column left `None` is empty in
/// the CSV and absent from the typed and JSON forms; `Some("")` is an
/// empty string in all of them (HAProxy tells the two apart the same way).
pub(crate) struct Row {
    pub kind: Kind,
    pub cells: Vec<Option<String>>,
}

impl Row {
    fn new(kind: Kind, pxname: &str, svname: &str) -> Row {
        let mut r = Row {
            kind,
            cells: vec![None; FIELDS.len()],
        };
        r.set("pxname", pxname);
        r.set("svname", svname);
        r.set("type", kind as u8);
        r.set("pid", 1);
        r.set("mode", "tcp");
        r.cells[MODULES - 1] = Some("-".into());
        // Modules print zeros where they apply: SSL everywhere, HTTP/1
        // and HTTP/2 on proxies only.
        let end = if kind == Kind::Server {
            SSL_END
        } else {
            FIELDS.len()
        };
        for f in &mut r.cells[MODULES..end] {
            *f = Some("0".into());
        }
        r
    }

    fn set(&mut self, field: &str, value: impl ToString) {
        self.cells[index(field)] = Some(value.to_string());
    }

    /// A column's value, if set.
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.cells[index(field)].as_deref()
    }

    /// A column's value as the CSV shows it (empty when unset); the stats
    /// page and the metrics read rows this way.
    pub(crate) fn text(&self, field: &str) -> &str {
        self.get(field).unwrap_or("")
    }

    fn zeros(&mut self, fields: &[&str]) {
        for f in fields {
            self.set(f, 0);
        }
    }

    /// The row as a CSV line.
    pub(crate) fn write(&self, out: &mut String) {
        for f in &self.cells {
            // HAProxy's CSV never quotes; commas in free text would shift
            // the columns, so they become spaces.
            out.push_str(&f.as_deref().unwrap_or("").replace([',', '\n'], " "));
            out.push(',');
        }
        out.push('\n');
    }
}

/// The column of a field name.
fn index(field: &str) -> usize {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| FIELDS.iter().enumerate().map(|(i, f)| (*f, i)).collect());
    index[field]
}

/// The typed forms' position of CSV column `i` (`None` for the `-` that
/// separates the modules' columns: the typed forms number straight on).
pub(crate) fn typed_pos(i: usize) -> Option<usize> {
    match i {
        i if i < MODULES - 1 => Some(i),
        i if i == MODULES - 1 => None,
        i => Some(i - 1),
    }
}

/// Counters every row kind shows the same way.
fn counters(r: &mut Row, c: &Counters, current: u64) {
    r.set("scur", current);
    r.set("smax", c.max_current.load(Ordering::Relaxed).max(current));
    r.set("stot", c.total(|s| &s.sessions));
    r.set("bin", c.total(|s| &s.bytes_in));
    r.set("bout", c.total(|s| &s.bytes_out));
    r.set("rate", c.rate.value());
    r.set("rate_max", c.rate.max.load(Ordering::Relaxed));
}

/// Counters of rows that talk to servers (servers and backends).
fn server_side(r: &mut Row, c: &Counters) {
    r.zeros(&[
        "qcur", "qmax", "dresp", "eresp", "cli_abrt", "srv_abrt", "qtime", "ctime", "rtime",
        "ttime",
    ]);
    r.zeros(&[
        "wrew",
        "reuse",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "eint",
    ]);
    r.set("econ", c.total(|s| &s.connect_errors));
    r.set("wretr", c.total(|s| &s.retries));
    r.set("wredis", c.total(|s| &s.redispatches));
    r.set("lbtot", c.total(|s| &s.picks));
    r.set("connect", c.total(|s| &s.connects));
    r.set("lastsess", c.since_last_session());
}

fn frontend_row(fe: &FrontendState) -> Row {
    let cfg: &Frontend = &fe.config;
    let mut r = Row::new(Kind::Frontend, &cfg.name, "FRONTEND");
    let current = fe.current.get();
    let max = fe.maxconn.load(Ordering::Relaxed);
    counters(&mut r, &fe.counters, current as u64);
    r.set("slim", max);
    r.set("ereq", fe.counters.total(|s| &s.request_errors));
    r.zeros(&[
        "dreq",
        "dresp",
        "rate_lim",
        "req_rate",
        "req_rate_max",
        "req_tot",
    ]);
    r.zeros(&[
        "comp_in", "comp_out", "comp_byp", "comp_rsp", "dcon", "dses", "wrew", "eint",
    ]);
    let status = if cfg.disabled {
        "STOP"
    } else if fe.paused.load(Ordering::Relaxed) {
        // `disable frontend`; HAProxy 2.6 says PAUSED.
        "PAUSED"
    } else if current >= max {
        "FULL"
    } else {
        "OPEN"
    };
    r.set("status", status);
    r.set("iid", cfg.uid);
    r.set("sid", 0);
    r.set("conn_rate", fe.counters.rate.value());
    r.set(
        "conn_rate_max",
        fe.counters.rate.max.load(Ordering::Relaxed),
    );
    r.set("conn_tot", fe.counters.total(|s| &s.sessions));
    r
}

fn secs(ms: u64) -> u64 {
    ms / 1000
}

fn server_row(b: &BackendState, s: usize) -> Row {
    let srv = &b.servers[s];
    let mut r = Row::new(Kind::Server, &b.config.name, &srv.name);
    let c = checks(b, s);
    let current = srv.active.get();
    counters(&mut r, &srv.counters, current as u64);
    server_side(&mut r, &srv.counters);
    let max = srv.maxconn.load(Ordering::Relaxed);
    if max > 0 {
        r.set("slim", max);
    }
    r.set("status", server_status(srv, &c));
    let weight = srv.weight.load(Ordering::Relaxed);
    let effective = srv.effective_weight();
    r.set("weight", effective);
    r.set("uweight", weight);
    if srv.ramping() && weight > 0 {
        r.set("throttle", u64::from(effective) * 100 / u64::from(weight));
    }
    r.set("act", u8::from(!srv.backup));
    r.set("bck", u8::from(srv.backup));
    let now = now_ms();
    let since = srv.last_change_ms.load(Ordering::Relaxed);
    r.set("lastchg", secs(now.saturating_sub(since)));
    r.set("iid", b.config.uid);
    r.set("sid", s + 1);
    r.set("addr", srv.addr);
    r.zeros(&[
        "srv_icur",
        "idle_conn_cur",
        "safe_conn_cur",
        "need_conn_est",
    ]);
    r.set("used_conn_cur", current);
    if c.health {
        let info = &c.info;
        r.set("chkfail", info.failures);
        r.set("chkdown", info.downs);
        r.set("downtime", secs(srv.downtime_ms()));
    }
    // A server in maintenance has its health check paused: HAProxy 2.6
    // then shows none of its results (the agent's stay).
    if c.health && srv.admin_flags() & admin::MAINT == 0 {
        let info = &c.info;
        r.set(
            "check_status",
            if info.status.is_empty() {
                "INI"
            } else {
                info.status
            },
        );
        r.set(
            "check_desc",
            if info.desc.is_empty() {
                "Initializing"
            } else {
                info.desc
            },
        );
        if !info.status.is_empty() {
            r.set("check_duration", info.duration_ms);
        }
        // HAProxy prints a code only for results that carry layer-7 data.
        if let (Some(code), "L7OK" | "L7OKC" | "L7STS") = (info.code, info.status) {
            r.set("check_code", code);
        }
        r.set("last_chk", info.info.as_deref().unwrap_or(""));
        r.set("check_rise", info.rise);
        r.set("check_fall", info.fall);
        r.set("check_health", info.health);
    }
    if c.agent {
        let (status, desc) = match c.info.agent_status {
            "" => ("INI", "Initializing"),
            s => (s, c.info.agent_desc),
        };
        r.set("agent_status", status);
        r.set("agent_desc", desc);
        r.set("agent_duration", 0);
        r.set("last_agt", c.info.agent.as_deref().unwrap_or(""));
        for f in ["agent_rise", "agent_fall", "agent_health"] {
            r.set(f, 1);
        }
    }
    r
}

/// The servers taking new sessions now: usable actives, else usable
/// backups (as the balancer chooses them).
fn serving(b: &BackendState) -> Vec<&ServerState> {
    let usable = |backup: bool| {
        b.servers
            .iter()
            .filter(move |s| s.backup == backup && s.usable())
    };
    let actives: Vec<&ServerState> = usable(false).collect();
    if actives.is_empty() {
        usable(true).collect()
    } else {
        actives
    }
}

fn backend_row(rt: &Runtime, b: &BackendState) -> Row {
    let mut r = Row::new(Kind::Backend, &b.config.name, "BACKEND");
    let current = b.active.get();
    counters(&mut r, &b.counters, current as u64);
    server_side(&mut r, &b.counters);
    r.set("qcur", b.queued.get());
    r.set("qmax", b.queued.peak());
    r.zeros(&["dreq", "comp_in", "comp_out", "comp_byp", "comp_rsp"]);
    r.zeros(&[
        "agg_server_status",
        "agg_server_check_status",
        "agg_check_status",
    ]);
    // HAProxy's `fullconn` default: a tenth of the maxconn of the
    // frontends that use this backend, rounded up.
    let fe_max: usize = rt
        .frontends
        .iter()
        .filter(|f| f.config.default_backend == Some(b.id))
        .map(|f| f.maxconn.load(Ordering::Relaxed))
        .sum();
    r.set("slim", fe_max.div_ceil(10).max(1));
    let up = b.is_up();
    r.set("status", if up { "UP" } else { "DOWN" });
    let serving = serving(b);
    r.set(
        "weight",
        serving.iter().map(|s| s.effective_weight()).sum::<u32>(),
    );
    r.set(
        "uweight",
        serving
            .iter()
            .map(|s| s.weight.load(Ordering::Relaxed))
            .sum::<u32>(),
    );
    let (act, bck) = b.usable_counts();
    r.set("act", act);
    r.set("bck", bck);
    let now = now_ms();
    let since = b.last_change_ms.load(Ordering::Relaxed);
    let mut down = b.down_ms.load(Ordering::Relaxed);
    if !up {
        down += now.saturating_sub(since);
    }
    r.set("chkdown", b.downs.load(Ordering::Relaxed));
    r.set("lastchg", secs(now.saturating_sub(since)));
    r.set("downtime", secs(down));
    r.set("iid", b.config.uid);
    r.set("sid", 0);
    r.set("algo", algo(b.config.balance));
    r
}

/// What `show stat` lists: `show stat [{<iid>|<proxy>} <type> <sid>]
/// [up|no-maint]*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Only this proxy number (`None` = all, HAProxy's -1).
    pub iid: Option<u32>,
    /// Bits: 1 frontends, 2 backends, 4 servers.
    pub types: u32,
    /// Only the server with this number (`None` = all); frontend and
    /// backend rows follow `types` only.
    pub sid: Option<usize>,
    /// `up`: only servers taking sessions; `no-maint`: none in maintenance.
    pub up: bool,
    pub no_maint: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            iid: None,
            types: 7,
            sid: None,
            up: false,
            no_maint: false,
        }
    }
}

/// Reads the arguments after `show stat`.
pub(crate) fn parse_filter(rt: &Runtime, args: &[String]) -> Result<Filter, &'static str> {
    let mut f = Filter::default();
    let mut rest = args;
    if let [px, ty, sid, more @ ..] = args {
        // A number that is not a proxy's, or a name no proxy has, is
        // refused; -1 means all (HAProxy).
        f.iid = match px.parse::<i64>() {
            Ok(-1) => None,
            Ok(n) if n > 0 => Some(n as u32),
            _ => Some(
                rt.frontends
                    .iter()
                    .map(|x| (&x.config.name, x.config.uid))
                    .chain(rt.backends.iter().map(|x| (&x.config.name, x.config.uid)))
                    .find(|(n, _)| *n == px)
                    .ok_or("No such proxy.\n")?
                    .1,
            ),
        };
        f.types = match ty.parse::<i64>() {
            Ok(-1) => 7,
            Ok(n) => (n & 7) as u32,
            Err(_) => 0,
        };
        f.sid = match sid.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => None,
        };
        rest = more;
    }
    for word in rest {
        match word.as_str() {
            "up" => f.up = true,
            "no-maint" => f.no_maint = true,
            _ => {}
        }
    }
    Ok(f)
}

/// The rows `f` selects: each proxy's, in config order.
pub(crate) fn rows(rt: &Runtime, f: &Filter) -> Vec<Row> {
    let fronts = rt.frontends.iter().map(|x| (x.config.order, Some(x), None));
    let backs = rt.backends.iter().map(|x| (x.config.order, None, Some(x)));
    let mut proxies: Vec<(usize, Option<&FrontendState>, Option<&BackendState>)> =
        fronts.chain(backs).collect();
    // A listen's frontend comes before its servers and backend.
    proxies.sort_by_key(|(order, fe, _)| (*order, fe.is_none()));
    let mut rows = Vec::new();
    for (_, fe, be) in proxies {
        let uid = fe.map(|x| x.config.uid).or(be.map(|x| x.config.uid));
        if f.iid.is_some() && f.iid != uid {
            continue;
        }
        if let Some(fe) = fe.filter(|_| f.types & 1 != 0) {
            rows.push(frontend_row(fe));
        }
        let Some(b) = be else { continue };
        if f.types & 4 != 0 {
            for (s, srv) in b.servers.iter().enumerate() {
                let skip = f.sid.is_some_and(|id| id != s + 1)
                    || (f.up && !srv.usable())
                    || (f.no_maint && srv.status() == ServerStatus::Maint);
                if !skip {
                    rows.push(server_row(b, s));
                }
            }
        }
        if f.types & 2 != 0 {
            rows.push(backend_row(rt, b));
        }
    }
    rows
}

/// The CSV's header line.
pub(crate) fn write_header(out: &mut String) {
    out.push_str("# ");
    out.push_str(&FIELDS.join(","));
    out.push_str(",\n");
}

/// Writes the CSV: header, then each proxy's rows in config order.
pub(crate) fn write_csv(rt: &Runtime, f: &Filter, out: &mut String) {
    write_header(out);
    for r in rows(rt, f) {
        r.write(out);
    }
}

/// `show stat [{<iid>|<proxy>} <type> <sid>] [up|no-maint|typed|json]*`.
pub(crate) fn show_stat(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let f = match parse_filter(ctx.rt, &args[2..]) {
        Ok(f) => f,
        Err(e) => return out.push_str(e),
    };
    let has = |w: &str| args[2..].iter().any(|a| a == w);
    // The last of typed/json wins, as in HAProxy.
    let format = args[2..]
        .iter()
        .rev()
        .find(|a| *a == "typed" || *a == "json")
        .map(String::as_str);
    if format.is_some() && has("desc") {
        return out.push_str("show stat: field descriptions (desc) are not supported.\n");
    }
    match format {
        Some("typed") => typed::write_typed(&rows(ctx.rt, &f), out),
        Some("json") => typed::write_json(&rows(ctx.rt, &f), out),
        _ => write_csv(ctx.rt, &f, out),
    }
}
