//! What a stats frontend answers, as HAProxy does: the Prometheus rule
//! first (`use-service` wins over `stats uri`), then any target starting
//! with `stats uri` (a prefix) gets the page after Basic authentication,
//! with the options HAProxy reads after the prefix (`;csv`, `;up`,
//! `;norefresh`, `;st=` after an admin action). Admin actions are the
//! runtime API's own commands run at admin level, so the page changes
//! servers exactly as `set server` does. Anything else gets HAProxy's 503
//! of a proxy without servers.

use std::net::IpAddr;

use crate::config::{Level, StatsUi};
use crate::control::ControlLink;
use crate::runtime::{FrontendState, Runtime};

use super::cli::{Session, run_line};
use super::commands::find_backend;
use super::field::Field;
use super::http::{Request, Response};
use super::stat::{self, Filter, Row};
use super::{metrics, page};

/// Options read after the `stats uri` prefix.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Options {
    pub csv: bool,
    /// `;up`: only servers taking sessions.
    pub up: bool,
    pub norefresh: bool,
    /// `;st=CODE`: the result of the last admin action.
    pub status: Option<String>,
}

impl Options {
    fn parse(rest: &str) -> Options {
        let mut o = Options::default();
        for part in rest.split(';').skip(1) {
            match part {
                "csv" => o.csv = true,
                "up" => o.up = true,
                "norefresh" => o.norefresh = true,
                _ => {
                    if let Some(code) = part.strip_prefix("st=") {
                        o.status =
                            Some(code.chars().take_while(char::is_ascii_alphabetic).collect());
                    }
                }
            }
        }
        o
    }
}

/// The answer of stats frontend `fe` to `req` from `peer`; `workers` run
/// the admin actions that reach sessions.
pub(super) fn answer(
    rt: &Runtime,
    fe: &FrontendState,
    workers: &[ControlLink],
    req: &Request,
    peer: IpAddr,
) -> Response {
    let Some(stats) = &fe.config.stats else {
        return Response::error(503);
    };
    // HAProxy answers the monitor URI before anything else, whatever the
    // method; the URI must match whole (a query string makes it another).
    if stats.monitor_uri.as_deref() == Some(req.target.as_str()) {
        if monitor_fails(rt, fe, peer) {
            return Response::new(
                503,
                "text/html",
                "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
            );
        }
        return Response::new(
            200,
            "text/html",
            "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
        );
    }
    if let Some(rule) = &stats.metrics
        && rule.matches(req.path())
    {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return Response::error(405).header("allow", "GET, HEAD");
        }
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        return Response::new(200, "text/plain; version=0.0.4", metrics::render(rt, query));
    }
    let Some(ui) = stats
        .ui
        .as_ref()
        .filter(|ui| req.target.starts_with(&ui.uri))
    else {
        return Response::error(503);
    };
    if !ui.auth.is_empty() && !authorized(req, ui) {
        return Response::error(401)
            .header("www-authenticate", format!("Basic realm=\"{}\"", ui.realm));
    }
    let opts = Options::parse(&req.target[ui.uri.len()..]);
    let admin = ui.admin.as_ref().is_some_and(|r| r.matches(peer));
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "POST" => {
            let status = if admin {
                apply(rt, workers, &req.body, peer)
            } else {
                "DENY"
            };
            return Response::new(303, "text/plain", "")
                .header("location", format!("{};st={status}", ui.uri));
        }
        _ => return Response::error(405).header("allow", "GET, HEAD, POST"),
    }
    let rows = visible_rows(rt, ui, &fe.config.name, opts.up);
    let refresh = ui.refresh.filter(|_| !opts.norefresh);
    let response = if opts.csv {
        let mut out = String::new();
        stat::write_header(&mut out);
        for r in &rows {
            r.write(&mut out);
        }
        Response::new(200, "text/plain", out)
    } else {
        let ctx = page::Page {
            rt,
            ui,
            opts: &opts,
            admin,
        };
        Response::new(200, "text/html; charset=utf-8", page::render(&ctx, &rows))
    };
    match refresh {
        Some(t) => response.header("refresh", t.as_secs().max(1)),
        None => response,
    }
}

/// `show stat`'s rows, less the proxies out of `stats scope` and, with
/// `;up`, the servers not taking sessions.
fn visible_rows(rt: &Runtime, ui: &StatsUi, me: &str, up: bool) -> Vec<Row> {
    let filter = Filter {
        up,
        ..Filter::default()
    };
    let in_scope = |px: &str| {
        ui.scope.is_empty() || ui.scope.iter().any(|s| s == px || (s == "." && px == me))
    };
    stat::rows(rt, &filter)
        .into_iter()
        .filter(|r| in_scope(r.text(Field::Pxname)))
        .collect()
}

/// Whether the request carries one of the `stats auth` accounts.
fn authorized(req: &Request, ui: &StatsUi) -> bool {
    let Some(creds) = req
        .header("authorization")
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| base64_decode(b64.trim()))
    else {
        return false;
    };
    let Some(colon) = creds.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&creds[..colon], &creds[colon + 1..]);
    // Every account is compared in full: the time taken does not say
    // which part of a guess was right.
    ui.auth.iter().fold(false, |ok, (u, p)| {
        let hit = same(u.as_bytes(), user) & same(p.as_bytes(), pass);
        ok | hit
    })
}

/// Byte strings equal, in a time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 (RFC 4648, padding optional); `None` when malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(value(*c)?) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// `a=1&b=%23x`: pairs, `+` and `%XX` decoded.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// `+` is a space, `%XX` a byte; a `%` without two hex digits stays.
fn url_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 2;
            }
            (b'+', ..) => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs an admin form (`s=SERVER&...&action=ACTION&b=#IID`) as runtime
/// API commands; returns the `st=` code HAProxy uses for the outcome.
fn apply(rt: &Runtime, workers: &[ControlLink], body: &[u8], peer: IpAddr) -> &'static str {
    let form = parse_form(body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(b) = get("b").and_then(|b| find_backend(rt, b)) else {
        return "ERRP";
    };
    let command = match get("action").unwrap_or("") {
        "ready" => "set server {} state ready",
        "drain" => "set server {} state drain",
        "maint" => "set server {} state maint",
        "dhlth" => "disable health {}",
        "ehlth" => "enable health {}",
        "shutdown" => "shutdown sessions server {}",
        "" => return "NONE",
        _ => return "ERRP",
    };
    let servers: Vec<&str> = form
        .iter()
        .filter(|(n, _)| n == "s")
        .map(|(_, v)| v.as_str())
        .collect();
    if servers.is_empty() {
        return "NONE";
    }
    let mut done = 0;
    for name in &servers {
        let Some(sid) = b.servers.iter().position(|s| s.name == *name) else {
            continue;
        };
        // By number: no name can break the command line.
        let line = command.replace("{}", &format!("#{}/#{}", b.config.uid, sid + 1));
        let mut out = String::new();
        run_line(
            line.as_bytes(),
            rt,
            workers,
            &mut Session::new(Level::Admin),
            &mut out,
        );
        if out.trim().is_empty() {
            log::info!(
                "stats page: {peer}: {} on {}/{name}",
                command.replace(" {}", ""),
                b.config.name
            );
            done += 1;
        } else {
            log::info!("stats page: {peer}: {line}: {}", out.trim());
        }
    }
    match done {
        0 => "ERRP",
        n if n == servers.len() => "DONE",
        _ => "PART",
    }
}

/// Whether a `monitor fail` condition of frontend `fe` holds for a
/// request from `peer`.
fn monitor_fails(rt: &Runtime, fe: &FrontendState, peer: IpAddr) -> bool {
    let rules = &fe.config.rules;
    if rules.monitor_fail.is_empty() {
        return false;
    }
    let Some(id) = rt.frontends.iter().position(|f| std::ptr::eq(f, fe)) else {
        return false;
    };
    let mut src = std::net::SocketAddr::new(peer, 0);
    let mut dst = fe
        .config
        .binds
        .first()
        .and_then(|b| b.addr.tcp())
        .unwrap_or(src);
    let mut vars = crate::session::Vars::default();
    let judge = crate::session::Judge {
        rt,
        frontend: crate::base::ids::FrontendId::new(id),
        backend: None,
        server: None,
        bind_id: 0,
        src: &mut src,
        dst: &mut dst,
        unix: false,
        vars: &mut vars,
        request: None,
        response: None,
        expect_proxy: false,
        started: false,
        tls: None,
    };
    rules
        .monitor_fail
        .iter()
        .any(|c| rt.rules.cond(rules, Some(c), &judge) == crate::rules::Verdict::Match)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("YWRtaW46c2VjcmV0", Some(b"admin:secret")),
            ("YTpi", Some(b"a:b")),
            ("YTpiYw==", Some(b"a:bc")),
            ("YTpiYw", Some(b"a:bc")),
            ("", Some(b"")),
            ("Y", None),
            ("YT*i", None),
        ];
        for (text, want) in cases {
            assert_eq!(base64_decode(text).as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn forms_and_options_decode() {
        assert_eq!(
            parse_form(b"s=w1&s=w+2&action=maint&b=%232&x=%zz&y=%4"),
            vec![
                ("s".into(), "w1".into()),
                ("s".into(), "w 2".into()),
                ("action".into(), "maint".into()),
                ("b".into(), "#2".into()),
                ("x".into(), "%zz".into()),
                ("y".into(), "%4".into()),
            ]
        );
        let o = Options::parse(";csv;up;norefresh;st=DONE<script>");
        assert!(o.csv && o.up && o.norefresh);
        assert_eq!(o.status.as_deref(), Some("DONE"));
        assert_eq!(Options::parse(""), Options::default());
    }
}
