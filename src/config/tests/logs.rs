//! Logging keywords in whole configs: inheritance from defaults, `log
//! global`, `no log`, tags, and HAProxy's warnings.

use super::{HEAD, errors, ok, warnings};
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
