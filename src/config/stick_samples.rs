//! The stick-table fetches and converters of HAProxy 2.6 (configuration
//! manual 7.3.1 `table_*`/`in_table`, 7.3.2 `table_cnt`/`table_avl`,
//! 7.3.3 `sc*_`/`src_`), read into the model ([`StickOp`], [`TableConv`]).
//! The sample parser asks here first for every fetch and converter name.

use super::model::*;

/// A datum a fetch or converter reads, by its name there.
const DATA: &[(&str, DataType)] = &[
    ("bytes_in_rate", DataType::BytesInRate),
    ("bytes_out_rate", DataType::BytesOutRate),
    ("conn_cnt", DataType::ConnCnt),
    ("conn_cur", DataType::ConnCur),
    ("conn_rate", DataType::ConnRate),
    ("http_err_cnt", DataType::HttpErrCnt),
    ("http_err_rate", DataType::HttpErrRate),
    ("http_fail_cnt", DataType::HttpFailCnt),
    ("http_fail_rate", DataType::HttpFailRate),
    ("http_req_cnt", DataType::HttpReqCnt),
    ("http_req_rate", DataType::HttpReqRate),
    ("sess_cnt", DataType::SessCnt),
    ("sess_rate", DataType::SessRate),
];

/// What a fetch's name after `scN_`, `sc_` or `src_` does, and whether
/// it takes an element index first.
fn op(rest: &str) -> Option<(StickOp, bool)> {
    use DataType::*;
    use StickOp::*;
    if let Some((_, t)) = DATA.iter().find(|(n, _)| *n == rest) {
        return Some((Get(*t, 0), false));
    }
    Some(match rest {
        "get_gpt0" => (Get(Gpt0, 0), false),
        "get_gpc0" => (Get(Gpc0, 0), false),
        "get_gpc1" => (Get(Gpc1, 0), false),
        "gpc0_rate" => (Get(Gpc0Rate, 0), false),
        "gpc1_rate" => (Get(Gpc1Rate, 0), false),
        "kbytes_in" => (Kbytes(BytesInCnt), false),
        "kbytes_out" => (Kbytes(BytesOutCnt), false),
        "inc_gpc0" => (IncGpc(Gpc0, 0), false),
        "inc_gpc1" => (IncGpc(Gpc1, 0), false),
        "clr_gpc0" => (ClrGpc(Gpc0, 0), false),
        "clr_gpc1" => (ClrGpc(Gpc1, 0), false),
        "trackers" => (Trackers, false),
        "get_gpt" => (Get(Gpt, 0), true),
        "get_gpc" => (Get(Gpc, 0), true),
        "gpc_rate" => (Get(GpcRate, 0), true),
        "inc_gpc" => (IncGpc(Gpc, 0), true),
        "clr_gpc" => (ClrGpc(Gpc, 0), true),
        "updt_conn_cnt" => (UpdtConnCnt, false),
        _ => return None,
    })
}

/// `op` with its element index.
fn at(op: StickOp, idx: usize) -> StickOp {
    match op {
        StickOp::Get(t, _) => StickOp::Get(t, idx),
        StickOp::IncGpc(t, _) => StickOp::IncGpc(t, idx),
        StickOp::ClrGpc(t, _) => StickOp::ClrGpc(t, idx),
        other => other,
    }
}

fn table(name: &str) -> TableRef {
    TableRef {
        name: name.to_string(),
        id: None,
    }
}

fn counter(n: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .ok()
        .filter(|n| *n < STICK_COUNTERS)
        .ok_or_else(|| format!("'{n}' is not a stick counter (0 to {})", STICK_COUNTERS - 1))
}

/// An element index (HAProxy's unsigned cast: a negative one is no
/// element of any array).
fn index(a: &str) -> Result<usize, String> {
    let i: i64 = a
        .parse()
        .map_err(|_| format!("'{a}' is not an integer (an element index)"))?;
    Ok(usize::try_from(i).unwrap_or(usize::MAX))
}

/// `scN_*([table])`, `sc_*(N[,table])`, `src_*([table])` (with an element
/// index first for the array fetches), `table_cnt([table])`,
/// `table_avl([table])`: `None` when `name` is none of them.
pub(super) fn fetch(name: &str, args: &[String]) -> Option<Result<(Fetch, SampleType), String>> {
    let count = match name {
        "table_cnt" => Some(TableCount::Used),
        "table_avl" => Some(TableCount::Available),
        _ => None,
    };
    if let Some(c) = count {
        return Some(match args {
            [] => Ok((Fetch::TableCount(c, table("")), SampleType::Int)),
            [t] => Ok((Fetch::TableCount(c, table(t)), SampleType::Int)),
            _ => Err("expects at most one argument (a table)".into()),
        });
    }
    let (who, rest) = name.split_once('_')?;
    if rest == "tracked" {
        let n = match who {
            "sc" => match args {
                [n] | [n, _] => counter(n),
                _ => Err("expects a stick counter number and an optional table".into()),
            },
            _ => counter(who.strip_prefix("sc")?),
        };
        return Some(n.map(|n| (Fetch::ScTracked(n), SampleType::Bool)));
    }
    let (op, indexed) = op(rest)?;
    // Which forms HAProxy 2.6 registers: no `src_trackers`, no
    // `scN_` form of the array fetches but its `sc1_clr_gpc`, and
    // `updt_conn_cnt` only as `src_`.
    let registered = match (who, op) {
        ("src", StickOp::Trackers) => false,
        (_, StickOp::UpdtConnCnt) => who == "src",
        ("sc" | "src", _) => true,
        ("sc1", StickOp::ClrGpc(DataType::Gpc, _)) => true,
        (_, _) if indexed => false,
        (n, _) => n.strip_prefix("sc").is_some_and(|d| d.len() == 1),
    };
    if !registered || (who != "sc" && who != "src" && who.strip_prefix("sc").is_none()) {
        return None;
    }
    let form = match (who, indexed) {
        ("sc", false) => "a stick counter number and an optional table",
        ("sc", true) => "an element index, a stick counter number and an optional table",
        (_, true) => "an element index and an optional table",
        (_, false) => "at most one argument (a table)",
    };
    let wrong = || Some(Err(format!("expects {form}")));
    let mut args = args;
    let idx = if indexed {
        let Some((i, more)) = args.split_first() else {
            return wrong();
        };
        args = more;
        match index(i) {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        }
    } else {
        0
    };
    let data = at(op, idx);
    let parsed = match who {
        "src" => match args {
            [] => Ok(Fetch::SrcData {
                data,
                table: table(""),
            }),
            [t] => Ok(Fetch::SrcData {
                data,
                table: table(t),
            }),
            _ => return wrong(),
        },
        "sc" => match args {
            [n] => counter(n).map(|counter| Fetch::Sc {
                counter,
                data,
                table: None,
            }),
            [n, t] => counter(n).map(|counter| Fetch::Sc {
                counter,
                data,
                table: Some(table(t)),
            }),
            _ => return wrong(),
        },
        _ => {
            let n = counter(who.strip_prefix("sc").unwrap_or(who));
            match args {
                [] => n.map(|counter| Fetch::Sc {
                    counter,
                    data,
                    table: None,
                }),
                [t] => n.map(|counter| Fetch::Sc {
                    counter,
                    data,
                    table: Some(table(t)),
                }),
                _ => return wrong(),
            }
        }
    };
    Some(parsed.map(|f| (f, SampleType::Int)))
}

/// `in_table(table)` and the `table_*` converters: `None` when `name` is
/// none of them.
pub(super) fn converter(
    name: &str,
    args: &[String],
) -> Option<Result<(Converter, SampleType), String>> {
    use DataType::*;
    use TableConv::*;
    let rest = name.strip_prefix("table_");
    let (conv, indexed, default) = match (name, rest) {
        ("in_table", _) => (InTable, false, false),
        (_, Some("gpt0")) => (Get(Gpt0, 0), false, false),
        (_, Some("gpc0")) => (Get(Gpc0, 0), false, false),
        (_, Some("gpc1")) => (Get(Gpc1, 0), false, false),
        (_, Some("gpc0_rate")) => (Get(Gpc0Rate, 0), false, false),
        (_, Some("gpc1_rate")) => (Get(Gpc1Rate, 0), false, false),
        (_, Some("gpt")) => (Get(Gpt, 0), true, false),
        (_, Some("gpc")) => (Get(Gpc, 0), true, false),
        (_, Some("gpc_rate")) => (Get(GpcRate, 0), true, false),
        (_, Some("kbytes_in")) => (Kbytes(BytesInCnt), false, false),
        (_, Some("kbytes_out")) => (Kbytes(BytesOutCnt), false, false),
        (_, Some("server_id")) => (Get(ServerId, 0), false, false),
        (_, Some("trackers")) => (Trackers, false, false),
        (_, Some("expire")) => (Expire(None), false, true),
        (_, Some("idle")) => (Idle(None), false, true),
        (_, Some(r)) => (Get(DATA.iter().find(|(n, _)| *n == r)?.1, 0), false, false),
        _ => return None,
    };
    let out = if conv == InTable {
        SampleType::Bool
    } else {
        SampleType::Int
    };
    let parsed = match (args, indexed, default) {
        ([i, t], true, _) => index(i).map(|i| {
            let conv = match conv {
                Get(d, _) => Get(d, i),
                other => other,
            };
            (conv, t)
        }),
        ([t], false, _) => Ok((conv, t)),
        ([t, v], false, true) => v
            .parse::<i64>()
            .map_err(|_| format!("'{v}' is not an integer (the default value)"))
            .map(|v| {
                let c = match conv {
                    Expire(_) => Expire(Some(v)),
                    _ => Idle(Some(v)),
                };
                (c, t)
            }),
        (_, true, _) => Err("expects an element index and a table".into()),
        (_, _, true) => Err("expects a table and an optional default value".into()),
        _ => Err("expects a table".into()),
    };
    Some(parsed.map(|(conv, t)| {
        (
            Converter::Table {
                conv,
                table: table(t),
            },
            out,
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fetches_of_haproxy_2_6() {
        let sc = |counter, data, t: Option<&str>| Fetch::Sc {
            counter,
            data,
            table: t.map(table),
        };
        let src = |data, t: &str| Fetch::SrcData {
            data,
            table: table(t),
        };
        let cases: &[(&str, &[&str], Fetch)] = &[
            ("sc0_conn_cnt", &[], sc(0, StickOp::Get(ConnCnt, 0), None)),
            ("sc_get_gpc", &["3", "1"], sc(1, StickOp::Get(Gpc, 3), None)),
            (
                "sc_get_gpt",
                &["1", "2", "t"],
                sc(2, StickOp::Get(Gpt, 1), Some("t")),
            ),
            (
                "sc_gpc_rate",
                &["0", "0"],
                sc(0, StickOp::Get(GpcRate, 0), None),
            ),
            (
                "sc2_inc_gpc1",
                &["t"],
                sc(2, StickOp::IncGpc(Gpc1, 0), Some("t")),
            ),
            (
                "sc_inc_gpc",
                &["4", "0"],
                sc(0, StickOp::IncGpc(Gpc, 4), None),
            ),
            (
                "sc_clr_gpc",
                &["4", "1"],
                sc(1, StickOp::ClrGpc(Gpc, 4), None),
            ),
            ("sc1_clr_gpc", &["2"], sc(1, StickOp::ClrGpc(Gpc, 2), None)),
            ("sc0_clr_gpc0", &[], sc(0, StickOp::ClrGpc(Gpc0, 0), None)),
            (
                "sc1_kbytes_out",
                &[],
                sc(1, StickOp::Kbytes(BytesOutCnt), None),
            ),
            ("sc_trackers", &["2"], sc(2, StickOp::Trackers, None)),
            ("src_get_gpc", &["1"], src(StickOp::Get(Gpc, 1), "")),
            ("src_get_gpt", &["0", "t"], src(StickOp::Get(Gpt, 0), "t")),
            ("src_inc_gpc0", &[], src(StickOp::IncGpc(Gpc0, 0), "")),
            (
                "src_clr_gpc",
                &["1", "t"],
                src(StickOp::ClrGpc(Gpc, 1), "t"),
            ),
            ("src_kbytes_in", &[], src(StickOp::Kbytes(BytesInCnt), "")),
            ("src_updt_conn_cnt", &["t"], src(StickOp::UpdtConnCnt, "t")),
            ("sc_tracked", &["1", "t"], Fetch::ScTracked(1)),
            (
                "table_cnt",
                &[],
                Fetch::TableCount(TableCount::Used, table("")),
            ),
            (
                "table_avl",
                &["t"],
                Fetch::TableCount(TableCount::Available, table("t")),
            ),
        ];
        for (name, a, want) in cases {
            let (got, _) = fetch(name, &args(a))
                .unwrap_or_else(|| panic!("{name}: not a fetch"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn names_haproxy_2_6_has_not() {
        for name in [
            "src_trackers",
            "sc0_get_gpc",
            "sc2_clr_gpc",
            "sc0_updt_conn_cnt",
            "sc_updt_conn_cnt",
            "sc10_conn_cnt",
            "src_tracked",
            "table_bogus",
        ] {
            assert!(fetch(name, &args(&["0", "0"])).is_none(), "{name}");
        }
        for name in ["table_bogus", "table_avl", "table_cnt", "in_tables"] {
            assert!(converter(name, &args(&["t"])).is_none(), "{name}");
        }
    }

    #[test]
    fn converters_of_haproxy_2_6() {
        let cases: &[(&str, &[&str], TableConv, SampleType)] = &[
            ("in_table", &["t"], TableConv::InTable, SampleType::Bool),
            (
                "table_conn_rate",
                &["t"],
                TableConv::Get(ConnRate, 0),
                SampleType::Int,
            ),
            (
                "table_gpc",
                &["2", "t"],
                TableConv::Get(Gpc, 2),
                SampleType::Int,
            ),
            (
                "table_gpc_rate",
                &["1", "t"],
                TableConv::Get(GpcRate, 1),
                SampleType::Int,
            ),
            (
                "table_gpt0",
                &["t"],
                TableConv::Get(Gpt0, 0),
                SampleType::Int,
            ),
            (
                "table_http_req_cnt",
                &["t"],
                TableConv::Get(HttpReqCnt, 0),
                SampleType::Int,
            ),
            (
                "table_server_id",
                &["t"],
                TableConv::Get(ServerId, 0),
                SampleType::Int,
            ),
            (
                "table_kbytes_in",
                &["t"],
                TableConv::Kbytes(BytesInCnt),
                SampleType::Int,
            ),
            (
                "table_trackers",
                &["t"],
                TableConv::Trackers,
                SampleType::Int,
            ),
            (
                "table_expire",
                &["t"],
                TableConv::Expire(None),
                SampleType::Int,
            ),
            (
                "table_idle",
                &["t", "-1"],
                TableConv::Idle(Some(-1)),
                SampleType::Int,
            ),
        ];
        for (name, a, conv, out) in cases {
            let (got, ty) = converter(name, &args(a))
                .unwrap_or_else(|| panic!("{name}: not a converter"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                got,
                Converter::Table {
                    conv: *conv,
                    table: table("t")
                },
                "{name}"
            );
            assert_eq!(ty, *out, "{name}");
        }
        for (name, a, want) in [
            ("table_gpc0", &[][..], "expects a table"),
            (
                "table_gpc",
                &["t"][..],
                "expects an element index and a table",
            ),
            ("table_gpc", &["x", "t"][..], "'x' is not an integer"),
            ("table_expire", &["t", "x"][..], "'x' is not an integer"),
        ] {
            let e = converter(name, &args(a)).unwrap().unwrap_err();
            assert!(e.contains(want), "{name}: {e}");
        }
    }
}
