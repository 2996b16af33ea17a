//! The HTML stats page, laid out as HAProxy's so that an operator finds
//! the same things in the same places: process information, a colour
//! legend, then one table per proxy (frontend row, server rows, backend
//! row) with the queue, session rate, sessions, bytes, denied, errors,
//! warnings and server columns. Every value comes from `show stat`'s rows
//! (`stat.rs`) and `show info`'s fields (`info.rs`); every name is
//! escaped. A server row's classes say its state (`up`, `down`,
//! `going-up`, `going-down`, `drain`, `maint`, `nocheck`) and whether it
//! is `active` or `backup`; the colours follow HAProxy's.

use std::fmt::Write;

use crate::config::StatsUi;
use crate::runtime::Runtime;

use super::field::Field;
use super::info;
use super::sessions::human_time;
use super::stat::{Kind, Row};
use super::web::Options;

/// What the page needs besides the rows.
pub(super) struct Page<'a> {
    pub rt: &'a Runtime,
    pub ui: &'a StatsUi,
    pub opts: &'a Options,
    /// The client may change server states (`stats admin`).
    pub admin: bool,
}

const STYLE: &str = "
body { font-family: Arial, Helvetica, sans-serif; font-size: 12px; margin: 8px; color: #000; background: #fff; }
h1 { font-size: 22px; color: #1030c0; margin: 0 0 6px; }
h2 { font-size: 17px; color: #602090; font-style: italic; margin: 0 0 6px; }
h3 { font-size: 14px; color: #a00030; background: #e8e8d0; margin: 8px 0 4px; padding: 2px 4px; }
a { color: #1030c0; }
table.info td { vertical-align: top; padding: 0 24px 0 2px; white-space: nowrap; }
table.legend td { padding: 0 4px; border: none; text-align: left; }
table.legend td.swatch { width: 12px; border: 1px solid #888; }
div.result { margin: 6px 0; padding: 4px 8px; border: 1px solid #888; font-weight: bold; }
div.result.ok { background: #c0ffc0; }
div.result.bad { background: #ff9090; }
table.px { border-collapse: collapse; width: 100%; margin: 0 0 2px; }
table.px th, table.px td { border: 1px solid #999; padding: 1px 3px; white-space: nowrap; }
table.px th { background: #20d0d0; font-weight: bold; text-align: center; }
table.px td { text-align: right; }
table.px td.name { text-align: center; font-weight: bold; }
table.px td.status, table.px td.check, table.px td.flag { text-align: center; }
div.pxname { display: inline-block; background: #b00040; color: #ffff40; font-weight: bold; padding: 2px 16px; margin-top: 12px; }
div.desc { display: inline-block; padding: 2px 8px; }
div.actions { margin: 2px 0 8px; }
tr.frontend, tr.backend { background: #e8e8d0; }
tr.frontend td.name, tr.backend td.name { font-weight: bold; }
tr.active.up { background: #c0ffc0; }
tr.backup.up { background: #b0d0ff; }
tr.active.going-down { background: #ffffa0; }
tr.backup.going-down { background: #c060ff; }
tr.active.going-up { background: #ffd020; }
tr.backup.going-up { background: #ff80ff; }
tr.down { background: #ff9090; }
tr.nocheck { background: #e0e0e0; }
tr.maint { background: #c07820; }
tr.drain { background: #20a0ff; }
.swatch.up { background: #c0ffc0; } .swatch.backup-up { background: #b0d0ff; }
.swatch.going-down { background: #ffffa0; } .swatch.backup-going-down { background: #c060ff; }
.swatch.going-up { background: #ffd020; } .swatch.backup-going-up { background: #ff80ff; }
.swatch.down { background: #ff9090; } .swatch.nocheck { background: #e0e0e0; }
.swatch.maint { background: #c07820; } .swatch.drain { background: #20a0ff; }
";

/// The admin actions offered, as HAProxy's form sends them.
const ACTIONS: &[(&str, &str)] = &[
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
    ("dhlth", "Health: disable checks"),
    ("ehlth", "Health: enable checks"),
    ("shutdown", "Kill Sessions"),
];

/// What `;st=CODE` says after an admin action, and whether it went well.
fn result(code: &str) -> Option<(&'static str, bool)> {
    Some(match code {
        "DONE" => ("Action processed successfully.", true),
        "NONE" => ("Nothing has changed.", true),
        "PART" => ("Action processed on some of the servers only.", false),
        "ERRP" => ("Action not processed because of invalid parameters.", false),
        "DENY" => ("Action denied.", false),
        _ => return None,
    })
}

/// Text safe in HTML content and attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn render(p: &Page<'_>, rows: &[Row]) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let info = info::fields(p.rt);
    let get = |name: &str| {
        info.iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>Statistics Report for splicer</title>\n");
    if let Some(t) = p.ui.refresh.filter(|_| !p.opts.norefresh) {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            t.as_secs().max(1)
        );
    }
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    if p.ui.hide_version {
        out.push_str("<h1>splicer</h1>\n");
    } else {
        let _ = writeln!(
            out,
            "<h1>splicer version {}</h1>",
            env!("CARGO_PKG_VERSION")
        );
    }
    let node = match p.ui.show_node.as_deref() {
        Some("") => format!(" on {}", esc(get("node"))),
        Some(n) => format!(" on {}", esc(n)),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "<h2>Statistics Report for pid {}{node}</h2>",
        get("Pid")
    );
    if let Some(d) = p.ui.show_desc.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "<p>{}</p>", esc(d));
    }
    if let Some((text, ok)) = p.opts.status.as_deref().and_then(result) {
        let class = if ok { "ok" } else { "bad" };
        let _ = writeln!(out, "<div class=\"result {class}\">{text}</div>");
    }
    out.push_str("<h3>&gt; General process information</h3>\n<table class=\"info\"><tr><td>\n");
    let _ = writeln!(
        out,
        "<b>pid = </b>{} (nbthread = {})<br>\n<b>uptime = </b>{}<br>\n<b>maxconn = </b>{}; <b>maxpipes = </b>{}; <b>ulimit-n = </b>{}<br>\ncurrent conns = {}; current pipes = {}/{}; conn rate = {}/sec<br>\nlisteners = {}",
        get("Pid"),
        get("Nbthread"),
        get("Uptime"),
        get("Maxconn"),
        get("Maxpipes"),
        get("Ulimit-n"),
        get("CurrConns"),
        get("PipesUsed"),
        get("Maxpipes"),
        get("ConnRate"),
        get("Listeners"),
    );
    out.push_str("</td><td>\n");
    legend(&mut out);
    out.push_str("</td><td>\n<b>Display option:</b><ul>\n");
    let uri = esc(&p.ui.uri);
    let keep = if p.opts.norefresh { ";norefresh" } else { "" };
    if p.opts.up {
        let _ = writeln!(out, "<li><a href=\"{uri}{keep}\">Show all servers</a></li>");
    } else {
        let _ = writeln!(
            out,
            "<li><a href=\"{uri};up{keep}\">Hide 'DOWN' servers</a></li>"
        );
    }
    let up = if p.opts.up { ";up" } else { "" };
    if p.ui.refresh.is_some() && !p.opts.norefresh {
        let _ = writeln!(
            out,
            "<li><a href=\"{uri}{up};norefresh\">Disable refresh</a></li>"
        );
    }
    let _ = writeln!(out, "<li><a href=\"{uri}{up}{keep}\">Refresh now</a></li>");
    let _ = writeln!(
        out,
        "<li><a href=\"{uri};csv;norefresh\">CSV export</a></li>"
    );
    out.push_str("</ul></td></tr></table>\n");
    let mut start = 0;
    while start < rows.len() {
        let px = rows[start].text(Field::Pxname);
        let end = rows[start..]
            .iter()
            .position(|r| r.text(Field::Pxname) != px)
            .map_or(rows.len(), |n| start + n);
        proxy(p, &rows[start..end], &mut out);
        start = end;
    }
    out.push_str("</body></html>\n");
    out
}

fn legend(out: &mut String) {
    let items: &[(&str, &str)] = &[
        ("up", "active UP"),
        ("backup-up", "backup UP"),
        ("going-down", "active UP, going down"),
        ("backup-going-down", "backup UP, going down"),
        ("going-up", "active DOWN, going up"),
        ("backup-going-up", "backup DOWN, going up"),
        ("down", "active or backup DOWN"),
        ("nocheck", "not checked"),
        ("maint", "active or backup DOWN for maintenance (MAINT)"),
        ("drain", "active or backup SOFT STOPPED (DRAIN, NOLB)"),
    ];
    out.push_str("<table class=\"legend\">");
    for pair in items.chunks(2) {
        out.push_str("<tr>");
        for (class, text) in pair {
            let _ = write!(out, "<td class=\"swatch {class}\"></td><td>{text}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

/// One proxy's table, in a form with the admin actions when allowed.
fn proxy(p: &Page<'_>, rows: &[Row], out: &mut String) {
    let name = esc(rows[0].text(Field::Pxname));
    let form = p.admin && rows.iter().any(|r| r.kind == Kind::Server);
    let _ = writeln!(out, "<div class=\"pxname\" id=\"{name}\">{name}</div>");
    if form {
        let _ = writeln!(out, "<form method=\"post\" action=\"{}\">", esc(&p.ui.uri));
    }
    let _ = writeln!(out, "<table class=\"px\">");
    let check = if form { "<th rowspan=\"2\"></th>" } else { "" };
    let _ = writeln!(
        out,
        "<tr class=\"titles\">{check}<th rowspan=\"2\"></th><th colspan=\"3\">Queue</th><th colspan=\"3\">Session rate</th><th colspan=\"6\">Sessions</th><th colspan=\"2\">Bytes</th><th colspan=\"2\">Denied</th><th colspan=\"3\">Errors</th><th colspan=\"2\">Warnings</th><th colspan=\"9\">Server</th></tr>"
    );
    out.push_str("<tr class=\"titles\">");
    for h in [
        "Cur", "Max", "Limit", "Cur", "Max", "Limit", "Cur", "Max", "Limit", "Total", "LbTot",
        "Last", "In", "Out", "Req", "Resp", "Req", "Conn", "Resp", "Retr", "Redis", "Status",
        "LastChk", "Wght", "Act", "Bck", "Chk", "Dwn", "Dwntme", "Thrtle",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for r in rows {
        row(p, r, form, out);
    }
    out.push_str("</table>\n");
    if form {
        let b = rows
            .iter()
            .find(|r| r.kind == Kind::Backend)
            .map_or("", |r| r.text(Field::Iid));
        out.push_str("<div class=\"actions\">Choose the action to perform on the checked servers: <select name=\"action\"><option value=\"\"></option>");
        for (value, text) in ACTIONS {
            let _ = write!(out, "<option value=\"{value}\">{text}</option>");
        }
        let _ = writeln!(
            out,
            "</select><input type=\"hidden\" name=\"b\" value=\"#{}\"> <input type=\"submit\" value=\"Apply\"></div></form>",
            esc(b)
        );
    }
}

/// A server row's classes: `server`, `active` or `backup`, and its state.
pub(super) fn state_class(r: &Row) -> String {
    let status = r.text(Field::Status);
    let state = if status.starts_with("MAINT") {
        "maint"
    } else if status.starts_with("DRAIN") || status.starts_with("NOLB") {
        "drain"
    } else if status == "no check" {
        "nocheck"
    } else if status.starts_with("UP ") {
        "going-down"
    } else if status.starts_with("DOWN ") {
        "going-up"
    } else if status == "UP" {
        "up"
    } else {
        "down"
    };
    let role = if r.text(Field::Bck) == "1" {
        "backup"
    } else {
        "active"
    };
    format!("server {role} {state}")
}

/// `-` for an unset limit.
fn or_dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}

fn row(p: &Page<'_>, r: &Row, form: bool, out: &mut String) {
    let f = |field: Field| esc(r.text(field));
    let secs = |field: Field| {
        r.text(field)
            .parse::<u64>()
            .map(|s| human_time(std::time::Duration::from_secs(s)))
            .unwrap_or_default()
    };
    let (class, label) = match r.kind {
        Kind::Frontend => ("frontend".to_string(), "Frontend".to_string()),
        Kind::Backend => ("backend".to_string(), "Backend".to_string()),
        Kind::Server => (state_class(r), f(Field::Svname)),
    };
    let _ = write!(out, "<tr class=\"{class}\">");
    if form {
        if r.kind == Kind::Server {
            let _ = write!(
                out,
                "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                f(Field::Svname)
            );
        } else {
            out.push_str("<td></td>");
        }
    }
    let title = if p.ui.show_legends && r.kind == Kind::Server {
        format!(" title=\"{}\"", f(Field::Addr))
    } else if p.ui.show_legends && r.kind == Kind::Backend {
        format!(" title=\"mode tcp, balance {}\"", f(Field::Algo))
    } else {
        String::new()
    };
    let _ = write!(out, "<td class=\"name\"{title}>{label}</td>");
    let mut cells: Vec<String> = Vec::with_capacity(30);
    let server = r.kind == Kind::Server;
    let front = r.kind == Kind::Frontend;
    // Queue
    if front {
        cells.extend(["".into(), "".into(), "".into()]);
    } else {
        cells.extend([
            f(Field::Qcur),
            f(Field::Qmax),
            or_dash(&f(Field::Qlimit)).into(),
        ]);
    }
    // Session rate
    // HAProxy shows no limit as `-`, and 0 is no limit.
    let rate_lim = match r.text(Field::RateLim) {
        _ if !front => String::new(),
        "" | "0" => "-".into(),
        v => esc(v),
    };
    cells.extend([f(Field::Rate), f(Field::RateMax), rate_lim]);
    // Sessions
    let last = match r.text(Field::Lastsess) {
        "" => String::new(),
        "-1" => "?".into(),
        _ => secs(Field::Lastsess),
    };
    cells.extend([
        f(Field::Scur),
        f(Field::Smax),
        or_dash(&f(Field::Slim)).into(),
        f(Field::Stot),
        f(Field::Lbtot),
        last,
    ]);
    // Bytes, denied, errors, warnings
    cells.extend([f(Field::Bin), f(Field::Bout)]);
    cells.extend([
        if server {
            String::new()
        } else {
            f(Field::Dreq)
        },
        f(Field::Dresp),
    ]);
    cells.extend([
        f(Field::Ereq),
        f(Field::Econ),
        f(Field::Eresp),
        f(Field::Wretr),
        f(Field::Wredis),
    ]);
    for c in &cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    // Server
    let status = r.text(Field::Status);
    match r.kind {
        Kind::Frontend => {
            let _ = write!(
                out,
                "<td class=\"status\">{}</td><td colspan=\"8\"></td>",
                esc(status)
            );
        }
        Kind::Server | Kind::Backend => {
            let shown = if status == "no check" {
                "<i>no check</i>".to_string()
            } else {
                format!("{} {}", secs(Field::Lastchg), esc(status))
            };
            let _ = write!(out, "<td class=\"status\">{shown}</td>");
            let check = if server && !r.text(Field::CheckStatus).is_empty() {
                let code = match r.text(Field::CheckCode) {
                    "" => String::new(),
                    c => format!("/{}", esc(c)),
                };
                let took = match r.text(Field::CheckDuration) {
                    "" => String::new(),
                    d => format!(" in {}ms", esc(d)),
                };
                let info = match r.text(Field::LastChk) {
                    "" => String::new(),
                    i => format!(": {}", esc(i)),
                };
                format!(
                    "<span title=\"{}{info}\">{}{code}{took}</span>",
                    f(Field::CheckDesc),
                    f(Field::CheckStatus)
                )
            } else {
                String::new()
            };
            let _ = write!(out, "<td class=\"check\">{check}</td>");
            let _ = write!(
                out,
                "<td class=\"flag\">{}/{}</td>",
                f(Field::Weight),
                f(Field::Uweight)
            );
            let flag = |v: &str| if v == "1" { "Y" } else { "-" };
            if server {
                let _ = write!(
                    out,
                    "<td class=\"flag\">{}</td><td class=\"flag\">{}</td>",
                    flag(r.text(Field::Act)),
                    flag(r.text(Field::Bck))
                );
            } else {
                let _ = write!(
                    out,
                    "<td class=\"flag\">{}</td><td class=\"flag\">{}</td>",
                    f(Field::Act),
                    f(Field::Bck)
                );
            }
            let checked = !server || !r.text(Field::CheckStatus).is_empty();
            if checked {
                let downtime = if r.text(Field::Downtime).is_empty() {
                    String::new()
                } else {
                    secs(Field::Downtime)
                };
                let _ = write!(
                    out,
                    "<td>{}</td><td>{}</td><td>{downtime}</td>",
                    f(Field::Chkfail),
                    f(Field::Chkdown)
                );
            } else {
                out.push_str("<td colspan=\"3\"></td>");
            }
            let throttle = match r.text(Field::Throttle) {
                "" if server => "-".to_string(),
                "" => String::new(),
                t => format!("{}%", esc(t)),
            };
            let _ = write!(out, "<td class=\"flag\">{throttle}</td>");
        }
    }
    out.push_str("</tr>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
