//! How a run goes: each action of a failover, switchover or rejoin in
//! turn, a statement sent on the monitor's connection and its answer
//! awaited, waits polled, the view changed when a server is promoted or
//! rejoined, the run's end logged and answered.

use super::monitor::{Monitor, Outcome};
use super::plan::*;
use crate::base::clock::now_ms;
use std::time::Instant;

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

impl Monitor {
    pub(super) fn step_note(&self, ci: usize, text: String) {
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
    pub(super) fn advance(&mut self, ci: usize) {
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

    pub(super) fn run_mut(&mut self, ci: usize, f: impl FnOnce(&mut Run)) {
        if let Some(run) = self.failovers.runs[ci].as_mut() {
            f(run);
        }
    }

    /// The new primary is writable: the view says so at once, so the
    /// writers use it before the next round; a failed-over old primary is
    /// fenced.
    pub(super) fn promoted(&mut self, ci: usize) {
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
    pub(super) fn release(&mut self, ci: usize) {
        self.rt.mysql[ci].view.lock().busy = false;
        self.reconcile(ci);
    }

    pub(super) fn finish(&mut self, ci: usize, result: Result<(), String>) {
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

    pub(super) fn member_name(&self, ci: usize, i: usize) -> String {
        self.rt.mysql[ci].config.servers[i].name.clone()
    }

    /// Sessions on member `i` in the backends that write to cluster `ci`.
    pub(super) fn writer_sessions(&self, ci: usize, i: usize) -> usize {
        self.writer_servers(ci, i)
            .map(|(b, s)| self.rt.backend(b).server(s).active.get())
            .sum()
    }

    pub(super) fn writer_servers(
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

    pub(super) fn cut_writer_sessions(&mut self, ci: usize, i: usize) {
        let cuts: Vec<_> = self.writer_servers(ci, i).collect();
        self.cut(cuts);
    }
}
