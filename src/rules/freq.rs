//! HAProxy's frequency counters (`freq_ctr`): the rates a stick table
//! stores (`conn_rate(10s)`...), read over a sliding window.

/// HAProxy's frequency counter over a period: the events of the current
/// period, those of the previous one, and when the current one began. A
/// reading weighs the previous period by the part of it still in the
/// sliding window.
///
/// As HAProxy's, it is 32-bit: counts saturate at 2^32 - 1 a period, and
/// the start is the clock's low 32 bits (ms), compared by wrapping
/// difference, so periods up to 24 days read right at any uptime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FreqCtr {
    start: u32,
    curr: u32,
    prev: u32,
}

/// The longest period a counter keeps (2^31 ms, about 24 days).
const MAX_PERIOD: u64 = 1 << 31;

impl FreqCtr {
    /// A counter whose period starts at `now` (ms).
    pub(crate) fn new(now: u64) -> FreqCtr {
        FreqCtr {
            start: now as u32,
            ..FreqCtr::default()
        }
    }

    /// A counter as a peer sent it: its period began `elapsed` ms ago.
    pub(crate) fn from_wire(now: u64, elapsed: u64, curr: u64, prev: u64) -> FreqCtr {
        FreqCtr {
            start: (now as u32).wrapping_sub(elapsed.min(MAX_PERIOD) as u32),
            curr: curr.min(u32::MAX as u64) as u32,
            prev: prev.min(u32::MAX as u64) as u32,
        }
    }

    /// What a peer is sent: ms since the period began, the two counts.
    pub(crate) fn to_wire(self, now: u64) -> (u64, u64, u64) {
        (self.elapsed(now), self.curr as u64, self.prev as u64)
    }

    /// Ms since the current period began (0 for a start a racing thread
    /// put a little after `now`).
    fn elapsed(&self, now: u64) -> u64 {
        let d = (now as u32).wrapping_sub(self.start) as i32;
        d.max(0) as u64
    }

    /// Moves the window to `now` (ms) for a period of `period` ms.
    pub(crate) fn rotate(&mut self, now: u64, period: u64) {
        let period = period.clamp(1, MAX_PERIOD);
        let elapsed = self.elapsed(now);
        if elapsed < period {
            return;
        }
        let periods = elapsed / period;
        self.prev = if periods == 1 { self.curr } else { 0 };
        self.curr = 0;
        self.start = self.start.wrapping_add((periods * period) as u32);
    }

    pub(crate) fn add(&mut self, n: u64, now: u64, period: u64) {
        self.rotate(now, period);
        self.curr = self.curr.saturating_add(n.min(u32::MAX as u64) as u32);
    }

    /// The current period's count (after [`FreqCtr::add`]).
    pub(crate) fn current(&self) -> u64 {
        self.curr as u64
    }

    /// The current period's count becomes `v` (`set table`).
    pub(crate) fn set(&mut self, v: u64, now: u64, period: u64) {
        self.rotate(now, period);
        self.curr = v.min(u32::MAX as u64) as u32;
    }

    /// Events in the last `period` ms, as HAProxy reads them.
    pub(crate) fn read(&self, now: u64, period: u64) -> u64 {
        let mut c = *self;
        c.rotate(now, period);
        let period = period.clamp(1, MAX_PERIOD);
        let left = period - c.elapsed(now).min(period);
        c.curr as u64 + c.prev as u64 * left / period
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_window_slides() {
        let mut c = FreqCtr::new(0);
        for t in 0..10 {
            c.add(1, t * 100, 1000);
        }
        assert_eq!(c.read(999, 1000), 10);
        // Half the previous period still in the window.
        assert_eq!(c.read(1500, 1000), 5);
        assert_eq!(c.read(2000, 1000), 0);
    }

    /// What a counter started at `start` reads at `now` after `events`
    /// (sorted), from every event's time.
    fn model(start: u64, events: &[u64], now: u64, period: u64) -> u64 {
        let cur_start = start + (now - start) / period * period;
        let curr = events.iter().filter(|&&t| t >= cur_start).count() as u64;
        let prev = events
            .iter()
            .filter(|&&t| t + period >= cur_start && t < cur_start)
            .count() as u64;
        let left = period - (now - cur_start);
        curr + prev * left / period
    }

    proptest! {
        /// Against a model that keeps every event's time: a reading is the
        /// events of the current period plus the previous period's,
        /// weighted by its part still in the window.
        #[test]
        fn rates_match_the_model(
            mut events in proptest::collection::vec(0u64..5000, 0..60),
            at in 0u64..6000,
            period in 1u64..2000,
        ) {
            events.sort_unstable();
            let mut c = FreqCtr::default();
            for &t in &events {
                c.add(1, t, period);
            }
            let now = at.max(*events.last().unwrap_or(&0));
            prop_assert_eq!(c.read(now, period), model(0, &events, now, period));
        }

        /// The same across the 32-bit clock's wrap (49.7 days of uptime):
        /// the start is kept in 32 bits, as HAProxy's ticks.
        #[test]
        fn rates_survive_the_clock_wrap(
            mut offsets in proptest::collection::vec(0u64..8000, 0..60),
            at in 0u64..9000,
            period in 1u64..3000,
            before in 0u64..5000,
        ) {
            let start = (1u64 << 32) - before;
            offsets.sort_unstable();
            let events: Vec<u64> = offsets.iter().map(|o| start + o).collect();
            let mut c = FreqCtr::new(start);
            for &t in &events {
                c.add(1, t, period);
            }
            let now = (start + at).max(*events.last().unwrap_or(&start));
            prop_assert_eq!(c.read(now, period), model(start, &events, now, period));
        }
    }
}
