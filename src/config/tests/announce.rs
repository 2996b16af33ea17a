//! `announce NAME` sections: the model they give, and the `FILE:LINE`
//! error of each bad line.

use super::{HEAD, errors, ok};
use std::time::Duration;

/// A valid proxy part; the announce section starts at line 10.
fn with_announce(lines: &str) -> String {
    format!(
        "{HEAD}listen web\n bind :80\n server s 127.0.0.1:81\n retries 3\nannounce vip\n{lines}"
    )
}

#[test]
fn parses_a_section() {
    let l = ok(&with_announce(
        " interface splicer-vip\n track_backend web\n withdraw-delay 200ms\n",
    ));
    let a = &l.config.announce[0];
    assert_eq!(a.name, "vip");
    assert_eq!(a.location.line, 10);
    assert_eq!(a.interface, "splicer-vip");
    assert_eq!(a.track_backends, ["web"]);
    assert_eq!(a.withdraw_delay, Duration::from_millis(200));
    // Defaults: nothing tracked, no delay.
    let l = ok(&with_announce(" interface splicer-vip\n"));
    let a = &l.config.announce[0];
    assert!(a.track_backends.is_empty());
    assert_eq!(a.withdraw_delay, Duration::ZERO);
}

#[test]
fn bad_lines_name_their_line() {
    let cases = [
        (
            "no interface",
            "",
            "t.cfg:10: announce 'vip': missing interface",
        ),
        (
            "unknown backend",
            " interface tun0\n track_backend webb\n",
            "t.cfg:12: announce 'vip': 'track_backend': no backend named 'webb'; did you mean 'web'?",
        ),
        (
            "long interface name",
            " interface a-name-that-is-too-long\n",
            "t.cfg:11: announce 'vip': 'interface': 'a-name-that-is-too-long' is not an interface name",
        ),
        (
            "typo",
            " interface tun0\n track-backend web\n",
            "t.cfg:12: announce 'vip': unknown keyword 'track-backend' in 'announce' section; did you mean 'track_backend'?",
        ),
        (
            "delay too long",
            " interface tun0\n withdraw-delay 61s\n",
            "t.cfg:12: announce 'vip': 'withdraw-delay': above the maximum of 60s",
        ),
        (
            "two arguments",
            " interface tun0 tun1\n",
            "t.cfg:11: announce 'vip': 'interface' cannot handle unexpected argument 'tun1'",
        ),
    ];
    for (desc, lines, expected) in cases {
        let errs = errors(&with_announce(lines));
        assert!(
            errs.iter().any(|e| e.starts_with(expected)),
            "{desc}: got {errs:?}"
        );
    }
}

#[test]
fn two_sections_cannot_share_a_device() {
    let text = format!(
        "{}announce other\n interface splicer-vip\n",
        with_announce(" interface splicer-vip\n")
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.contains("interface 'splicer-vip' is already announce 'vip''s")),
        "{errs:?}"
    );
}
