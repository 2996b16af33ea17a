//! The engine over configs read by the real parser: conditions in
//! three-valued logic, rule lists that wait and resume, converters, maps.

use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::base::ids::{BackendId, ServerId};
use crate::config::{Config, Direction, RuleSet, VarName, parse_str};

/// A connection as the tests choose it.
struct Fake {
    src: SocketAddr,
    dst: SocketAddr,
    req: Option<(Vec<u8>, bool)>,
    vars: Vec<(VarName, Sample)>,
    set_src: Option<IpAddr>,
    tracked: [Option<table::Tracked>; 3],
}

impl Fake {
    fn new(src: &str) -> Fake {
        Fake {
            src: format!("{src}:40000").parse().unwrap(),
            dst: "127.0.0.1:443".parse().unwrap(),
            req: None,
            vars: Vec::new(),
            set_src: None,
            tracked: Default::default(),
        }
    }
    fn with(mut self, data: &[u8], last: bool) -> Fake {
        self.req = Some((data.to_vec(), last));
        self
    }
}

impl Facts for Fake {
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        Some(self.dst)
    }
    fn frontend(&self) -> (i64, &str) {
        (2, "fe")
    }
    fn backend(&self) -> Option<(i64, &str)> {
        None
    }
    fn bind_id(&self) -> i64 {
        1
    }
    fn server_id(&self) -> Option<i64> {
        None
    }
    fn nbsrv(&self, _: Option<BackendId>) -> Option<i64> {
        Some(2)
    }
    fn be_conn(&self, _: Option<BackendId>) -> Option<i64> {
        Some(0)
    }
    fn connslots(&self, _: Option<BackendId>) -> Option<i64> {
        Some(-1)
    }
    fn srv_is_up(&self, _: BackendId, _: ServerId) -> bool {
        true
    }
    fn data(&self, dir: Direction) -> Option<(&[u8], bool)> {
        match dir {
            Direction::Request => self.req.as_ref().map(|(d, l)| (d.as_slice(), *l)),
            Direction::Response => None,
        }
    }
    fn var(&self, v: &VarName) -> Option<Sample> {
        self.vars
            .iter()
            .find(|(n, _)| n == v)
            .map(|(_, s)| s.clone())
    }
    fn captured(&self, _: usize) -> Option<Sample> {
        None
    }
    fn tracked(&self, n: usize) -> Option<&table::Tracked> {
        self.tracked.get(n)?.as_ref()
    }
}

impl Effects for Fake {
    fn set_var(&mut self, v: &VarName, s: Sample) {
        self.vars.push((v.clone(), s));
    }
    fn unset_var(&mut self, v: &VarName) {
        self.vars.retain(|(n, _)| n != v);
    }
    fn set_src(&mut self, ip: Option<IpAddr>, _: Option<u16>) {
        self.set_src = ip;
    }
    fn set_dst(&mut self, _: Option<IpAddr>, _: Option<u16>) {}
    fn expect_proxy(&mut self) {}
    fn capture(&mut self, _: Sample, _: usize) {}
    fn track(&mut self, n: usize, t: table::Tracked) {
        self.tracked[n].get_or_insert(t);
    }
}

/// A frontend `fe` with `lines` (and a backend `be`).
fn config(lines: &str) -> (Config, Engine) {
    let text = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend fe\n bind 127.0.0.1:1\n default_backend be\n{lines}\nbackend be\n server s 127.0.0.1:2\n"
    );
    let loaded = parse_str("t.cfg", &text).unwrap_or_else(|e| panic!("{:?}", e.errors));
    let engine = Engine::new(&loaded.config.patterns, &loaded.config.tables);
    (loaded.config, engine)
}

fn rules(c: &Config) -> &RuleSet {
    &c.frontends[0].rules
}

#[test]
fn conditions_follow_haproxy_logic() {
    let (c, e) = config(
        " acl lo src 127.0.0.0/8\n acl two src 127.0.0.2\n acl two src 127.0.0.3\n acl https dst_port 443\n\
         use_backend be if lo https\n use_backend be if !lo || two\n use_backend be unless two\n\
         use_backend be if { src 10.0.0.1 } or TRUE\n use_backend be if FALSE",
    );
    let rs = rules(&c);
    let conds: Vec<_> = rs.use_backend.iter().map(|u| u.cond.as_ref()).collect();
    // (source, expected verdict of each condition above)
    let cases: &[(&str, [Verdict; 5])] = &[
        (
            "127.0.0.1",
            [
                Verdict::Match,
                Verdict::NoMatch,
                Verdict::Match,
                Verdict::Match,
                Verdict::NoMatch,
            ],
        ),
        (
            "127.0.0.3",
            [
                Verdict::Match,
                Verdict::Match,
                Verdict::NoMatch,
                Verdict::Match,
                Verdict::NoMatch,
            ],
        ),
        (
            "192.0.2.1",
            [
                Verdict::NoMatch,
                Verdict::Match,
                Verdict::Match,
                Verdict::Match,
                Verdict::NoMatch,
            ],
        ),
    ];
    for (src, want) in cases {
        let f = Fake::new(src);
        let got: Vec<Verdict> = conds.iter().map(|c| e.cond(rs, *c, &f)).collect();
        assert_eq!(got, want, "from {src}");
    }
}

#[test]
fn content_rules_wait_for_data_then_decide() {
    let (c, e) = config(
        " tcp-request inspect-delay 5s\n tcp-request content set-var(sess.seen) int(1)\n\
         tcp-request content reject if { req.payload(0,3) -m bin 424144 }\n\
         tcp-request content accept if { req.len ge 5 }\n tcp-request content reject if !{ req.len gt 0 }",
    );
    let rs = rules(&c);
    // (bytes so far, final, decision)
    let cases: &[(&[u8], bool, Decision)] = &[
        (b"", false, Decision::Wait { at: 1 }),
        (b"BA", false, Decision::Wait { at: 1 }),
        (b"BAD", false, Decision::Reject),
        (b"GOOD!", false, Decision::Accept),
        (b"GOO", false, Decision::Wait { at: 2 }),
        // At the end of the delay nothing waits: a short request passes the
        // length rule's miss and the default accepts.
        (b"GOO", true, Decision::Accept),
        (b"", true, Decision::Reject),
    ];
    for (data, last, want) in cases {
        let mut f = Fake::new("127.0.0.1").with(data, *last);
        assert_eq!(
            e.run(rs, &rs.content, 0, &mut f),
            *want,
            "{data:?} last={last}"
        );
        assert_eq!(f.vars.len(), 1, "set-var ran once");
    }
    // A resumed run starts at the rule that waited: set-var runs no more.
    let mut f = Fake::new("127.0.0.1").with(b"GOOD!", false);
    assert_eq!(e.run(rs, &rs.content, 1, &mut f), Decision::Accept);
    assert!(f.vars.is_empty());
}

#[test]
fn connection_rules_act_in_order() {
    let (c, e) = config(
        " tcp-request connection set-src str(192.0.2.7)\n tcp-request connection accept if { src 127.0.0.1 }\n\
         tcp-request connection reject",
    );
    let rs = rules(&c);
    let mut f = Fake::new("127.0.0.1");
    assert_eq!(e.run(rs, &rs.connection, 0, &mut f), Decision::Accept);
    assert_eq!(f.set_src, Some("192.0.2.7".parse().unwrap()));
    // Payload fetches have no data before a session exists: they fail.
    let (c, e) = config(" tcp-request connection reject if { req.len ge 0 }");
    let rs = rules(&c);
    assert_eq!(
        e.run(rs, &rs.connection, 0, &mut Fake::new("127.0.0.1")),
        Decision::Accept
    );
}

#[test]
fn converters_and_templates() {
    let (c, e) = config(
        " acl net src,ipmask(24) 127.0.0.0\n acl up str(AbC),lower abc\n acl long str(abcdef),length gt 5\n\
         use_backend be_%[dst_port]_%[fe_name] if net up long",
    );
    let rs = rules(&c);
    let f = Fake::new("127.0.0.9");
    let u = &rs.use_backend[0];
    assert_eq!(e.cond(rs, u.cond.as_ref(), &f), Verdict::Match);
    let crate::config::SwitchTarget::Dynamic(parts) = &u.target else {
        panic!("dynamic target")
    };
    assert_eq!(e.render(parts, &f), "be_443_fe");
}

#[test]
fn runtime_edits_apply_to_the_next_match() {
    let (c, e) = config(" acl blocked src 192.0.2.1\n tcp-request connection reject if blocked");
    let rs = rules(&c);
    let list = &e.patterns.refs[rs.acls[0].exprs[0].patterns.0];
    let verdict = |src: &str| e.cond(rs, rs.connection[0].cond.as_ref(), &Fake::new(src));
    assert_eq!(verdict("127.0.0.2"), Verdict::NoMatch);
    list.add("127.0.0.2", None).unwrap();
    assert_eq!(verdict("127.0.0.2"), Verdict::Match);
    list.delete("127.0.0.2").unwrap();
    assert_eq!(verdict("127.0.0.2"), Verdict::NoMatch);
    assert_eq!(list.delete("127.0.0.2"), Err(refs::EditError::NotFound));
    list.clear();
    assert_eq!(verdict("192.0.2.1"), Verdict::NoMatch);
}

#[test]
fn alpn_matches_any_protocol_offered() {
    let (c, e) = config(
        " tcp-request inspect-delay 5s\n use_backend be if { req.ssl_alpn http/1.1 }\n\
         use_backend be if { req.ssl_alpn h3 }\n use_backend be if { req.ssl_sni -i WWW.foobar.com }",
    );
    let rs = rules(&c);
    let hello = hello::client_hello(Some("www.foobar.com"), &["h2", "http/1.1"], 0);
    let verdicts = |data: &[u8], last: bool| -> Vec<Verdict> {
        let f = Fake::new("127.0.0.1").with(data, last);
        rs.use_backend
            .iter()
            .map(|u| e.cond(rs, u.cond.as_ref(), &f))
            .collect()
    };
    assert_eq!(
        verdicts(&hello, false),
        [Verdict::Match, Verdict::NoMatch, Verdict::Match]
    );
    // Part of the hello: every fetch on it waits, until the delay ends.
    let part = &hello[..hello.len() / 2];
    assert_eq!(verdicts(part, false), [Verdict::Wait; 3]);
    assert_eq!(verdicts(part, true), [Verdict::NoMatch; 3]);
}

#[test]
fn map_files_serve_acls_and_converters() {
    let dir = std::env::temp_dir().join(format!("splicer-rules-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let map = dir.join("src.map");
    std::fs::write(
        &map,
        "# source -> class\n127.0.0.2 blocked\n10.0.0.0/8 private\n",
    )
    .unwrap();
    let (c, e) = config(&format!(
        " acl inmap src -M -f {m}\n use_backend be if inmap\n\
         use_backend be if {{ src,map_ip({m},none) -m str private }}",
        m = map.display()
    ));
    let rs = rules(&c);
    let verdicts = |src: &str| -> Vec<Verdict> {
        let f = Fake::new(src);
        rs.use_backend
            .iter()
            .map(|u| e.cond(rs, u.cond.as_ref(), &f))
            .collect()
    };
    assert_eq!(verdicts("127.0.0.2"), [Verdict::Match, Verdict::NoMatch]);
    assert_eq!(verdicts("10.1.2.3"), [Verdict::Match, Verdict::Match]);
    assert_eq!(verdicts("192.0.2.1"), [Verdict::NoMatch, Verdict::NoMatch]);
    // One list for both users of the file: `set map` changes the class.
    let list = e.patterns.find(&map.display().to_string(), true).unwrap();
    list.set("127.0.0.2", "private").unwrap();
    assert_eq!(verdicts("127.0.0.2"), [Verdict::Match, Verdict::Match]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the stick-table fetches and converters answer, one after the
/// other (each kept in a variable): a counter that tracks nothing has no
/// value, a key a table does not hold reads 0, a datum not stored has
/// no value, and the legacy `gpc0` reads element 0 of the `gpc` array.
#[test]
fn stick_fetches_and_converters_answer_as_haproxy() {
    // (expression, its value then; None: no value)
    let cases: &[(&str, Option<Sample>)] = &[
        ("sc_get_gpc(1,0)", Some(Sample::Int(0))),
        ("sc_inc_gpc(1,0)", Some(Sample::Int(1))),
        ("sc_get_gpc(1,0)", Some(Sample::Int(1))),
        ("sc0_inc_gpc0", Some(Sample::Int(1))),
        ("sc_get_gpc(0,0)", Some(Sample::Int(1))),
        ("sc_get_gpc(2,0)", None),
        ("sc0_get_gpt0", None),
        ("sc1_conn_cnt", None),
        ("sc0_get_gpc0(other)", Some(Sample::Int(0))),
        ("src_get_gpc0(other)", Some(Sample::Int(0))),
        ("sc0_trackers", Some(Sample::Int(1))),
        ("src,table_trackers(fe)", Some(Sample::Int(2))),
        ("src,table_gpc(1,fe)", Some(Sample::Int(1))),
        ("src,table_gpc0(other)", Some(Sample::Int(0))),
        ("src,in_table(fe)", Some(Sample::Bool(true))),
        ("src,in_table(other)", Some(Sample::Bool(false))),
        ("src,table_expire(other)", None),
        ("src,table_idle(other,-1)", Some(Sample::Int(-1))),
        ("src_clr_gpc(1,fe)", Some(Sample::Int(1))),
        ("sc_get_gpc(1,0)", Some(Sample::Int(0))),
        ("src_updt_conn_cnt(fe)", Some(Sample::Int(2))),
        ("sc0_kbytes_in", Some(Sample::Int(0))),
        ("table_cnt", Some(Sample::Int(1))),
        ("table_avl(other)", Some(Sample::Int(10))),
        ("src_inc_gpc0(other)", Some(Sample::Int(1))),
        ("src,in_table(other)", Some(Sample::Bool(true))),
        ("src_clr_gpc1(other)", None),
    ];
    let mut lines = String::from(
        " stick-table type ip size 10 expire 1m store conn_cnt,gpc(2),bytes_in_cnt\n \
         tcp-request connection track-sc0 src\n",
    );
    for (i, (expr, _)) in cases.iter().enumerate() {
        lines.push_str(&format!(" tcp-request content set-var(sess.v{i}) {expr}\n"));
    }
    lines.push_str("backend other\n stick-table type ip size 10 expire 1m store gpc0");
    let (c, e) = config(&lines);
    let rs = rules(&c);
    let mut f = Fake::new("127.0.0.9");
    assert_eq!(e.run(rs, &rs.connection, 0, &mut f), Decision::Accept);
    assert_eq!(e.run(rs, &rs.content, 0, &mut f), Decision::Accept);
    for (i, (expr, want)) in cases.iter().enumerate() {
        let v = crate::config::VarName {
            scope: crate::config::VarScope::Sess,
            name: format!("v{i}"),
        };
        assert_eq!(f.var(&v), *want, "{expr}");
    }
}
