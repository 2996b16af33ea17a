//! The runtime API's server changes applied over the files
//! ([`super::super::Overlay`]): an added server starts from a blank line
//! (no `default-server`), a refused keyword is HAProxy's error, deleted
//! servers are left out, settings land on the parsed server, and a reload
//! keeps only what still fits the files.

use super::*;

const FILES: &str = "defaults
    mode tcp
    timeout connect 4s
    timeout client 30s
    timeout server 30s
listen web
    bind 127.0.0.1:8000
    default-server weight 7 check inter 3s
    server w1 127.0.0.1:9001
    server w2 127.0.0.1:9002
";

fn parse(overlay: &Overlay) -> Result<Loaded, LoadError> {
    let options = LoadOptions {
        overlay: overlay.clone(),
        ..Default::default()
    };
    parse_with("t.cfg", FILES, &|_| None, &options)
}

fn added(name: &str, addr: &str, params: &[&str]) -> AddedServer {
    AddedServer {
        backend: "web".into(),
        name: name.into(),
        addr: addr.into(),
        params: params.iter().map(|p| p.to_string()).collect(),
    }
}

fn names(l: &Loaded) -> Vec<&str> {
    l.config.backends[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}

#[test]
fn an_added_server_comes_last_and_ignores_default_server() {
    let mut o = Overlay::default();
    o.add(added("w3", "127.0.0.1:9003", &["weight", "5"]));
    o.add(added("w4", "127.0.0.1:9004", &[]));
    let l = parse(&o).unwrap();
    assert_eq!(names(&l), ["w1", "w2", "w3", "w4"]);
    let s = &l.config.backends[0].servers;
    assert_eq!(s[0].weight, 7, "the files' servers keep default-server");
    assert!(s[0].check.enabled);
    assert_eq!(s[2].weight, 5);
    assert_eq!(s[3].weight, 1, "a blank server: HAProxy's default weight");
    assert!(!s[3].check.enabled, "no check unless asked");
    assert_eq!(s[3].location, api_location());
}

#[test]
fn refused_keywords_and_bad_lines_are_errors() {
    for (params, want) in [
        (
            &["cookie", "a"][..],
            "'cookie' option is not accepted for dynamic server",
        ),
        (&["wieght", "3"][..], "unknown parameter 'wieght'"),
    ] {
        let mut o = Overlay::default();
        o.add(added("x", "127.0.0.1:9009", params));
        let e = parse(&o).unwrap_err();
        assert!(
            e.errors.iter().any(|d| d.message.contains(want)),
            "{params:?}: {:?}",
            e.errors
        );
    }
}

#[test]
fn deleted_servers_are_left_out_and_deleting_an_added_one_forgets_it() {
    let mut o = Overlay::default();
    o.add(added("w3", "127.0.0.1:9003", &[]));
    o.delete("web", "w1");
    o.delete("web", "w3");
    assert!(o.added.is_empty());
    assert_eq!(o.deleted, [("web".to_string(), "w1".to_string())]);
    assert_eq!(names(&parse(&o).unwrap()), ["w2"]);
    // Adding a deleted name again brings the new line, not the files'.
    o.add(added("w1", "127.0.0.1:9011", &[]));
    let l = parse(&o).unwrap();
    assert_eq!(names(&l), ["w2", "w1"]);
    assert_eq!(l.config.backends[0].servers[1].addr.port(), 9011);
}

#[test]
fn settings_land_on_the_server_and_the_last_of_a_kind_wins() {
    let set = |change| Setting {
        backend: "web".into(),
        server: "w2".into(),
        change,
    };
    let mut o = Overlay::default();
    let ip: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    o.set(set(ServerChange::CheckAddr(None, Some(8080))));
    o.set(set(ServerChange::CheckAddr(None, Some(8081))));
    o.set(set(ServerChange::CheckAddr(Some(ip), None)));
    o.set(set(ServerChange::AgentSend("ping".into())));
    assert_eq!(o.settings.len(), 3, "{:?}", o.settings);
    let l = parse(&o).unwrap();
    let s = &l.config.backends[0].servers[1];
    assert_eq!(s.check.port, Some(8081));
    assert_eq!(s.check.addr, Some(ip));
    assert_eq!(s.check.agent_send.as_deref(), Some("ping"));
    // Port 0: the server's own port again.
    o.set(set(ServerChange::CheckAddr(None, Some(0))));
    assert_eq!(
        parse(&o).unwrap().config.backends[0].servers[1].check.port,
        None
    );
}

#[test]
fn a_reload_keeps_what_still_fits_the_files() {
    let mut o = Overlay::default();
    o.add(added("w3", "127.0.0.1:9003", &[]));
    o.add(added("w9", "127.0.0.1:9009", &[]));
    o.delete("web", "w2");
    o.set(Setting {
        backend: "web".into(),
        server: "w1".into(),
        change: ServerChange::AgentSend("x".into()),
    });
    // The new files: w9 is now written in them, w1 is gone.
    let files = ok("defaults
    mode tcp
    timeout connect 4s
    timeout client 30s
    timeout server 30s
listen web
    bind 127.0.0.1:8000
    server w2 127.0.0.1:9002
    server w9 127.0.0.1:9019
");
    let (kept, dropped) = o.fitting(&files.config);
    assert_eq!(kept.added.len(), 1);
    assert_eq!(kept.added[0].name, "w3");
    assert_eq!(kept.deleted, [("web".to_string(), "w2".to_string())]);
    assert!(kept.settings.is_empty(), "w1 is gone: {:?}", kept.settings);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].contains("w9"), "{dropped:?}");
}
