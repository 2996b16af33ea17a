//! A bounded write load for the `mysql-cluster` failover tests: one
//! `mariadb` client per INSERT through a frontend, each with an id of its
//! own, every attempt kept with its times and result, and what the tests
//! read from them (pauses between acknowledged writes, which server took
//! them, which acknowledged ids a server lacks).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::mariadb_set::{Replicated, app_query_with};
use super::mysql_lb::Lb;

/// The ids in `t.w` on server `i`.
pub fn ids_on(set: &Replicated, i: usize) -> BTreeSet<u32> {
    set.sql(i, "SELECT id FROM t.w")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// One INSERT of the write load.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: u32,
    pub start: Instant,
    pub end: Instant,
    /// The server_id that acknowledged it, or the client's error.
    pub result: Result<u32, String>,
}

/// A bounded write load through one frontend: one `mariadb` client per
/// INSERT (an application that reconnects for each write, as a pool does
/// after an error), each with a new id and `SELECT @@server_id` after it,
/// about 20 per second, until stopped (at most a minute, 1200 writes).
pub struct Load {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    thread: Option<JoinHandle<()>>,
}

/// One write each `PACE` at most: enough to see a pause of 50 ms, and
/// little CPU on a small machine.
pub const PACE: Duration = Duration::from_millis(50);

impl Load {
    pub fn start(set: &Replicated, addr: SocketAddr, first_id: u32) -> Load {
        let client: PathBuf = set.server(0).client().to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (stop.clone(), attempts.clone());
        let thread = thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            for id in first_id..first_id + 1200 {
                if s.load(Ordering::Relaxed) || Instant::now() > end {
                    break;
                }
                let start = Instant::now();
                let result = app_query_with(
                    &client,
                    addr,
                    &format!("INSERT INTO w (id, v) VALUES ({id}, 0); SELECT @@server_id"),
                )
                .and_then(|out| out.parse().map_err(|_| format!("not a server id: {out:?}")));
                let end = Instant::now();
                log.lock().unwrap().push(Attempt {
                    id,
                    start,
                    end,
                    result,
                });
                // Pacing, not waiting for a condition.
                thread::sleep(PACE.saturating_sub(end - start));
            }
        });
        Load {
            stop,
            attempts,
            thread: Some(thread),
        }
    }

    pub fn acked_by(&self, server_id: u32) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.result == Ok(server_id))
            .count()
    }

    /// Waits until `n` more writes than now are acknowledged by
    /// `server_id`.
    pub fn wait_more_acked_by(&self, lb: &Lb, server_id: u32, n: usize, limit: Duration) {
        let want = self.acked_by(server_id) + n;
        lb.poll(
            &format!("{n} more writes acknowledged by server_id {server_id}"),
            limit,
            || {
                let got = self.acked_by(server_id);
                if got >= want {
                    Ok(())
                } else {
                    let log = self.attempts.lock().unwrap();
                    Err(format!("{got} of {want}; last: {:?}", log.last()))
                }
            },
        );
    }

    /// Stops the load; every attempt, in order.
    pub fn finish(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the write load panicked");
        }
        self.attempts.lock().unwrap().clone()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The longest time between two acknowledged writes (their answers), and
/// the answer that ended it.
pub fn longest_gap(attempts: &[Attempt]) -> (Duration, Option<Attempt>) {
    let acked: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
    acked
        .windows(2)
        .map(|w| (w[1].end - w[0].end, Some(w[1].clone())))
        .max_by_key(|(gap, _)| *gap)
        .unwrap_or((Duration::ZERO, None))
}

/// The time between the last write acknowledged before `from` and the
/// first acknowledged after `to`: the pause clients saw around something
/// that ran from `from` to `to`.
pub fn pause_around(attempts: &[Attempt], from: Instant, to: Instant) -> Duration {
    let acked = || attempts.iter().filter(|a| a.result.is_ok());
    let before = acked().filter(|a| a.end <= from).map(|a| a.end).max();
    let after = acked().filter(|a| a.end >= to).map(|a| a.end).min();
    match (before, after) {
        (Some(b), Some(a)) => a - b,
        _ => panic!("no acknowledged write on both sides: {attempts:?}"),
    }
}

/// The server_ids that acknowledged writes, in order, runs collapsed:
/// `[1, 2]` when writes went to server 1, then to server 2 only.
pub fn ack_runs(attempts: &[Attempt]) -> Vec<u32> {
    let mut runs: Vec<u32> = Vec::new();
    for a in attempts {
        if let Ok(id) = a.result
            && runs.last() != Some(&id)
        {
            runs.push(id);
        }
    }
    runs
}

/// The ids acknowledged in `attempts` that server `i` lacks.
pub fn lost_on(set: &Replicated, i: usize, attempts: &[Attempt]) -> Vec<u32> {
    let have = ids_on(set, i);
    attempts
        .iter()
        .filter(|a| a.result.is_ok() && !have.contains(&a.id))
        .map(|a| a.id)
        .collect()
}
