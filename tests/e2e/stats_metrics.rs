//! Prometheus metrics end to end: values that move with traffic and
//! server states, and names, types and labels that are HAProxy 2.6's
//! (compared with the real HAProxy's exporter on the same config).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;

use crate::common::statspage::*;
use crate::common::*;

#[test]
fn metrics_follow_traffic_and_server_states() {
    let lab = Lab::start("    http-request use-service prometheus-exporter if { path /metrics }");
    lab.wait_w2_down();
    let scrape = || {
        let r = lab.get("/metrics", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
        r.body
    };
    let before = scrape();
    let sessions = r#"haproxy_frontend_sessions_total{proxy="web"}"#;
    let bytes_in = r#"haproxy_frontend_bytes_in_total{proxy="web"}"#;
    let (s0, b0) = (metric(&before, sessions), metric(&before, bytes_in));
    for seed in 0..3 {
        echo_roundtrip(lab.sp.addr("web"), seed, 10_000);
    }
    // One session left open shows in the current sessions.
    let open = TcpStream::connect(lab.sp.addr("web")).unwrap();
    // Once the echo sessions have ended and the open one has started.
    wait_for("the open session in the metrics", LIMIT, || {
        let m = scrape();
        metric(&m, sessions) == s0 + 4.0
            && metric(&m, r#"haproxy_frontend_current_sessions{proxy="web"}"#) == 1.0
    });
    let after = scrape();
    assert_eq!(metric(&after, sessions), s0 + 4.0);
    assert_eq!(metric(&after, bytes_in), b0 + 30_000.0);
    assert_eq!(
        metric(&after, r#"haproxy_backend_active_servers{proxy="web"}"#),
        1.0
    );
    assert_eq!(
        metric(&after, r#"haproxy_backend_backup_servers{proxy="web"}"#),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            r#"haproxy_server_status{proxy="web",server="w2",state="DOWN"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            r#"haproxy_server_check_status{proxy="web",server="w2",state="L4CON"}"#
        ),
        1.0
    );
    drop(open);
    lab.ask("set server web/w1 state maint");
    let maint = scrape();
    assert_eq!(
        metric(
            &maint,
            r#"haproxy_server_status{proxy="web",server="w1",state="MAINT"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &maint,
            r#"haproxy_server_status{proxy="web",server="w1",state="UP"}"#
        ),
        0.0
    );
    assert_eq!(
        metric(&maint, r#"haproxy_backend_active_servers{proxy="web"}"#),
        0.0
    );
    // The use-service rule only takes /metrics: no page without `stats enable`.
    assert_eq!(lab.get("/haproxy?stats", None).status, 503);
    // HAProxy's exporter filters: scope and no-maint.
    let servers = lab.get("/metrics?scope=server&no-maint", None).body;
    assert!(servers.contains("haproxy_server_status{proxy=\"web\",server=\"w3\""));
    assert!(!servers.contains("server=\"w1\"") && !servers.contains("haproxy_process_"));
}
/// The families of an exposition: name -> (type, label names, state values).
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            out.entry(name.into()).or_default().0 = ty.into();
        } else if !l.starts_with('#') && !l.is_empty() {
            let name = l.split(['{', ' ']).next().unwrap();
            let entry = out.entry(name.into()).or_default();
            if let Some(labels) = l
                .split_once('{')
                .and_then(|(_, r)| r.split_once('}'))
                .map(|(ls, _)| ls)
            {
                for pair in labels.split("\",") {
                    let (k, v) = pair.split_once("=\"").unwrap();
                    entry.1.insert(k.into());
                    if k == "state" {
                        entry.2.insert(v.trim_end_matches('"').into());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn metric_names_types_and_labels_are_haproxys() {
    let Some(_) = require_tools("metrics against haproxy", &["haproxy"]) else {
        return;
    };
    let dir = scratch_dir("statspage-hx");
    let (w1, w3) = (Backend::echo(), Backend::echo());
    let cfg = lab_config(
        &dir,
        w1.addr,
        w3.addr,
        "    stats enable\n    http-request use-service prometheus-exporter if { path /metrics }",
    );
    let sp = Splicer::start(&cfg, &["web", "stats"]);
    let hx = haproxy::start(
        &cfg.replace("admin.sock", "hx.sock"),
        &["web", "stats"],
        &[],
    );
    // Both see w2 DOWN (HAProxy runs its first check within `inter`).
    let scrape = |p: &Splicer| {
        let r = send(
            p.addr("stats"),
            b"GET /metrics HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        r.body
    };
    let w2_down = r#"haproxy_server_status{proxy="web",server="w2",state="DOWN"}"#;
    wait_for("both to mark w2 DOWN", LIMIT, || {
        [&sp, &hx]
            .iter()
            .all(|p| samples(&scrape(p)).get(w2_down).map(String::as_str) == Some("1"))
    });
    let (ours, theirs) = (scrape(&sp), scrape(&hx));
    let (of, tf) = (families(&ours), families(&theirs));
    for (name, (ty, labels, states)) in &of {
        let Some((tty, tlabels, tstates)) = tf.get(name) else {
            panic!("{name} is not a metric of HAProxy 2.6");
        };
        assert_eq!(ty, tty, "type of {name}");
        assert_eq!(labels, tlabels, "labels of {name}");
        assert_eq!(states, tstates, "state values of {name}");
    }
    for key in [
        "haproxy_process_uptime_seconds",
        "haproxy_process_current_connections",
        "haproxy_frontend_current_sessions",
        "haproxy_frontend_bytes_in_total",
        "haproxy_frontend_bytes_out_total",
        "haproxy_frontend_sessions_total",
        "haproxy_frontend_status",
        "haproxy_backend_status",
        "haproxy_backend_active_servers",
        "haproxy_backend_backup_servers",
        "haproxy_backend_current_sessions",
        "haproxy_server_status",
        "haproxy_server_current_sessions",
        "haproxy_server_check_status",
        "haproxy_server_weight",
        "haproxy_server_bytes_in_total",
    ] {
        assert!(of.contains_key(key), "{key} missing from splicer's metrics");
    }
    // Same config, same states: the status series agree sample by sample.
    let (os, ts) = (samples(&ours), samples(&theirs));
    let status = |k: &String| {
        (k.starts_with("haproxy_server_status")
            || k.starts_with("haproxy_backend_active_servers")
            || k.starts_with("haproxy_backend_backup_servers"))
            && k.contains("proxy=\"web\"")
    };
    for (k, v) in os.iter().filter(|(k, _)| status(k)) {
        assert_eq!(Some(v), ts.get(k), "{k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
