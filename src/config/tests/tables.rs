//! Stick-table data, actions, fetches and converters in whole configs:
//! what the model holds, and `FILE:LINE` messages for mistakes (HAProxy
//! 2.6's words where it has them, checked with `haproxy -c`).

use super::{HEAD, errors, ok, warnings};
use crate::config::*;

/// `lines` in a frontend with a stick table storing `store` (line 8);
/// line 9 is the first of them.
fn fe(store: &str, lines: &str) -> String {
    format!(
        "{HEAD}frontend f\n bind :80\n stick-table type ip size 1k expire 1m store {store}\n{lines}\n default_backend b\n\
         backend b\n server s 127.0.0.1:81\nbackend other\n stick-table type ip size 10 store gpc(2)\n"
    )
}

#[test]
fn arrays_in_store() {
    let l = ok(&fe("gpt(2),conn_cnt,gpc_rate(3,10s),gpc(4)", ""));
    let t = &l.config.tables[0];
    assert_eq!(
        t.store.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        [
            DataType::ConnCnt,
            DataType::Gpt,
            DataType::Gpc,
            DataType::GpcRate
        ],
        "HAProxy's order"
    );
    assert_eq!(
        (
            t.elems(DataType::Gpt),
            t.elems(DataType::Gpc),
            t.elems(DataType::GpcRate),
            t.elems(DataType::ConnCnt)
        ),
        (2, 4, 3, 1)
    );
    assert_eq!(
        t.store[3].1,
        Some(std::time::Duration::from_secs(10)),
        "the rate's period"
    );
}

#[test]
fn actions_name_their_counter_and_element() {
    let l = ok(&fe(
        "gpc(3),gpt(2),gpc0_rate(1s)",
        " tcp-request connection track-sc1 src\n\
          tcp-request connection sc-inc-gpc(2,1)\n\
          tcp-request connection sc-inc-gpc0\n\
          tcp-request content sc-set-gpt(1,1) 42\n\
          tcp-request content sc-set-gpt0(2) src_port\n\
          tcp-request content sc-set-gpt0",
    ));
    let rs = &l.config.frontends[0].rules;
    let acts: Vec<&Action> = rs
        .connection
        .iter()
        .chain(&rs.content)
        .map(|r| &r.action)
        .collect();
    assert_eq!(
        acts[1],
        &Action::IncGpc {
            counter: 1,
            gpc: DataType::Gpc,
            idx: 2
        }
    );
    assert_eq!(
        acts[2],
        &Action::IncGpc {
            counter: 0,
            gpc: DataType::Gpc0,
            idx: 0
        }
    );
    let set = |a: &Action| match a {
        Action::SetGpt {
            counter,
            gpt,
            idx,
            value,
        } => (*counter, *gpt, *idx, value.fetch.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(set(acts[3]), (1, DataType::Gpt, 1, Fetch::ConstInt(42)));
    assert_eq!(set(acts[4]), (2, DataType::Gpt0, 0, Fetch::SrcPort));
    // No value at all is 0, as HAProxy's strtol reads the empty word.
    assert_eq!(set(acts[5]), (0, DataType::Gpt0, 0, Fetch::ConstInt(0)));
}

#[test]
fn fetches_and_converters_find_their_tables() {
    let l = ok(&fe(
        "gpc(2)",
        " tcp-request connection track-sc0 src\n\
          tcp-request connection reject if { sc_get_gpc(1,0) gt 3 }\n\
          tcp-request connection reject if { src_inc_gpc(0,other) gt 3 }\n\
          tcp-request connection reject if { src,table_gpc(1,other) gt 3 }\n\
          tcp-request connection reject if { src,in_table(f) }\n\
          tcp-request connection reject if { table_avl lt 10 }",
    ));
    let rs = &l.config.frontends[0].rules;
    let samples: Vec<&SampleExpr> = rs.acls.iter().map(|a| &a.exprs[0].sample).collect();
    let other = Some(TableId(1));
    assert!(matches!(
        &samples[1].fetch,
        Fetch::SrcData { data: StickOp::IncGpc(DataType::Gpc, 0), table } if table.id == other
    ));
    assert!(matches!(
        &samples[2].converters[0],
        Converter::Table { conv: TableConv::Get(DataType::Gpc, 1), table } if table.id == other
    ));
    assert!(matches!(
        &samples[3].converters[0],
        Converter::Table { conv: TableConv::InTable, table } if table.id == Some(TableId(0))
    ));
    assert!(matches!(
        &samples[4].fetch,
        Fetch::TableCount(TableCount::Available, table) if table.id == Some(TableId(0))
    ));
}

#[test]
fn mistakes_name_file_and_line() {
    // (description, store, lines from line 9, expected error)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "array too large",
            "gpc(101)",
            "",
            "t.cfg:8: stick-table: array size is out of allowed range (1-100) for store option 'gpc'.",
        ),
        (
            "array without a size",
            "gpt",
            "",
            "t.cfg:8: stick-table: missing argument to store option 'gpt'.",
        ),
        (
            "array rate without a period",
            "gpc_rate(2)",
            "",
            "t.cfg:8: stick-table: missing argument to store option 'gpc_rate'.",
        ),
        (
            "gpc with gpc0",
            "gpc0,gpc(2)",
            "",
            "t.cfg:8: stick-table: simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'.",
        ),
        (
            "a period on a counter",
            "conn_cnt(10s)",
            "",
            "t.cfg:8: stick-table: unexpected argument to store option 'conn_cnt'.",
        ),
        (
            "stick counter out of range",
            "gpc(2)",
            " tcp-request connection sc-inc-gpc(0,3)",
            "t.cfg:9: invalid stick table track ID 'sc-inc-gpc(0,3)'. The max allowed ID is 2",
        ),
        (
            "no element index",
            "gpc(2)",
            " tcp-request connection sc-inc-gpc(1)",
            "t.cfg:9: Missing gpc ID 'sc-inc-gpc(1)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)",
        ),
        (
            "no such tag",
            "gpt(2)",
            " tcp-request connection sc-set-gpt1 5",
            "t.cfg:9: invalid gpt ID 'sc-set-gpt1'. Expects sc-set-gpt(<GPT ID>,<Track ID>)",
        ),
        (
            "a fetch without its index",
            "gpc(2)",
            " tcp-request connection reject if { sc_get_gpc(0) gt 1 }",
            "t.cfg:9: 'tcp-request connection reject' : error detected in frontend 'f' while parsing 'if' condition : error detected while parsing anonymous ACL : fetch method 'sc_get_gpc': expects an element index, a stick counter number and an optional table",
        ),
        (
            "a converter without its table",
            "gpc(2)",
            " tcp-request connection reject if { src,table_gpc(1) gt 1 }",
            "t.cfg:9: 'tcp-request connection reject' : error detected in frontend 'f' while parsing 'if' condition : error detected while parsing anonymous ACL : converter 'table_gpc': expects an element index and a table",
        ),
        (
            "a converter on a table that does not exist",
            "gpc(2)",
            " tcp-request connection reject if { src,table_gpc0(nosuch) gt 1 }",
            "t.cfg:6: frontend 'f': 'src,table_gpc0(nosuch)': unable to find stick-table 'nosuch'",
        ),
        (
            "src_trackers is no fetch of HAProxy 2.6",
            "gpc(2)",
            " tcp-request connection reject if { src_trackers gt 1 }",
            "t.cfg:9: 'tcp-request connection reject' : error detected in frontend 'f' while parsing 'if' condition : error detected while parsing anonymous ACL : unknown fetch method 'src_trackers'",
        ),
    ];
    for (what, store, lines, want) in cases {
        let got = errors(&fe(store, lines));
        assert!(
            got.iter().any(|e| e == want),
            "{what}: wanted\n  {want}\ngot\n  {}",
            got.join("\n  ")
        );
    }
}

#[test]
fn a_store_option_given_twice_is_a_warning() {
    let w = warnings(&fe("gpc(2),conn_cnt,gpc(3)", ""));
    assert!(
        w.iter()
            .any(|w| w == "t.cfg:8: stick-table: store option 'gpc' already enabled, ignored."),
        "{w:?}"
    );
}
