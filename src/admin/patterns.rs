//! `show|add|del|clear|get acl` and `show|add|set|del|clear|get map`: the
//! pattern lists of the config in effect, listed, searched and edited
//! without a reload, in HAProxy 2.6's words. An edit applies to the next
//! match on every worker (`rules::refs`); a reload reads the files again,
//! as in HAProxy.

use crate::config::Level;
use crate::config::pattern::MatchMethod;
use crate::rules::Sample;
use crate::rules::refs::{EditError, LiveRef};

use super::cli::{Command, Ctx, cmd};

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["add", "acl"],
        Level::Admin,
        "add acl [@<ver>] <acl> <pattern>",
        "add an acl entry",
        |c, a, o| add(c, a, o, false),
    ),
    cmd(
        &["add", "map"],
        Level::Admin,
        "add map [@<ver>] <map> <key> <val>",
        "add a map entry (payload supported instead of key/val)",
        |c, a, o| add(c, a, o, true),
    ),
    cmd(
        &["clear", "acl"],
        Level::Admin,
        "clear acl [@<ver>] <acl>",
        "clear the contents of this acl",
        |c, a, o| clear(c, a, o, false),
    ),
    cmd(
        &["clear", "map"],
        Level::Admin,
        "clear map [@<ver>] <map>",
        "clear the contents of this map",
        |c, a, o| clear(c, a, o, true),
    ),
    cmd(
        &["del", "acl"],
        Level::Admin,
        "del acl <acl> [<key>|#<ref>]",
        "delete acl entries matching <key>",
        |c, a, o| del(c, a, o, false),
    ),
    cmd(
        &["del", "map"],
        Level::Admin,
        "del map <map> [<key>|#<ref>]",
        "delete map entries matching <key>",
        |c, a, o| del(c, a, o, true),
    ),
    cmd(
        &["get", "acl"],
        Level::Operator,
        "get acl <acl> <value>",
        "report the patterns matching a sample for an ACL",
        |c, a, o| get(c, a, o, false),
    ),
    cmd(
        &["get", "map"],
        Level::Operator,
        "get map <acl> <value>",
        "report the keys and values matching a sample for a map",
        |c, a, o| get(c, a, o, true),
    ),
    cmd(
        &["set", "map"],
        Level::Admin,
        "set map <map> [<key>|#<ref>] <value>",
        "modify a map entry",
        set,
    ),
    cmd(
        &["show", "acl"],
        Level::Operator,
        "show acl [@<ver>] <acl>]",
        "report available acls or dump an acl's contents",
        |c, a, o| show(c, a, o, false),
    ),
    cmd(
        &["show", "map"],
        Level::Operator,
        "show map [@ver] [map]",
        "report available maps or dump a map's contents",
        |c, a, o| show(c, a, o, true),
    ),
];

fn unknown(map: bool) -> &'static str {
    if map {
        "Unknown map identifier. Please use #<id> or <file>.\n"
    } else {
        "Unknown ACL identifier. Please use #<id> or <file>.\n"
    }
}

/// The arguments after the two command words, without a `@<ver>`
/// (splicer applies every edit at once: there are no versions).
fn args(a: &[String]) -> Vec<&str> {
    a.iter()
        .skip(2)
        .map(String::as_str)
        .filter(|w| !w.starts_with('@'))
        .collect()
}

fn with_ref(
    ctx: &Ctx<'_>,
    name: Option<&&str>,
    map: bool,
    out: &mut String,
    f: impl FnOnce(&LiveRef, &mut String),
) {
    let Some(name) = name else {
        let what = if map { "map" } else { "ACL" };
        out.push_str(&format!("Missing {what} identifier.\n"));
        return;
    };
    match ctx.rt.rules.patterns.find(name, map) {
        Some(r) => f(r, out),
        None => out.push_str(unknown(map)),
    }
}

fn edit_error(e: EditError, out: &mut String, not_found: &str) {
    match e {
        EditError::BadKey(why) => {
            out.push_str(&why);
            if !why.ends_with('.') {
                out.push('.');
            }
            out.push('\n');
        }
        EditError::NotFound => out.push_str(not_found),
    }
}

fn show(ctx: &mut Ctx<'_>, a: &[String], out: &mut String, map: bool) {
    let a = args(a);
    if a.is_empty() {
        out.push_str("# id (file) description\n");
        for r in ctx.rt.rules.patterns.refs.iter() {
            if (map && !r.used.map) || (!map && !r.used.acl) {
                continue;
            }
            out.push_str(&format!(
                "{} ({}) {}. curr_ver=0 next_ver=0 entry_cnt={}\n",
                r.uid,
                r.file.as_deref().unwrap_or(""),
                r.description,
                // HAProxy counts an entry once per way it is indexed.
                r.len() * r.ways.len().max(1)
            ));
        }
        return;
    }
    with_ref(ctx, a.first(), map, out, |r, out| {
        for e in r.entries() {
            // The reference `del`/`set` accept as `#0x...`.
            out.push_str(&format!("0x{:x} {}", e.id, e.key));
            if let (true, Some(v)) = (map, &e.value) {
                out.push(' ');
                out.push_str(v);
            }
            out.push('\n');
        }
    });
}

fn add(ctx: &mut Ctx<'_>, a: &[String], out: &mut String, map: bool) {
    let a = args(a);
    if !map
        && let Some(name) = a.first()
        && ctx.rt.rules.patterns.find(name, false).is_none()
        && ctx.rt.rules.patterns.find(name, true).is_some()
    {
        return out.push_str("This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n");
    }
    with_ref(ctx, a.first(), map, out, |r, out| {
        let (key, value) = match (map, a.get(1), a.get(2)) {
            (false, Some(k), _) => (*k, None),
            (true, Some(k), Some(v)) => (*k, Some(*v)),
            (false, None, _) => {
                return out
                    .push_str("'add acl' expects two parameters: ACL identifier and pattern.\n");
            }
            (true, _, _) => {
                return out.push_str(
                    "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n",
                );
            }
        };
        if let Err(e) = r.add(key, value) {
            edit_error(e, out, "");
        }
    });
}

fn del(ctx: &mut Ctx<'_>, a: &[String], out: &mut String, map: bool) {
    let a = args(a);
    with_ref(ctx, a.first(), map, out, |r, out| {
        let Some(which) = a.get(1) else {
            return out.push_str("This command expects two parameters: ACL identifier and key.\n");
        };
        if let Err(e) = r.delete(which) {
            edit_error(e, out, "Key not found.\n");
        }
    });
}

fn clear(ctx: &mut Ctx<'_>, a: &[String], out: &mut String, map: bool) {
    let a = args(a);
    with_ref(ctx, a.first(), map, out, |r, _| r.clear());
}

fn set(ctx: &mut Ctx<'_>, a: &[String], out: &mut String) {
    let a = args(a);
    with_ref(ctx, a.first(), true, out, |r, out| {
        let (Some(which), Some(value)) = (a.get(1), a.get(2)) else {
            return out
                .push_str("'set map' expects three parameters: map identifier, key and value.\n");
        };
        if let Err(e) = r.set(which, value) {
            edit_error(e, out, "entry not found.\n");
        }
    });
}

/// Whether a way of matching is served by a tree (addresses, exact and
/// prefix strings with case) or a list, as `get acl` reports.
fn index_kind(m: MatchMethod, icase: bool) -> &'static str {
    match m {
        MatchMethod::Ip => "tree",
        MatchMethod::Str | MatchMethod::Beg if !icase => "tree",
        _ => "list",
    }
}

fn get(ctx: &mut Ctx<'_>, a: &[String], out: &mut String, map: bool) {
    let a = args(a);
    with_ref(ctx, a.first(), map, out, |r, out| {
        let Some(value) = a.get(1) else {
            return out.push_str("Missing value.\n");
        };
        let sample = Sample::Str(value.as_bytes().to_vec());
        // Every way the list is matched, as HAProxy reports each
        // expression using it.
        for (way, &(method, icase)) in r.ways.iter().enumerate() {
            let case = if icase { "insensitive" } else { "sensitive" };
            let head = format!("type={}, case={case}", method.name());
            let line = r.lookup(way, &sample, |hit| match (hit, map) {
                (None, false) => format!("{head}, match=no"),
                (None, true) => format!("{head}, found=no"),
                (Some(e), false) => format!(
                    "{head}, match=yes, idx={}, pattern=\"{}\"",
                    index_kind(method, icase),
                    e.key
                ),
                (Some(e), true) => format!(
                    "{head}, found=yes, idx={}, key=\"{}\", value=\"{}\", type=\"str\"",
                    index_kind(method, icase),
                    e.key,
                    e.value.as_deref().unwrap_or("")
                ),
            });
            out.push_str(&line);
            out.push('\n');
        }
    });
}
