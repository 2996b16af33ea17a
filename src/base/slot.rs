//! Counted places under a limit: sessions in the process, on a frontend,
//! in a backend, on a server, in a backend's queue. A [`Gauge`] is the
//! count, shared by every thread; a [`Slot`] is one unit of it, given back
//! when dropped. Whoever holds a place holds its `Slot`, so no error path
//! can forget to give it back (a missed release would shrink a maxconn
//! for the life of the process).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many places are taken now, and the most ever taken at once.
///
/// Not cache-line aligned on purpose: a slot's `Arc` count sits just
/// before the count in the same allocation, so taking a place writes one
/// line, not two.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    /// Places taken now.
    pub(crate) fn get(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// The most places taken at once since start or [`Gauge::clear_peak`].
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub(crate) fn clear_peak(&self) {
        self.peak.store(0, Ordering::Relaxed);
    }

    /// Takes a place when fewer than `max` are taken.
    pub(crate) fn try_take(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let before = self
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(self.taken(before + 1))
    }

    /// Takes a place whatever the count (a place that has no limit).
    pub(crate) fn take(self: &Arc<Self>) -> Slot {
        let n = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.taken(n)
    }

    fn taken(self: &Arc<Self>, n: usize) -> Slot {
        // A read first: the peak line is only written when it moves.
        if n > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(n, Ordering::Relaxed);
        }
        Slot(Arc::clone(self))
    }
}

/// One place of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Gauge>);

impl Slot {
    /// Places of its gauge taken now, this one included.
    pub(crate) fn count(&self) -> usize {
        self.0.get()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_when_dropped_and_the_limit_holds() {
        let g = Arc::new(Gauge::default());
        let a = g.try_take(2).expect("first");
        let b = g.try_take(2).expect("second");
        assert!(g.try_take(2).is_none(), "a third would pass the limit");
        assert_eq!((g.get(), a.count()), (2, 2));
        drop(a);
        let c = g.try_take(2).expect("a place was given back");
        drop((b, c));
        assert_eq!((g.get(), g.peak()), (0, 2));
        let _d = g.take();
        g.clear_peak();
        assert_eq!((g.get(), g.peak()), (1, 0));
    }
}
