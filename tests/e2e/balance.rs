//! Server selection as a client sees it: which named server answers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::*;

const NAMES: [&str; 4] = ["s1", "s2", "s3", "s4"];

/// Named backends s1..sN.
fn named(n: usize) -> Vec<Backend> {
    NAMES[..n].iter().map(|name| Backend::named(name)).collect()
}

/// Reads the server's name line from a held connection.
fn name_of(s: &TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    // One line per connection; BufReader over &TcpStream reads nothing more
    // because the server sends nothing more until the client talks.
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// `n` sequential connections; how many each server got.
fn tally(fe: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut t = HashMap::new();
    for _ in 0..n {
        *t.entry(server_name(fe)).or_insert(0) += 1;
    }
    t
}

fn get(t: &HashMap<String, usize>, name: &str) -> usize {
    t.get(name).copied().unwrap_or(0)
}

fn start(global: &str, lines: &str, servers: &[(&str, SocketAddr, &str)]) -> Splicer {
    Splicer::start(&config(global, "", &listen(lines, servers)), &["fe"])
}

#[test]
fn roundrobin_is_exactly_even_single_thread() {
    let b = named(3);
    let sp = start(
        "    nbthread 1",
        "    balance roundrobin",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, ""),
        ],
    );
    let t = tally(sp.addr("fe"), 300);
    for name in &NAMES[..3] {
        assert_eq!(get(&t, name), 100, "{t:?}");
    }
}

/// With several workers the rotation is still one sequence per backend,
/// as HAProxy's (its lock per backend): whichever worker accepts a
/// connection, the next server is the next in turn.
#[test]
fn roundrobin_rotates_as_one_sequence_across_workers() {
    let b = named(3);
    let sp = start(
        "    nbthread 4",
        "    balance roundrobin",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, ""),
        ],
    );
    let fe = sp.addr("fe");
    let seq: Vec<String> = (0..30).map(|_| server_name(fe)).collect();
    for (i, name) in seq.iter().enumerate().skip(3) {
        assert_eq!(*name, seq[i - 3], "not one rotation: {seq:?}");
    }
    let mut first: Vec<&String> = seq[..3].iter().collect();
    first.sort();
    assert_eq!(first, ["s1", "s2", "s3"], "{seq:?}");
}

fn weighted(algo: &str, global: &str, tolerance: usize) {
    let b = named(3);
    let sp = start(
        global,
        &format!("    balance {algo}"),
        &[
            ("s1", b[0].addr, "weight 1"),
            ("s2", b[1].addr, "weight 2"),
            ("s3", b[2].addr, "weight 3"),
        ],
    );
    let t = tally(sp.addr("fe"), 600);
    for (name, want) in [("s1", 100), ("s2", 200), ("s3", 300)] {
        assert!(get(&t, name).abs_diff(want) <= tolerance, "{algo}: {t:?}");
    }
}

#[test]
fn roundrobin_weights_single_thread() {
    weighted("roundrobin", "    nbthread 1", 0);
}

#[test]
fn static_rr_weights_single_thread() {
    weighted("static-rr", "    nbthread 1", 0);
}

#[test]
fn roundrobin_weights_two_workers() {
    weighted("roundrobin", "    nbthread 2", 0);
}

#[test]
fn static_rr_weights_two_workers() {
    weighted("static-rr", "    nbthread 2", 0);
}

/// Long-lived sessions spread evenly; a server that loses its sessions gets
/// the next new ones.
#[test]
fn leastconn_follows_open_sessions() {
    let b = named(3);
    let sp = start(
        "",
        "    balance leastconn",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, ""),
        ],
    );
    let fe = sp.addr("fe");
    let mut held: Vec<(String, TcpStream)> = Vec::new();
    for _ in 0..9 {
        let c = TcpStream::connect(fe).unwrap();
        held.push((name_of(&c), c));
    }
    let count = |held: &[(String, TcpStream)], n: &str| held.iter().filter(|(s, _)| s == n).count();
    for name in &NAMES[..3] {
        assert_eq!(count(&held, name), 3, "9 held sessions over 3 servers");
    }
    // Close s2's sessions: it now has the fewest, so it gets the next three.
    held.retain(|(s, _)| s != "s2");
    wait_for("s2's sessions to close", Duration::from_secs(5), || {
        b[1].open() == 0
    });
    for _ in 0..3 {
        let c = TcpStream::connect(fe).unwrap();
        let name = name_of(&c);
        assert_eq!(name, "s2", "leastconn picked a busier server");
        held.push((name, c));
    }
}

/// `first` fills the first server up to its maxconn before using the next.
#[test]
fn first_fills_servers_in_order() {
    let b = named(3);
    // A stats socket: the slot is free when splicer says so, which can be
    // a moment after the server saw its connection close.
    let api = api::Api::start(
        "",
        &listen(
            "    balance first",
            &[
                ("s1", b[0].addr, "maxconn 2"),
                ("s2", b[1].addr, "maxconn 2"),
                ("s3", b[2].addr, "maxconn 2"),
            ],
        ),
        &["fe"],
    );
    let fe = api.sp.addr("fe");
    let mut held = Vec::new();
    let mut order = Vec::new();
    for _ in 0..5 {
        let c = TcpStream::connect(fe).unwrap();
        order.push(name_of(&c));
        held.push(c);
    }
    assert_eq!(order, ["s1", "s1", "s2", "s2", "s3"]);
    // Free a slot on s1: the next session goes back there.
    drop(held.remove(0));
    wait_for("s1 slot to free", Duration::from_secs(5), || {
        b[0].open() == 1 && api.stat("fe", "s1", "scur") == "1"
    });
    let c = TcpStream::connect(fe).unwrap();
    assert_eq!(name_of(&c), "s1");
}

/// Name of the server a client from `src` gets.
fn name_from(src: IpAddr, fe: SocketAddr) -> String {
    let c = connect_from(src, fe).unwrap();
    name_of(&c)
}

fn sources() -> impl Iterator<Item = IpAddr> {
    (2..=200u8).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, i / 50, i)))
}

#[test]
fn source_sticks_to_one_server() {
    let b = named(3);
    let sp = start(
        "",
        "    balance source",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, ""),
        ],
    );
    let fe = sp.addr("fe");
    let mut used = HashMap::new();
    for src in sources() {
        let first = name_from(src, fe);
        for _ in 0..2 {
            assert_eq!(name_from(src, fe), first, "client {src} moved");
        }
        *used.entry(first).or_insert(0) += 1;
    }
    assert_eq!(
        used.len(),
        3,
        "199 sources should reach all 3 servers: {used:?}"
    );
    for n in used.values() {
        assert!(*n >= 20, "source hashing is very uneven: {used:?}");
    }
}

/// With `hash-type consistent`, taking a server out (from the config, or
/// `disabled`) moves only its own clients.
#[test]
fn consistent_source_moves_only_removed_servers_clients() {
    let b = named(3);
    let lines = "    balance source\n    hash-type consistent";
    let all = [
        ("s1", b[0].addr, ""),
        ("s2", b[1].addr, ""),
        ("s3", b[2].addr, ""),
    ];
    let map = |servers: &[(&str, SocketAddr, &str)]| -> HashMap<IpAddr, String> {
        let sp = start("", lines, servers);
        let fe = sp.addr("fe");
        sources().map(|src| (src, name_from(src, fe))).collect()
    };
    let before = map(&all);
    let check = |after: &HashMap<IpAddr, String>, gone: &str| {
        let mut moved = 0;
        for (src, was) in &before {
            let now = &after[src];
            if was == gone {
                assert_ne!(now, gone);
                moved += 1;
            } else {
                assert_eq!(now, was, "client {src} of {was} moved although {gone} left");
            }
        }
        assert!(moved > 0, "no client was on {gone}: {before:?}");
    };
    // The last server removed from the config.
    check(&map(&all[..2]), "s3");
    // The middle server disabled.
    check(&map(&[all[0], ("s2", b[1].addr, "disabled"), all[2]]), "s2");
}

#[test]
fn random_reaches_every_server() {
    let b = named(3);
    let sp = start(
        "",
        "    balance random",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, ""),
        ],
    );
    let t = tally(sp.addr("fe"), 300);
    for name in &NAMES[..3] {
        // Expected 100 each; 40 is more than 6 standard deviations away.
        assert!(get(&t, name) >= 40, "{t:?}");
    }
}

#[test]
fn backups_idle_while_actives_usable() {
    let b = named(4);
    let sp = start(
        "",
        "    balance roundrobin",
        &[
            ("s1", b[0].addr, ""),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, "backup"),
            ("s4", b[3].addr, "backup"),
        ],
    );
    let t = tally(sp.addr("fe"), 60);
    assert_eq!(get(&t, "s3") + get(&t, "s4"), 0, "{t:?}");
    assert_eq!(get(&t, "s1") + get(&t, "s2"), 60);
    assert!(get(&t, "s1") > 0 && get(&t, "s2") > 0, "{t:?}");
}

#[test]
fn first_backup_takes_over_when_actives_disabled() {
    let b = named(4);
    let sp = start(
        "",
        "    balance roundrobin",
        &[
            ("s1", b[0].addr, "disabled"),
            ("s2", b[1].addr, "disabled"),
            ("s3", b[2].addr, "backup"),
            ("s4", b[3].addr, "backup"),
        ],
    );
    let t = tally(sp.addr("fe"), 30);
    assert_eq!(get(&t, "s3"), 30, "only the first backup serves: {t:?}");
}

#[test]
fn allbackups_shares_load_over_backups() {
    let b = named(4);
    let sp = start(
        "",
        "    balance roundrobin\n    option allbackups",
        &[
            ("s1", b[0].addr, "disabled"),
            ("s2", b[1].addr, "disabled"),
            ("s3", b[2].addr, "backup"),
            ("s4", b[3].addr, "backup"),
        ],
    );
    let t = tally(sp.addr("fe"), 30);
    assert_eq!(
        get(&t, "s1") + get(&t, "s2"),
        0,
        "disabled servers served: {t:?}"
    );
    assert!(
        get(&t, "s3").abs_diff(15) <= 2 && get(&t, "s4").abs_diff(15) <= 2,
        "{t:?}"
    );
}

/// A server with one `disabled` active left: the other active serves, backups don't.
#[test]
fn disabled_active_is_skipped() {
    let b = named(3);
    let sp = start(
        "",
        "    balance roundrobin",
        &[
            ("s1", b[0].addr, "disabled"),
            ("s2", b[1].addr, ""),
            ("s3", b[2].addr, "backup"),
        ],
    );
    let t = tally(sp.addr("fe"), 30);
    assert_eq!(get(&t, "s2"), 30, "{t:?}");
}

/// A server without a port takes the client's destination port, and
/// `:+N`/`:-N` moves it (HAProxy's transparent-port forms): clients of each
/// bind reach the server port their bind's port maps to.
#[test]
fn server_ports_follow_the_clients_destination_port() {
    let sp = Splicer::start(
        &config(
            "",
            "",
            "listen same\n    bind 127.0.0.1:0\n    server s 127.0.0.2\n\
             listen shifted\n    bind 127.0.0.1:0\n    server s 127.0.0.2:+1\n",
        ),
        &["same", "shifted"],
    );
    let (same, shifted) = (sp.addr("same"), sp.addr("shifted"));
    let named = |port: u16, name: &'static str| {
        Backend::spawn_on(SocketAddr::from(([127, 0, 0, 2], port)), move |mut s| {
            let _ = std::io::Write::write_all(&mut s, format!("{name}\n").as_bytes());
        })
    };
    let _a = named(same.port(), "same-port");
    let _b = named(shifted.port() + 1, "port-plus-one");
    assert_eq!(server_name(same), "same-port");
    assert_eq!(server_name(shifted), "port-plus-one");
}
