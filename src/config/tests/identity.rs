//! `user`, `group`, `uid`, `gid`, `chroot`, `daemon`: the identity the
//! serving process takes (HAProxy's messages and precedence).

use super::{HEAD, errors, ok, warnings};

const LISTEN: &str = "listen l\n    bind 127.0.0.1:8000\n    server s1 127.0.0.1:9000\n";

fn global(lines: &str) -> String {
    format!("global\n{lines}{HEAD}{LISTEN}")
}

#[test]
fn names_and_numbers_become_ids() {
    let cases: &[(&str, &str, Option<u32>, Option<u32>)] = &[
        ("names", "    user root\n    group root\n", Some(0), Some(0)),
        (
            "numbers",
            "    uid 65534\n    gid 65534\n",
            Some(65534),
            Some(65534),
        ),
        ("user sets no group", "    user nobody\n", Some(65534), None),
        (
            "first one wins",
            "    uid 12\n    user root\n",
            Some(12),
            None,
        ),
        ("atoi of a bad number", "    uid 12x\n", Some(12), None),
        ("nothing", "", None, None),
    ];
    for (what, lines, uid, gid) in cases {
        let g = ok(&global(lines)).config.global;
        assert_eq!((g.uid, g.gid), (*uid, *gid), "{what}");
    }
    let g = ok(&global("    chroot /var/lib/haproxy\n    daemon\n"))
        .config
        .global;
    assert_eq!(
        g.chroot.as_deref(),
        Some(std::path::Path::new("/var/lib/haproxy"))
    );
    assert!(g.daemon);
}

#[test]
fn haproxy_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "    user no-such-user-x\n",
            "t.cfg:2: cannot find user id for 'no-such-user-x'",
        ),
        (
            "    group no-such-group-x\n",
            "t.cfg:2: cannot find group id for 'no-such-group-x'",
        ),
        (
            "    chroot\n",
            "t.cfg:2: 'chroot' expects a directory as an argument.",
        ),
        (
            "    master-worker now\n",
            "t.cfg:2: 'master-worker' only supports 'no-exit-on-failure' option",
        ),
    ];
    for (lines, expected) in cases {
        let errs = errors(&global(lines));
        assert!(errs[0].starts_with(expected), "{lines}: {errs:?}");
    }
    let w = warnings(&global("    user root\n    uid 5\n    gid abc\n"));
    assert_eq!(
        w,
        [
            "t.cfg:3: user/uid already specified. Continuing.",
            "t.cfg:4: gid: string 'abc' is not a number; you might want to use the 'group' parameter to use a system group name",
        ]
    );
}
