//! The runtime API's ACL and map commands (`show/get/add/del/clear acl`,
//! `show/get/add/set/del/clear map`) against live traffic: what each
//! answers, in HAProxy's words, and that a change decides the fate of the
//! next connection (`tcp-request connection reject` on a blocklist,
//! `use_backend %[src,map_ip(...)]`, SNI through `map_str`). HAProxy
//! prints a pointer before each entry of `show acl FILE`/`show map FILE`
//! (`0x55e2a1bd91c0 127.0.0.2`); the tests hold only that it is `0x` and
//! hex, and that it works as the `#<ref>` of `del`/`set`. Every
//! expectation was checked against HAProxy 2.6 (`SPLICER_TEST_BIN=haproxy`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::common::probe::{Answer, probe, read_line_answer};
use crate::common::tls::{Hello, client_hello, write_split};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(10);

fn lo(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// The 1-based number of the first line of the running config that
/// contains `marker` (HAProxy's config is rewritten by the harness, so the
/// numbers differ between the two binaries).
fn config_line(api: &Api, marker: &str) -> usize {
    let text = std::fs::read_to_string(&api.sp.config_path).unwrap();
    text.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in the config"))
        + 1
}

/// The `show acl`/`show map` listing line of `file`; checks the header and
/// returns (id, the line after its id).
fn listing(answer: &str, file: &Path) -> (u32, String) {
    let mut lines = answer.lines();
    assert_eq!(lines.next(), Some("# id (file) description"), "{answer}");
    assert!(answer.ends_with("\n\n"), "{answer:?}");
    let tag = format!(" ({}) ", file.display());
    let line = lines
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("no {tag} in {answer}"));
    let (id, rest) = line.split_once(' ').unwrap();
    (id.parse().unwrap(), rest.to_string())
}

/// The entries of a `show acl FILE` / `show map FILE` answer: each line is
/// `0xHEX ENTRY`; returns (ref, entry) pairs.
fn entries(answer: &str) -> Vec<(String, String)> {
    assert!(answer.ends_with('\n'), "{answer:?}");
    let body = answer.strip_suffix('\n').unwrap();
    body.lines()
        .map(|l| {
            let (ptr, entry) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("entry line {l:?} in {answer:?}"));
            let hex = ptr.strip_prefix("0x").unwrap_or("");
            assert!(
                !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
                "entry reference {ptr:?} in {answer:?}"
            );
            (ptr.to_string(), entry.to_string())
        })
        .collect()
}

fn entry_texts(answer: &str) -> Vec<String> {
    entries(answer).into_iter().map(|(_, e)| e).collect()
}

const BLOCKLIST: &str = "# blocked clients\n\n127.0.0.3\n  10.0.0.0/8\n";

/// A blocklist behind `tcp-request connection reject` in one frontend and
/// behind `use_backend` in another (both read the same file, so share its
/// entries).
fn blocklist_proxy(list: &Path, ok: &Backend, flagged: &Backend) -> Api {
    Api::start(
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    acl blocked src -f {l}\n    \
             tcp-request connection reject if blocked\n    default_backend ok\n\
             frontend fe_flag\n    bind 127.0.0.1:0\n    \
             use_backend flagged if {{ src -f {l} }}\n    default_backend ok\n\
             backend ok\n    server s {}\n\
             backend flagged\n    server s {}\n",
            ok.addr,
            flagged.addr,
            l = list.display()
        ),
        &["fe", "fe_flag"],
    )
}

/// `show acl`: the header, one line per pattern file with the config line
/// that uses it and its entry count; `show acl FILE` and `show acl #ID`:
/// its entries in file order (comments, blank lines and leading blanks
/// gone); unknown names answered in HAProxy's words.
#[test]
fn show_acl_lists_files_and_their_entries() {
    let dir = scratch_dir("rules-api");
    let list = dir.join("blocklist.lst");
    std::fs::write(&list, BLOCKLIST).unwrap();
    let (ok, flagged) = (Backend::named("ok"), Backend::named("flagged"));
    let api = blocklist_proxy(&list, &ok, &flagged);
    let cfg = api.sp.config_path.display().to_string();
    let (l1, l2) = (
        config_line(&api, "acl blocked src -f"),
        config_line(&api, "use_backend flagged if"),
    );
    let (id, rest) = listing(&api.ask("show acl"), &list);
    assert_eq!(
        rest,
        format!(
            "({f}) pattern loaded from file '{f}' used by acl at file '{cfg}' line {l1}, \
             by acl at file '{cfg}' line {l2}. curr_ver=0 next_ver=0 entry_cnt=2",
            f = list.display()
        ),
        "two ACLs of the same kind read the file"
    );
    let by_name = api.ask(&format!("show acl {}", list.display()));
    assert_eq!(entry_texts(&by_name), ["127.0.0.3", "10.0.0.0/8"]);
    assert!(by_name.ends_with("\n\n"), "{by_name:?}");
    assert_eq!(api.ask(&format!("show acl #{id}")), by_name);
    for unknown in ["show acl /nonexistent.lst", "show acl #999"] {
        assert_eq!(
            api.ask(unknown),
            "Unknown ACL identifier. Please use #<id> or <file>.\n\n",
            "{unknown}"
        );
    }
}

/// `add acl` changes who is rejected from the next connection on (in
/// every rule that reads the file) without touching the file; `get acl`
/// says what matches; `del acl` and `clear acl` undo it. Errors are
/// answered, not applied.
#[test]
fn add_get_del_clear_acl_steer_new_connections() {
    let dir = scratch_dir("rules-api");
    let list = dir.join("blocklist.lst");
    std::fs::write(&list, BLOCKLIST).unwrap();
    let (ok, flagged) = (Backend::named("ok"), Backend::named("flagged"));
    let api = blocklist_proxy(&list, &ok, &flagged);
    let (fe, fe_flag) = (api.sp.addr("fe"), api.sp.addr("fe_flag"));
    let f = list.display().to_string();
    assert_eq!(probe(lo(2), fe, b"", WAIT), Answer::served("ok"));
    assert_eq!(probe(lo(3), fe, b"", WAIT), Answer::Reset);
    // A session opened before the change is not affected by it.
    let held = connect_from(lo(2), fe).unwrap();
    assert_eq!(read_line_answer(&held, WAIT), Answer::served("ok"));

    assert_eq!(api.ask(&format!("add acl {f} 127.0.0.2")), "\n");
    assert_eq!(probe(lo(2), fe, b"", WAIT), Answer::Reset);
    assert_eq!(probe(lo(1), fe, b"", WAIT), Answer::served("ok"));
    assert_eq!(probe(lo(2), fe_flag, b"", WAIT), Answer::served("flagged"));
    assert_eq!(
        entry_texts(&api.ask(&format!("show acl {f}"))),
        ["127.0.0.3", "10.0.0.0/8", "127.0.0.2"]
    );
    assert_eq!(std::fs::read_to_string(&list).unwrap(), BLOCKLIST);
    std::io::Write::write_all(&mut &held, b"still here").unwrap();
    let mut echo = [0u8; 10];
    std::io::Read::read_exact(&mut &held, &mut echo).unwrap();
    assert_eq!(&echo, b"still here");

    // Both ACLs read the file the same way (ip, case-sensitive): one
    // answer line.
    assert_eq!(
        api.ask(&format!("get acl {f} 127.0.0.2")),
        "type=ip, case=sensitive, match=yes, idx=tree, pattern=\"127.0.0.2\"\n\n"
    );
    assert_eq!(
        api.ask(&format!("get acl {f} 10.1.2.3")),
        "type=ip, case=sensitive, match=yes, idx=tree, pattern=\"10.0.0.0/8\"\n\n"
    );
    let no = "type=ip, case=sensitive, match=no\n\n";
    assert_eq!(api.ask(&format!("get acl {f} 127.0.0.1")), no);

    assert_eq!(
        api.ask(&format!("add acl {f} notanip")),
        "'notanip' is not a valid IPv4 or IPv6 address.\n\n"
    );
    assert_eq!(
        api.ask("add acl /nonexistent.lst 127.0.0.9"),
        "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
    );

    assert_eq!(api.ask(&format!("del acl {f} 127.0.0.2")), "\n");
    assert_eq!(
        api.ask(&format!("del acl {f} 127.0.0.2")),
        "Key not found.\n\n"
    );
    assert_eq!(probe(lo(2), fe, b"", WAIT), Answer::served("ok"));
    assert_eq!(probe(lo(2), fe_flag, b"", WAIT), Answer::served("ok"));

    // Delete by the reference `show acl` printed.
    let shown = entries(&api.ask(&format!("show acl {f}")));
    let (ptr, entry) = &shown[0];
    assert_eq!(entry, "127.0.0.3");
    assert_eq!(api.ask(&format!("del acl {f} #{ptr}")), "\n");
    assert_eq!(probe(lo(3), fe, b"", WAIT), Answer::served("ok"));

    assert_eq!(api.ask(&format!("clear acl {f}")), "\n");
    assert_eq!(api.ask(&format!("show acl {f}")), "\n");
    assert_eq!(api.ask(&format!("get acl {f} 10.1.2.3")), no);
    assert_eq!(probe(lo(3), fe, b"", WAIT), Answer::served("ok"));
}

/// `get acl` on a file of strings read by three ACLs of different kinds:
/// one line per kind with its match method, case and index (`-i` strings
/// are a list, exact and prefix strings a tree); `show acl` counts the
/// entries once per kind.
#[test]
fn get_acl_reports_each_acl_reading_a_file() {
    let dir = scratch_dir("rules-api");
    let hosts = dir.join("hosts.lst");
    std::fs::write(&hosts, "www.foobar.com\nIMG.foobar.com\n").unwrap();
    let other = Backend::named("other");
    let api = Api::start(
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
             tcp-request content accept if {{ req.ssl_hello_type 1 }}\n    \
             acl known req.ssl_sni -i -f {h}\n    acl prefix req.ssl_sni -m beg -f {h}\n    \
             acl exact req.ssl_sni -f {h}\n    \
             use_backend other if known prefix exact\n    default_backend other\n\
             backend other\n    server s {}\n",
            other.addr,
            h = hosts.display()
        ),
        &["fe"],
    );
    let h = hosts.display().to_string();
    let (_, listed) = listing(&api.ask("show acl"), &hosts);
    assert!(
        listed.ends_with(" entry_cnt=6"),
        "2 entries, 3 kinds: {listed}"
    );
    assert_eq!(
        api.ask(&format!("get acl {h} WWW.foobar.com")),
        "type=str, case=insensitive, match=yes, idx=list, pattern=\"www.foobar.com\"\n\
         type=beg, case=sensitive, match=no\n\
         type=str, case=sensitive, match=no\n\n"
    );
    assert_eq!(
        api.ask(&format!("get acl {h} IMG.foobar.com")),
        "type=str, case=insensitive, match=yes, idx=list, pattern=\"IMG.foobar.com\"\n\
         type=beg, case=sensitive, match=yes, idx=tree, pattern=\"IMG.foobar.com\"\n\
         type=str, case=sensitive, match=yes, idx=tree, pattern=\"IMG.foobar.com\"\n\n"
    );
    assert_eq!(
        api.ask(&format!("get acl {h} www.foobar.com.example")),
        "type=str, case=insensitive, match=no\n\
         type=beg, case=sensitive, match=yes, idx=tree, pattern=\"www.foobar.com\"\n\
         type=str, case=sensitive, match=no\n\n"
    );
}

const IP_MAP: &str = "# source -> backend\n127.0.0.2 www\n\n127.0.0.3 static\n10.0.0.0/8 www\n";

/// `use_backend %[src,map_ip(FILE,other)]` routes by source; `show map`,
/// `get map`, `add map`, `set map`, `del map` and `clear map` answer in
/// HAProxy's words and change the route of the next connection.
#[test]
fn map_ip_routing_follows_map_commands() {
    let dir = scratch_dir("rules-api");
    let map = dir.join("src.map");
    std::fs::write(&map, IP_MAP).unwrap();
    let servers = [
        Backend::named("www"),
        Backend::named("static"),
        Backend::named("other"),
    ];
    let mut rest = format!(
        "frontend fe\n    bind 127.0.0.1:0\n    use_backend %[src,map_ip({},other)]\n    \
         default_backend other\n",
        map.display()
    );
    for (name, b) in ["www", "static", "other"].iter().zip(&servers) {
        rest.push_str(&format!("backend {name}\n    server s {}\n", b.addr));
    }
    let api = Api::start("", &rest, &["fe"]);
    let fe = api.sp.addr("fe");
    let m = map.display().to_string();
    let route = |src: u8| -> String {
        match probe(lo(src), fe, b"", WAIT) {
            Answer::Served(name) => name,
            other => panic!("127.0.0.{src}: {other:?}"),
        }
    };
    assert_eq!([route(2), route(3), route(1)], ["www", "static", "other"]);

    let cfg = api.sp.config_path.display().to_string();
    let line = config_line(&api, "use_backend %[src,map_ip(");
    let (id, listed) = listing(&api.ask("show map"), &map);
    assert_eq!(
        listed,
        format!(
            "({m}) pattern loaded from file '{m}' used by map at file '{cfg}' line {line}. \
             curr_ver=0 next_ver=0 entry_cnt=3"
        )
    );
    let shown = api.ask(&format!("show map {m}"));
    assert_eq!(
        entry_texts(&shown),
        ["127.0.0.2 www", "127.0.0.3 static", "10.0.0.0/8 www"]
    );
    assert!(shown.ends_with("\n\n"), "{shown:?}");
    assert_eq!(api.ask(&format!("show map #{id}")), shown);
    assert_eq!(
        api.ask(&format!("get map {m} 127.0.0.2")),
        "type=ip, case=sensitive, found=yes, idx=tree, key=\"127.0.0.2\", value=\"www\", type=\"str\"\n\n"
    );
    assert_eq!(
        api.ask(&format!("get map {m} 10.9.8.7")),
        "type=ip, case=sensitive, found=yes, idx=tree, key=\"10.0.0.0/8\", value=\"www\", type=\"str\"\n\n"
    );
    assert_eq!(
        api.ask(&format!("get map {m} 127.0.0.9")),
        "type=ip, case=sensitive, found=no\n\n"
    );

    assert_eq!(api.ask(&format!("add map {m} 127.0.0.4 static")), "\n");
    assert_eq!(route(4), "static");
    assert_eq!(api.ask(&format!("set map {m} 127.0.0.2 static")), "\n");
    assert_eq!(route(2), "static");
    assert_eq!(
        api.ask(&format!("set map {m} 127.0.0.99 www")),
        "entry not found.\n\n"
    );
    assert_eq!(api.ask(&format!("del map {m} 127.0.0.3")), "\n");
    assert_eq!(route(3), "other");
    assert_eq!(
        api.ask(&format!("del map {m} 127.0.0.3")),
        "Key not found.\n\n"
    );
    let shown = entries(&api.ask(&format!("show map {m}")));
    assert_eq!(
        shown.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
        ["127.0.0.2 static", "10.0.0.0/8 www", "127.0.0.4 static"]
    );
    // `set map` by the reference `show map` printed.
    assert_eq!(api.ask(&format!("set map {m} #{} www", shown[2].0)), "\n");
    assert_eq!(route(4), "www");
    assert_eq!(
        std::fs::read_to_string(&map).unwrap(),
        IP_MAP,
        "the file is untouched"
    );

    assert_eq!(
        api.ask(&format!("add map {m} 127.0.0.5")),
        "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n\n"
    );
    assert_eq!(
        api.ask(&format!("add acl {m} 127.0.0.5")),
        "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n\n"
    );
    assert_eq!(
        api.ask("show map /nonexistent.map"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );

    assert_eq!(api.ask(&format!("clear map {m}")), "\n");
    assert_eq!(api.ask(&format!("show map {m}")), "\n");
    assert_eq!([route(2), route(4)], ["other", "other"]);
}

/// SNI routing through a map: `use_backend %[req.ssl_sni,lower,map_str(FILE)]`,
/// names not in the map going to `default_backend`; `add map` and
/// `del map` move a name.
#[test]
fn map_str_sni_routing_follows_map_commands() {
    let dir = scratch_dir("rules-api");
    let map = dir.join("sni.map");
    std::fs::write(&map, "www.foobar.com www\nstatic.foobar.com static\n").unwrap();
    let servers = [
        Backend::named("www"),
        Backend::named("static"),
        Backend::named("other"),
    ];
    let mut rest = format!(
        "frontend fe\n    bind 127.0.0.1:0\n    tcp-request inspect-delay 5s\n    \
         tcp-request content accept if {{ req.ssl_hello_type 1 }}\n    \
         use_backend %[req.ssl_sni,lower,map_str({})]\n    default_backend other\n",
        map.display()
    );
    for (name, b) in ["www", "static", "other"].iter().zip(&servers) {
        rest.push_str(&format!("backend {name}\n    server s {}\n", b.addr));
    }
    let api = Api::start("", &rest, &["fe"]);
    let fe: SocketAddr = api.sp.addr("fe");
    let m = map.display().to_string();
    let route = |sni: &str| -> String {
        let s = connect_from(lo(1), fe).unwrap();
        let hello = client_hello(&Hello {
            sni: Some(sni),
            ..Hello::default()
        });
        write_split(&s, &hello, 1, Duration::ZERO);
        match read_line_answer(&s, WAIT) {
            Answer::Served(name) => name,
            other => panic!("{sni}: {other:?}"),
        }
    };
    assert_eq!(route("WWW.FooBar.com"), "www");
    assert_eq!(route("static.foobar.com"), "static");
    assert_eq!(route("img.foobar.com"), "other");
    assert_eq!(
        api.ask(&format!("get map {m} www.foobar.com")),
        "type=str, case=sensitive, found=yes, idx=tree, key=\"www.foobar.com\", value=\"www\", type=\"str\"\n\n"
    );
    assert_eq!(
        api.ask(&format!("get map {m} WWW.foobar.com")),
        "type=str, case=sensitive, found=no\n\n"
    );
    assert_eq!(api.ask(&format!("add map {m} img.foobar.com static")), "\n");
    assert_eq!(route("IMG.foobar.com"), "static");
    assert_eq!(api.ask(&format!("del map {m} www.foobar.com")), "\n");
    assert_eq!(route("www.foobar.com"), "other");
    assert_eq!(
        entry_texts(&api.ask(&format!("show map {m}"))),
        ["static.foobar.com static", "img.foobar.com static"]
    );
}
