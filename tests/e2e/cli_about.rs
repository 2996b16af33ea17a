//! `show version`, `show env` and `show errors` as HAProxy 2.6 answers
//! them (these tests pass against HAProxy too: `SPLICER_TEST_BIN=haproxy`).

use crate::common::*;

fn api() -> Api {
    let a = dead_addr();
    Api::start(
        "",
        &listen("    balance roundrobin", &[("a", a, "")]),
        &["fe"],
    )
}

#[test]
fn show_env_lists_the_process_environment() {
    let api = api();
    let home = std::env::var("HOME").expect("HOME in the test's environment");
    assert_eq!(api.ask("show env HOME"), format!("HOME={home}\n\n"));
    // A name is a whole name, not a prefix of one.
    assert_eq!(api.ask("show env HOM"), "Variable not found\n\n");
    assert_eq!(
        api.ask("show env SPLICER_NO_SUCH_VAR"),
        "Variable not found\n\n"
    );
    let all = api.ask("show env");
    assert!(all.lines().any(|l| l == format!("HOME={home}")), "{all}");
    assert!(all.ends_with("\n\n"), "{all}");
    // Operator level and above.
    assert_eq!(
        ask(&api.sock("user"), "show env HOME"),
        "Permission denied\n\n"
    );
}

#[test]
fn show_version_is_one_line() {
    let api = api();
    let v = api.ask("show version");
    let lines: Vec<&str> = v.split('\n').collect();
    assert_eq!(lines.len(), 3, "{v:?}");
    assert!(
        !lines[0].is_empty() && lines[0].chars().next().unwrap().is_ascii_digit(),
        "{v:?}"
    );
    assert_eq!(&lines[1..], ["", ""]);
}

#[test]
fn show_errors_has_haproxys_header_and_no_event() {
    let api = api();
    let re = regex::Regex::new(
        r"^Total events captured on \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\] : 0\n\n$",
    )
    .unwrap();
    for req in [
        "show errors",
        "show errors fe",
        "show errors fe request",
        "show errors 7 response",
    ] {
        let got = api.ask(req);
        assert!(re.is_match(&got), "{req}: {got:?}");
    }
    assert_eq!(api.ask("show errors nope"), "No such proxy.\n\n");
}
