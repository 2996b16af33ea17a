//! Logging keywords in whole configs: inheritance from defaults, `log
//! global`, `no log`, tags, HAProxy's warnings, and the errors of one `log`
//! line.

use super::{HEAD, errors, ok, warnings};
use crate::config::logs::parse_target;
use crate::config::*;

fn frontend<'a>(l: &'a Loaded, name: &str) -> &'a Frontend {
    l.config.frontends.iter().find(|f| f.name == name).unwrap()
}

#[test]
fn targets_resolve_per_frontend() {
    let l = ok(&format!(
        "global
    log 127.0.0.1:514 local0
    log stdout format raw daemon
    log-tag g
{HEAD}    log global
    option tcplog
frontend inherits
    bind :80
frontend adds
    bind :81
    log stderr local1
    log-tag mine
frontend flushed
    bind :82
    no log
    log /dev/log local2
frontend custom
    bind :83
    log-format %ci
frontend plain
    bind :84
    no log
"
    ));
    let cases: &[(&str, usize, Option<&str>)] = &[
        ("inherits", 2, Some("g")),
        ("adds", 3, Some("mine")),
        ("flushed", 1, Some("g")),
        ("custom", 2, Some("g")),
        ("plain", 0, Some("g")),
    ];
    for (name, targets, tag) in cases {
        let f = frontend(&l, name);
        assert_eq!(f.log.targets.len(), *targets, "{name}");
        assert_eq!(f.log.tag.as_deref(), *tag, "{name}");
    }
    let flushed = frontend(&l, "flushed");
    assert_eq!(
        flushed.log.targets[0].dest,
        LogDest::Unix("/dev/log".into())
    );
    assert_eq!(flushed.log.targets[0].facility, 18);
    assert_eq!(
        frontend(&l, "inherits").log.format,
        Some(crate::config::LogFormat::tcplog())
    );
    assert_ne!(
        frontend(&l, "custom").log.format,
        frontend(&l, "inherits").log.format,
        "log-format overrides the inherited tcplog"
    );
}

#[test]
fn last_of_tcplog_and_log_format_wins() {
    let l = ok(&format!(
        "{HEAD}    log stdout local0
frontend a
    bind :80
    log-format %ci
    option tcplog
frontend b
    bind :81
    option tcplog
    log-format %ci
    option dontlognull
frontend c
    bind :82
"
    ));
    let tcplog = Some(crate::config::LogFormat::tcplog());
    assert_eq!(frontend(&l, "a").log.format, tcplog);
    assert_ne!(frontend(&l, "b").log.format, tcplog);
    assert!(frontend(&l, "b").log.dontlognull);
    assert_eq!(frontend(&l, "c").log.format, None, "HAProxy's default line");
}

#[test]
fn warnings_match_haproxy() {
    let w = warnings(&format!(
        "{HEAD}frontend f
    bind :80
    option tcplog
    default_backend b
backend b
    log-format %ci
    option tcplog
    option dontlognull
    server s 127.0.0.1:81
"
    ));
    let expected = [
        "t.cfg:6: log format ignored for frontend 'f' since it has no log address.",
        "t.cfg:11: backend 'b' : 'log-format' directive is ignored in backends.",
        "t.cfg:12: backend 'b' : 'option tcplog' directive is ignored in backends.",
        "t.cfg:13: 'dontlognull' ignored because backend 'b' has no frontend capability.",
    ];
    assert_eq!(w, expected);
}

#[test]
fn errors_match_haproxy() {
    let e = errors(&format!(
        "global
    log global
    log-tag
{HEAD}frontend f
    bind :80
    log stdout
    log-tag
    log-format
    log-format %Tq
    default_backend b
backend b
    server s 127.0.0.1:81
"
    ));
    let expected = [
        "t.cfg:2: log : 'global' is not supported for a global syslog server",
        "t.cfg:3: 'log-tag' expects a tag for use in syslog.",
        "t.cfg:11: log : expects <address> and <facility> or global as arguments",
        "t.cfg:12: 'log-tag' expects a tag for use in syslog.",
        "t.cfg:13: log-format expects an argument.",
        "t.cfg:14: failed to parse log-format : format variable 'Tq' is reserved for HTTP mode.",
    ];
    assert_eq!(e, expected);
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// One `log` line alone: HAProxy's messages.
#[test]
fn log_line_errors_are_haproxys() {
    let loc = Location::default();
    let cases: &[(&str, bool, &str)] = &[
        (
            "log",
            false,
            "log : expects <address> and <facility> as arguments",
        ),
        (
            "log stdout",
            true,
            "log : expects <address> and <facility> or global as arguments",
        ),
        ("log stdout foo", false, "log : unknown log facility 'foo'"),
        ("log stdout len 100", false, "log : unknown log facility ''"),
        (
            "log stdout format raw len 100 local0",
            false,
            "log : unknown log facility 'len'",
        ),
        (
            "log stdout local0 bar",
            false,
            "log : unknown optional log level 'bar'",
        ),
        (
            "log stdout local0 info bar",
            false,
            "log : unknown optional minimum log level 'bar'",
        ),
        (
            "log stdout local0 info debug baz",
            false,
            "log : cannot handle unexpected argument 'baz'",
        ),
        (
            "log stdout len 10 local0",
            false,
            "log : invalid log length '10', must be between 80 and 65535",
        ),
        (
            "log stdout len x local0",
            false,
            "log : invalid log length 'x', must be between 80 and 65535",
        ),
        (
            "log stdout format bogus local0",
            false,
            "log : unknown log format 'bogus'",
        ),
        (
            "log 1.2.3.4:99999 local0",
            false,
            "log : invalid port '99999'",
        ),
        (
            "log 127.0.0.1:x local0",
            false,
            "log : invalid character 'x' in port number 'x' in '127.0.0.1:x'",
        ),
        (
            "log foo.invalid local0",
            false,
            "log : invalid address: 'foo.invalid' in 'foo.invalid'",
        ),
        (
            "log global local0",
            true,
            "log : invalid address: 'global' in 'global'",
        ),
    ];
    for (line, proxy, expected) in cases {
        match parse_target(&words(line), *proxy, &loc) {
            Ok(t) => panic!("{line}: accepted as {t:?}"),
            Err(e) => assert_eq!(e, *expected, "{line}"),
        }
    }
    for unsupported in [
        "log tcp@127.0.0.1:514 local0",
        "log ring@buf local0",
        "log fd@3 local0",
    ] {
        let e = parse_target(&words(unsupported), false, &loc).unwrap_err();
        assert!(e.contains("not supported yet"), "{unsupported}: {e}");
    }
}
