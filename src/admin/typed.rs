//! `show stat typed` and `show stat json`: the `show stat` rows with each
//! field's position, name, tags and type, in HAProxy 2.6's two layouts.
//!
//! Typed, one line per field that has a value:
//! `F.2.0.4.scur.1:MGP:u32:0` (object type, proxy id, server id, position,
//! name, process number; origin, nature, scope; type; value).
//! JSON: an array holding one array per row, one object per field.
//!
//! The tags and types are HAProxy 2.6's, read from its output for every
//! field (see the tests and tests/e2e/admin_clients.rs, which compares the two
//! programs line by line).

use std::fmt::Write;

use super::field::Field;
use super::stat::{Kind, Row, typed_pos};

use super::cli::{Command, cmd};
use crate::config::Level;
/// `show schema json`.
pub(super) const COMMANDS: &[Command] = &[cmd(
    &["show", "schema", "json"],
    Level::User,
    "show schema json",
    "report schema used for stats",
    |_, _, out| out.push_str(SCHEMA),
)];

/// A field's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    S32,
    U32,
    U64,
    Str,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::S32 => "s32",
            Ty::U32 => "u32",
            Ty::U64 => "u64",
            Ty::Str => "str",
        }
    }
}

/// A field's tags (origin, nature, scope, as three letters) and type in
/// rows of `kind`.
pub(super) fn meta(kind: Kind, field: Field) -> (&'static str, Ty) {
    use Field::*;
    use Ty::*;
    match (kind, field) {
        // HAProxy tags these four as gauges on backend rows only.
        (Kind::Backend, Act | Bck | Rate | RateMax) => ("MGP", U32),
        (_, Pxname | Svname) => ("KNS", Str),
        (_, Pid) => ("KGP", U32),
        (_, Iid | Sid) => ("KGS", U32),
        (_, Status) => ("SGP", Str),
        (_, Act | Bck) => ("SGP", U32),
        (_, Mode | Addr | Algo) => ("CGS", Str),
        (
            _,
            Type | Qlimit | CheckRise | CheckFall | CheckHealth | AgentRise | AgentFall
            | AgentHealth,
        ) => ("CGS", U32),
        (_, Tracked | Cookie) => ("CNS", Str),
        (_, Slim | RateLim) => ("CLP", U32),
        (_, Lastsess) => ("MAP", S32),
        (_, Lastchg) => ("MAP", U32),
        (_, Downtime) => ("MCP", U32),
        (_, CheckDuration | AgentDuration) => ("MDP", U64),
        (
            _,
            Scur | Qcur | SrvIcur | IdleConnCur | SafeConnCur | UsedConnCur | NeedConnEst
            | AggServerStatus | AggServerCheckStatus | AggCheckStatus | SrcIlim,
        ) => ("MGP", U32),
        (_, H2OpenConnections | H2BackendOpenStreams | H1OpenConnections | H1OpenStreams) => {
            ("MGP", U64)
        }
        (
            _,
            Smax | Qmax | RateMax | ReqRateMax | ConnRateMax | QtimeMax | CtimeMax | RtimeMax
            | TtimeMax,
        ) => ("MMP", U32),
        (_, CheckStatus | LastChk | CheckDesc | LastAgt | AgentStatus | AgentDesc) => ("MOP", Str),
        (_, CheckCode | AgentCode) => ("MOP", U32),
        (_, Rate | ReqRate | ConnRate) => ("MRP", U32),
        (_, Weight | Uweight | Throttle | Qtime | Ctime | Rtime | Ttime) => ("MaP", U32),
        // Every other field is a counter: sessions, bytes, errors, and
        // the modules' (SSL, HTTP/1, HTTP/2) counts.
        _ => ("MCP", U64),
    }
}

/// The typed form's letter for a row kind, and the JSON's name.
fn kind_names(kind: Kind) -> (char, &'static str) {
    match kind {
        Kind::Frontend => ('F', "Frontend"),
        Kind::Backend => ('B', "Backend"),
        Kind::Server => ('S', "Server"),
    }
}

/// One field of one row, ready to print.
struct Item<'a> {
    pos: usize,
    name: &'static str,
    tags: &'static str,
    ty: Ty,
    value: &'a str,
}

/// The fields of `r` that have a value, in order.
fn items(r: &Row) -> impl Iterator<Item = Item<'_>> {
    r.cells.iter().enumerate().filter_map(move |(i, cell)| {
        let pos = typed_pos(i)?;
        let value = cell.as_deref()?;
        let field = Field::ALL[i];
        let (tags, mut ty) = meta(r.kind, field);
        // A number field that does not read as one is shown as the text it
        // is, so that the JSON stays valid whatever a field holds.
        if ty != Ty::Str && value.parse::<i64>().is_err() {
            ty = Ty::Str;
        }
        Some(Item {
            pos,
            name: field.name(),
            tags,
            ty,
            value,
        })
    })
}

fn ids(r: &Row) -> (&str, &str) {
    (
        r.get(Field::Iid).unwrap_or("0"),
        r.get(Field::Sid).unwrap_or("0"),
    )
}

pub(super) fn write_typed(rows: &[Row], out: &mut String) {
    for r in rows {
        let (letter, _) = kind_names(r.kind);
        let (iid, sid) = ids(r);
        for it in items(r) {
            let _ = writeln!(
                out,
                "{letter}.{iid}.{sid}.{}.{}.1:{}:{}:{}",
                it.pos,
                it.name,
                it.tags,
                it.ty.name(),
                it.value.replace('\n', " ")
            );
        }
    }
}

pub(super) fn write_json(rows: &[Row], out: &mut String) {
    out.push('[');
    for (n, r) in rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let (_, obj) = kind_names(r.kind);
        let (iid, sid) = ids(r);
        out.push('[');
        for (m, it) in items(r).enumerate() {
            if m > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"objType\":\"{obj}\",\"proxyId\":{iid},\"id\":{sid},\
                 \"field\":{{\"pos\":{},\"name\":\"{}\"}},\"processNum\":1,\
                 \"tags\":{{\"origin\":\"{}\",\"nature\":\"{}\",\"scope\":\"{}\"}},\
                 \"value\":{{\"type\":\"{}\",\"value\":",
                it.pos,
                it.name,
                origin(it.tags),
                nature(it.tags),
                scope(it.tags),
                it.ty.name(),
            );
            if it.ty == Ty::Str {
                json_string(it.value, out);
            } else {
                out.push_str(it.value);
            }
            out.push_str("}}");
        }
        out.push(']');
    }
    out.push_str("]\n");
}

/// `show schema json`: a JSON schema (draft 4) of what `show stat json`
/// prints (splicer has no `show info json`, so only rows and errors).
pub(super) const SCHEMA: &str = concat!(
    r#"{"$schema":"http://json-schema.org/draft-04/schema#","#,
    r#""title":"splicer show stat json","oneOf":["#,
    r#"{"title":"Stat","type":"array","items":{"title":"Row","type":"array","items":{"#,
    r#""type":"object","required":["objType","proxyId","id","field","processNum","tags","value"],"#,
    r#""properties":{"#,
    r#""objType":{"enum":["Frontend","Backend","Server"]},"#,
    r#""proxyId":{"type":"integer","minimum":0},"#,
    r#""id":{"type":"integer","minimum":0},"#,
    r#""field":{"type":"object","required":["pos","name"],"properties":{"#,
    r#""pos":{"type":"integer","minimum":0},"name":{"type":"string"}}},"#,
    r#""processNum":{"type":"integer","minimum":1},"#,
    r#""tags":{"type":"object","required":["origin","nature","scope"],"properties":{"#,
    r#""origin":{"enum":["Metric","Status","Key","Config","Product","Unknown"]},"#,
    r#""nature":{"enum":["Gauge","Limit","Min","Max","Rate","Counter","Duration","Age","Time","Name","Output","Avg","Unknown"]},"#,
    r#""scope":{"enum":["Cluster","Process","Service","System","Unknown"]}}},"#,
    r#""value":{"type":"object","required":["type","value"],"oneOf":["#,
    r#"{"properties":{"type":{"enum":["s32"]},"value":{"type":"integer","minimum":-2147483648,"maximum":2147483647}}},"#,
    r#"{"properties":{"type":{"enum":["u32"]},"value":{"type":"integer","minimum":0,"maximum":4294967295}}},"#,
    r#"{"properties":{"type":{"enum":["u64"]},"value":{"type":"integer","minimum":0}}},"#,
    r#"{"properties":{"type":{"enum":["str"]},"value":{"type":"string"}}}]}}}}},"#,
    r#"{"title":"Error","type":"object","required":["errorStr"],"properties":{"errorStr":{"type":"string"}}}]}"#,
    "\n"
);

fn letter(tags: &str, i: usize) -> char {
    tags.chars().nth(i).unwrap_or('?')
}

fn origin(tags: &str) -> &'static str {
    match letter(tags, 0) {
        'M' => "Metric",
        'S' => "Status",
        'K' => "Key",
        'C' => "Config",
        'P' => "Product",
        _ => "Unknown",
    }
}

fn nature(tags: &str) -> &'static str {
    match letter(tags, 1) {
        'G' => "Gauge",
        'L' => "Limit",
        'm' => "Min",
        'M' => "Max",
        'R' => "Rate",
        'C' => "Counter",
        'D' => "Duration",
        'A' => "Age",
        'T' => "Time",
        'N' => "Name",
        'O' => "Output",
        'a' => "Avg",
        _ => "Unknown",
    }
}

fn scope(tags: &str) -> &'static str {
    match letter(tags, 2) {
        'C' => "Cluster",
        'P' => "Process",
        'S' => "Service",
        's' => "System",
        _ => "Unknown",
    }
}

/// A JSON string literal.
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_types_are_haproxys() {
        // A sample of HAProxy 2.6's own `show stat typed` lines, per row
        // kind: (kind, field, tags, type).
        let cases: &[(Kind, Field, &str, Ty)] = &[
            (Kind::Frontend, Field::Pxname, "KNS", Ty::Str),
            (Kind::Frontend, Field::Scur, "MGP", Ty::U32),
            (Kind::Frontend, Field::Slim, "CLP", Ty::U32),
            (Kind::Frontend, Field::Stot, "MCP", Ty::U64),
            (Kind::Frontend, Field::Rate, "MRP", Ty::U32),
            (Kind::Frontend, Field::RateMax, "MMP", Ty::U32),
            (Kind::Frontend, Field::H1OpenStreams, "MGP", Ty::U64),
            (Kind::Server, Field::Status, "SGP", Ty::Str),
            (Kind::Server, Field::Weight, "MaP", Ty::U32),
            (Kind::Server, Field::Act, "SGP", Ty::U32),
            (Kind::Server, Field::Lastchg, "MAP", Ty::U32),
            (Kind::Server, Field::Downtime, "MCP", Ty::U32),
            (Kind::Server, Field::Lastsess, "MAP", Ty::S32),
            (Kind::Server, Field::CheckStatus, "MOP", Ty::Str),
            (Kind::Server, Field::CheckCode, "MOP", Ty::U32),
            (Kind::Server, Field::CheckDuration, "MDP", Ty::U64),
            (Kind::Server, Field::CheckRise, "CGS", Ty::U32),
            (Kind::Server, Field::Addr, "CGS", Ty::Str),
            (Kind::Server, Field::Throttle, "MaP", Ty::U32),
            (Kind::Server, Field::Tracked, "CNS", Ty::Str),
            (Kind::Backend, Field::Act, "MGP", Ty::U32),
            (Kind::Backend, Field::Rate, "MGP", Ty::U32),
            (Kind::Backend, Field::RateMax, "MGP", Ty::U32),
            (Kind::Backend, Field::Algo, "CGS", Ty::Str),
            (Kind::Backend, Field::AggCheckStatus, "MGP", Ty::U32),
        ];
        for (kind, field, tags, ty) in cases {
            assert_eq!(meta(*kind, *field), (*tags, *ty), "{kind:?} {field:?}");
        }
    }

    #[test]
    fn the_schema_names_every_tag_the_rows_use() {
        // (Checked with python's jsonschema against a real `show stat
        // json`; here: balanced, and complete for the tags in use.)
        let depth = SCHEMA.chars().try_fold(0i32, |d, c| {
            let d = match c {
                '{' | '[' => d + 1,
                '}' | ']' => d - 1,
                _ => d,
            };
            (d >= 0).then_some(d)
        });
        assert_eq!(depth, Some(0));
        for kind in [Kind::Frontend, Kind::Backend, Kind::Server] {
            for f in Field::ALL.iter().filter(|f| **f != Field::Modules) {
                let (tags, ty) = meta(kind, *f);
                for word in [origin(tags), nature(tags), scope(tags), ty.name()] {
                    assert!(SCHEMA.contains(&format!("\"{word}\"")), "{word}");
                    assert_ne!(word, "Unknown", "{}", f.name());
                }
            }
        }
    }

    fn row(kind: Kind, cells: &[(&str, &str)]) -> Row {
        let mut r = Row {
            kind,
            cells: vec![None; Field::ALL.len()],
        };
        for (f, v) in cells {
            let i = Field::ALL.iter().position(|x| x.name() == *f).unwrap();
            r.cells[i] = Some(v.to_string());
        }
        r
    }

    #[test]
    fn typed_lines_skip_empty_fields_and_number_modules_on() {
        let r = row(
            Kind::Server,
            &[
                ("pxname", "be"),
                ("svname", "s1"),
                ("iid", "3"),
                ("sid", "1"),
                ("last_chk", ""),
                ("-", "-"),
                ("ssl_sess", "0"),
            ],
        );
        let mut out = String::new();
        write_typed(&[r], &mut out);
        assert_eq!(
            out,
            "S.3.1.0.pxname.1:KNS:str:be\n\
             S.3.1.1.svname.1:KNS:str:s1\n\
             S.3.1.27.iid.1:KGS:u32:3\n\
             S.3.1.28.sid.1:KGS:u32:1\n\
             S.3.1.56.last_chk.1:MOP:str:\n\
             S.3.1.103.ssl_sess.1:MCP:u64:0\n"
        );
    }

    #[test]
    fn json_is_one_array_per_row_and_escapes_text() {
        let a = row(
            Kind::Frontend,
            &[("pxname", "f\"e"), ("iid", "2"), ("sid", "0")],
        );
        let b = row(
            Kind::Backend,
            &[("pxname", "be"), ("iid", "3"), ("sid", "0"), ("bin", "12")],
        );
        let mut out = String::new();
        write_json(&[a, b], &mut out);
        assert!(out.starts_with(
            "[[{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"f\\\"e\"}}"
        ), "{out}");
        assert!(out.contains("}],[{\"objType\":\"Backend\""), "{out}");
        assert!(
            out.contains("\"name\":\"bin\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Counter\",\"scope\":\"Process\"},\"value\":{\"type\":\"u64\",\"value\":12}}"),
            "{out}"
        );
        assert!(out.ends_with("\"value\":0}}]]\n"), "{out}");
        let mut empty = String::new();
        write_json(&[], &mut empty);
        assert_eq!(empty, "[]\n");
    }
}
