//! `option logasap`, `option dontlog-normal`, `option log-separate-errors`,
//! `log-format-sd` and `error-log-format` in whole configs: inheritance,
//! `no option`, and HAProxy 2.6's messages (checked with `haproxy -c`).

use super::{HEAD, errors, ok, warnings};
use crate::config::*;

fn frontend<'a>(l: &'a Loaded, name: &str) -> &'a Frontend {
    l.config.frontends.iter().find(|f| f.name == name).unwrap()
}

/// (logasap, dontlog-normal, log-separate-errors) of a frontend.
fn options(f: &Frontend) -> (bool, bool, bool) {
    (f.log.logasap, f.log.dontlog_normal, f.log.separate_errors)
}

#[test]
fn options_inherit_and_negate() {
    let l = ok(&format!(
        "{HEAD}    log stdout local0
    option tcplog
    option logasap
    option dontlog-normal
frontend inherits
    bind :80
frontend negates
    bind :81
    no option logasap
    no option dontlog-normal
    option log-separate-errors
frontend separate
    bind :82
    no option dontlog-normal
    option log-separate-errors
    no option log-separate-errors
"
    ));
    let cases: &[(&str, (bool, bool, bool))] = &[
        ("inherits", (true, true, false)),
        ("negates", (false, false, true)),
        ("separate", (true, false, false)),
    ];
    for (name, expected) in cases {
        assert_eq!(options(frontend(&l, name)), *expected, "{name}");
    }
}

#[test]
fn formats_parse_inherit_and_override() {
    let l = ok(&format!(
        r#"{HEAD}    log stdout format rfc5424 local0
    option tcplog
    log-format-sd "[x@1 c=\"%ci\"]"
    error-log-format "%ci:%cp %ts"
frontend inherits
    bind :80
frontend overrides
    bind :81
    log-format-sd %b
    error-log-format %f
"#
    ));
    let parsed = |s: &str| Some(logformat::parse(s).unwrap());
    let cases: &[(&str, &str, &str)] = &[
        ("inherits", r#"[x@1 c="%ci"]"#, "%ci:%cp %ts"),
        ("overrides", "%b", "%f"),
    ];
    for (name, sd, error) in cases {
        let f = frontend(&l, name);
        assert_eq!(f.log.format_sd, parsed(sd), "{name}");
        assert_eq!(f.log.error_format, parsed(error), "{name}");
    }
}

/// When the line goes out, and whether connection errors are logged
/// (HAProxy's LW_BYTES and to_log, checked against HAProxy 2.6).
#[test]
fn when_lines_go_out() {
    let l = ok(&format!(
        "{HEAD}    log stdout local0
frontend tcplog
    bind :80
    option tcplog
frontend asap
    bind :81
    option tcplog
    option logasap
frontend no-end-vars
    bind :82
    log-format \"%ci:%cp %b/%s\"
frontend end-var-in-sd
    bind :83
    log-format \"%ci:%cp %b/%s\"
    log-format-sd %B
frontend default
    bind :84
frontend error-format-only
    bind :85
    error-log-format %ci
frontend rfc5424
    bind :86
    no log
    log stdout format rfc5424 local0
frontend silent
    bind :87
    no log
    option tcplog
    option logasap
"
    ));
    // (at connect, connection errors)
    let cases: &[(&str, bool, bool)] = &[
        ("tcplog", false, true),
        ("asap", true, true),
        ("no-end-vars", true, true),
        ("end-var-in-sd", false, true),
        ("default", false, false),
        ("error-format-only", false, true),
        ("rfc5424", false, true),
        ("silent", true, false),
    ];
    for (name, at_connect, errors) in cases {
        let log = &frontend(&l, name).log;
        assert_eq!(
            (log.logs_at_connect(), log.logs_connection_errors()),
            (*at_connect, *errors),
            "{name}"
        );
    }
}

#[test]
fn warnings_match_haproxy() {
    let w = warnings(&format!(
        "{HEAD}frontend f
    bind :80
    log-format-sd %ci
    default_backend b
backend b
    option logasap
    option dontlog-normal
    no option log-separate-errors
    log-format-sd %ci
    error-log-format %ci
    server s 127.0.0.1:81
"
    ));
    let expected = [
        "t.cfg:6: log format ignored for frontend 'f' since it has no log address.",
        "t.cfg:11: 'logasap' ignored because backend 'b' has no frontend capability.",
        "t.cfg:12: 'dontlog-normal' ignored because backend 'b' has no frontend capability.",
        "t.cfg:13: 'log-separate-errors' ignored because backend 'b' has no frontend capability.",
        "t.cfg:14: backend 'b' : 'log-format-sd' directive is ignored in backends.",
        "t.cfg:15: backend 'b' : 'error-log-format' directive is ignored in backends.",
    ];
    assert_eq!(w, expected);
}

#[test]
fn errors_match_haproxy() {
    let e = errors(&format!(
        "{HEAD}frontend f
    bind :80
    log stdout local0
    option logasap extra
    log-format-sd
    log-format-sd a b
    log-format-sd %zz
    error-log-format
    error-log-format a b
    error-log-format %HM
    default_backend b
backend b
    error-log-format %zz
    log-format-sd %zz
    server s 127.0.0.1:81
"
    ));
    let no_such = "no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'.";
    let expected = [
        "t.cfg:9: 'option logasap' cannot handle unexpected argument 'extra'".to_string(),
        "t.cfg:10: log-format-sd expects an argument.".into(),
        "t.cfg:11: log-format-sd expects only one argument, don't forget to escape spaces!"
            .into(),
        format!("t.cfg:12: failed to parse log-format-sd : {no_such}"),
        "t.cfg:13: error-log-format expects an argument.".into(),
        "t.cfg:14: error-log-format expects only one argument, don't forget to escape spaces!"
            .into(),
        "t.cfg:15: failed to parse error-log-format : format variable 'HM' is reserved for HTTP mode."
            .into(),
        // A backend's error-log-format is still compiled (its
        // log-format-sd is not).
        format!("t.cfg:18: failed to parse error-log-format : {no_such}"),
    ];
    assert_eq!(e, expected);
}
