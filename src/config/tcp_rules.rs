//! The rule keywords of a proxy section: `acl`, `tcp-request`,
//! `tcp-response`, `use_backend`, `use-server` (HAProxy 2.6 configuration
//! manual, section 4.2), read into the section's [`RuleSet`]. The parser
//! hands these lines here with the config's pattern lists.

use super::acl::{self, AclTable, Patterns};
use super::model::*;
use super::parser::Diags;
use super::proxy::{Kind, ProxyDraft};
use super::sample::Stage;
use super::values::parse_time;

/// The first words handled here.
pub(super) const RULE_KEYWORDS: &[&str] = &[
    "acl",
    "tcp-request",
    "tcp-response",
    "use_backend",
    "use-server",
    "monitor",
    "stick-table",
    "stick",
];

/// Which rule list a `tcp-request`/`tcp-response` line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Connection,
    Session,
    Content,
    Response,
}

impl List {
    fn what(self) -> &'static str {
        match self {
            List::Connection => "tcp-request connection",
            List::Session => "tcp-request session",
            List::Content => "tcp-request content",
            List::Response => "tcp-response content",
        }
    }

    /// The latest data a condition of this list can see.
    fn stage(self) -> Stage {
        match self {
            List::Connection => Stage::Connection,
            List::Session => Stage::Session,
            List::Content => Stage::Request,
            List::Response => Stage::Response,
        }
    }
}

/// Applies one rule line to the section's draft.
pub(super) fn keyword(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let key = words[0].as_str();
    let delay = matches!(
        (key, words.get(1).map(String::as_str)),
        ("tcp-request" | "tcp-response", Some("inspect-delay"))
    );
    if p.kind == Kind::Defaults && !delay {
        return d.error(loc, format!("'{key}' not allowed in 'defaults' section."));
    }
    match key {
        "acl" => acl::acl_line(&mut p.acls, patterns, words, loc, d),
        "tcp-request" | "tcp-response" if delay => inspect_delay(p, words, loc, d),
        "tcp-request" => {
            let list = match words.get(1).map(String::as_str) {
                Some("connection") => List::Connection,
                Some("session") => List::Session,
                Some("content") => List::Content,
                other => {
                    return d.error(
                        loc,
                        format!(
                            "'tcp-request' expects 'inspect-delay', 'connection', 'session' or 'content', found '{}'",
                            other.unwrap_or("")
                        ),
                    );
                }
            };
            let side_ok = match list {
                List::Connection | List::Session => p.kind.front(),
                _ => true,
            };
            if !side_ok {
                return d.warn(
                    loc,
                    format!(
                        "'{}' ignored because {} has no frontend capability.",
                        list.what(),
                        p.who()
                    ),
                );
            }
            rule(p, patterns, list, words, loc, d)
        }
        "tcp-response" => match words.get(1).map(String::as_str) {
            Some("content") if p.kind.back() => rule(p, patterns, List::Response, words, loc, d),
            Some("content") => d.warn(
                loc,
                format!(
                    "'tcp-response content' ignored because {} has no backend capability.",
                    p.who()
                ),
            ),
            other => d.error(
                loc,
                format!(
                    "'tcp-response' expects 'inspect-delay' or 'content', found '{}'",
                    other.unwrap_or("")
                ),
            ),
        },
        "use_backend" => use_backend(p, patterns, words, loc, d),
        "use-server" => use_server(p, patterns, words, loc, d),
        "monitor" => monitor(p, patterns, words, loc, d),
        "stick" => super::stick_rules::stick(p, patterns, words, loc, d),
        "stick-table" => {
            let mut warnings = Vec::new();
            match stick_table(&p.name, &p.name, None, &words[1..], loc, &mut warnings) {
                Ok(t) => p.table = Some(t),
                Err(e) => d.error(loc, format!("stick-table: {e}")),
            }
            for w in warnings {
                d.warn(loc, format!("stick-table: {w}"));
            }
        }
        _ => unreachable!("RULE_KEYWORDS"),
    }
}

fn inspect_delay(p: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let what = format!("{} inspect-delay", words[0]);
    let Some(v) = words.get(2) else {
        return d.error(
            loc,
            format!("'{what}' expects a positive delay in milliseconds"),
        );
    };
    match parse_time(v, 1000) {
        Ok(t) => {
            if words[0] == "tcp-request" {
                p.rules.inspect_delay = Some(t);
            } else {
                p.rules.response_delay = Some(t);
            }
        }
        Err(e) => d.error(loc, format!("'{what}': {e}")),
    }
}

/// `if|unless ...` at `words[at..]`, or no condition.
fn optional_cond(
    who: &str,
    acls: &mut AclTable,
    patterns: &mut Patterns,
    words: &[String],
    at: usize,
    what: &str,
    loc: &Location,
) -> Result<Option<(Condition, Stage)>, String> {
    match words.get(at).map(String::as_str) {
        None => Ok(None),
        Some(w @ ("if" | "unless")) => {
            let c = acl::condition(acls, patterns, &words[at..], loc).map_err(|e| {
                // HAProxy's words for each kind of rule.
                match what {
                    "use_backend" => format!("error detected while parsing switching rule : {e}."),
                    "use-server" => format!("error detected while parsing use-server rule : {e}."),
                    _ => format!(
                        "'{what}' : error detected in {} while parsing '{w}' condition : {e}",
                        who
                    ),
                }
            })?;
            Ok(Some((c.cond, c.stage)))
        }
        Some(other) => Err(format!(
            "'{what}': unexpected '{other}' (expects 'if' or 'unless' followed by a condition)"
        )),
    }
}

fn rule(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    list: List,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let what = list.what();
    let Some(name) = words.get(2) else {
        return d.error(loc, format!("'{what}' expects an action"));
    };
    let expr = |i: usize, patterns: &mut Patterns| -> Result<SampleExpr, String> {
        let text = words
            .get(i)
            .ok_or_else(|| format!("'{what} {name}' expects a sample expression"))?;
        let parsed = acl::sample_expr(text, patterns, loc)?;
        if parsed.stage > list.stage() {
            return Err(format!(
                "'{what} {name}': fetch '{text}' has no data at this point"
            ));
        }
        Ok(parsed.expr)
    };
    let result: Result<(Action, usize), String> = (|| {
        let (base, arg) = match name.split_once('(') {
            Some((b, rest)) => (b, rest.strip_suffix(')')),
            None => (name.as_str(), None),
        };
        Ok(match (base, list) {
            ("accept", _) => (Action::Accept, 3),
            ("reject", _) => (Action::Reject, 3),
            ("close", List::Response) => (Action::Close, 3),
            ("silent-drop", _) => (Action::SilentDrop, 3),
            ("expect-proxy", List::Connection) => match words.get(3).map(String::as_str) {
                Some("layer4") => (Action::ExpectProxy, 4),
                _ => return Err("'tcp-request connection expect-proxy' expects 'layer4'".into()),
            },
            ("set-var", _) => {
                let v = super::sample::parse_var(arg.ok_or("'set-var' expects '(scope.name)'")?)?;
                (Action::SetVar(v, expr(3, patterns)?), 4)
            }
            ("unset-var", _) => {
                let v = super::sample::parse_var(arg.ok_or("'unset-var' expects '(scope.name)'")?)?;
                (Action::UnsetVar(v), 3)
            }
            ("set-src", List::Connection | List::Session | List::Content) => {
                (Action::SetSrc(expr(3, patterns)?), 4)
            }
            ("set-dst", List::Connection | List::Session | List::Content) => {
                (Action::SetDst(expr(3, patterns)?), 4)
            }
            ("set-src-port", List::Connection | List::Session | List::Content) => {
                (Action::SetSrcPort(expr(3, patterns)?), 4)
            }
            ("set-dst-port", List::Connection | List::Session | List::Content) => {
                (Action::SetDstPort(expr(3, patterns)?), 4)
            }
            ("capture", List::Content) => {
                let sample = expr(3, patterns)?;
                let len = match (words.get(4).map(String::as_str), words.get(5)) {
                    (Some("len"), Some(n)) => {
                        n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                            format!("'capture' length '{n}' is not a positive integer")
                        })?
                    }
                    _ => return Err("'tcp-request content capture' expects 'len <length>'".into()),
                };
                (Action::Capture { sample, len }, 6)
            }
            _ if base.starts_with("track-sc") && base.len() == 9 => {
                let counter = stick_counter(&base[8..])?;
                let key = expr(3, patterns)?;
                match (words.get(4).map(String::as_str), words.get(5)) {
                    (Some("table"), Some(t)) => (
                        Action::Track {
                            counter,
                            key,
                            table: TableRef {
                                name: t.clone(),
                                id: None,
                            },
                        },
                        6,
                    ),
                    (Some("table"), None) => {
                        return Err(format!(
                            "'{what} {name}' expects a table name after 'table'"
                        ));
                    }
                    _ => (
                        Action::Track {
                            counter,
                            key,
                            table: TableRef {
                                name: String::new(),
                                id: None,
                            },
                        },
                        4,
                    ),
                }
            }
            _ if name.starts_with("sc-inc-gpc") => {
                let t = super::table_actions::inc_gpc(name)?;
                let (counter, gpc, idx) = (t.counter, t.data, t.idx);
                (Action::IncGpc { counter, gpc, idx }, 3)
            }
            _ if name.starts_with("sc-set-gpt") => {
                let t = super::table_actions::set_gpt(name)?;
                // An integer, or an expression; nothing at all is 0 (C's
                // strtol on the empty word, as HAProxy reads it).
                let value = match words.get(3) {
                    None => const_int(0, "0"),
                    Some(v) if v.parse::<i64>().is_ok() => const_int(v.parse().unwrap_or(0), v),
                    _ => expr(3, patterns)?,
                };
                let (counter, gpt, idx) = (t.counter, t.data, t.idx);
                (
                    Action::SetGpt {
                        counter,
                        gpt,
                        idx,
                        value,
                    },
                    4,
                )
            }
            _ if base.starts_with("track-sc") || base.starts_with("sc-") => {
                return Err(format!(
                    "'{what} {name}' needs stick tables, which splicer does not support yet"
                ));
            }
            ("switch-mode" | "use-service", _) => {
                return Err(format!(
                    "'{what} {name}' needs mode http; splicer is a TCP load balancer"
                ));
            }
            _ => {
                return Err(format!(
                    "'{what}' does not support action '{name}' (splicer supports accept, reject, silent-drop, set-var, unset-var{}{})",
                    match list {
                        List::Connection =>
                            ", expect-proxy layer4, set-src, set-dst, set-src-port, set-dst-port",
                        List::Session => ", set-src, set-dst, set-src-port, set-dst-port",
                        List::Content => ", capture, set-src, set-dst, set-src-port, set-dst-port",
                        List::Response => ", close",
                    },
                    ""
                ));
            }
        })
    })();
    let (action, next) = match result {
        Ok(v) => v,
        Err(e) => return d.error(loc, e),
    };
    let full = format!("{what} {name}");
    let cond = match optional_cond(&p.who(), &mut p.acls, patterns, words, next, &full, loc) {
        Ok(c) => c,
        Err(e) => return d.error(loc, e),
    };
    if let Some((_, stage)) = &cond
        && *stage > list.stage()
    {
        d.warn(
            loc,
            format!(
                "acl in '{what}' rule will never match because it fetches data that is not available at this point."
            ),
        );
    }
    let rule = TcpRule {
        action,
        cond: cond.map(|(c, _)| c),
        location: loc.clone(),
    };
    match list {
        List::Connection => p.rules.connection.push(rule),
        List::Session => p.rules.session.push(rule),
        List::Content => p.rules.content.push(rule),
        List::Response => p.rules.response.push(rule),
    }
}

fn use_backend(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    if !p.kind.front() {
        return d.warn(
            loc,
            format!(
                "'use_backend' ignored because {} has no frontend capability.",
                p.who()
            ),
        );
    }
    let Some(name) = words.get(1) else {
        return d.error(loc, "'use_backend' expects a backend name.");
    };
    let target = if name.contains("%[") {
        match acl::template(name, patterns, loc) {
            Ok(parts) => {
                // Conservative: a template may read the request.
                p.rules.use_backend_reads_payload = true;
                SwitchTarget::Dynamic(parts)
            }
            Err(e) => return d.error(loc, format!("'use_backend': {e}")),
        }
    } else {
        SwitchTarget::Backend(BackendRef {
            name: name.clone(),
            id: None,
        })
    };
    match optional_cond(
        &p.who(),
        &mut p.acls,
        patterns,
        words,
        2,
        "use_backend",
        loc,
    ) {
        Ok(cond) => p.rules.use_backend.push(UseBackend {
            target: {
                if cond.as_ref().is_some_and(|(_, s)| *s >= Stage::Request) {
                    p.rules.use_backend_reads_payload = true;
                }
                target
            },
            cond: cond.map(|(c, _)| c),
            location: loc.clone(),
        }),
        Err(e) => d.error(loc, e),
    }
}

fn use_server(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    if !p.kind.back() {
        return d.warn(
            loc,
            format!(
                "'use-server' ignored because {} has no backend capability.",
                p.who()
            ),
        );
    }
    let Some(name) = words.get(1) else {
        return d.error(loc, "'use-server' expects a server name.");
    };
    if name.contains("%[") {
        return d.error(loc, "'use-server' with a dynamic name is not supported yet");
    }
    match optional_cond(&p.who(), &mut p.acls, patterns, words, 2, "use-server", loc) {
        Ok(cond) => p.rules.use_server.push(UseServer {
            name: name.clone(),
            server: None,
            cond: cond.map(|(c, _)| c),
            location: loc.clone(),
        }),
        Err(e) => d.error(loc, e),
    }
}

/// `monitor fail if|unless COND` (for the `monitor-uri` of a stats
/// frontend).
fn monitor(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    if words.get(1).map(String::as_str) != Some("fail") {
        return d.error(loc, "'monitor' expects 'fail'.");
    }
    if !p.kind.front() {
        return d.warn(
            loc,
            format!(
                "'monitor fail' ignored because {} has no frontend capability.",
                p.who()
            ),
        );
    }
    if !matches!(words.get(2).map(String::as_str), Some("if" | "unless")) {
        return d.error(
            loc,
            "'monitor fail' expects 'if' or 'unless' followed by a condition.",
        );
    }
    match acl::condition(&mut p.acls, patterns, &words[2..], loc) {
        Ok(c) => p.rules.monitor_fail.push(c.cond),
        Err(e) => d.error(
            loc,
            format!("'monitor fail' : error detected while parsing condition : {e}"),
        ),
    }
}

fn const_int(v: i64, text: &str) -> SampleExpr {
    SampleExpr {
        fetch: Fetch::ConstInt(v),
        converters: Vec::new(),
        text: text.to_string(),
    }
}

/// A stick counter number (0 to 2).
fn stick_counter(n: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .ok()
        .filter(|n| *n < STICK_COUNTERS)
        .ok_or_else(|| format!("'{n}' is not a stick counter (0 to {})", STICK_COUNTERS - 1))
}

/// The arguments of `stick-table type T [len N] size N [expire T]
/// [nopurge] [peers NAME] [store ...]` (`args`: after the keyword), with
/// HAProxy's messages. `name` is the table's name for rules and the
/// runtime API, `sync_name` its name in the peers protocol. A `table` line
/// of a peers section reads the same arguments but `peers`: `section` is
/// that section, which shares the table.
pub(super) fn stick_table(
    name: &str,
    sync_name: &str,
    section: Option<&str>,
    args: &[String],
    loc: &Location,
    warnings: &mut Vec<String>,
) -> Result<StickTable, String> {
    use super::values::parse_size;
    let mut key = None;
    let mut len = None;
    let mut size = None;
    let mut expire = None;
    let mut nopurge = false;
    let mut srvkey = SrvKey::Name;
    let mut store = super::table_store::Store::default();
    let mut peers = section.map(str::to_string);
    let mut i = 0;
    let next = |i: &mut usize, what: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("missing argument after '{what}'."))
    };
    while i < args.len() {
        match args[i].as_str() {
            "type" => {
                let t = next(&mut i, "type")?;
                key = Some(match t.as_str() {
                    "ip" => "ip",
                    "ipv6" => "ipv6",
                    "integer" => "integer",
                    "string" => "string",
                    "binary" => "binary",
                    other => return Err(format!("unknown type '{other}'.")),
                });
            }
            "len" => {
                len = Some(
                    next(&mut i, "len")?
                        .parse::<usize>()
                        .map_err(|_| "invalid length".to_string())?,
                );
            }
            "size" => size = Some(parse_size(&next(&mut i, "size")?)?),
            "expire" => expire = Some(parse_time(&next(&mut i, "expire")?, 1000)?),
            "nopurge" => nopurge = true,
            // A peers section's own tables take no other section.
            "peers" if section.is_none() => peers = Some(next(&mut i, "peers")?),
            "srvkey" => {
                srvkey = match next(&mut i, "srvkey")?.as_str() {
                    "name" => SrvKey::Name,
                    "addr" => SrvKey::Addr,
                    other => {
                        return Err(format!("unknown server key type '{other}'."));
                    }
                };
            }
            "store" => {
                super::table_store::store_list(&next(&mut i, "store")?, &mut store, warnings)?
            }
            other => return Err(format!("unknown argument '{other}'.")),
        }
        i += 1;
    }
    let key = match key {
        None => return Err("missing type.".into()),
        Some("ip") => TableKey::Ip,
        Some("ipv6") => TableKey::Ipv6,
        Some("integer") => TableKey::Integer,
        Some("string") => TableKey::String(len.unwrap_or(32)),
        Some(_) => TableKey::Binary(len.unwrap_or(32)),
    };
    let size = size.filter(|s| *s > 0).ok_or("missing size.")?;
    let super::table_store::Store {
        types: mut store,
        arrays,
    } = store;
    store.sort_by_key(|(t, _)| *t);
    Ok(StickTable {
        name: name.to_string(),
        location: loc.clone(),
        key,
        size,
        expire,
        nopurge,
        store,
        arrays,
        srvkey,
        peers,
        sync_name: sync_name.to_string(),
    })
}
