//! A worker's timers: a min-heap of `(deadline, session key)` with lazy
//! re-arming. A session stores its own current deadline and the deadline it
//! is armed at; activity only moves the stored deadline (no heap operation
//! per packet), and an entry that fires early is pushed again for the
//! session's real deadline. Entries whose session is gone or re-armed
//! elsewhere are stale and skipped.
//!
//! (The design card suggests a timer wheel; this heap gives the same O(1)
//! hot path, since refreshing a deadline is a field store, with less code.)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

/// A session's view of its timer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Deadline {
    /// When the session's current phase expires; `None` = never.
    pub at: Option<Instant>,
    /// The heap entry that stands for this session, if any.
    armed: Option<Instant>,
}

impl Deadline {
    /// Sets the deadline, pushing a heap entry only when none fires early enough.
    pub(crate) fn set(&mut self, at: Option<Instant>, key: usize, timers: &mut Timers) {
        self.at = at;
        if let Some(t) = at
            && self.armed.is_none_or(|a| t < a)
        {
            self.armed = Some(t);
            timers.heap.push(Reverse((t, key)));
        }
    }
}

/// What a popped entry means for its session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// The session's deadline has passed.
    Expired,
    /// Not this session's entry, or re-armed for later.
    Nothing,
}

impl Timers {
    /// The earliest entry, to bound the poll timeout.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pops the next entry due at `now`: `(key, entry time)`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(usize, Instant)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse((t, k))| (k, t)),
            _ => None,
        }
    }

    /// Settles an entry popped at `entry` for the session owning `deadline`.
    pub(crate) fn settle(
        &mut self,
        deadline: &mut Deadline,
        key: usize,
        entry: Instant,
        now: Instant,
    ) -> Fired {
        if deadline.armed != Some(entry) {
            return Fired::Nothing;
        }
        deadline.armed = None;
        match deadline.at {
            Some(t) if t <= now => Fired::Expired,
            at => {
                deadline.set(at, key, self);
                Fired::Nothing
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn drain(t: &mut Timers, d: &mut Deadline, key: usize, now: Instant) -> Vec<Fired> {
        let mut out = vec![];
        while let Some((k, at)) = t.pop_due(now) {
            assert_eq!(k, key);
            out.push(t.settle(d, k, at, now));
        }
        out
    }

    #[test]
    fn refreshed_deadline_fires_only_at_its_new_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        d.set(Some(t0 + ms(10)), 7, &mut timers);
        d.set(Some(t0 + ms(30)), 7, &mut timers); // activity: no new entry
        assert_eq!(timers.len(), 1);
        assert_eq!(
            drain(&mut timers, &mut d, 7, t0 + ms(10)),
            vec![Fired::Nothing]
        );
        assert_eq!(
            timers.next(),
            Some(t0 + ms(30)),
            "re-armed at the real deadline"
        );
        assert_eq!(drain(&mut timers, &mut d, 7, t0 + ms(29)), vec![]);
        assert_eq!(
            drain(&mut timers, &mut d, 7, t0 + ms(30)),
            vec![Fired::Expired]
        );
    }

    #[test]
    fn earlier_deadline_and_cleared_deadline() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        let mut d = Deadline::default();
        d.set(Some(t0 + ms(50)), 1, &mut timers);
        d.set(Some(t0 + ms(5)), 1, &mut timers);
        assert_eq!(
            drain(&mut timers, &mut d, 1, t0 + ms(5)),
            vec![Fired::Expired]
        );
        d.set(None, 1, &mut timers);
        assert_eq!(
            drain(&mut timers, &mut d, 1, t0 + ms(60)),
            vec![Fired::Nothing],
            "the old 50 ms entry is stale"
        );
        assert!(timers.is_empty());
    }
}
