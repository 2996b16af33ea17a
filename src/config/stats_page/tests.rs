//! Stats frontends in the config: what `mode http` allows, the model a
//! stats frontend becomes, HAProxy's defaults and inheritance, and every
//! refused line at its `FILE:LINE`.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::tests::{HEAD, errors, ok, warnings};
use crate::config::*;

/// A stats listen (line 6 is `listen stats`, its lines start at line 9)
/// next to a TCP listen, so that the config has traffic to show.
fn stats_cfg(lines: &str) -> String {
    format!(
        "{HEAD}listen stats\n    mode http\n    bind 127.0.0.1:8404\n{lines}\nlisten web\n    bind 127.0.0.1:8080\n    server w1 127.0.0.1:8081\n"
    )
}

fn page(l: &Loaded) -> &StatsPage {
    l.config
        .frontends
        .iter()
        .find_map(|f| f.stats.as_ref())
        .expect("a stats frontend")
}

#[test]
fn a_stats_listen_is_a_frontend_alone_with_haproxys_defaults() {
    let l = ok(&stats_cfg("    stats enable"));
    let fe = &l.config.frontends[0];
    assert_eq!(fe.name, "stats");
    assert_eq!(fe.default_backend, None);
    assert!(
        l.config.backends.iter().all(|b| b.name != "stats"),
        "a stats listen has no backend"
    );
    let p = page(&l);
    let ui = p.ui.as_ref().unwrap();
    assert_eq!(ui.uri, "/haproxy?stats");
    assert_eq!(ui.realm, "HAProxy Statistics");
    assert_eq!(ui.refresh, None);
    assert!(ui.auth.is_empty() && ui.admin.is_none());
    assert_eq!(p.metrics, None);
    // HEAD's `timeout client 30s` bounds the request too.
    assert_eq!(p.request_timeout, Duration::from_secs(30));
    // The TCP listen is untouched.
    assert!(l.config.frontends[1].stats.is_none());
    assert_eq!(l.config.backends[0].name, "web");
}

#[test]
fn every_stats_line_is_read() {
    let l = ok(&stats_cfg(
        "    stats uri /stats
    stats refresh 5s
    stats realm Splicer\\ stats
    stats auth admin:s3cret
    stats auth ops:pass:with:colons
    stats hide-version
    stats show-legends
    stats show-node lb1
    stats scope web
    stats admin if { src 127.0.0.1 10.0.0.0/8 }
    timeout http-request 2s
    http-request use-service prometheus-exporter if { path /metrics }",
    ));
    let p = page(&l);
    let ui = p.ui.as_ref().unwrap();
    assert_eq!(ui.uri, "/stats");
    assert_eq!(ui.refresh, Some(Duration::from_secs(5)));
    assert_eq!(ui.realm, "Splicer stats");
    assert_eq!(
        ui.auth,
        vec![
            ("admin".into(), "s3cret".into()),
            ("ops".into(), "pass:with:colons".into())
        ]
    );
    assert!(ui.hide_version && ui.show_legends);
    assert_eq!(ui.show_node.as_deref(), Some("lb1"));
    assert_eq!(ui.scope, vec!["web".to_string()]);
    let admin = ui.admin.as_ref().unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(admin.matches(ip("127.0.0.1")));
    assert!(admin.matches(ip("10.1.2.3")));
    assert!(admin.matches(ip("::ffff:10.1.2.3")));
    assert!(!admin.matches(ip("127.0.0.2")));
    assert_eq!(p.request_timeout, Duration::from_secs(2));
    let m = p.metrics.as_ref().unwrap();
    assert!(m.matches("/metrics"));
    assert!(!m.matches("/metrics/x") && !m.matches("/stats"));
}

#[test]
fn conditions_read_as_haproxy_evaluates_them() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    // (admin condition, address, allowed)
    let admin: &[(&str, &str, bool)] = &[
        ("if TRUE", "192.0.2.1", true),
        ("if FALSE", "127.0.0.1", false),
        ("unless FALSE", "127.0.0.1", true),
        ("if LOCALHOST", "127.3.4.5", true),
        ("if LOCALHOST", "::1", false),
        ("unless LOCALHOST", "192.0.2.1", true),
        ("if { src ::1 }", "::1", true),
        ("if { src 192.0.2.0/24 }", "192.0.2.200", true),
        ("if { src 192.0.2.0/24 }", "192.0.3.1", false),
    ];
    for (cond, addr, want) in admin {
        let l = ok(&stats_cfg(&format!("    stats admin {cond}")));
        let rule = page(&l).ui.as_ref().unwrap().admin.clone().unwrap();
        assert_eq!(rule.matches(ip(addr)), *want, "{cond} / {addr}");
    }
    // (use-service condition, path, served)
    let paths: &[(&str, &str, bool)] = &[
        ("", "/anything", true),
        ("if TRUE", "/x", true),
        ("if { path /metrics /m }", "/m", true),
        ("if { path -m str /metrics }", "/metrics/", false),
        ("if { path -m beg /metrics }", "/metrics/x", true),
        ("if { path_beg /prom }", "/prometheus", true),
        ("unless { path /stats }", "/stats", false),
        ("unless { path /stats }", "/metrics", true),
    ];
    for (cond, path, want) in paths {
        let l = ok(&stats_cfg(&format!(
            "    http-request use-service prometheus-exporter {cond}"
        )));
        let p = page(&l);
        assert!(p.ui.is_none(), "no stats line: no page");
        assert_eq!(
            p.metrics.as_ref().unwrap().matches(path),
            *want,
            "{cond} / {path}"
        );
    }
}

#[test]
fn stats_lines_of_defaults_are_inherited_and_warned_about_in_tcp() {
    let text = "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    stats enable
    stats uri /s
    stats auth a:b
listen stats
    bind 127.0.0.1:8404
listen web
    mode tcp
    bind 127.0.0.1:8080
    server w1 127.0.0.1:8081
";
    let l = ok(text);
    let ui = page(&l).ui.clone().unwrap();
    assert_eq!(ui.uri, "/s");
    assert_eq!(ui.auth, vec![("a".into(), "b".into())]);
    assert!(l.config.frontends[1].stats.is_none());
    // HAProxy: "'stats' statement ignored for proxy 'web' as it requires HTTP mode."
    let w = warnings(text);
    assert!(
        w.iter()
            .any(|w| w
                == "t.cfg:6: 'stats' statement ignored for proxy 'web' as it requires HTTP mode."),
        "{w:#?}"
    );
    let tcp = format!(
        "{HEAD}frontend f\n    bind :80\n    stats enable\n    http-request use-service prometheus-exporter\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n"
    );
    let l = ok(&tcp);
    assert!(l.config.frontends[0].stats.is_none());
    let w = warnings(&tcp);
    assert!(
        w.iter()
            .any(|w| w.starts_with("t.cfg:8: 'stats' statement ignored for frontend 'f'")),
        "{w:#?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("t.cfg:9: 'http-request' rules ignored for frontend 'f'")),
        "{w:#?}"
    );
}

#[test]
fn http_directives_in_a_stats_frontend_are_used_warned_or_refused() {
    let w = warnings(&stats_cfg(
        "    stats enable\n    option httplog\n    timeout http-request 5s",
    ));
    assert!(
        w.iter()
            .any(|w| w
                .starts_with("t.cfg:10: 'option httplog' has no effect in stats proxy 'stats'")),
        "{w:#?}"
    );
    assert!(!w.iter().any(|w| w.starts_with("t.cfg:11")), "{w:#?}");
    // Debian's and RHEL's stock defaults carry errorfile lines.
    let w = warnings(&stats_cfg(
        "    stats enable\n    errorfile 503 /etc/haproxy/errors/503.http",
    ));
    assert!(
        w.iter().any(|w| w.starts_with(
            "t.cfg:10: 'errorfile' has no effect in stats proxy 'stats': the stats page answers with its own error pages."
        )),
        "{w:#?}"
    );
    let e = errors(&stats_cfg("    stats enable\n    http-request deny"));
    assert_eq!(
        e,
        vec![
            "t.cfg:10: 'http-request' is not supported in stats proxy 'stats': in mode http splicer serves only the stats page and Prometheus metrics."
        ]
    );
}

#[test]
fn monitor_uri_alone_makes_a_served_http_frontend() {
    let l = ok(&stats_cfg("    monitor-uri /healthz"));
    let p = page(&l);
    assert_eq!(p.monitor_uri.as_deref(), Some("/healthz"));
    assert!(p.ui.is_none());
    let e = errors(&stats_cfg("    monitor-uri"));
    assert!(
        e.contains(&"t.cfg:9: 'monitor-uri' expects an URI.".to_string()),
        "{e:?}"
    );
}

#[test]
fn show_desc_takes_the_rest_of_the_line() {
    let l = ok(&stats_cfg(
        "    stats enable\n    stats show-desc Stats for ocp4 cluster",
    ));
    let ui = page(&l).ui.as_ref().unwrap();
    assert_eq!(ui.show_desc.as_deref(), Some("Stats for ocp4 cluster"));
}

#[test]
fn bad_lines_are_errors_at_their_line() {
    // (lines from line 9 of a stats listen, expected error)
    let cases: &[(&str, &str)] = &[
        ("stats uri", "t.cfg:9: 'uri' needs an URI prefix."),
        (
            "stats refresh abc",
            "t.cfg:9: 'stats refresh': invalid time 'abc'",
        ),
        (
            "stats refresh",
            "t.cfg:9: 'refresh' needs a refresh interval.",
        ),
        ("stats realm", "t.cfg:9: 'realm' needs an realm name."),
        (
            "stats auth",
            "t.cfg:9: 'auth' needs a user:password account.",
        ),
        (
            "stats auth nopass",
            "t.cfg:9: 'stats auth' expects <user>:<password> (got 'nopass')",
        ),
        (
            "stats hide-version now",
            "t.cfg:9: 'stats hide-version' cannot handle unexpected argument 'now'",
        ),
        (
            "stats frob",
            "t.cfg:9: unknown stats parameter 'frob', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.",
        ),
        (
            "stats admin TRUE",
            "t.cfg:9: 'stats admin' requires either 'if' or 'unless' followed by a condition.",
        ),
        (
            "stats admin if FOO",
            "t.cfg:9: 'stats admin' : condition 'FOO' is not supported",
        ),
        (
            "stats admin if { src 10.0.0.0/40 }",
            "t.cfg:9: 'stats admin' : invalid prefix length in '10.0.0.0/40'",
        ),
        (
            "stats admin if { src nohost }",
            "t.cfg:9: 'stats admin' : 'nohost' is not an IP address",
        ),
        (
            "stats http-request deny",
            "t.cfg:9: 'stats http-request' is not supported yet",
        ),
        (
            "http-request use-service lua.hello",
            "t.cfg:9: 'http-request use-service' : unknown service 'lua.hello'",
        ),
        (
            "http-request use-service prometheus-exporter if { hdr(host) x }",
            "t.cfg:9: 'http-request use-service prometheus-exporter' : condition on 'hdr(host)' is not supported",
        ),
        (
            "http-request use-service prometheus-exporter if { path -m reg ^/m }",
            "t.cfg:9: 'http-request use-service prometheus-exporter' : match method '-m reg' is not supported",
        ),
        (
            "http-request use-service prometheus-exporter if { path /a } || { path /b }",
            "t.cfg:9: 'http-request use-service prometheus-exporter' : condition '{ path /a } || { path /b }' is not supported",
        ),
        (
            "http-request use-service prometheus-exporter when x",
            "t.cfg:9: 'http-request use-service prometheus-exporter' : unexpected 'when'",
        ),
    ];
    for (line, want) in cases {
        let e = errors(&stats_cfg(&format!("    {line}")));
        assert!(
            e.iter().any(|e| e.starts_with(want)),
            "{line}: want {want}, got {e:#?}"
        );
    }
}

#[test]
fn mode_http_stays_an_error_for_anything_but_a_stats_frontend() {
    // (proxy lines; line 6 is the section, `mode http` is line 7)
    let cases: &[(&str, &str)] = &[
        (
            "listen l\n    mode http\n    bind :80\n    server s 127.0.0.1:81",
            "t.cfg:7: proxy 'l': mode http is not supported (splicer is a TCP load balancer; use 'mode tcp').",
        ),
        (
            "listen l\n    mode http\n    bind :80\n    stats enable\n    server s 127.0.0.1:81",
            "t.cfg:7: proxy 'l': mode http is not supported (splicer is a TCP load balancer; use 'mode tcp'). A stats frontend may use it, with no servers and no default_backend.",
        ),
        (
            "frontend f\n    mode http\n    bind :80\n    stats enable\n    default_backend b\nbackend b\n    server s 127.0.0.1:81",
            "t.cfg:7: frontend 'f': mode http is not supported",
        ),
        (
            "backend b\n    mode http\n    stats enable\n    server s 127.0.0.1:81\nfrontend f\n    bind :80\n    default_backend b",
            "t.cfg:7: backend 'b': mode http is not supported",
        ),
        (
            "listen l\n    mode http\n    bind :80 accept-proxy\n    stats enable",
            "t.cfg:8: 'accept-proxy' is not supported on the binds of stats proxy 'l'.",
        ),
        (
            "listen l\n    mode http\n    bind :443 ssl crt site.pem\n    stats enable",
            "t.cfg:8: 'ssl' is not supported yet on the binds of stats proxy 'l'.",
        ),
    ];
    for (rest, want) in cases {
        let e = errors(&format!("{HEAD}{rest}\n"));
        assert!(
            e.iter().any(|e| e.starts_with(want)),
            "want {want}, got {e:#?}"
        );
    }
    let e = errors(&format!(
        "defaults\n    mode http\n    timeout client 1s\n    stats admin if TRUE\n    http-request use-service prometheus-exporter\n{}",
        "listen l\n    bind :80\n    stats enable\n"
    ));
    assert_eq!(
        e,
        vec![
            "t.cfg:4: 'stats admin' not allowed in 'defaults' section.",
            "t.cfg:5: 'http-request use-service' not allowed in a 'defaults' section."
        ]
    );
}
