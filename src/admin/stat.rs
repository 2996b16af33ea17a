//! `show stat`: HAProxy 2.6's CSV, with the same header, field order and
//! meaning: one FRONTEND row per frontend, one row per server and one
//! BACKEND row per backend, proxies in config order. Fields splicer does
//! not track are left empty where HAProxy leaves them empty for a field
//! that does not apply, and 0 where HAProxy prints a counter that stays 0
//! in TCP mode (HTTP responses, compression, SSL, ...).

use std::sync::atomic::Ordering;

use crate::base::clock::now_ms;
use crate::config::Frontend;
use crate::runtime::{
    BackendState, Counters, FrontendState, Runtime, ServerState, ServerStatus, admin,
};

use super::cli::{Command, Ctx, cmd};
pub(crate) use super::field::Field;
use super::status::{algo, checks, server_status};
use super::typed;
use crate::config::Level;

/// `show stat`.
pub(super) const COMMANDS: &[Command] = &[cmd(
    &["show", "stat"],
    Level::User,
    "show stat [json|no-maint|typed|up]*",
    "report counters for each proxy and server",
    show_stat,
)];

/// The first column of the statistics modules (after `-`), and where the
/// SSL module's three columns end.
const MODULES: usize = Field::Modules.index() + 1;
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
            cells: vec![None; Field::ALL.len()],
        };
        r.set(Field::Pxname, pxname);
        r.set(Field::Svname, svname);
        r.set(Field::Type, kind as u8);
        r.set(Field::Pid, 1);
        r.set(Field::Mode, "tcp");
        r.cells[MODULES - 1] = Some("-".into());
        // Modules print zeros where they apply: SSL everywhere, HTTP/1
        // and HTTP/2 on proxies only.
        let end = if kind == Kind::Server {
            SSL_END
        } else {
            Field::ALL.len()
        };
        for f in &mut r.cells[MODULES..end] {
            *f = Some("0".into());
        }
        r
    }

    fn set(&mut self, field: Field, value: impl ToString) {
        self.cells[field.index()] = Some(value.to_string());
    }

    /// A column's value, if set.
    pub(crate) fn get(&self, field: Field) -> Option<&str> {
        self.cells[field.index()].as_deref()
    }

    /// A column's value as the CSV shows it (empty when unset); the stats
    /// page and the metrics read rows this way.
    pub(crate) fn text(&self, field: Field) -> &str {
        self.get(field).unwrap_or("")
    }

    fn zeros(&mut self, fields: &[Field]) {
        for f in fields {
            self.set(*f, 0);
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
    r.set(Field::Scur, current);
    r.set(
        Field::Smax,
        c.max_current.load(Ordering::Relaxed).max(current),
    );
    r.set(Field::Stot, c.total(|s| &s.sessions));
    r.set(Field::Bin, c.total(|s| &s.bytes_in));
    r.set(Field::Bout, c.total(|s| &s.bytes_out));
    r.set(Field::Rate, c.rate.value());
    r.set(Field::RateMax, c.rate.max.load(Ordering::Relaxed));
}

/// Counters of rows that talk to servers (servers and backends).
fn server_side(r: &mut Row, c: &Counters) {
    r.set(Field::Dresp, c.total(|s| &s.denied_resp));
    r.zeros(&[
        Field::Qcur,
        Field::Qmax,
        Field::Eresp,
        Field::CliAbrt,
        Field::SrvAbrt,
        Field::Qtime,
        Field::Ctime,
        Field::Rtime,
        Field::Ttime,
    ]);
    r.zeros(&[
        Field::Wrew,
        Field::Reuse,
        Field::QtimeMax,
        Field::CtimeMax,
        Field::RtimeMax,
        Field::TtimeMax,
        Field::Eint,
    ]);
    r.set(Field::Econ, c.total(|s| &s.connect_errors));
    r.set(Field::Wretr, c.total(|s| &s.retries));
    r.set(Field::Wredis, c.total(|s| &s.redispatches));
    r.set(Field::Lbtot, c.total(|s| &s.picks));
    r.set(Field::Connect, c.total(|s| &s.connects));
    r.set(Field::Lastsess, c.since_last_session());
}

fn frontend_row(fe: &FrontendState) -> Row {
    let cfg: &Frontend = &fe.config;
    let mut r = Row::new(Kind::Frontend, &cfg.name, "FRONTEND");
    let current = fe.current.get();
    let max = fe.maxconn.load(Ordering::Relaxed);
    counters(&mut r, &fe.counters, current as u64);
    r.set(Field::Slim, max);
    r.set(Field::Ereq, fe.counters.total(|s| &s.request_errors));
    r.set(Field::Dreq, fe.counters.total(|s| &s.denied_req));
    r.set(Field::Dresp, fe.counters.total(|s| &s.denied_resp));
    r.set(Field::Dcon, fe.counters.total(|s| &s.denied_conn));
    r.set(Field::Dses, fe.counters.total(|s| &s.denied_sess));
    r.zeros(&[
        Field::RateLim,
        Field::ReqRate,
        Field::ReqRateMax,
        Field::ReqTot,
    ]);
    r.zeros(&[
        Field::CompIn,
        Field::CompOut,
        Field::CompByp,
        Field::CompRsp,
        Field::Wrew,
        Field::Eint,
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
    r.set(Field::Status, status);
    r.set(Field::Iid, cfg.uid);
    r.set(Field::Sid, 0);
    r.set(Field::ConnRate, fe.counters.rate.value());
    r.set(Field::RateLim, cfg.rate_limit);
    r.set(
        Field::ConnRateMax,
        fe.counters.rate.max.load(Ordering::Relaxed),
    );
    r.set(Field::ConnTot, fe.counters.total(|s| &s.connections));
    r
}

fn secs(ms: u64) -> u64 {
    ms / 1000
}

fn server_row(b: &BackendState, s: usize) -> Row {
    let srv = &b.servers[s];
    let cfg_server = &b.config.servers[s];
    let mut r = Row::new(Kind::Server, &b.config.name, &srv.name);
    let c = checks(b, s);
    let current = srv.active.get();
    counters(&mut r, &srv.counters, current as u64);
    server_side(&mut r, &srv.counters);
    let max = srv.maxconn.load(Ordering::Relaxed);
    if max > 0 {
        r.set(Field::Slim, max);
    }
    if srv.maxqueue > 0 {
        r.set(Field::Qlimit, srv.maxqueue);
    }
    if let Some(spec) = &cfg_server.track_spec {
        let full = if spec.contains('/') {
            spec.clone()
        } else {
            format!("{}/{spec}", b.config.name)
        };
        r.set(Field::Tracked, full);
    }
    r.set(Field::Status, server_status(srv, &c));
    let weight = srv.weight.load(Ordering::Relaxed);
    let effective = srv.effective_weight();
    r.set(Field::Weight, effective);
    r.set(Field::Uweight, weight);
    if srv.ramping() && weight > 0 {
        r.set(
            Field::Throttle,
            u64::from(effective) * 100 / u64::from(weight),
        );
    }
    r.set(Field::Act, u8::from(!srv.backup));
    r.set(Field::Bck, u8::from(srv.backup));
    let now = now_ms();
    let since = srv.last_change_ms.load(Ordering::Relaxed);
    r.set(Field::Lastchg, secs(now.saturating_sub(since)));
    r.set(Field::Iid, b.config.uid);
    r.set(Field::Sid, s + 1);
    r.set(Field::Addr, srv.addr.get());
    r.zeros(&[
        Field::SrvIcur,
        Field::IdleConnCur,
        Field::SafeConnCur,
        Field::NeedConnEst,
    ]);
    r.set(Field::UsedConnCur, current);
    if c.health {
        let info = &c.info;
        r.set(Field::Chkfail, info.failures);
        r.set(Field::Chkdown, info.downs);
        r.set(Field::Downtime, secs(srv.downtime_ms()));
    }
    // A server in maintenance has its health check paused: HAProxy 2.6
    // then shows none of its results (the agent's stay).
    if c.health && srv.admin_flags() & admin::MAINT == 0 {
        let info = &c.info;
        r.set(
            Field::CheckStatus,
            if info.status.is_empty() {
                "INI"
            } else {
                info.status
            },
        );
        r.set(
            Field::CheckDesc,
            if info.desc.is_empty() {
                "Initializing"
            } else {
                info.desc
            },
        );
        if !info.status.is_empty() {
            r.set(Field::CheckDuration, info.duration_ms);
        }
        // HAProxy prints a code only for results that carry layer-7 data.
        if let (Some(code), "L7OK" | "L7OKC" | "L7STS") = (info.code, info.status) {
            r.set(Field::CheckCode, code);
        }
        r.set(Field::LastChk, info.info.as_deref().unwrap_or(""));
        r.set(Field::CheckRise, info.rise);
        r.set(Field::CheckFall, info.fall);
        r.set(Field::CheckHealth, info.health);
    }
    if c.agent {
        let (status, desc) = match c.info.agent_status {
            "" => ("INI", "Initializing"),
            s => (s, c.info.agent_desc),
        };
        r.set(Field::AgentStatus, status);
        r.set(Field::AgentDesc, desc);
        r.set(Field::AgentDuration, 0);
        r.set(Field::LastAgt, c.info.agent.as_deref().unwrap_or(""));
        for f in [Field::AgentRise, Field::AgentFall, Field::AgentHealth] {
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
    r.set(Field::Qcur, b.queued.get());
    r.set(Field::Qmax, b.queued.peak());
    r.set(Field::Dreq, b.counters.total(|s| &s.denied_req));
    r.zeros(&[
        Field::CompIn,
        Field::CompOut,
        Field::CompByp,
        Field::CompRsp,
    ]);
    r.zeros(&[
        Field::AggServerStatus,
        Field::AggServerCheckStatus,
        Field::AggCheckStatus,
    ]);
    // HAProxy's `fullconn` default: a tenth of the maxconn of the
    // frontends that use this backend, rounded up.
    let fe_max: usize = rt
        .frontends
        .iter()
        .filter(|f| f.config.default_backend == Some(b.id))
        .map(|f| f.maxconn.load(Ordering::Relaxed))
        .sum();
    r.set(Field::Slim, fe_max.div_ceil(10).max(1));
    let up = b.is_up();
    r.set(Field::Status, if up { "UP" } else { "DOWN" });
    let serving = serving(b);
    r.set(
        Field::Weight,
        serving.iter().map(|s| s.effective_weight()).sum::<u32>(),
    );
    r.set(
        Field::Uweight,
        serving
            .iter()
            .map(|s| s.weight.load(Ordering::Relaxed))
            .sum::<u32>(),
    );
    let (act, bck) = b.usable_counts();
    r.set(Field::Act, act);
    r.set(Field::Bck, bck);
    let now = now_ms();
    let since = b.last_change_ms.load(Ordering::Relaxed);
    let mut down = b.down_ms.load(Ordering::Relaxed);
    if !up {
        down += now.saturating_sub(since);
    }
    r.set(Field::Chkdown, b.downs.load(Ordering::Relaxed));
    r.set(Field::Lastchg, secs(now.saturating_sub(since)));
    r.set(Field::Downtime, secs(down));
    r.set(Field::Iid, b.config.uid);
    r.set(Field::Sid, 0);
    r.set(Field::Algo, algo(b.config.balance));
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
    let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    out.push_str(&names.join(","));
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
