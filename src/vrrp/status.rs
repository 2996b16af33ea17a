//! The workers' watchdog: the VRRP instances go to FAULT when a worker
//! stops turning its event loop. (What the VRRP thread publishes for `show
//! vrrp` is [`crate::base::vrrp::Status`], held by the process.)

use std::time::{Duration, Instant};

/// How long a worker may go without turning its loop before the VRRP
/// instances go to FAULT. Workers wake at least every
/// `worker::MAX_POLL_WAIT`, so only a stuck worker stays silent this long.
pub(crate) const WATCHDOG_STALL: Duration = Duration::from_secs(2);

/// Watches the workers' heartbeats (one counter per worker, bumped on
/// every turn of its event loop).
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    /// Per worker: the last count seen and when it last moved.
    seen: Vec<(u64, Instant)>,
    last_check: Option<Instant>,
}

impl Watchdog {
    /// The process's first stalled worker, said as the reason a VRRP
    /// instance goes to FAULT or an announced route is withdrawn.
    pub(crate) fn stalled(&mut self, now: Instant, rt: &crate::runtime::Runtime) -> Option<String> {
        let beats: Vec<u64> = rt
            .process
            .heartbeats
            .iter()
            .map(|b| b.0.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        self.check(now, &beats).map(|(w, idle)| {
            format!(
                "worker {w} made no progress for {}ms (watchdog)",
                idle.as_millis()
            )
        })
    }

    /// The first worker whose count has not moved for [`WATCHDOG_STALL`],
    /// and for how long. When this thread itself was not scheduled for a
    /// while (a suspended machine, a starved host), nobody is blamed: the
    /// counts are taken afresh.
    pub(crate) fn check(&mut self, now: Instant, beats: &[u64]) -> Option<(usize, Duration)> {
        let paused = self
            .last_check
            .is_some_and(|t| now.saturating_duration_since(t) > WATCHDOG_STALL / 2);
        self.last_check = Some(now);
        if paused || self.seen.len() != beats.len() {
            self.seen = beats.iter().map(|b| (*b, now)).collect();
            return None;
        }
        for ((count, since), b) in self.seen.iter_mut().zip(beats) {
            if count != b {
                *count = *b;
                *since = now;
            }
        }
        self.seen
            .iter()
            .map(|(_, since)| now.saturating_duration_since(*since))
            .enumerate()
            .find(|(_, idle)| *idle >= WATCHDOG_STALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_blames_the_worker_that_stopped() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut w = Watchdog::default();
        let mut beats = [0u64, 0];
        assert_eq!(w.check(at(0), &beats), None);
        // Worker 0 keeps turning, worker 1 stops at 500 ms.
        let mut t = 0;
        let mut blamed = None;
        while t < 5000 && blamed.is_none() {
            t += 100;
            beats[0] += 1;
            if t <= 500 {
                beats[1] += 1;
            }
            blamed = w.check(at(t), &beats);
        }
        assert_eq!(blamed, Some((1, WATCHDOG_STALL)));
        assert_eq!(t, 2500);
        // It clears once the worker moves again.
        beats[1] += 1;
        assert_eq!(w.check(at(t + 100), &beats), None);
    }

    #[test]
    fn watchdog_forgives_its_own_pause() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut w = Watchdog::default();
        let beats = [7u64];
        assert_eq!(w.check(at(0), &beats), None);
        // The whole process was frozen 5 s: no fault on waking up...
        assert_eq!(w.check(at(5000), &beats), None);
        // ...but a worker still silent 2 s later is blamed.
        let mut t = 5000;
        let mut blamed = None;
        while blamed.is_none() {
            t += 100;
            blamed = w.check(at(t), &beats);
        }
        assert_eq!(t, 7000);
    }
}
