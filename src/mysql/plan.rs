//! What a failover, switchover or rejoin run is made of: its actions
//! (statements, waits, view changes), the statements that promote and
//! repoint servers, the switchover's plan, and GTID positions. The runs
//! themselves are driven in `run.rs`; when they start, in `failover.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::runtime::mysql::ClusterView;

/// How long a promoted replica may take to apply what it received.
pub(super) const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long `STOP SLAVE` may take: its IO thread may be in a read that
/// only `slave_net_timeout` ends.
pub(super) const STOP_WAIT: Duration = Duration::from_secs(10);
/// How long a switchover waits for the old primary's sessions to end
/// before cutting them.
pub(super) const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// How often a run that waits for something else looks again.
pub(super) const POLL: Duration = Duration::from_millis(20);

/// A GTID position: per replication domain, the server and sequence
/// number of its last transaction (`0-1-42,1-2-7`).
pub(super) type Gtid = BTreeMap<u32, (u32, u64)>;

pub(super) fn parse_gtid(text: &str) -> Gtid {
    text.split(',')
        .filter_map(|g| {
            let mut it = g.trim().splitn(3, '-');
            let domain = it.next()?.parse().ok()?;
            let server = it.next()?.parse().ok()?;
            let seq = it.next()?.parse().ok()?;
            Some((domain, (server, seq)))
        })
        .collect()
}

/// `a` has a transaction `b` has not: in some domain its sequence number
/// is higher.
pub(super) fn ahead(a: &Gtid, b: &Gtid) -> bool {
    a.iter()
        .any(|(d, (_, seq))| b.get(d).is_none_or(|(_, other)| seq > other))
}

/// Transactions in a position, for ranking replicas.
pub(super) fn weight(g: &Gtid) -> u64 {
    g.values().map(|(_, s)| s).sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// Any answer but an error.
    Ok,
    /// A position to keep (`run.pos`).
    Pos,
}

#[derive(Debug, Clone)]
pub(super) enum Action {
    /// A statement on member `.0` (cluster index); `{pos}` in it is
    /// replaced by the position read earlier.
    Sql(usize, String, Expect, Duration),
    /// Wait until member `.0` has no session left in the writer backends
    /// (until `.1` at the latest), then cut what is left.
    Drain(usize, Option<Instant>),
    /// The new primary is writable: the view says so at once.
    Promoted,
    /// The old primary rejoined as a replica: no longer fenced.
    Rejoined(usize),
    /// A line for the timeline.
    Note(String),
    /// Wait until member `.0`'s `@@gtid_current_pos` has every transaction
    /// of `.1` (`None`: the position read earlier), until `.2` at the
    /// latest. (`MASTER_GTID_WAIT` only looks at what a server applied as
    /// a replica, not at what it wrote itself as a primary.)
    CatchUp(usize, Option<String>, Option<Instant>),
    /// Member `.0`'s `@@gtid_binlog_pos`, read again once it is
    /// read_only (a write may have landed since the round that saw it),
    /// must not be ahead of where the primary took over.
    NotAhead(usize),
}

#[derive(Debug)]
pub(super) struct Run {
    pub(super) kind: &'static str,
    pub(super) old: usize,
    pub(super) new: usize,
    pub(super) actions: VecDeque<Action>,
    /// The front action's statement went out.
    pub(super) sent: bool,
    pub(super) pos: String,
    pub(super) started: Instant,
    pub(super) wake: Option<Instant>,
    pub(super) reply: Option<crossbeam_channel::Sender<String>>,
}

/// How the cluster's replicas talk to their primary: heartbeat period
/// and connect retry, as their channels say.
pub(super) type LinkSettings = (Option<String>, Option<u32>);

/// `CHANGE MASTER TO` the member at `addr`.
pub(super) fn change_master(
    view_addr: std::net::SocketAddr,
    user: Option<(&str, &str)>,
    gtid: &str,
    link: &LinkSettings,
) -> String {
    let mut sql = format!(
        "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USE_GTID={gtid}",
        view_addr.ip(),
        view_addr.port()
    );
    if let Some((u, p)) = user {
        sql.push_str(&format!(
            ", MASTER_USER='{}', MASTER_PASSWORD='{}'",
            escape(u),
            escape(p)
        ));
    }
    // Only a number goes into the statement.
    let number = |h: &&str| !h.is_empty() && h.chars().all(|c| c.is_ascii_digit() || c == '.');
    if let Some(h) = link.0.as_deref().filter(number) {
        sql.push_str(&format!(", MASTER_HEARTBEAT_PERIOD={h}"));
    }
    if let Some(r) = link.1 {
        sql.push_str(&format!(", MASTER_CONNECT_RETRY={r}"));
    }
    sql
}

pub(super) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Promotes `new`: its position first (where it takes over, for the
/// rejoin check), then `read_only=0`, and the writers use it at once;
/// only then `STOP SLAVE; RESET SLAVE ALL`. Stopping a replica whose
/// primary is cut off (not dead) waits for its IO thread's read to time
/// out (`slave_net_timeout`), seconds the writes need not wait for: it has
/// applied all it received, and it can receive nothing more.
pub(super) fn promote(actions: &mut VecDeque<Action>, new: usize, t: Duration) {
    let pos = "SELECT @@gtid_current_pos".to_string();
    actions.push_back(Action::Sql(new, pos, Expect::Pos, t));
    let writable = "SET GLOBAL read_only=0".to_string();
    actions.push_back(Action::Sql(new, writable, Expect::Ok, t));
    actions.push_back(Action::Promoted);
    actions.push_back(Action::Sql(
        new,
        "STOP SLAVE".into(),
        Expect::Ok,
        t + STOP_WAIT,
    ));
    actions.push_back(Action::Sql(new, "RESET SLAVE ALL".into(), Expect::Ok, t));
}

/// Points member `r` at `primary`.
pub(super) fn repoint(
    actions: &mut VecDeque<Action>,
    r: usize,
    cfg: &crate::config::MysqlCluster,
    primary: usize,
    gtid: &str,
    link: &LinkSettings,
) {
    let user = cfg
        .replication_user
        .as_deref()
        .map(|u| (u, cfg.replication_password.0.as_str()));
    let addr = cfg.servers[primary].addr;
    let t = cfg.timeout;
    actions.push_back(Action::Sql(r, "STOP SLAVE".into(), Expect::Ok, t));
    actions.push_back(Action::Sql(
        r,
        change_master(addr, user, gtid, link),
        Expect::Ok,
        t,
    ));
    actions.push_back(Action::Sql(r, "START SLAVE".into(), Expect::Ok, t));
}

/// Who hands over to whom in a switchover, and who else follows.
pub(super) fn plan_switchover(
    view: &ClusterView,
    cfg: &crate::config::MysqlCluster,
    to: Option<&str>,
) -> Result<(usize, usize, Vec<usize>), String> {
    if view.busy {
        return Err("a failover or switchover is already running".into());
    }
    let Some(old) = view.writer else {
        return Err("no primary to switch over from".into());
    };
    let replicas: Vec<usize> = (0..view.members.len())
        .filter(|&i| i != old && view.routable(i) && view.source_of(cfg, i) == Some(old))
        .collect();
    let new = match to {
        Some(name) => {
            let Some(i) = view.members.iter().position(|m| m.name == name) else {
                return Err(format!(
                    "no server '{name}' in mysql-cluster '{}'",
                    cfg.name
                ));
            };
            if !replicas.contains(&i) {
                return Err(format!(
                    "'{name}' is not a replica of the primary that answers; cannot promote it"
                ));
            }
            i
        }
        None => *replicas
            .iter()
            .max_by_key(|&&i| weight(&parse_gtid(&view.members[i].seen.gtid_current)))
            .ok_or_else(|| "no replica of the primary answers; nobody to promote".to_string())?,
    };
    let others = replicas.into_iter().filter(|&r| r != new).collect();
    Ok((old, new, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runtime::mysql::{Channel, MemberView, Seen};

    fn cfg() -> crate::config::MysqlCluster {
        let text = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                    mysql-cluster db\n user u\n server db1 10.0.0.1:3306\n server db2 10.0.0.2:3306\n server db3 10.0.0.3:3306\n\
                    listen l\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n";
        crate::config::parse_str("t.cfg", text)
            .unwrap()
            .config
            .mysql_clusters[0]
            .clone()
    }

    fn member(name: &str, read_only: bool, source: Option<&str>, gtid: &str) -> MemberView {
        MemberView {
            name: name.into(),
            answered: true,
            ever_seen: true,
            seen: Seen {
                read_only: Some(read_only),
                gtid_current: gtid.into(),
                channels: source
                    .map(|host| Channel {
                        master_host: host.into(),
                        master_port: 3306,
                        io: "Yes".into(),
                        sql: "Yes".into(),
                        lag: Some(0),
                        ..Channel::default()
                    })
                    .into_iter()
                    .collect(),
                ..Seen::default()
            },
            ..MemberView::default()
        }
    }

    #[test]
    fn switchover_plans() {
        let c = cfg();
        let view = ClusterView {
            members: vec![
                member("db1", false, None, "0-1-10"),
                member("db2", true, Some("10.0.0.1"), "0-1-9"),
                member("db3", true, Some("10.0.0.1"), "0-1-10"),
            ],
            writer: Some(0),
            ..ClusterView::default()
        };
        assert_eq!(
            plan_switchover(&view, &c, None),
            Ok((0, 2, vec![1])),
            "the most advanced"
        );
        assert_eq!(plan_switchover(&view, &c, Some("db2")), Ok((0, 1, vec![2])));
        let e = plan_switchover(&view, &c, Some("db9")).unwrap_err();
        assert!(e.contains("no server 'db9'"), "{e}");
        let e = plan_switchover(&view, &c, Some("db1")).unwrap_err();
        assert!(e.contains("not a replica"), "{e}");
        let none = ClusterView {
            writer: None,
            ..view.clone()
        };
        assert!(
            plan_switchover(&none, &c, None)
                .unwrap_err()
                .contains("no primary")
        );
        let busy = ClusterView { busy: true, ..view };
        assert!(
            plan_switchover(&busy, &c, None)
                .unwrap_err()
                .contains("already running")
        );
    }

    #[test]
    fn statements_quote_what_they_embed() {
        let sql = change_master(
            "10.0.0.2:3307".parse().unwrap(),
            Some(("re'pl", "p\\a'ss")),
            "slave_pos",
            &(Some("0.500".into()), Some(1)),
        );
        assert_eq!(
            sql,
            "CHANGE MASTER TO MASTER_HOST='10.0.0.2', MASTER_PORT=3307, MASTER_USE_GTID=slave_pos, MASTER_USER='re\\'pl', MASTER_PASSWORD='p\\\\a\\'ss', MASTER_HEARTBEAT_PERIOD=0.500, MASTER_CONNECT_RETRY=1"
        );
        // A heartbeat that is not a number never reaches the statement.
        let odd = change_master(
            "10.0.0.2:3307".parse().unwrap(),
            None,
            "current_pos",
            &(Some("1; DROP".into()), None),
        );
        assert!(!odd.contains("HEARTBEAT"), "{odd}");
    }

    proptest::proptest! {
        /// A position comes from the server: any text parses without a
        /// panic, and no position is ahead of itself.
        #[test]
        fn any_gtid_text_parses(text in ".{0,64}", other in "[0-9,-]{0,32}") {
            let g = parse_gtid(&text);
            proptest::prop_assert!(!ahead(&g, &g));
            let o = parse_gtid(&other);
            // One is ahead of the union of both, never the other way.
            let mut union = o.clone();
            for (d, (srv, seq)) in &g {
                let e = union.entry(*d).or_insert((*srv, *seq));
                if seq > &e.1 {
                    *e = (*srv, *seq);
                }
            }
            proptest::prop_assert!(!ahead(&g, &union) && !ahead(&o, &union));
        }
    }

    #[test]
    fn gtid_positions() {
        let g = parse_gtid("0-1-42,1-2-7");
        assert_eq!(g.get(&0), Some(&(1, 42)));
        assert_eq!(g.get(&1), Some(&(2, 7)));
        assert!(parse_gtid("").is_empty());
        assert!(parse_gtid("garbage,0-x-1").is_empty());
        let cases = [
            ("0-1-42", "0-1-42", false),
            ("0-1-42", "0-2-43", false),
            ("0-1-43", "0-2-42", true),
            ("0-1-1,1-1-5", "0-1-9", true),
            ("", "0-1-9", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                ahead(&parse_gtid(a), &parse_gtid(b)),
                want,
                "{a} ahead of {b}"
            );
        }
    }
}
