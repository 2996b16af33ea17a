//! A backend's queue in one worker: the sessions waiting for a server
//! slot when every usable server is at its maxconn, oldest first, and
//! those waiting for a slot on one server (`use-server`, a `stick` rule),
//! which do not hold up the others (HAProxy queues them on their server).
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
    /// Its slot among the backend's sessions waiting for one server.
    _pinned: Option<Slot>,
}

/// One backend's queue in one worker (for one config generation).
#[derive(Debug, Default)]
pub(crate) struct BackendQueue {
    /// `(session key, Place::seq, waits for one server)`, oldest first.
    /// An entry whose session left (or whose key was reused) no longer
    /// matches its place: skipped.
    waiting: VecDeque<(usize, u64, bool)>,
    /// Sessions waiting now.
    live: usize,
    /// Sessions that left to be served so far (`%bq` tickets).
    served: u64,
    joins: u64,
}

impl BackendQueue {
    /// Puts session `key` at the back of the queue of `backend`;
    /// `pinned`: it waits for one server.
    pub(crate) fn join(&mut self, key: usize, backend: &BackendState, pinned: bool) -> Place {
        self.joins += 1;
        self.live += 1;
        self.waiting.push_back((key, self.joins, pinned));
        Place {
            seq: self.joins,
            ticket: self.served,
            _queued: backend.queued.take(),
            _pinned: pinned.then(|| backend.pinned.take()),
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

    /// The `i`-th oldest entry: `(session key, place seq, pinned)`.
    pub(crate) fn get(&self, i: usize) -> Option<(usize, u64, bool)> {
        self.waiting.get(i).copied()
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.waiting.remove(i);
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
        let first = q.join(1, be, false);
        let second = q.join(2, be, false);
        let third = q.join(3, be, false);
        assert_eq!((q.live(), be.queued.get(), be.queued.peak()), (3, 3, 3));
        assert_eq!(q.leave(first, true), 1, "nobody was served before it");
        assert_eq!(q.leave(second, true), 2, "one was served while it waited");
        // Gone (client left) rather than served: counted, not a ticket.
        assert_eq!(q.leave(third, false), 3);
        let fourth = q.join(4, be, false);
        assert_eq!(q.leave(fourth, true), 1);
        assert_eq!((q.live(), be.queued.get(), be.queued.peak()), (0, 0, 3));
    }

    #[test]
    fn entries_of_sessions_that_left_are_recognised() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        let mut q = BackendQueue::default();
        let place = q.join(7, &rt.backends[0], false);
        let (key, seq, _) = q.get(0).unwrap();
        assert!(key == 7 && place.is(seq));
        q.leave(place, true);
        // The same key waiting again is a new place: the old entry is stale.
        let again = q.join(7, &rt.backends[0], false);
        assert!(!again.is(seq));
        q.remove(0);
        assert!(again.is(q.get(0).unwrap().1));
    }

    #[test]
    fn sessions_waiting_for_one_server_are_counted_apart() {
        let rt = Runtime::first(parse_str("t.cfg", CONFIG).unwrap().config);
        let be = &rt.backends[0];
        let mut q = BackendQueue::default();
        let stuck = q.join(1, be, true);
        let any = q.join(2, be, false);
        assert_eq!((be.queued.get(), be.pinned.get()), (2, 1));
        assert_eq!(q.get(0).map(|e| e.2), Some(true));
        q.leave(stuck, true);
        assert_eq!((be.queued.get(), be.pinned.get()), (1, 0));
        q.leave(any, true);
    }
}
