//! What the VRRP thread publishes about each instance for the runtime API
//! (`show vrrp`), and the workers' watchdog. The thread writes a [`Status`]
//! under a lock after each turn of its loop; nothing on the data path
//! touches it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::machine::State;
use crate::config::VrrpInstance;

/// One instance as the runtime holds it: its config and its last status.
#[derive(Debug)]
pub struct Shared {
    pub config: VrrpInstance,
    pub status: parking_lot::Mutex<Status>,
}

impl Shared {
    pub fn new(config: VrrpInstance) -> Shared {
        Shared {
            status: parking_lot::Mutex::new(Status::new(config.priority)),
            config,
        }
    }
}

/// The last state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: Instant,
    pub from: State,
    pub to: State,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub priority: u8,
    /// The interface's primary IPv4 address (adverts' source).
    pub local_ip: Option<Ipv4Addr>,
    /// The master and its priority, as far as this router knows.
    pub master: Option<(Ipv4Addr, u8)>,
    /// The master's advertisement interval (learnt from its adverts).
    pub master_adver_interval: Duration,
    /// Whether the VIPs are on the interface (added by this process).
    pub holds_vips: bool,
    /// Why the instance is in FAULT.
    pub fault: Option<String>,
    pub transitions: u64,
    pub last_transition: Option<Transition>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Received packets refused (TTL, version, checksum, addresses, peer).
    pub dropped: u64,
}

impl Status {
    pub fn new(priority: u8) -> Status {
        Status {
            state: State::Init,
            priority,
            local_ip: None,
            master: None,
            master_adver_interval: Duration::ZERO,
            holds_vips: false,
            fault: None,
            transitions: 0,
            last_transition: None,
            adverts_sent: 0,
            adverts_received: 0,
            dropped: 0,
        }
    }
}

/// How long a worker may go without turning its loop before the VRRP
/// instances go to FAULT. Workers wake at least every
/// `worker::MAX_POLL_WAIT`, so only a stuck worker stays silent this long.
pub const WATCHDOG_STALL: Duration = Duration::from_secs(2);

/// Watches the workers' heartbeats (one counter per worker, bumped on
/// every turn of its event loop).
#[derive(Debug, Default)]
pub struct Watchdog {
    /// Per worker: the last count seen and when it last moved.
    seen: Vec<(u64, Instant)>,
    last_check: Option<Instant>,
}

impl Watchdog {
    /// The first worker whose count has not moved for [`WATCHDOG_STALL`],
    /// and for how long. When this thread itself was not scheduled for a
    /// while (a suspended machine, a starved host), nobody is blamed: the
    /// counts are taken afresh.
    pub fn check(&mut self, now: Instant, beats: &[u64]) -> Option<(usize, Duration)> {
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
