//! A backend's queue in one worker: the sessions waiting for a server
//! slot when every usable server is at its maxconn, oldest first.
//!
//! A waiting session holds a [`Place`]: its ticket (for `%bq`, the
//! sessions served before it) and its slot in the backend's `qcur`, shared
//! by every worker. The session joins and leaves the queue itself, through
//! the worker's [`BackendQueue`] that its handler borrows; the worker only
//! walks the queue to serve it when a slot frees up.

use std::collections::VecDeque;

use crate::base::slot::Slot;
use crate::runtime::BackendState;

/// A session's place in a backend's queue.
#[derive(Debug)]
pub(crate) struct Place {
    /// Which joining this is (a session may wait more than once).
    seq: u64,
    /// The queue's `served` count when it joined.
    ticket: u64,
    /// Its slot in the backend's `qcur`.
    _queued: Slot,
}

/// One backend's queue in one worker (for one config generation).
#[derive(Debug, Default)]
pub(crate) struct BackendQueue {
    /// `(session key, Place::seq)`, oldest first. An entry whose session
    /// left (or whose key was reused) no longer matches its place: skipped.
    waiting: VecDeque<(usize, u64)>,
    /// Sessions waiting now.
    live: usize,
    /// Sessions that left to be served so far (`%bq` tickets).
    served: u64,
    joins: u64,
}

impl BackendQueue {
    /// Puts session `key` at the back of the queue of `backend`.
    pub(crate) fn join(&mut self, key: usize, backend: &BackendState) -> Place {
        self.joins += 1;
        self.live += 1;
        self.waiting.push_back((key, self.joins));
        Place {
            seq: self.joins,
            ticket: self.served,
            _queued: backend.queued.take(),
        }
    }

    /// Takes `place` out of the queue; `served`: it leaves to be dispatched
    /// (not gone). Returns its share of `%bq`: 1 + the sessions served
    /// while it waited.
    pub(crate) fn leave(&mut self, place: Place, served: bool) -> u64 {
        self.live -= 1;
        let share = self.served - place.ticket + 1;
        if served {
            self.served += 1;
        }
        share
    }

    /// The oldest entry: `(session key, place seq)`.
    pub(crate) fn front(&self) -> Option<(usize, u64)> {
        self.waiting.front().copied()
    }

    pub(crate) fn pop_front(&mut self) {
        self.waiting.pop_front();
    }

    /// Sessions of this worker waiting now.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Whether some entry is left to look at.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

impl Place {
    /// Whether the queue entry `seq` stands for this place.
    pub(crate) fn is(&self, seq: u64) -> bool {
        self.seq == seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;
    use crate::runtime::Runtime;

    const CONFIG: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
        listen fe\n bind 127.0.0.1:0\n server a 127.0.0.1:9001 maxconn 1\n";

    #[test]
    fn position_counts_the_sessions_served_first() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        let be = &rt.backends[0];
        let mut q = BackendQueue::default();
        let first = q.join(1, be);
        let second = q.join(2, be);
        let third = q.join(3, be);
        assert_eq!((q.live(), be.queued.get(), be.queued.peak()), (3, 3, 3));
        assert_eq!(q.leave(first, true), 1, "nobody was served before it");
        assert_eq!(q.leave(second, true), 2, "one was served while it waited");
        // Gone (client left) rather than served: counted, not a ticket.
        assert_eq!(q.leave(third, false), 3);
        let fourth = q.join(4, be);
        assert_eq!(q.leave(fourth, true), 1);
        assert_eq!((q.live(), be.queued.get(), be.queued.peak()), (0, 0, 3));
    }

    #[test]
    fn entries_of_sessions_that_left_are_recognised() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        let mut q = BackendQueue::default();
        let place = q.join(7, &rt.backends[0]);
        let (key, seq) = q.front().unwrap();
        assert!(key == 7 && place.is(seq));
        q.leave(place, true);
        // The same key waiting again is a new place: the old entry is stale.
        let again = q.join(7, &rt.backends[0]);
        assert!(!again.is(seq));
        q.pop_front();
        assert!(again.is(q.front().unwrap().1));
    }
}
