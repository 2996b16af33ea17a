//! TCP socket keywords: `option tcpka`/`clitcpka`/`srvtcpka`, the
//! `*tcpka-*` tuning, `nolinger`, `tcp-smart-*`, `backlog`, and the bind
//! and server socket parameters. Messages are HAProxy 2.6's where it has
//! one (checked with `haproxy -c`).

use super::{HEAD, errors, ok, warnings};
use crate::config::*;
use std::time::Duration;

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

#[test]
fn keepalive_sides_and_inheritance() {
    let ka = |enabled, count, idle, interval| Keepalive {
        enabled,
        count,
        idle,
        interval,
    };
    // (description, lines in defaults, lines in the listen, frontend, backend)
    let cases: &[(&str, &str, &str, Keepalive, Keepalive)] = &[
        (
            "nothing",
            "",
            "",
            Keepalive::default(),
            Keepalive::default(),
        ),
        (
            "tcpka in defaults: both sides",
            "option tcpka",
            "",
            ka(true, None, None, None),
            ka(true, None, None, None),
        ),
        (
            "clitcpka: client side only",
            "",
            "option clitcpka",
            ka(true, None, None, None),
            Keepalive::default(),
        ),
        (
            "srvtcpka: server side only",
            "",
            "option srvtcpka",
            Keepalive::default(),
            ka(true, None, None, None),
        ),
        (
            "no option undoes the defaults",
            "option tcpka",
            "no option clitcpka",
            Keepalive::default(),
            ka(true, None, None, None),
        ),
        (
            "tuning is inherited; bare times are seconds, rounded up",
            "option tcpka\n    clitcpka-cnt 4\n    clitcpka-idle 1m\n    srvtcpka-intvl 1500ms",
            "clitcpka-intvl 7",
            ka(true, Some(4), secs(60), secs(7)),
            ka(true, None, None, secs(2)),
        ),
        (
            "zero leaves the system's value",
            "",
            "option srvtcpka\n    srvtcpka-cnt 0\n    srvtcpka-idle 0",
            Keepalive::default(),
            ka(true, None, None, None),
        ),
    ];
    for (desc, defaults, listen, fe, be) in cases {
        let text = format!(
            "{HEAD}    {defaults}\nlisten l\n    bind 127.0.0.1:8000\n    {listen}\n    server s 127.0.0.1:9000\n"
        );
        let c = ok(&text).config;
        assert_eq!(c.frontends[0].keepalive, *fe, "{desc}: frontend");
        assert_eq!(c.backends[0].keepalive, *be, "{desc}: backend");
    }
}

#[test]
fn nolinger_and_smart_options_by_side() {
    let text = format!(
        "{HEAD}    option nolinger\n    option tcp-smart-accept\n    option tcp-smart-connect
frontend f
    bind 127.0.0.1:8000
    default_backend b
backend b
    no option nolinger
    server s 127.0.0.1:9000
"
    );
    let c = ok(&text).config;
    assert!(c.frontends[0].nolinger && c.frontends[0].binds[0].options.smart_accept);
    assert!(!c.backends[0].nolinger && c.backends[0].smart_connect);
}

#[test]
fn backlog_order_is_haproxys() {
    // (description, global maxconn, frontend lines, bind params, backlog)
    let cases: &[(&str, &str, &str, &str, i32)] = &[
        ("global maxconn", "maxconn 3000", "", "", 3000),
        ("frontend maxconn", "", "maxconn 700", "", 700),
        (
            "frontend backlog before maxconn",
            "",
            "maxconn 700\n    backlog 50",
            "",
            50,
        ),
        ("bind backlog first", "", "backlog 50", "backlog 20", 20),
        ("bind backlog 0 is unset", "", "backlog 50", "backlog 0", 50),
        ("backlog 0 is unset", "maxconn 900", "backlog 0", "", 900),
    ];
    for (desc, global, fe, bind, expected) in cases {
        let text = format!(
            "global\n    {global}\n{HEAD}frontend f\n    {fe}\n    bind 127.0.0.1:8000 {bind}\n    default_backend b\nbackend b\n    server s 127.0.0.1:9000\n"
        );
        let c = ok(&text).config;
        assert_eq!(c.frontends[0].binds[0].backlog, Some(*expected), "{desc}");
    }
}

#[test]
fn bind_and_server_socket_parameters() {
    let text = format!(
        "{HEAD}listen l
    bind 127.0.0.1:8000 defer-accept tfo transparent interface lo mss -40
    bind 127.0.0.1:8001 mss 1400
    server s1 127.0.0.1:9000 tfo
    server s2 127.0.0.1:9001 tfo no-tfo
"
    );
    let c = ok(&text).config;
    let o = &c.frontends[0].binds[0].options;
    assert!(o.defer_accept && o.tfo && o.transparent && !o.smart_accept);
    assert_eq!((o.interface.as_deref(), o.mss), (Some("lo"), Some(-40)));
    assert_eq!(c.frontends[0].binds[1].options.mss, Some(1400));
    let tfo: Vec<bool> = c.backends[0].servers.iter().map(|s| s.tfo).collect();
    assert_eq!(tfo, [true, false]);
}

#[test]
fn errors_match_haproxy() {
    let listen = "listen l\n    bind 127.0.0.1:8000\n    server s 127.0.0.1:9000\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "tcpka has no negation",
            "no option tcpka",
            "t.cfg:9: negation/default is not supported for option 'tcpka'.",
        ),
        (
            "option takes no argument",
            "option nolinger foo",
            "t.cfg:9: 'option nolinger' cannot handle unexpected argument 'foo'",
        ),
        (
            "count: not a number",
            "clitcpka-cnt 3x",
            "t.cfg:9: 'clitcpka-cnt' : unexpected character 'x' in integer value '3x'",
        ),
        (
            "count: missing",
            "srvtcpka-cnt",
            "t.cfg:9: 'srvtcpka-cnt' expects an integer value",
        ),
        (
            "time: missing",
            "clitcpka-idle",
            "t.cfg:9: 'clitcpka-idle' expects an integer value",
        ),
        (
            "time: bad unit",
            "clitcpka-idle 1x",
            "t.cfg:9: 'clitcpka-idle': invalid unit 'x' in time '1x' (expected us, ms, s, m, h or d)",
        ),
        (
            "backlog: missing",
            "backlog",
            "t.cfg:9: 'backlog' expects an integer as argument.",
        ),
        (
            "backlog: extra",
            "backlog 10 20",
            "t.cfg:9: 'backlog' cannot handle unexpected argument '20'.",
        ),
        (
            "mss 0",
            "bind 127.0.0.1:8001 mss 0",
            "t.cfg:9: 'bind 127.0.0.1:8001': 'mss': expects an MSS with an absolute value between 1 and 65535 (got '0')",
        ),
        (
            "mss too big",
            "bind 127.0.0.1:8001 mss -70000",
            "t.cfg:9: 'bind 127.0.0.1:8001': 'mss': expects an MSS with an absolute value between 1 and 65535 (got '-70000')",
        ),
        (
            "mss missing",
            "bind 127.0.0.1:8001 mss",
            "t.cfg:9: 'bind 127.0.0.1:8001': 'mss' expects an argument",
        ),
        (
            "interface missing",
            "bind 127.0.0.1:8001 interface",
            "t.cfg:9: 'bind 127.0.0.1:8001': 'interface' expects an argument",
        ),
        (
            "interface too long",
            "bind 127.0.0.1:8001 interface abcdefghijklmnop",
            "t.cfg:9: 'bind 127.0.0.1:8001': 'interface': 'abcdefghijklmnop' is not an interface name",
        ),
    ];
    for (desc, line, expected) in cases {
        let errs = errors(&format!("{HEAD}{listen}    {line}\n"));
        assert_eq!(
            errs.first().map(String::as_str),
            Some(*expected),
            "{desc}: {errs:?}"
        );
    }
}

#[test]
fn other_side_warnings_match_haproxy() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "frontend",
            "option srvtcpka",
            "'srvtcpka' ignored because frontend 'x' has no backend capability.",
        ),
        (
            "frontend",
            "option tcp-smart-connect",
            "'tcp-smart-connect' ignored because frontend 'x' has no backend capability.",
        ),
        (
            "frontend",
            "srvtcpka-cnt 3",
            "srvtcpka-cnt will be ignored because frontend 'x' has no backend capability",
        ),
        (
            "backend",
            "option clitcpka",
            "'clitcpka' ignored because backend 'x' has no frontend capability.",
        ),
        (
            "backend",
            "option tcp-smart-accept",
            "'tcp-smart-accept' ignored because backend 'x' has no frontend capability.",
        ),
        (
            "backend",
            "clitcpka-intvl 5",
            "clitcpka-intvl will be ignored because backend 'x' has no frontend capability",
        ),
        (
            "backend",
            "backlog 5",
            "'backlog' ignored because backend 'x' has no frontend capability.",
        ),
    ];
    for (kind, line, expected) in cases {
        let body = if *kind == "frontend" {
            "    bind 127.0.0.1:8000\n    default_backend b\nbackend b\n    server s 127.0.0.1:9000\n"
        } else {
            "    server s 127.0.0.1:9000\nfrontend f\n    bind 127.0.0.1:8000\n    default_backend x\n"
        };
        let w = warnings(&format!("{HEAD}{kind} x\n    {line}\n{body}"));
        assert!(
            w.contains(&format!("t.cfg:7: {expected}")),
            "{line}: {w:#?}"
        );
    }
}
