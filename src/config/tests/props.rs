//! Property tests of the config reader: any text, HAProxy-like or not,
//! gives a config or errors, never a panic, and every error names the
//! file and a line of it.

use proptest::prelude::*;

use crate::config::parse_with_env;

/// Lines an operator (or a broken editor) might write: section headers,
/// keywords with arguments taken from a small set, comments, quotes,
/// escapes, environment variables, and raw junk.
fn line() -> impl Strategy<Value = String> {
    let headers = proptest::sample::select(vec![
        "global",
        "defaults",
        "frontend fe",
        "backend be",
        "listen li",
        "peers p",
        "resolvers dns",
        "userlist u",
        "vrrp v",
        "announce a",
        "mysql-monitor m",
        "frontend",
        "backend be extra words",
        "defaults d from x",
    ]);
    let keywords = proptest::sample::select(vec![
        "bind",
        "server",
        "mode",
        "balance",
        "timeout",
        "maxconn",
        "option",
        "default_backend",
        "use_backend",
        "acl",
        "tcp-request",
        "tcp-response",
        "stick-table",
        "stick",
        "http-check",
        "tcp-check",
        "log",
        "log-format",
        "nbthread",
        "cpu-map",
        "stats",
        "retries",
        "default-server",
        "hash-type",
        "peer",
        "nameserver",
        "track_backend",
        "interface",
        "virtual_router_id",
        "user",
        "group",
        "chroot",
        "daemon",
        "ssl",
        "crt",
        "errorfile",
        "source",
    ]);
    let args = proptest::sample::select(vec![
        "127.0.0.1:80",
        "127.0.0.1:0",
        ":::8080",
        "s1",
        "tcp",
        "http",
        "roundrobin",
        "leastconn",
        "source",
        "connect",
        "5s",
        "1m",
        "-1",
        "0",
        "99999999999999999999",
        "check",
        "inter",
        "100ms",
        "weight",
        "256",
        "if",
        "unless",
        "{",
        "}",
        "src",
        "-f",
        "/nonexistent",
        "accept",
        "reject",
        "content",
        "track-sc0",
        "type",
        "ip",
        "size",
        "1k",
        "expire",
        "store",
        "conn_rate(10s)",
        "%[src]",
        "%{+Q}o",
        "\"quoted arg\"",
        "'single'",
        "\\",
        "\\ ",
        "${HOME}",
        "${UNSET-x}",
        "#",
        "ssl",
        "crt",
        "/etc/nothing.pem",
        "on-marked-down",
        "shutdown-sessions",
        "backup",
        "disabled",
        "send-proxy-v2",
        "resolvers",
        "init-addr",
        "none",
    ]);
    prop_oneof![
        2 => headers.prop_map(str::to_string),
        6 => (keywords, proptest::collection::vec(args, 0..6))
            .prop_map(|(k, a)| format!("    {k} {}", a.join(" "))),
        1 => "[ -~]{0,60}",
        1 => proptest::collection::vec(any::<char>(), 0..30)
            .prop_map(|c| c.into_iter().collect::<String>()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_loads_or_names_file_and_line(lines in proptest::collection::vec(line(), 0..40)) {
        let text = lines.join("\n");
        let env = |name: &str| (name == "HOME").then(|| "/nonexistent-home".to_string());
        let count = text.lines().count().max(1);
        if let Err(e) = parse_with_env("props.cfg", &text, &env) {
            prop_assert!(!e.errors.is_empty(), "refused without an error");
            for d in e.errors.iter().chain(&e.warnings) {
                prop_assert_eq!(d.location.file.to_str(), Some("props.cfg"), "{}", d);
                prop_assert!(
                    (1..=count + 1).contains(&d.location.line),
                    "line {} of {}: {}\n{}", d.location.line, count, d, text
                );
            }
        }
    }
}
