//! Tables for the `log-format` parser and for rendering, with lines checked
//! against HAProxy 2.6's output for the same session.

use super::*;
use crate::base::ids::{BackendId, FrontendId, ServerId};
use crate::base::log::Term;
use crate::config::logformat::{TCPLOG, parse};
use std::time::{Duration, UNIX_EPOCH};

fn record() -> Record {
    Record {
        frontend: FrontendId::new(0),
        backend: Some(BackendId::new(0)),
        server: Some(ServerId::new(0)),
        client: "127.0.0.1:41234".parse().unwrap(),
        local: "127.0.0.1:8080".parse().unwrap(),
        unix: None,
        source: Some("127.0.0.1:50000".parse().unwrap()),
        // 21/Nov/2026:10:00:00.123 UTC
        accepted: UNIX_EPOCH + Duration::from_millis(1_795_255_200_123),
        tw: 0,
        tc: 0,
        tt: 5012,
        bytes_in: 99,
        bytes_out: 1234,
        term: Term::NORMAL,
        actconn: 1,
        feconn: 1,
        beconn: 0,
        srvconn: 0,
        retries: 0,
        redispatched: false,
        srv_queue: 0,
        backend_queue: 0,
        samples: Vec::new(),
        tls_version: None,
        tls_cipher: None,
    }
}

fn names() -> Names<'static> {
    Names {
        frontend: "fe",
        backend: "be",
        server: Some("s1"),
        server_addr: Some("127.0.0.1:8001".parse().unwrap()),
        hostname: "lb1",
        pid: 4242,
        logasap: false,
    }
}

fn render_with(fmt: &str, r: &Record, n: &Names<'_>) -> String {
    let f = parse(fmt).unwrap_or_else(|e| panic!("{fmt}: {e}"));
    let mut out = String::new();
    render(&f, r, n, &mut out);
    // `%t` is local time: make the tests independent of the host's zone.
    let mut date = String::new();
    clock::accept_date(r.accepted, &mut date);
    out.replace(&date, "DATE")
}

#[test]
fn tcplog_lines() {
    let base = record();
    let cases: Vec<(&str, Record, Names<'_>, &str)> = vec![
        (
            "normal session",
            base.clone(),
            names(),
            "127.0.0.1:41234 [DATE] fe be/s1 0/0/5012 1234 -- 1/1/0/0/0 0/0",
        ),
        (
            "refused after 3 retries",
            Record {
                tc: -1,
                tt: 3004,
                bytes_out: 0,
                term: Term::NO_SERVER,
                retries: 3,
                ..base.clone()
            },
            names(),
            "127.0.0.1:41234 [DATE] fe be/s1 0/-1/3004 0 SC 1/1/0/0/3 0/0",
        ),
        (
            "no server",
            Record {
                server: None,
                tw: -1,
                tc: -1,
                tt: 0,
                bytes_out: 0,
                term: Term::NO_SERVER,
                ..base.clone()
            },
            Names {
                server: None,
                ..names()
            },
            "127.0.0.1:41234 [DATE] fe be/<NOSRV> -1/-1/0 0 SC 1/1/0/0/0 0/0",
        ),
        (
            "redispatched, queued third",
            Record {
                tw: 352,
                tc: 1,
                tt: 453,
                retries: 1,
                redispatched: true,
                backend_queue: 3,
                actconn: 4,
                feconn: 4,
                beconn: 3,
                srvconn: 1,
                ..base.clone()
            },
            names(),
            "127.0.0.1:41234 [DATE] fe be/s1 352/1/453 1234 -- 4/4/3/1/+1 0/3",
        ),
        (
            "client abort",
            Record {
                term: Term::CLIENT_ABORT,
                ..base.clone()
            },
            names(),
            "127.0.0.1:41234 [DATE] fe be/s1 0/0/5012 1234 CD 1/1/0/0/0 0/0",
        ),
        (
            "IPv6 client, as HAProxy prints it (no brackets)",
            Record {
                client: "[::1]:5000".parse().unwrap(),
                ..base.clone()
            },
            names(),
            "::1:5000 [DATE] fe be/s1 0/0/5012 1234 -- 1/1/0/0/0 0/0",
        ),
    ];
    for (what, r, n, expected) in &cases {
        assert_eq!(render_with(TCPLOG, r, n), *expected, "{what}");
    }
}

#[test]
fn every_variable() {
    let r = record();
    let cases: &[(&str, &str)] = &[
        ("%ci %cp %fi %fp", "127.0.0.1 41234 127.0.0.1 8080"),
        ("%bi:%bp %si:%sp", "127.0.0.1:50000 127.0.0.1:8001"),
        ("%T", "21/Nov/2026:10:00:00 +0000"),
        ("%Ts %ms", "1795255200 123"),
        ("%ft %f %b %s", "fe fe be s1"),
        ("%Tw/%Tc/%Tt/%Td", "0/0/5012/5012"),
        ("%B %U %ts", "1234 99 --"),
        ("%ac/%fc/%bc/%sc/%rc %sq/%bq", "1/1/0/0/0 0/0"),
        ("%pid %H", "4242 lb1"),
        ("[%t]", "[DATE]"),
        ("100%% %ci", "100% 127.0.0.1"),
    ];
    for (fmt, expected) in cases {
        assert_eq!(render_with(fmt, &r, &names()), *expected, "{fmt}");
    }
    let mut tl = String::new();
    clock::local_date(r.accepted, &mut tl);
    assert_eq!(render_with("%Tl", &r, &names()), tl);
}

#[test]
fn absent_values() {
    let r = Record {
        source: None,
        tw: -1,
        tc: -1,
        server: None,
        ..record()
    };
    let n = Names {
        server: None,
        server_addr: None,
        ..names()
    };
    assert_eq!(
        render_with("%bi:%bp %si:%sp %s %Td", &r, &n),
        "-:- -:- <NOSRV> -1"
    );
}

#[test]
fn flags() {
    let r = record();
    // Checked against HAProxy 2.6 (same format, same values).
    let cases: &[(&str, &str)] = &[
        ("%{+Q}ci %{+X}cp", "\"127.0.0.1\" A112"),
        ("%{+X}ci %{+Q}b", "7F000001 \"be\""),
        ("%{+Q}o%f %s %{-Q}ft", "\"fe\" \"s1\" fe"),
        ("%{Q}ci %{}ci %{+Z}ci", "127.0.0.1 127.0.0.1 127.0.0.1"),
        ("%{+X}Ts", "6B016BA0"),
    ];
    for (fmt, expected) in cases {
        assert_eq!(render_with(fmt, &r, &names()), *expected, "{fmt}");
    }
    let escaped = Names {
        backend: "a\"b]c",
        ..names()
    };
    assert_eq!(render_with("%{+E}b", &r, &escaped), "a\\\"b\\]c");
}

#[test]
fn spaces_merge_like_haproxy() {
    let cases: &[(&str, &str)] = &[
        ("%ci  %cp", "127.0.0.1 41234"),
        ("a   b", "a b"),
        ("%ci \\ %cp", "127.0.0.1 \\ 41234"),
    ];
    for (fmt, expected) in cases {
        assert_eq!(render_with(fmt, &record(), &names()), *expected, "{fmt}");
    }
}

/// `option logasap` as HAProxy 2.6 prints it: `+` before `%Tt` and `%B`
/// (not final), in the line sent once connected as in one sent at the end.
#[test]
fn logasap_marks_totals_with_plus() {
    let asap = Names {
        logasap: true,
        ..names()
    };
    let connected = Record {
        tw: 1,
        tc: 0,
        tt: 1,
        bytes_in: 0,
        bytes_out: 0,
        beconn: 1,
        srvconn: 1,
        ..record()
    };
    let refused = Record {
        tw: 1,
        tc: -1,
        tt: 3005,
        bytes_out: 0,
        term: Term::NO_SERVER,
        retries: 3,
        ..record()
    };
    let cases: &[(&str, &Record, &Names<'_>, &str)] = &[
        (
            "connected",
            &connected,
            &asap,
            "127.0.0.1:41234 [DATE] fe be/s1 1/0/+1 +0 -- 1/1/1/1/0 0/0",
        ),
        (
            "never connected: logged at the end, still marked",
            &refused,
            &asap,
            "127.0.0.1:41234 [DATE] fe be/s1 1/-1/+3005 +0 SC 1/1/0/0/3 0/0",
        ),
        (
            "without logasap",
            &refused,
            &names(),
            "127.0.0.1:41234 [DATE] fe be/s1 1/-1/3005 0 SC 1/1/0/0/3 0/0",
        ),
    ];
    for (what, r, n, expected) in cases {
        assert_eq!(render_with(TCPLOG, r, n), *expected, "{what}");
    }
    assert_eq!(render_with("%Td %U %Tw", &connected, &asap), "0 0 1");
}

/// `%sslv`, `%sslc`, and the `~` HAProxy puts after `%ft` for a TLS client
/// (its `frontend_name_transport`); `-` for a client in clear, `""` quoted
/// (HAProxy's `lf_text`).
#[test]
fn tls_variables() {
    let tls = Record {
        tls_version: Some("TLSv1.3"),
        tls_cipher: Some("TLS_AES_128_GCM_SHA256"),
        ..record()
    };
    let fmt = "%ft %f %sslv %sslc %{+Q}sslv";
    assert_eq!(
        render_with(fmt, &tls, &names()),
        "fe~ fe TLSv1.3 TLS_AES_128_GCM_SHA256 \"TLSv1.3\""
    );
    assert_eq!(render_with(fmt, &record(), &names()), "fe fe - - \"\"");
    assert_eq!(
        render_with(TCPLOG, &tls, &names()),
        "127.0.0.1:41234 [DATE] fe~ be/s1 0/0/5012 1234 -- 1/1/0/0/0 0/0"
    );
}
