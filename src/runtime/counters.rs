//! Statistics counters, bumped by the workers once per session or per
//! forwarded chunk and read by the admin thread (`show stat`, the stats
//! page). Every operation is a Relaxed atomic: the numbers are reports,
//! nothing synchronises on them.
//!
//! Monotonic counters are kept per writer ([`Shard`]): each worker writes
//! only its own shard, alone on its cache lines, and a read sums them, so
//! that workers never write a line another worker writes. The other
//! threads (the admin thread's stats frontends) share one more shard. The
//! peak and the rate (`smax`, `rate`) stay shared: a sum of per-worker
//! peaks would not be the peak.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::base::clock::now_ms;

/// The shard of the threads that are not workers.
pub(crate) const OTHER_THREADS: usize = usize::MAX;

/// One writer's share of a frontend's, backend's or server's counters.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Shard {
    /// Sessions handled in total (`stot`).
    pub sessions: AtomicU64,
    /// Bytes from clients (HAProxy's `bin`).
    pub bytes_in: AtomicU64,
    /// Bytes to clients (HAProxy's `bout`).
    pub bytes_out: AtomicU64,
    /// Failed connection attempts to servers (`econ`).
    pub connect_errors: AtomicU64,
    /// Connection attempts retried (`wretr`).
    pub retries: AtomicU64,
    /// Retries sent to another server (`wredis`).
    pub redispatches: AtomicU64,
    /// Times the balancer picked this server, or a server of this backend
    /// (`lbtot`).
    pub picks: AtomicU64,
    /// Connection attempts to servers (`connect`).
    pub connects: AtomicU64,
    /// Requests refused as malformed, too large or too slow (`ereq`; only
    /// stats frontends read requests).
    pub request_errors: AtomicU64,
    /// `now_ms()` + 1 of this writer's last session (0 = never), for
    /// `lastsess`.
    pub last_session: AtomicU64,
    /// Connections accepted, sessions or not (`conn_tot`).
    pub connections: AtomicU64,
    /// Connections refused by `tcp-request connection` rules (`dcon`).
    pub denied_conn: AtomicU64,
    /// Sessions refused by `tcp-request session` rules (`dses`).
    pub denied_sess: AtomicU64,
    /// Requests refused by `tcp-request content` rules (`dreq`).
    pub denied_req: AtomicU64,
    /// Responses refused by `tcp-response content` rules (`dresp`).
    pub denied_resp: AtomicU64,
}

impl Shard {
    fn fields(&self) -> [&AtomicU64; 15] {
        [
            &self.sessions,
            &self.bytes_in,
            &self.bytes_out,
            &self.connect_errors,
            &self.retries,
            &self.redispatches,
            &self.picks,
            &self.connects,
            &self.request_errors,
            &self.last_session,
            &self.connections,
            &self.denied_conn,
            &self.denied_sess,
            &self.denied_req,
            &self.denied_resp,
        ]
    }
}

/// Monotonic counters of a frontend, backend or server, updated while
/// sessions run (not only at their end).
#[derive(Debug)]
pub(crate) struct Counters {
    shards: Box<[Shard]>,
    /// Most sessions at once (`smax`).
    pub max_current: AtomicU64,
    /// New sessions per second (`rate`, `rate_max`).
    pub rate: Rate,
}

impl Counters {
    /// Counters written by `workers` workers and the other threads.
    pub(crate) fn new(workers: usize) -> Counters {
        Counters {
            shards: (0..=workers).map(|_| Shard::default()).collect(),
            max_current: AtomicU64::new(0),
            rate: Rate::default(),
        }
    }

    /// The shard of worker `writer` ([`OTHER_THREADS`] for the others).
    pub(crate) fn shard(&self, writer: usize) -> &Shard {
        &self.shards[writer.min(self.shards.len() - 1)]
    }

    /// One counter, summed over the writers.
    pub(crate) fn total(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A new session started on `writer`; `current` is how many run now.
    pub(crate) fn session_started(&self, writer: usize, current: u64) {
        let shard = self.shard(writer);
        shard.sessions.fetch_add(1, Ordering::Relaxed);
        shard.last_session.store(now_ms() + 1, Ordering::Relaxed);
        // A read first: the shared line is only written when the peak moves.
        if current > self.max_current.load(Ordering::Relaxed) {
            self.max_current.fetch_max(current, Ordering::Relaxed);
        }
        self.rate.hit();
    }

    /// Seconds since the last session, or -1 when there was none (`lastsess`).
    pub(crate) fn since_last_session(&self) -> i64 {
        let last = self
            .shards
            .iter()
            .map(|s| s.last_session.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        match last {
            0 => -1,
            t => (now_ms().saturating_sub(t - 1) / 1000) as i64,
        }
    }

    /// `clear counters`: the maxima only.
    pub(crate) fn clear_max(&self) {
        self.max_current.store(0, Ordering::Relaxed);
        self.rate.max.store(0, Ordering::Relaxed);
    }

    /// `clear counters all`: everything.
    pub(crate) fn clear_all(&self) {
        for shard in self.shards.iter() {
            for c in shard.fields() {
                c.store(0, Ordering::Relaxed);
            }
        }
        self.clear_max();
    }
}

/// Events per second over a sliding second, as HAProxy's `freq_ctr`: the
/// count of the current second plus the previous second's count weighted by
/// the part of it still inside the window.
#[derive(Debug, Default)]
pub(crate) struct Rate {
    /// The second (`now_ms() / 1000`) that `current` counts.
    second: AtomicU64,
    current: AtomicU32,
    previous: AtomicU32,
    /// Highest rate seen (`rate_max`).
    pub max: AtomicU32,
}

impl Rate {
    pub(crate) fn hit(&self) {
        self.hit_at(now_ms());
    }

    fn hit_at(&self, ms: u64) {
        self.rotate(ms / 1000);
        self.current.fetch_add(1, Ordering::Relaxed);
        let v = self.value_at(ms);
        if v > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(v, Ordering::Relaxed);
        }
    }

    /// Starts a new second when the clock moved on. Losing a race here only
    /// moves a few hits between seconds: acceptable for a statistic.
    fn rotate(&self, now: u64) {
        let old = self.second.load(Ordering::Relaxed);
        if old != now
            && self
                .second
                .compare_exchange(old, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let count = self.current.swap(0, Ordering::Relaxed);
            let previous = if now == old + 1 { count } else { 0 };
            self.previous.store(previous, Ordering::Relaxed);
        }
    }

    pub(crate) fn value(&self) -> u32 {
        self.value_at(now_ms())
    }

    /// How long until one more event keeps the rate under `limit`
    /// (HAProxy's `next_event_delay`); `None` when it does already.
    pub(crate) fn wait(&self, limit: u32) -> Option<std::time::Duration> {
        self.wait_at(limit, now_ms())
    }

    fn wait_at(&self, limit: u32, ms: u64) -> Option<std::time::Duration> {
        if self.value_at(ms) < limit {
            return None;
        }
        // The previous second's weight falls with time: wait for the step
        // it takes to free one event, at least 1 ms, at most the rest of
        // this second (then the current count becomes the weighted one).
        let left = 1000 - ms % 1000;
        let step = (1000 / u64::from(limit.max(1))).max(1);
        Some(std::time::Duration::from_millis(step.min(left)))
    }

    fn value_at(&self, ms: u64) -> u32 {
        let now = ms / 1000;
        let second = self.second.load(Ordering::Relaxed);
        let left = 1000 - ms % 1000;
        let (current, previous) = match now.checked_sub(second) {
            Some(0) => (
                self.current.load(Ordering::Relaxed),
                self.previous.load(Ordering::Relaxed),
            ),
            Some(1) => (0, self.current.load(Ordering::Relaxed)),
            _ => (0, 0),
        };
        current + (u64::from(previous) * left).div_ceil(1000) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_and_clear() {
        let c = Counters::new(2);
        Counters::add(&c.shard(0).bytes_in, 5);
        Counters::add(&c.shard(1).bytes_in, 7);
        Counters::add(&c.shard(OTHER_THREADS).bytes_in, 1);
        c.session_started(1, 3);
        c.session_started(OTHER_THREADS, 2);
        assert_eq!(c.total(|s| &s.bytes_in), 13);
        assert_eq!(c.total(|s| &s.sessions), 2);
        assert_eq!(c.max_current.load(Ordering::Relaxed), 3);
        assert_eq!(c.since_last_session(), 0);
        c.clear_all();
        assert_eq!(c.total(|s| &s.bytes_in), 0);
        assert_eq!(c.since_last_session(), -1);
    }

    #[test]
    fn a_limited_rate_says_how_long_to_wait() {
        let r = Rate::default();
        for ms in [5_000, 5_010, 5_020] {
            r.hit_at(ms);
        }
        assert_eq!(r.wait_at(4, 5_030), None, "3 of 4");
        assert_eq!(
            r.wait_at(3, 5_030),
            Some(std::time::Duration::from_millis(333))
        );
        // Near the end of the second: at most what is left of it.
        assert_eq!(
            r.wait_at(3, 5_990),
            Some(std::time::Duration::from_millis(10))
        );
        // Next second: last second's 3 weigh 3 * 0.9, rounded up, = 3.
        assert!(r.wait_at(3, 6_100).is_some());
        assert_eq!(r.wait_at(3, 6_700), None, "3 * 0.3 rounds up to 1");
    }

    #[test]
    fn rate_slides_over_one_second() {
        // (description, hits as ms timestamps, read at, expected rate)
        let cases: &[(&str, &[u64], u64, u32)] = &[
            ("nothing", &[], 5_000, 0),
            ("three this second", &[5_000, 5_100, 5_900], 5_950, 3),
            (
                "last second's weighted by what is left of the window",
                &[4_000, 4_100, 4_200, 4_300],
                5_500,
                2,
            ),
            ("both seconds", &[4_000, 4_500, 5_100], 5_500, 2),
            ("older than a second", &[1_000, 1_200], 5_000, 0),
            ("read a second later", &[5_000, 5_100], 6_000, 2),
        ];
        for (what, hits, at, want) in cases {
            let r = Rate::default();
            for h in *hits {
                r.hit_at(*h);
            }
            assert_eq!(r.value_at(*at), *want, "{what}");
        }
    }

    #[test]
    fn rate_max_keeps_the_peak() {
        let r = Rate::default();
        for ms in [1_000, 1_001, 1_002] {
            r.hit_at(ms);
        }
        r.hit_at(9_000);
        assert_eq!(r.max.load(Ordering::Relaxed), 3);
        assert_eq!(r.value_at(9_001), 1);
    }
}
