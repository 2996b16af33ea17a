//! `show table [NAME [filter]]`, `clear table NAME [filter]` and `set
//! table NAME key KEY [data.TYPE VALUE]...`: the stick tables of the
//! config in effect, in HAProxy 2.6's format and words (`# table: NAME,
//! type: T, size:N, used:N` and one line per entry).

use crate::config::{DATA_TYPES, DataType, Level};
use crate::rules::Sample;
use crate::rules::table::{Filter, Op, Table};

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
    cmd(
        &["set", "table"],
        Level::Admin,
        "set table <table> key <k> [data.* <v>]*",
        "update or create a table entry's data",
        set,
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

fn data_type(word: &str) -> Option<DataType> {
    let name = word.strip_prefix("data.")?;
    DATA_TYPES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// `key KEY` or `data.TYPE OP VALUE...` after the table name.
fn filter(t: &Table, args: &[String]) -> Result<Filter, String> {
    let rest = args.get(3..).unwrap_or_default();
    match rest {
        [] => Ok(Filter::All),
        [k, key, ..] if k == "key" => t
            .key(&Sample::Str(key.as_bytes().to_vec()))
            .map(Filter::Key)
            .ok_or_else(|| "Unable to parse key.".to_string()),
        [k] if k == "key" => Err("Key value expected".into()),
        _ => {
            let mut conds = Vec::new();
            for (n, chunk) in rest.chunks(3).enumerate() {
                let n = n + 1;
                let Some(dt) = data_type(&chunk[0]) else {
                    return Err(format!("Filter entry #{n}: Unknown data type"));
                };
                if t.index(dt).is_none() {
                    return Err(format!(
                        "Filter entry #{n}: Data type not stored in this table"
                    ));
                }
                let op = match chunk.get(1).map(String::as_str) {
                    Some("eq") => Op::Eq,
                    Some("ne") => Op::Ne,
                    Some("le") => Op::Le,
                    Some("ge") => Op::Ge,
                    Some("lt") => Op::Lt,
                    Some("gt") => Op::Gt,
                    _ => {
                        return Err(format!(
                            "Filter entry #{n}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\""
                        ));
                    }
                };
                let Some(v) = chunk.get(2).and_then(|v| v.parse::<i64>().ok()) else {
                    return Err(format!(
                        "Filter entry #{n}: Require a valid integer value to compare against"
                    ));
                };
                conds.push((dt, op, v));
            }
            Ok(Filter::Data(conds))
        }
    }
}

fn show(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(2) else {
        // The last declared first, as HAProxy lists them.
        for t in ctx.rt.rules.tables.iter().rev() {
            out.push_str(&header(t));
        }
        return;
    };
    let Some(t) = find(ctx, name, out) else {
        return;
    };
    let f = match filter(t, args) {
        Ok(f) => f,
        Err(e) => return out.push_str(&format!("{e}\n")),
    };
    let lines = t.dump(&f);
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
    match filter(t, args) {
        Ok(f) => t.clear(&f),
        Err(e) => out.push_str(&format!("{e}\n")),
    }
}

fn set(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(2) else {
        out.push_str("'set table' expects a table name\n");
        return;
    };
    let Some(t) = find(ctx, name, out) else {
        return;
    };
    let (Some("key"), Some(key)) = (args.get(3).map(String::as_str), args.get(4)) else {
        out.push_str(
            "content-based lookup is only supported with the \"show\" and \"clear\" actions\n",
        );
        return;
    };
    let Some(key) = t.key(&Sample::Str(key.as_bytes().to_vec())) else {
        out.push_str("Unable to parse key.\n");
        return;
    };
    let mut values = Vec::new();
    for pair in args[5..].chunks(2) {
        let Some(dt) = data_type(&pair[0]) else {
            out.push_str("Unknown data type\n");
            return;
        };
        if t.index(dt).is_none() {
            out.push_str("Data type not stored in this table\n");
            return;
        }
        let Some(v) = pair.get(1).and_then(|v| v.parse::<i64>().ok()) else {
            out.push_str("Require a valid integer value to store\n");
            return;
        };
        values.push((dt, v));
    }
    if let Err(e) = t.set(key, &values) {
        out.push_str(e);
        out.push('\n');
    }
}
