//! `vrrp NAME` sections: the model they give, and the `FILE:LINE` error of
//! each bad line.

use super::{HEAD, errors, ok, warnings};
use crate::config::*;
use std::net::Ipv4Addr;
use std::time::Duration;

/// A valid proxy part; the vrrp section starts at line 10.
fn with_vrrp(lines: &str) -> String {
    format!("{HEAD}listen web\n bind :80\n server s 127.0.0.1:81\n retries 3\nvrrp VI_1\n{lines}")
}

const BASE: &str = " interface eth0\n virtual_router_id 51\n virtual_ipaddress 198.51.100.100/24\n";

#[test]
fn parses_the_issue_example() {
    let l = ok(&with_vrrp(
        " interface eth0
    virtual_router_id 51
    priority 150                 # 1-254; 255 = address owner
    advert_int 100ms
    virtual_ipaddress 198.51.100.100/24 198.51.100.101
    virtual_ipaddress 198.51.100.102/32
    unicast_peer 198.51.100.12
    preempt_delay 5s
    track_backend web
    notify /path/to/script
    state BACKUP
",
    ));
    let v = &l.config.vrrp[0];
    assert_eq!(v.name, "VI_1");
    assert_eq!(v.location.line, 10);
    assert_eq!(v.interface, "eth0");
    assert_eq!(v.vrid, 51);
    assert_eq!(v.priority, 150);
    assert_eq!(v.advert_int, Duration::from_millis(100));
    assert_eq!(v.advert_centis(), 10);
    let vip = |a: [u8; 4], prefix| Vip {
        addr: Ipv4Addr::from(a),
        prefix,
    };
    assert_eq!(
        v.vips,
        [
            vip([198, 51, 100, 100], 24),
            vip([198, 51, 100, 101], 32),
            vip([198, 51, 100, 102], 32)
        ]
    );
    assert_eq!(v.vips[0].to_string(), "198.51.100.100/24");
    assert_eq!(v.unicast_peers, [Ipv4Addr::new(198, 51, 100, 12)]);
    assert_eq!(v.preempt, Preempt::After(Duration::from_secs(5)));
    assert_eq!(v.track_backends, ["web"]);
    assert_eq!(
        v.notify.as_deref(),
        Some(std::path::Path::new("/path/to/script"))
    );
    assert_eq!(v.initial_state, Some(InitialState::Backup));
    // The script does not exist on this machine: a warning, not an error.
    let w = warnings(&with_vrrp(&format!(
        "{BASE} notify /nonexistent/notify.sh\n"
    )));
    assert!(
        w.iter()
            .any(|w| w.starts_with("t.cfg:10: vrrp 'VI_1': notify script")),
        "{w:?}"
    );
}

#[test]
fn defaults_and_time_forms() {
    let v = ok(&with_vrrp(BASE)).config.vrrp[0].clone();
    assert_eq!(v.priority, vrrp::DEFAULT_VRRP_PRIORITY);
    assert_eq!(v.advert_int, vrrp::DEFAULT_ADVERT_INT);
    assert_eq!(v.preempt, Preempt::Yes);
    assert!(v.unicast_peers.is_empty() && v.track_backends.is_empty());
    // (advert_int as written, milliseconds)
    let cases: &[(&str, u64)] = &[
        ("100ms", 100),
        ("1s", 1000),
        ("0.1", 100),
        ("1", 1000),
        ("2.5", 2500),
        (".5", 500),
        ("10ms", 10),
        ("40950ms", 40950),
    ];
    for (text, ms) in cases {
        let v = &ok(&with_vrrp(&format!("{BASE} advert_int {text}\n")))
            .config
            .vrrp[0];
        assert_eq!(
            v.advert_int,
            Duration::from_millis(*ms),
            "advert_int {text}"
        );
    }
    let v = &ok(&with_vrrp(&format!("{BASE} nopreempt\n"))).config.vrrp[0];
    assert_eq!(v.preempt, Preempt::No);
    let v = &ok(&with_vrrp(&format!("{BASE} preempt_delay 300\n")))
        .config
        .vrrp[0];
    assert_eq!(v.preempt, Preempt::After(Duration::from_secs(300)));
    // Sections after a vrrp section are read as usual.
    let l = ok(&(with_vrrp(BASE) + "backend other\n server s 127.0.0.1:82\n"));
    assert_eq!(l.config.backends.len(), 2);
}

#[test]
fn vrrp_errors_name_file_and_line() {
    // (description, lines after BASE (line 14 onwards), expected first error)
    let cases: &[(&str, &str, &str)] = &[
        (
            "authentication",
            "authentication",
            "t.cfg:14: vrrp 'VI_1': 'authentication' does not exist in VRRPv3 (RFC 5798 removed authentication)",
        ),
        (
            "keyword typo",
            "priorty 10",
            "t.cfg:14: vrrp 'VI_1': unknown keyword 'priorty' in 'vrrp' section; did you mean 'priority'?",
        ),
        (
            "keepalived-only keyword",
            "use_vmac",
            "t.cfg:14: vrrp 'VI_1': 'use_vmac' (a keepalived keyword) is not supported in a 'vrrp' section",
        ),
        (
            "braces",
            "}",
            "t.cfg:14: vrrp 'VI_1': braces are keepalived syntax",
        ),
        (
            "priority 0",
            "priority 0",
            "t.cfg:14: vrrp 'VI_1': 'priority': value '0' is out of range 1..255",
        ),
        (
            "priority 256",
            "priority 256",
            "t.cfg:14: vrrp 'VI_1': 'priority': value '256' is out of range 1..255",
        ),
        (
            "vrid 0",
            "virtual_router_id 0",
            "t.cfg:14: vrrp 'VI_1': 'virtual_router_id': value '0' is out of range 1..255",
        ),
        (
            "advert_int below a centisecond",
            "advert_int 5ms",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': '5ms' is not a whole number of centiseconds",
        ),
        (
            "advert_int not centiseconds",
            "advert_int 0.105",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': '0.105' is not a whole number of centiseconds",
        ),
        (
            "advert_int zero",
            "advert_int 0",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': '0' is out of range 10ms..40950ms",
        ),
        (
            "advert_int too long",
            "advert_int 41s",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': '41s' is out of range 10ms..40950ms",
        ),
        (
            "advert_int unit",
            "advert_int 1x",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': invalid unit 'x' in time '1x'",
        ),
        (
            "advert_int two dots",
            "advert_int 1.2.3",
            "t.cfg:14: vrrp 'VI_1': 'advert_int': invalid time '1.2.3'",
        ),
        (
            "IPv6 VIP",
            "virtual_ipaddress 2001:db8::1/64",
            "t.cfg:14: vrrp 'VI_1': 'virtual_ipaddress': '2001:db8::1/64' is IPv6; splicer speaks VRRPv3 over IPv4 only",
        ),
        (
            "keepalived VIP options",
            "virtual_ipaddress 198.51.100.101/24 dev eth0",
            "t.cfg:14: vrrp 'VI_1': 'virtual_ipaddress': 'dev' is not an IPv4 address[/prefix]",
        ),
        (
            "bad prefix",
            "virtual_ipaddress 198.51.100.101/33",
            "t.cfg:14: vrrp 'VI_1': 'virtual_ipaddress': invalid prefix length in '198.51.100.101/33'",
        ),
        (
            "VIP twice",
            "virtual_ipaddress 198.51.100.100",
            "t.cfg:14: vrrp 'VI_1': 'virtual_ipaddress': 198.51.100.100 is already listed at t.cfg:13",
        ),
        (
            "multicast peer",
            "unicast_peer 224.0.0.18",
            "t.cfg:14: vrrp 'VI_1': 'unicast_peer': '224.0.0.18' is not a unicast IPv4 address",
        ),
        (
            "preempt conflict",
            "nopreempt\n preempt_delay 5s",
            "t.cfg:15: vrrp 'VI_1': conflicts with the preemption set at t.cfg:14",
        ),
        (
            "preempt_delay too long",
            "preempt_delay 1001",
            "t.cfg:14: vrrp 'VI_1': 'preempt_delay': '1001' is above the maximum of 1000s",
        ),
        (
            "nopreempt argument",
            "nopreempt yes",
            "t.cfg:14: vrrp 'VI_1': 'nopreempt' cannot handle unexpected argument 'yes'",
        ),
        (
            "unknown backend",
            "track_backend webb",
            "t.cfg:14: vrrp 'VI_1': 'track_backend': no backend named 'webb'; did you mean 'web'?",
        ),
        (
            "state",
            "state master",
            "t.cfg:14: vrrp 'VI_1': 'state' expects MASTER or BACKUP, not 'master'",
        ),
        (
            "notify with arguments",
            "notify /bin/true x",
            "t.cfg:14: vrrp 'VI_1': 'notify' cannot handle unexpected argument 'x'",
        ),
        (
            "interface missing its argument",
            "interface",
            "t.cfg:14: vrrp 'VI_1': 'interface' expects an argument",
        ),
    ];
    for (desc, lines, expected) in cases {
        let errs = errors(&with_vrrp(&format!("{BASE} {lines}\n")));
        assert!(errs[0].starts_with(expected), "{desc}: got {errs:?}");
    }
}

#[test]
fn vrrp_section_errors() {
    let two = |a: &str, b: &str| format!("{}vrrp VI_2\n{b}", with_vrrp(a));
    let cases: &[(&str, String, &str)] = &[
        (
            "missing keywords",
            with_vrrp(" priority 10\n"),
            "t.cfg:10: vrrp 'VI_1': missing interface, virtual_router_id, virtual_ipaddress",
        ),
        (
            "no name",
            format!("{HEAD}listen web\n bind :80\nvrrp\n{BASE}"),
            "t.cfg:8: 'vrrp' expects an <id> argument",
        ),
        (
            "keepalived header",
            format!("{HEAD}listen web\n bind :80\nvrrp VI_1 {{\n{BASE}"),
            "t.cfg:8: 'vrrp' cannot handle unexpected argument '{' (no braces",
        ),
        (
            "keepalived section name",
            format!("{HEAD}listen web\n bind :80\nvrrp_instance VI_1 {{\n"),
            "t.cfg:8: 'vrrp_instance' is keepalived's syntax",
        ),
        (
            "same name",
            format!(
                "{}vrrp VI_1\n{}",
                with_vrrp(BASE),
                BASE.replace("id 51", "id 52").replace(".100/", ".110/")
            ),
            "t.cfg:14: vrrp 'VI_1' has the same name as the one declared at t.cfg:10",
        ),
        (
            "same vrid on the interface",
            two(BASE, &BASE.replace(".100/", ".110/")),
            "t.cfg:14: vrrp 'VI_2': virtual_router_id 51 on eth0 is already used by vrrp 'VI_1' at t.cfg:10",
        ),
        (
            "same VIP in two instances",
            two(BASE, &BASE.replace("id 51", "id 52")),
            "t.cfg:17: vrrp 'VI_2': 198.51.100.100 is already a virtual address of vrrp 'VI_1'",
        ),
    ];
    for (desc, text, expected) in cases {
        let errs = errors(text);
        assert!(errs[0].starts_with(expected), "{desc}: got {errs:?}");
    }
    // The same VRID on another interface is a different virtual router.
    ok(&two(
        BASE,
        &BASE.replace("eth0", "eth1").replace(".100/", ".110/"),
    ));
}
