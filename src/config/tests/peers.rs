//! `peers` sections, `localpeer`, `-L` and the tables peers share, in
//! whole configs: what the model holds, and `FILE:LINE` messages (HAProxy
//! 2.6's words, checked with `haproxy -c`, unless a case says otherwise).

use super::HEAD;
use crate::config::*;

/// After the peers lines: a proxy, so that the config is complete.
const TAIL: &str = "frontend f\n bind :80\n default_backend b\nbackend b\n server s 127.0.0.1:81\n";

/// Loads `text` (HEAD, then `text`, then TAIL) as `-L local` would, or
/// without `-L` when `local` is `None`.
fn load_as(local: Option<&str>, text: &str) -> Result<Loaded, LoadError> {
    let options = LoadOptions {
        localpeer: local.map(str::to_string),
        ..Default::default()
    };
    let env = |name: &str| (name == "PEER_PORT").then(|| "10009".to_string());
    parse_with("t.cfg", &format!("{HEAD}{text}{TAIL}"), &env, &options)
}

/// `-L a`.
fn load(text: &str) -> Result<Loaded, LoadError> {
    load_as(Some("a"), text)
}

fn ok(text: &str) -> Loaded {
    load(text).unwrap_or_else(|e| panic!("unexpected errors: {:#?}\n{text}", e.errors))
}

fn messages(d: &[Diagnostic]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

/// The sections kept, one per line: `NAME [disabled] bind=ADDR: PEER...`,
/// a local peer marked `*`, an address after `@`.
fn sections(c: &Config) -> String {
    let mut out = String::new();
    for s in &c.peers {
        let disabled = if s.disabled { " disabled" } else { "" };
        let bind = s.bind.map_or("-".into(), |a| a.to_string());
        let peers: Vec<String> = s
            .peers
            .iter()
            .map(|p| {
                let star = if p.local { "*" } else { "" };
                let addr = p.addr.map(|a| format!("@{a}")).unwrap_or_default();
                format!("{}{star}{addr}", p.name)
            })
            .collect();
        out += &format!("{}{disabled} bind={bind}: {}\n", s.name, peers.join(" "));
    }
    out
}

/// Every table as `NAME sync=SYNC_NAME peers=SECTION`, in order.
fn tables(c: &Config) -> Vec<String> {
    c.tables
        .iter()
        .map(|t| {
            format!(
                "{} sync={} peers={}",
                t.name,
                t.sync_name,
                t.peers.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn sections_in_both_forms() {
    // (description, peers sections, expected `sections()`)
    let cases: &[(&str, &str, &str)] = &[
        (
            "peer lines: the local one's address is where it listens",
            "peers p\n peer a 127.0.0.1:10001\n peer b 127.0.0.2:10002\n",
            "p bind=127.0.0.1:10001: a*@127.0.0.1:10001 b@127.0.0.2:10002\n",
        ),
        (
            "bind and server lines: the local server has no address",
            "peers p\n bind 127.0.0.1:10003\n server a\n server b 127.0.0.2:10004\n",
            "p bind=127.0.0.1:10003: a* b@127.0.0.2:10004\n",
        ),
        (
            "bind after the local server line",
            "peers p\n server b 127.0.0.2:10004\n server a\n bind 127.0.0.1:10003\n",
            "p bind=127.0.0.1:10003: b@127.0.0.2:10004 a*\n",
        ),
        (
            "a local server without bind listens nowhere",
            "peers p\n server a\n server b 127.0.0.2:10004\n",
            "p bind=-: a* b@127.0.0.2:10004\n",
        ),
        (
            "parameters, defaults and log lines are accepted",
            "peers p\n default-bind v4v6\n default-server inter 2s\n log 127.0.0.1:514 local0\n log global\n \
             bind 127.0.0.1:10003 tfo\n server a\n server b 127.0.0.2:10004 weight 10 maxconn 5\n",
            "p bind=127.0.0.1:10003: a* b@127.0.0.2:10004\n",
        ),
        (
            "a remote server line without address is ignored",
            "peers p\n bind 127.0.0.1:10003\n server a\n server c\n",
            "p bind=127.0.0.1:10003: a*\n",
        ),
        (
            "addresses see the environment and HAProxy's HAPROXY_LOCALPEER",
            "peers p\n peer \"${HAPROXY_LOCALPEER}\" 127.0.0.1:${PEER_PORT}\n",
            "p bind=127.0.0.1:10009: a*@127.0.0.1:10009\n",
        ),
        (
            "disabled: kept, marked",
            "peers p\n disabled\n peer a 127.0.0.1:10001\n",
            "p disabled bind=127.0.0.1:10001: a*@127.0.0.1:10001\n",
        ),
        (
            "enabled again",
            "peers p\n disabled\n enabled\n peer a 127.0.0.1:10001\n",
            "p bind=127.0.0.1:10001: a*@127.0.0.1:10001\n",
        ),
        (
            "a disabled section without the local peer is kept too",
            "peers p\n disabled\n peer b 127.0.0.2:10002\n",
            "p disabled bind=-: b@127.0.0.2:10002\n",
        ),
        (
            "sections without the local peer are removed",
            "peers p\n peer b 127.0.0.2:10002\npeers q\n bind 127.0.0.1:10003\n server b 127.0.0.2:10004\n\
             peers r\npeers s\n peer a 127.0.0.1:10005\n",
            "s bind=127.0.0.1:10005: a*@127.0.0.1:10005\n",
        ),
    ];
    for (desc, text, expected) in cases {
        let l = ok(text);
        assert_eq!(sections(&l.config), *expected, "{desc}");
        assert_eq!(l.config.localpeer, "a", "{desc}");
    }
}

#[test]
fn a_section_without_the_local_peer_is_removed_with_a_warning() {
    let l = ok(
        "peers p\n peer b 127.0.0.2:10002\n table t type ip size 1k\n\
                backend t\n stick-table type ip size 1k peers p\n",
    );
    assert!(l.config.peers.is_empty());
    assert_eq!(
        messages(&l.warnings)[0],
        "t.cfg:6: Removing incomplete section 'peers p' (no peer named 'a')."
    );
    // Its tables stay, kept to this process.
    assert_eq!(
        tables(&l.config),
        ["p/t sync=/t peers=-", "t sync=t peers=-"]
    );
}

#[test]
fn tables_and_the_sections_that_share_them() {
    // (description, sections, expected `tables()` in declaration order)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "a proxy's table names a section; a section's table is SECTION/NAME, /NAME to peers",
            "backend t1\n stick-table type ip size 1k peers p\n\
             peers p\n peer a 127.0.0.1:10001\n table t1 type string len 16 size 1k expire 1m store gpc0\n\
             backend t2\n stick-table type ip size 1k\n",
            &[
                "t1 sync=t1 peers=p",
                "p/t1 sync=/t1 peers=p",
                "t2 sync=t2 peers=-",
            ],
        ),
        (
            "a disabled section shares nothing",
            "peers p\n disabled\n peer a 127.0.0.1:10001\n table t type ip size 1k\n\
             backend t1\n stick-table type ip size 1k peers p\n",
            &["p/t sync=/t peers=-", "t1 sync=t1 peers=-"],
        ),
        (
            "a disabled proxy's table is not shared, its section not even looked for",
            "backend t1\n disabled\n stick-table type ip size 1k peers nowhere\n",
            &["t1 sync=t1 peers=-"],
        ),
        (
            "the same table name in two sections",
            "peers p\n peer a 127.0.0.1:10001\n table t type ip size 1k\n\
             peers q\n peer a 127.0.0.1:10002\n table t type ip size 1k\n",
            &["p/t sync=/t peers=p", "q/t sync=/t peers=q"],
        ),
    ];
    for (desc, text, expected) in cases {
        let l = ok(text);
        assert_eq!(tables(&l.config), *expected, "{desc}");
    }
}

#[test]
fn rules_name_a_section_table_with_its_prefix() {
    let l = ok(
        "peers p\n peer a 127.0.0.1:10001\n table t type ip size 1k store gpc0\n\
                frontend g\n bind :81\n tcp-request connection track-sc0 src table p/t\n default_backend b\n",
    );
    let g = l.config.frontends.iter().find(|f| f.name == "g").unwrap();
    let Action::Track { table, .. } = &g.rules.connection[0].action else {
        panic!("{:?}", g.rules.connection[0].action);
    };
    assert_eq!(table.id, Some(TableId(0)));
    assert_eq!(l.config.tables[0].name, "p/t");
    let e = load("peers p\n peer a 127.0.0.1:10001\n table t type ip size 1k\n\
                  frontend g\n bind :81\n tcp-request connection track-sc0 src table t\n default_backend b\n")
    .unwrap_err();
    assert_eq!(
        messages(&e.errors),
        ["t.cfg:11: frontend 'g': unable to find stick-table 't'"]
    );
}

#[test]
fn the_local_peer_name() {
    let host = crate::host::hostname().unwrap_or_default();
    let section = "peers p\n peer a 127.0.0.1:10001\n";
    /// (description, -L, text, expected name, expected warnings)
    type Case<'a> = (&'a str, Option<&'a str>, String, &'a str, &'a [&'a str]);
    let cases: &[Case] = &[
        ("-L", Some("a"), section.into(), "a", &[]),
        (
            "localpeer",
            None,
            format!("global\n localpeer a\n{section}"),
            "a",
            &[],
        ),
        (
            "-L over localpeer",
            Some("a"),
            format!("global\n localpeer b\n{section}"),
            "a",
            &[
                "t.cfg:7: 'localpeer' ignored since it is already set by using the '-L' command line argument.",
            ],
        ),
        (
            "localpeer after a peers section",
            None,
            format!("peers q\nglobal\n localpeer a\n{section}"),
            &host,
            &["t.cfg:8: 'localpeer' ignored since it is used after 'peers' section."],
        ),
        ("the host name", None, "".into(), &host, &[]),
    ];
    for (desc, local, text, name, warnings) in cases {
        let l = load_as(*local, text).unwrap_or_else(|e| panic!("{desc}: {:?}", e.errors));
        assert_eq!(l.config.localpeer, *name, "{desc}");
        let got: Vec<String> = messages(&l.warnings)
            .into_iter()
            .filter(|w| w.contains("localpeer"))
            .collect();
        assert_eq!(got, *warnings, "{desc}");
    }
}

#[test]
fn errors_name_file_and_line() {
    // (description, lines after `peers p` (line 6; these start at 7),
    // expected errors)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "bind after peer",
            " peer a 127.0.0.1:10001\n bind 127.0.0.1:10002\n",
            &["t.cfg:8: mixing \"peer\" and \"bind\" line is forbidden"],
        ),
        (
            "peer after bind",
            " bind 127.0.0.1:10002\n server a\n peer b 127.0.0.1:10001\n",
            &["t.cfg:9: mixing \"peer\" and \"bind\" line is forbidden"],
        ),
        (
            "two local peers",
            " peer a 127.0.0.1:10001\n peer a 127.0.0.1:10002\n",
            &["t.cfg:8: 'peer a' : local peer name already referenced at t.cfg:7."],
        ),
        (
            "two local servers",
            " bind 127.0.0.1:10002\n server a\n server a\n",
            &["t.cfg:9: 'server a' : local peer name already referenced at t.cfg:8."],
        ),
        (
            "two binds",
            " bind 127.0.0.1:10002\n bind 127.0.0.1:10003\n server a\n",
            &[
                "t.cfg:8: One listener per \"peers\" section is authorized but another is already configured at [t.cfg:7].",
            ],
        ),
        (
            // HAProxy 2.9's error (marked for 2.6; 2.6.12 listens on one).
            "a bind for two addresses",
            " bind 127.0.0.1:10002-10003\n server a\n",
            &[
                "t.cfg:7: Only one listener per \"peers\" section is authorized. Multiple listening addresses or port range are not supported.",
            ],
        ),
        (
            "a local server with an address",
            " bind 127.0.0.1:10002\n server a 127.0.0.1:10002\n",
            &[
                "t.cfg:8: 'server a' : unknown keyword '127.0.0.1:10002'. Hint: no address was expected for this server.",
            ],
        ),
        (
            "unknown keyword",
            " peer a 127.0.0.1:10001\n tables t type ip size 1k\n",
            &["t.cfg:8: unknown keyword 'tables' in 'peers' section; did you mean 'table'?"],
        ),
        (
            "no port",
            " peer a 127.0.0.1\n",
            &["t.cfg:7: 'peer a' : missing port specification in '127.0.0.1'"],
        ),
        (
            "port range",
            " peer a 127.0.0.1:10001\n peer b 127.0.0.2:1-5\n",
            &["t.cfg:8: 'peer b' : port range not permitted here in '127.0.0.2:1-5'"],
        ),
        (
            "listening on port 0",
            " bind 127.0.0.1:0\n server a\n",
            &["t.cfg:7: 'bind 127.0.0.1:0' : invalid port '0'"],
        ),
        (
            "a UNIX socket",
            " peer a 127.0.0.1:10001\n peer b unix@/run/b.sock\n",
            &[
                "t.cfg:8: 'peer b' : address 'unix@/run/b.sock' is not supported yet for peers (only [ipv4@|ipv6@]HOST:PORT)",
            ],
        ),
        (
            // HAProxy 2.9's error (marked for 2.6; 2.6.12 takes both).
            "two remote peers of one name",
            " peer a 127.0.0.1:10001\n peer b 127.0.0.2:10002\n server b 127.0.0.2:10003\n",
            &[
                "t.cfg:9: peers section 'p': another peer named 'b' was already defined at t.cfg:8, please use distinct names.",
            ],
        ),
        (
            "a bind parameter",
            " bind 127.0.0.1:10002 v4only\n server a\n",
            &[
                "t.cfg:7: 'bind 127.0.0.1:10002' in section 'peers': unknown keyword 'v4only'; did you mean 'v6only'?",
            ],
        ),
        (
            "a default-bind parameter",
            " default-bind v4only\n",
            &[
                "t.cfg:7: 'default-bind v4only' in section 'peers': unknown keyword 'v4only'; did you mean 'v6only'?",
            ],
        ),
        (
            "a server parameter",
            " peer a 127.0.0.1:10001\n peer b 127.0.0.2:10002 weight\n",
            &["t.cfg:8: peer 'p/b': 'weight' expects an argument"],
        ),
        (
            "a log line",
            " log 127.0.0.1:514\n",
            &["t.cfg:7: log : expects <address> and <facility> or global as arguments"],
        ),
        (
            // HAProxy 2.9's check (marked for 2.6; 2.6.12 takes both).
            "a table declared twice",
            " peer a 127.0.0.1:10001\n table t type ip size 1k\n table t type ip size 2k\n",
            &[
                "t.cfg:9: stick-table name 't' conflicts with table declared in peers 'p' at t.cfg:8.",
            ],
        ),
        (
            "a table with a bad type",
            " table t type foo size 1k\n",
            &["t.cfg:7: table: unknown type 'foo'."],
        ),
        (
            "a table names no section",
            " table t type ip size 1k peers p\n",
            &["t.cfg:7: table: unknown argument 'peers'."],
        ),
        (
            "a table without name",
            " table\n",
            &["t.cfg:7: table: ID not provided."],
        ),
    ];
    for (desc, lines, expected) in cases {
        let e = load(&format!("peers p\n{lines}"))
            .err()
            .unwrap_or_else(|| panic!("{desc}: accepted"));
        assert_eq!(messages(&e.errors), *expected, "{desc}");
    }
}

#[test]
fn errors_outside_the_section_lines() {
    // (description, text after HEAD (line 6 on), expected errors)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "same name",
            "peers p\n peer a 127.0.0.1:10001\npeers p\n",
            &[
                "t.cfg:8: peers section 'p' has the same name as another peers section declared at t.cfg:6.",
            ],
        ),
        (
            "no name",
            "peers\n",
            &["t.cfg:6: missing name for peers section."],
        ),
        (
            "two names",
            "peers p q\n",
            &["t.cfg:6: 'peers' cannot handle unexpected argument 'q'."],
        ),
        (
            "a bad character",
            "peers p/q\n",
            &["t.cfg:6: character '/' is not permitted in 'peers' name 'p/q'."],
        ),
        (
            "localpeer without a name",
            "global\n localpeer\n",
            &["t.cfg:7: 'localpeer' expects a name as an argument."],
        ),
        (
            "localpeer with two",
            "global\n localpeer a b\n",
            &["t.cfg:7: 'localpeer' cannot handle unexpected argument 'b'."],
        ),
        (
            "a proxy's table names no section",
            "backend t\n stick-table type ip size 1k peers nowhere\n",
            &["t.cfg:7: Proxy 't': unable to find sync peers 'nowhere'."],
        ),
        (
            "a proxy's table names an empty section",
            "peers p\nbackend t\n stick-table type ip size 1k peers p\n",
            &["t.cfg:8: Proxy 't': unable to find local peer 'a' in peers section 'p'."],
        ),
        (
            "peers without an argument",
            "backend t\n stick-table type ip size 1k peers\n",
            &["t.cfg:7: stick-table: missing argument after 'peers'."],
        ),
        (
            "a second stick-table in a proxy",
            "backend t\n stick-table type ip size 1k\n stick-table type ip size 2k\n",
            &[
                "t.cfg:8: stick-table name 't' conflicts with table declared in backend 't' at t.cfg:7.",
            ],
        ),
    ];
    for (desc, text, expected) in cases {
        let e = load(text)
            .err()
            .unwrap_or_else(|| panic!("{desc}: accepted"));
        assert_eq!(messages(&e.errors), *expected, "{desc}");
    }
}

#[test]
fn warnings_as_haproxy() {
    // (description, lines after `peers p` (line 6; these start at 7),
    // expected warnings about peers)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "checks and resolution mean nothing to peers",
            " peer a 127.0.0.1:10001 check init-addr none\n",
            &["t.cfg:7: 'peer a' : init_addr, resolvers, check and agent are ignored for peers."],
        ),
        (
            // As HAProxy 3.2 (marked for every stable version).
            "a peer without address is ignored",
            " peer a 127.0.0.1:10001\n peer b\n",
            &["t.cfg:8: 'peer b' : ignoring invalid peer definition (missing address:port)"],
        ),
    ];
    for (desc, lines, expected) in cases {
        let l = ok(&format!("peers p\n{lines}"));
        assert_eq!(messages(&l.warnings), *expected, "{desc}");
    }
}
