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

use std::collections::VecDeque;
use std::time::Instant;

use super::monitor::Monitor;
use super::plan::*;
use crate::base::clock::now_ms;
use crate::base::vrrp::State;
use crate::runtime::mysql::Failover;

/// What moves on a replica's link while it is alive (heartbeats, read
/// position, received GTID), and when it last moved.
type Progress = Option<((u64, u64, String), Instant)>;

/// Per cluster: the run in progress, and what the guards remember.
#[derive(Debug)]
pub(super) struct Failovers {
    pub(super) runs: Vec<Option<Run>>,
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
        self.start_run(ci, kind, old, new, actions, reply);
        self.reconcile(ci);
        self.advance(ci);
    }

    /// Makes `actions` cluster `ci`'s run, with no answer of an earlier
    /// run left waiting to be read as one of its own.
    fn start_run(
        &mut self,
        ci: usize,
        kind: &'static str,
        old: usize,
        new: usize,
        actions: VecDeque<Action>,
        reply: Option<crossbeam_channel::Sender<String>>,
    ) {
        for m in 0..self.rt.mysql[ci].config.servers.len() {
            let flat = self.member(ci, m);
            self.members[flat].outcomes.clear();
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
            self.start_run(ci, "rejoin", i, primary, actions, None);
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
