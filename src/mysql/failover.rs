//! Automatic failover, planned switchover and the rejoin of an old
//! primary, as runs of statements on the monitor's connections.
//!
//! Failover starts only when every guard holds: `failover auto` is on
//! (and no failed attempt turned it off), a healthy primary was seen since
//! start, it missed `failover-after` rounds, every replica that answers
//! has lost it too (IO thread not running, or nothing received, no event
//! and no heartbeat, for `failover-confirm`: the guard against a partition
//! between splicer and a live primary), this node is the VRRP MASTER (or
//! runs no VRRP), and the last failover is older than `failover-block`.
//! The most advanced replica by GTID applies its relay log (its
//! `@@gtid_current_pos` reaches what it received), is promoted (`SET
//! GLOBAL read_only=0`, then `STOP SLAVE; RESET SLAVE ALL`), and the other
//! replicas are pointed at it. The old
//! primary is fenced: never routed writes; when it answers again it is
//! made read_only and rejoins as a replica of the new one only if its
//! GTID is not ahead of where the new primary took over.
//!
//! While a run goes, the writer backends hold new sessions in their
//! queue instead of refusing them; they go to the new primary once it is
//! writable.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::monitor::{Monitor, Outcome};
use crate::base::clock::now_ms;
use crate::base::vrrp::State;
use crate::runtime::mysql::{ClusterView, Failover};

/// How long a promoted replica may take to apply what it received.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How long `STOP SLAVE` may take: its IO thread may be in a read that
/// only `slave_net_timeout` ends.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// How long a switchover waits for the old primary's sessions to end
/// before cutting them.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// How often a run that waits for something else looks again.
const POLL: Duration = Duration::from_millis(20);

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
fn weight(g: &Gtid) -> u64 {
    g.values().map(|(_, s)| s).sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Any answer but an error.
    Ok,
    /// A position to keep (`run.pos`).
    Pos,
}

#[derive(Debug, Clone)]
enum Action {
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
struct Run {
    kind: &'static str,
    old: usize,
    new: usize,
    actions: VecDeque<Action>,
    /// The front action's statement went out.
    sent: bool,
    pos: String,
    started: Instant,
    wake: Option<Instant>,
    reply: Option<crossbeam_channel::Sender<String>>,
}

/// What moves on a replica's link while it is alive (heartbeats, read
/// position, received GTID), and when it last moved.
type Progress = Option<((u64, u64, String), Instant)>;

/// Where a value asked for a run's action stands.
enum Value {
    /// The statement just went out.
    Sent,
    /// No answer yet.
    Waiting,
    Failed(String),
    /// The first column of the first row ("" for NULL or no row).
    Got(String),
}

/// Per cluster: the run in progress, and what the guards remember.
#[derive(Debug)]
pub(super) struct Failovers {
    runs: Vec<Option<Run>>,
    /// Per member: its replication progress and when it last moved.
    progress: Vec<Vec<Progress>>,
    /// The reason failover is waiting, last logged.
    said: Vec<String>,
}

impl Failovers {
    pub(super) fn new(clusters: usize) -> Failovers {
        Failovers {
            runs: (0..clusters).map(|_| None).collect(),
            progress: vec![Vec::new(); clusters],
            said: vec![String::new(); clusters],
        }
    }

    pub(super) fn next_wake(&self) -> Option<Instant> {
        self.runs.iter().flatten().filter_map(|r| r.wake).min()
    }
}

/// `CHANGE MASTER TO` the member at `addr`.
/// How the cluster's replicas talk to their primary: heartbeat period
/// and connect retry, as their channels say.
type LinkSettings = (Option<String>, Option<u32>);

fn change_master(
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

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

impl Monitor {
    /// Moves cluster `ci`'s failover machinery on: the run in progress,
    /// or the guards of a new one, and the rejoin of fenced members.
    pub(super) fn failover_tick(&mut self, ci: usize) {
        self.track(ci);
        if self.failovers.runs[ci].is_some() {
            self.advance(ci);
            return;
        }
        self.rejoin(ci);
        if let Err(why) = self.may_fail_over(ci) {
            if !why.is_empty() && self.failovers.said[ci] != why {
                log::warn!("mysql-cluster {}: {why}", self.rt.mysql[ci].config.name);
            }
            self.failovers.said[ci] = why;
        }
    }

    /// Remembers when each replica's link last moved.
    fn track(&mut self, ci: usize) {
        let now = Instant::now();
        let view = self.rt.mysql[ci].view.lock();
        let progress = &mut self.failovers.progress[ci];
        progress.resize(view.members.len(), None);
        for (i, m) in view.members.iter().enumerate() {
            let Some(c) = m.seen.channels.first() else {
                progress[i] = None;
                continue;
            };
            let key = (c.heartbeats, c.read_pos, c.gtid_io_pos.clone());
            if progress[i].as_ref().is_none_or(|(k, _)| *k != key) {
                progress[i] = Some((key, now));
            }
        }
    }

    /// Starts a failover when every guard holds; else says which does not
    /// (empty: nothing to do).
    fn may_fail_over(&mut self, ci: usize) -> Result<(), String> {
        let c = self.rt.mysql[ci].clone();
        let cfg = &c.config;
        let view = c.view.lock();
        if !cfg.failover || !view.auto || view.busy || view.writer.is_some() {
            return Err(String::new());
        }
        // The last writer seen since the process started (the view and
        // its `last_primary` are carried over reloads).
        let Some(p) = view.last_primary else {
            return Err(String::new());
        };
        if view.members[p].fails < cfg.failover_after {
            return Err(String::new());
        }
        let old = view.members[p].name.clone();
        let replicas: Vec<usize> = (0..view.members.len())
            .filter(|&i| i != p && view.routable(i) && view.source_of(cfg, i) == Some(p))
            .collect();
        if replicas.is_empty() {
            return Err(format!(
                "primary {old} is not answering and no replica of it answers: no failover"
            ));
        }
        let now = Instant::now();
        for &r in &replicas {
            let lost = view.members[r]
                .seen
                .channels
                .first()
                .is_none_or(|ch| !ch.io_running())
                || self.failovers.progress[ci][r]
                    .as_ref()
                    .is_none_or(|(_, t)| now.duration_since(*t) >= cfg.failover_confirm);
            if !lost {
                return Err(format!(
                    "primary {old} is not answering, but replica {} still hears from it: \
                     no failover (a partition between splicer and the primary?)",
                    view.members[r].name
                ));
            }
        }
        if !self.vrrp_master() {
            return Err(format!(
                "primary {old} is lost; this node is not the VRRP MASTER: it follows the roles it sees"
            ));
        }
        if let Some(at) = view.last_failover_ms {
            let block = cfg.failover_block.as_millis() as u64;
            if now_ms() < at + block {
                return Err(format!(
                    "primary {old} is lost, but the last failover was less than {} s ago: \
                     no second failover within failover-block",
                    cfg.failover_block.as_secs()
                ));
            }
        }
        let best = |i: &usize| {
            let m = &view.members[*i];
            let pos = m
                .seen
                .channels
                .first()
                .map(|c| c.gtid_io_pos.as_str())
                .unwrap_or("");
            let pos = if pos.is_empty() {
                &m.seen.gtid_slave
            } else {
                pos
            };
            weight(&parse_gtid(pos))
        };
        let new = *replicas
            .iter()
            .max_by_key(|i| best(i))
            .unwrap_or(&replicas[0]);
        let io_pos = view.members[new]
            .seen
            .channels
            .first()
            .map(|c| c.gtid_io_pos.clone())
            .unwrap_or_default();
        let link = view.link_settings();
        let mut actions = VecDeque::new();
        if !io_pos.is_empty() {
            actions.push_back(Action::CatchUp(new, Some(io_pos), None));
        }
        promote(&mut actions, new, cfg.timeout);
        for &r in replicas.iter().filter(|&&r| r != new) {
            repoint(&mut actions, r, cfg, new, "slave_pos", &link);
        }
        // Semi-sync is what puts an acknowledged write on a replica before
        // the client hears OK; the timeline says whether it was on.
        let semi = match view.members[p].seen.semi_master {
            Some(true) => "on: every acknowledged write is on a replica",
            Some(false) => "OFF: writes acknowledged just before the crash may be lost",
            None => "unknown",
        };
        drop(view);
        actions.push_front(Action::Note(format!(
            "{old} was lost; its semi-sync was {semi}"
        )));
        self.begin(ci, "auto", p, new, actions, None);
        Ok(())
    }

    fn vrrp_master(&self) -> bool {
        let vrrp = &self.rt.process.vrrp;
        vrrp.is_empty() || vrrp.iter().any(|v| v.status.lock().state == State::Master)
    }

    fn begin(
        &mut self,
        ci: usize,
        kind: &'static str,
        old: usize,
        new: usize,
        actions: VecDeque<Action>,
        reply: Option<crossbeam_channel::Sender<String>>,
    ) {
        let c = self.rt.mysql[ci].clone();
        {
            let mut view = c.view.lock();
            let (from, to) = (
                view.members[old].name.clone(),
                view.members[new].name.clone(),
            );
            log::warn!(
                "mysql-cluster {}: {} from {from} to {to} begins",
                c.config.name,
                if kind == "auto" {
                    "failover"
                } else {
                    "switchover"
                }
            );
            view.busy = true;
            view.last = Some(Failover {
                kind,
                from,
                to,
                started_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                steps: Vec::new(),
                result: None,
                duration_ms: 0,
            });
        }
        for m in 0..self.members.len() {
            if self.members[m].cluster == ci {
                self.members[m].outcomes.clear();
            }
        }
        self.failovers.runs[ci] = Some(Run {
            kind,
            old,
            new,
            actions,
            sent: false,
            pos: String::new(),
            started: Instant::now(),
            wake: None,
            reply,
        });
        self.reconcile(ci);
        self.advance(ci);
    }

    fn step_note(&self, ci: usize, text: String) {
        let c = &self.rt.mysql[ci];
        let Some(run) = self.failovers.runs[ci].as_ref() else {
            return;
        };
        let ms = run.started.elapsed().as_millis() as u64;
        log::info!("mysql-cluster {}: +{ms} ms {text}", c.config.name);
        if let Some(last) = c.view.lock().last.as_mut() {
            last.steps.push((ms, text));
        }
    }

    /// Runs cluster `ci`'s actions as far as their answers allow.
    fn advance(&mut self, ci: usize) {
        loop {
            let Some(run) = self.failovers.runs[ci].as_mut() else {
                return;
            };
            run.wake = None;
            let (sent, pos) = (run.sent, run.pos.clone());
            let Some(action) = run.actions.front().cloned() else {
                return self.finish(ci, Ok(()));
            };
            match action {
                Action::Sql(i, sql, expect, wait) => {
                    let sql = sql.replace("{pos}", &escape(&pos));
                    let m = self.member(ci, i);
                    if !sent {
                        self.run_mut(ci, |r| r.sent = true);
                        self.step_note(ci, format!("{}: {sql}", self.member_name(ci, i)));
                        if !self.send_with_deadline(m, &sql, wait) {
                            let why = match self.members[m].outcomes.pop_back() {
                                Some(Outcome::Error(e)) => e,
                                _ => "cannot connect".to_string(),
                            };
                            let who = self.member_name(ci, i);
                            return self.finish(ci, Err(format!("{who}: {why}")));
                        }
                        continue;
                    }
                    let Some(outcome) = self.members[m].outcomes.pop_front() else {
                        return;
                    };
                    let result = match (outcome, expect) {
                        (Outcome::Error(e), _) => Err(e),
                        (Outcome::Rows(rs), Expect::Pos) => {
                            let pos = rs.rows.first().and_then(|r| r.first()).cloned().flatten();
                            self.run_mut(ci, |r| r.pos = pos.unwrap_or_default());
                            Ok(())
                        }
                        _ => Ok(()),
                    };
                    if let Err(e) = result {
                        let who = self.member_name(ci, i);
                        return self.finish(ci, Err(format!("{who}: {sql}: {e}")));
                    }
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                        r.sent = false;
                    });
                }
                Action::Drain(i, until) => {
                    let now = Instant::now();
                    let until = until.unwrap_or(now + DRAIN_WAIT);
                    self.run_mut(ci, |r| {
                        if let Some(Action::Drain(_, u)) = r.actions.front_mut() {
                            *u = Some(until);
                        }
                    });
                    let left = self.writer_sessions(ci, i);
                    if left > 0 && now < until {
                        self.run_mut(ci, |r| r.wake = Some(now + POLL));
                        return;
                    }
                    if left > 0 {
                        self.step_note(ci, format!("{left} sessions left on the old primary: cut"));
                        self.cut_writer_sessions(ci, i);
                    }
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                    });
                }
                Action::Promoted => {
                    self.promoted(ci);
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                    });
                    self.release(ci);
                }
                Action::CatchUp(i, target, until) => {
                    let target = target.unwrap_or(pos);
                    let now = Instant::now();
                    let until = until.unwrap_or(now + APPLY_WAIT);
                    self.run_mut(ci, |r| {
                        if let Some(Action::CatchUp(_, _, u)) = r.actions.front_mut() {
                            *u = Some(until);
                        }
                    });
                    let current = match self.value(ci, i, "SELECT @@gtid_current_pos", sent) {
                        Value::Sent => continue,
                        Value::Waiting => return,
                        Value::Failed(e) => return self.finish(ci, Err(e)),
                        Value::Got(v) => v,
                    };
                    let who = self.member_name(ci, i);
                    if !ahead(&parse_gtid(&target), &parse_gtid(&current)) {
                        self.step_note(ci, format!("{who} has {current}, all of {target}"));
                        self.run_mut(ci, |r| {
                            r.actions.pop_front();
                            r.sent = false;
                        });
                        continue;
                    }
                    if now >= until {
                        let e = format!(
                            "{who} did not catch up within {} s: it has {current}, the primary had {target}",
                            APPLY_WAIT.as_secs()
                        );
                        return self.finish(ci, Err(e));
                    }
                    self.run_mut(ci, |r| {
                        r.sent = false;
                        r.wake = Some(now + POLL);
                    });
                    return;
                }
                Action::NotAhead(i) => {
                    let mine = match self.value(ci, i, "SELECT @@gtid_binlog_pos", sent) {
                        Value::Sent => continue,
                        Value::Waiting => return,
                        Value::Failed(e) => return self.finish(ci, Err(e)),
                        Value::Got(v) => v,
                    };
                    let took_over = self.rt.mysql[ci]
                        .view
                        .lock()
                        .promoted_at
                        .clone()
                        .unwrap_or_default();
                    if ahead(&parse_gtid(&mine), &parse_gtid(&took_over)) {
                        return self.finish(
                            ci,
                            Err(format!("its GTID {mine} is ahead of {took_over} where the primary took over")),
                        );
                    }
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                        r.sent = false;
                    });
                }
                Action::Note(text) => {
                    self.step_note(ci, text);
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                    });
                }
                Action::Rejoined(i) => {
                    // read_only since this run's first statement: until
                    // the next round says more, never a second writer.
                    let mut view = self.rt.mysql[ci].view.lock();
                    view.members[i].fenced = None;
                    view.members[i].seen.read_only = Some(true);
                    drop(view);
                    self.run_mut(ci, |r| {
                        r.actions.pop_front();
                    });
                }
            }
        }
    }

    /// One value asked of member `i` for the front action: sends `sql`
    /// the first time, then hands over its answer once it is there.
    fn value(&mut self, ci: usize, i: usize, sql: &str, sent: bool) -> Value {
        let m = self.member(ci, i);
        let who = self.member_name(ci, i);
        if !sent {
            self.run_mut(ci, |r| r.sent = true);
            let timeout = self.rt.mysql[ci].config.timeout;
            if !self.send_with_deadline(m, sql, timeout) {
                return Value::Failed(format!("{who}: cannot connect"));
            }
            return Value::Sent;
        }
        match self.members[m].outcomes.pop_front() {
            None => Value::Waiting,
            Some(Outcome::Error(e)) => Value::Failed(format!("{who}: {e}")),
            Some(Outcome::Rows(rs)) => Value::Got(
                rs.rows
                    .first()
                    .and_then(|r| r.first())
                    .cloned()
                    .flatten()
                    .unwrap_or_default(),
            ),
            Some(Outcome::Done) => Value::Got(String::new()),
        }
    }

    fn run_mut(&mut self, ci: usize, f: impl FnOnce(&mut Run)) {
        if let Some(run) = self.failovers.runs[ci].as_mut() {
            f(run);
        }
    }

    /// The new primary is writable: the view says so at once, so the
    /// writers use it before the next round; a failed-over old primary is
    /// fenced.
    fn promoted(&mut self, ci: usize) {
        let Some(run) = self.failovers.runs[ci].as_ref() else {
            return;
        };
        let (old, new, kind, pos) = (run.old, run.new, run.kind, run.pos.clone());
        let mut cut_old = false;
        {
            let mut view = self.rt.mysql[ci].view.lock();
            let newm = &mut view.members[new];
            newm.seen.read_only = Some(false);
            newm.seen.channels.clear();
            let name = newm.name.clone();
            if kind == "auto" {
                view.members[old].fenced =
                    Some(format!("old primary; {name} was promoted in its place"));
                cut_old = true;
            } else {
                // A switchover's old primary is read_only already and is
                // repointed in the same run.
                view.members[old].seen.read_only = Some(true);
            }
            view.promoted_at = Some(pos);
            view.last_failover_ms = Some(now_ms());
        }
        self.rt.mysql[ci].view.lock().last_primary = Some(new);
        // Its sessions were kept while it only missed rounds (it might
        // have come back); fenced, it must take no write from them if it
        // wakes up.
        if cut_old {
            self.cut_writer_sessions(ci, old);
        }
        self.step_note(ci, format!("{} is the primary", self.member_name(ci, new)));
    }

    /// Ends the writers' hold: the view is no longer busy; roles published.
    fn release(&mut self, ci: usize) {
        self.rt.mysql[ci].view.lock().busy = false;
        self.reconcile(ci);
    }

    fn finish(&mut self, ci: usize, result: Result<(), String>) {
        let Some(run) = self.failovers.runs[ci].take() else {
            return;
        };
        let c = self.rt.mysql[ci].clone();
        let ms = run.started.elapsed().as_millis() as u64;
        if run.kind == "rejoin" {
            let mut view = c.view.lock();
            let (old, new) = (
                view.members[run.old].name.clone(),
                view.members[run.new].name.clone(),
            );
            match result {
                Ok(()) => log::warn!(
                    "mysql-cluster {}: {old} rejoined as a replica of {new} in {ms} ms",
                    c.config.name
                ),
                Err(e) => {
                    log::error!(
                        "mysql-cluster {}: {old} could not rejoin as a replica of {new}: {e}; it stays out",
                        c.config.name
                    );
                    // Either way it stays out until someone looks: a
                    // rejoin is not retried every round.
                    view.members[run.old].fenced = Some(if e.starts_with("its GTID") {
                        format!("diverged: {e}; rebuild it from the primary")
                    } else {
                        format!("rejoin failed: {e}")
                    });
                }
            }
            return;
        }
        let word = if run.kind == "auto" {
            "failover"
        } else {
            "switchover"
        };
        let answer = {
            let mut view = c.view.lock();
            view.busy = false;
            if let Some(last) = view.last.as_mut() {
                last.result = Some(result.clone());
                last.duration_ms = ms;
            }
            match &result {
                Ok(()) => {
                    view.failovers += 1;
                    log::warn!(
                        "mysql-cluster {}: {word} from {} to {} done in {ms} ms",
                        c.config.name,
                        view.members[run.old].name,
                        view.members[run.new].name
                    );
                    format!(
                        "{word} from {} to {} done in {ms} ms\n",
                        view.members[run.old].name, view.members[run.new].name
                    )
                }
                Err(e) => {
                    if run.kind == "auto" {
                        view.auto = false;
                        view.auto_off = Some(format!("the failover at {ms} ms failed: {e}"));
                    }
                    log::error!(
                        "mysql-cluster {}: {word} from {} to {} failed after {ms} ms: {e}{}",
                        c.config.name,
                        view.members[run.old].name,
                        view.members[run.new].name,
                        if run.kind == "auto" {
                            "; automatic failover is now off"
                        } else {
                            ""
                        }
                    );
                    format!("{word} failed: {e}\n")
                }
            }
        };
        if let Some(reply) = run.reply {
            let _ = reply.send(answer);
        }
        self.reconcile(ci);
    }

    fn member_name(&self, ci: usize, i: usize) -> String {
        self.rt.mysql[ci].config.servers[i].name.clone()
    }

    /// Sessions on member `i` in the backends that write to cluster `ci`.
    fn writer_sessions(&self, ci: usize, i: usize) -> usize {
        self.writer_servers(ci, i)
            .map(|(b, s)| self.rt.backend(b).server(s).active.get())
            .sum()
    }

    fn writer_servers(
        &self,
        ci: usize,
        i: usize,
    ) -> impl Iterator<Item = (crate::base::ids::BackendId, crate::base::ids::ServerId)> + '_ {
        self.rt.backends.iter().flat_map(move |be| {
            let binding = be
                .config
                .mysql
                .as_ref()
                .filter(|b| b.cluster == ci && b.role == crate::config::Role::Writer);
            binding
                .into_iter()
                .flat_map(|b| b.servers.iter().enumerate())
                .filter(move |(_, m)| **m == i)
                .map(move |(si, _)| (be.id, crate::base::ids::ServerId::new(si)))
        })
    }

    fn cut_writer_sessions(&mut self, ci: usize, i: usize) {
        let cuts: Vec<_> = self.writer_servers(ci, i).collect();
        self.cut(cuts);
    }

    /// `mysql switchover`: the current primary hands over to `to` (or the
    /// most advanced fresh replica) with no write lost: the writers hold
    /// new sessions, the old primary's end (or are cut after a while), it
    /// turns read_only, the new one catches up to its last transaction and
    /// is promoted, the others (the old primary included) follow it.
    pub(super) fn switchover(
        &mut self,
        ci: usize,
        to: Option<String>,
        reply: crossbeam_channel::Sender<String>,
    ) {
        let c = self.rt.mysql[ci].clone();
        let cfg = &c.config;
        let (plan, link) = {
            let view = c.view.lock();
            (
                plan_switchover(&view, cfg, to.as_deref()),
                view.link_settings(),
            )
        };
        let (old, new, others) = match plan {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(format!("{e}\n"));
                return;
            }
        };
        let mut actions = VecDeque::new();
        actions.push_back(Action::Drain(old, None));
        let t = cfg.timeout;
        actions.push_back(Action::Sql(
            old,
            "SET GLOBAL read_only=1".into(),
            Expect::Ok,
            t,
        ));
        actions.push_back(Action::Sql(
            old,
            "SELECT @@gtid_binlog_pos".into(),
            Expect::Pos,
            t,
        ));
        actions.push_back(Action::CatchUp(new, None, None));
        promote(&mut actions, new, t);
        for r in others {
            repoint(&mut actions, r, cfg, new, "slave_pos", &link);
        }
        repoint(&mut actions, old, cfg, new, "current_pos", &link);
        self.begin(ci, "switchover", old, new, actions, Some(reply));
    }

    /// A fenced member that answers again: made read_only, then rejoined
    /// as a replica of the primary if its GTID is not ahead of where the
    /// primary took over; else kept out, said once.
    fn rejoin(&mut self, ci: usize) {
        // As for failover, one node acts: two repointing the same server
        // at once would race.
        if !self.vrrp_master() {
            return;
        }
        let c = self.rt.mysql[ci].clone();
        let cfg = &c.config;
        let mut view = c.view.lock();
        let Some(primary) = view.writer else { return };
        let promoted_at = parse_gtid(view.promoted_at.as_deref().unwrap_or(""));
        for i in 0..view.members.len() {
            let m = &view.members[i];
            if m.fenced.is_none() || !m.answered || i == primary {
                continue;
            }
            if m.fenced
                .as_deref()
                .is_some_and(|f| f.starts_with("diverged") || f.starts_with("rejoin failed"))
            {
                continue;
            }
            let mine = parse_gtid(&m.seen.gtid_binlog);
            if ahead(&mine, &promoted_at) {
                let why = format!(
                    "diverged: its GTID {} is ahead of {} where {} took over; rebuild it from the primary",
                    m.seen.gtid_binlog,
                    view.promoted_at.as_deref().unwrap_or(""),
                    view.members[primary].name
                );
                log::error!("mysql-cluster {}: {} is kept out: {why}", cfg.name, m.name);
                view.members[i].fenced = Some(why);
                continue;
            }
            if cfg.replication_user.is_none() {
                let why =
                    "old primary; no replication-user in the config to rejoin it as a replica";
                if m.fenced.as_deref() != Some(why) {
                    log::warn!("mysql-cluster {}: {} is kept out: {why}", cfg.name, m.name);
                    view.members[i].fenced = Some(why.to_string());
                }
                continue;
            }
            log::warn!(
                "mysql-cluster {}: {} is back; it rejoins as a replica of {}",
                cfg.name,
                m.name,
                view.members[primary].name
            );
            let mut actions = VecDeque::new();
            actions.push_back(Action::Sql(
                i,
                "SET GLOBAL read_only=1".into(),
                Expect::Ok,
                cfg.timeout,
            ));
            actions.push_back(Action::NotAhead(i));
            repoint(
                &mut actions,
                i,
                cfg,
                primary,
                "current_pos",
                &view.link_settings(),
            );
            actions.push_back(Action::Rejoined(i));
            drop(view);
            self.failovers.runs[ci] = Some(Run {
                kind: "rejoin",
                old: i,
                new: primary,
                actions,
                sent: false,
                pos: String::new(),
                started: Instant::now(),
                wake: None,
                reply: None,
            });
            for m in 0..self.members.len() {
                if self.members[m].cluster == ci {
                    self.members[m].outcomes.clear();
                }
            }
            self.advance(ci);
            return;
        }
    }

    /// Answers a runtime API request.
    pub(super) fn request(&mut self, ci: usize, request: crate::runtime::mysql::Request) {
        match request {
            crate::runtime::mysql::Request::Switchover { to, reply } => {
                if self.failovers.runs[ci].is_some() {
                    let _ = reply.send("a failover or switchover is already running\n".into());
                    return;
                }
                self.switchover(ci, to, reply);
            }
        }
    }
}

/// Promotes `new`: its position first (where it takes over, for the
/// rejoin check), then `read_only=0`, and the writers use it at once;
/// only then `STOP SLAVE; RESET SLAVE ALL`. Stopping a replica whose
/// primary is cut off (not dead) waits for its IO thread's read to time
/// out (`slave_net_timeout`), seconds the writes need not wait for: it has
/// applied all it received, and it can receive nothing more.
fn promote(actions: &mut VecDeque<Action>, new: usize, t: Duration) {
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
fn repoint(
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
fn plan_switchover(
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
