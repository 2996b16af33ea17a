//! `show table [NAME [key KEY]]` and `clear table NAME [key KEY]`: the
//! stick tables of the config in effect, in HAProxy 2.6's format
//! (`# table: NAME, type: T, size:N, used:N` and one line per entry).

use crate::config::Level;
use crate::rules::Sample;
use crate::rules::table::Table;

use super::cli::{Command, Ctx, cmd};

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    cmd(
        &["show", "table"],
        Level::Operator,
        "show table [<table>]",
        "report table usage stats or dump this table's contents",
        show,
    ),
    cmd(
        &["clear", "table"],
        Level::Operator,
        "clear table <table> [<filter>]*",
        "remove an entry from a table (filter: data/key)",
        clear,
    ),
];

fn header(t: &Table) -> String {
    format!(
        "# table: {}, type: {}, size:{}, used:{}\n",
        t.config.name,
        t.config.key.name(),
        t.config.size,
        t.used()
    )
}

/// The table named `name`, or HAProxy's answer when there is none.
fn find<'a>(ctx: &'a Ctx<'_>, name: &str, out: &mut String) -> Option<&'a Table> {
    let found = ctx
        .rt
        .rules
        .tables
        .iter()
        .find(|t| t.config.name == name)
        .map(|t| &**t);
    if found.is_none() {
        out.push_str("No such table\n");
    }
    found
}

/// `key KEY` after the table name, as the table's key.
fn key_filter(
    t: &Table,
    args: &[String],
    out: &mut String,
) -> Result<Option<crate::rules::table::Key>, ()> {
    match (args.get(3).map(String::as_str), args.get(4)) {
        (None, _) => Ok(None),
        (Some("key"), Some(k)) => match t.key(&Sample::Str(k.as_bytes().to_vec())) {
            Some(k) => Ok(Some(k)),
            None => {
                out.push_str("Unable to parse key.\n");
                Err(())
            }
        },
        (Some("key"), None) => {
            out.push_str("Key value expected\n");
            Err(())
        }
        (Some(_), _) => {
            out.push_str("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n");
            Err(())
        }
    }
}

fn show(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(2) else {
        for t in &ctx.rt.rules.tables {
            out.push_str(&header(t));
        }
        return;
    };
    let Some(t) = find(ctx, name, out) else {
        return;
    };
    let Ok(key) = key_filter(t, args, out) else {
        return;
    };
    let lines = t.dump(key.as_ref());
    out.push_str(&header(t));
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

fn clear(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(2) else {
        out.push_str("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n");
        return;
    };
    let Some(t) = find(ctx, name, out) else {
        return;
    };
    let Ok(key) = key_filter(t, args, out) else {
        return;
    };
    t.clear(key.as_ref());
}
