//! Kernel pipes for splice(2), and the per-worker pool that lends them.
//!
//! Pipes are created lazily, lent to a direction while it holds bytes, and
//! given back only when empty. The process-wide count is capped by
//! `maxpipes` (an atomic shared by the workers); past the cap a direction
//! falls back to copying.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::base::slot::{Gauge, Slot};
use crate::sys;

/// A pipe and the number of bytes sitting in it.
#[derive(Debug)]
pub(crate) struct Pipe {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Bytes spliced in and not yet spliced out. May exceed the nominal pipe
    /// size (the kernel packs GRO super-packets), so it is never compared
    /// with the capacity.
    pub pending: usize,
    /// Its place under `maxpipes`, given back when the pipe is closed.
    _budget: Slot,
}

impl Pipe {
    pub(crate) fn read_end(&self) -> BorrowedFd<'_> {
        self.rd.as_fd()
    }

    pub(crate) fn write_end(&self) -> BorrowedFd<'_> {
        self.wr.as_fd()
    }
}

/// Pipes kept idle by one worker at most; the rest are closed on return.
pub(crate) const MAX_IDLE_PIPES_PER_WORKER: usize = 64;

/// One worker's pool of empty pipes.
#[derive(Debug)]
pub(crate) struct PipePool {
    idle: Vec<Pipe>,
    /// Pipes of the whole process, and `maxpipes`.
    budget: Arc<Gauge>,
    max: usize,
    /// `tune.pipesize`; 0 keeps the kernel's default.
    size: usize,
    /// Set once pipe creation failed for a reason other than the budget
    /// (EMFILE, no splice support): stop trying until a pipe comes back.
    starved: bool,
}

impl PipePool {
    pub(crate) fn new(budget: Arc<Gauge>, max: usize, size: usize) -> Self {
        PipePool {
            idle: Vec::new(),
            budget,
            max,
            size,
            starved: false,
        }
    }

    /// Lends an empty pipe, or `None` when the budget is spent or pipes
    /// cannot be made (the caller copies instead).
    pub(crate) fn get(&mut self) -> Option<Pipe> {
        if let Some(p) = self.idle.pop() {
            return Some(p);
        }
        if self.starved {
            return None;
        }
        let slot = self.budget.try_take(self.max)?;
        match self.create(slot) {
            Ok(p) => Some(p),
            Err(e) => {
                log::warn!("cannot create a pipe, copying instead: {e}");
                self.starved = true;
                None
            }
        }
    }

    fn create(&self, slot: Slot) -> io::Result<Pipe> {
        let (rd, wr) = sys::pipe()?;
        if self.size > 0 {
            // A refused size (past pipe-max-size) keeps the default: not fatal.
            if let Err(e) = sys::set_pipe_size(wr.as_fd(), self.size) {
                log::debug!("tune.pipesize {} refused: {e}", self.size);
            }
        }
        Ok(Pipe {
            rd,
            wr,
            pending: 0,
            _budget: slot,
        })
    }

    /// Takes a pipe back. Only empty pipes may be pooled; one that still holds
    /// bytes (session aborted) is closed, since its content is garbage now.
    pub(crate) fn put(&mut self, pipe: Pipe) {
        self.starved = false;
        if pipe.pending == 0 && self.idle.len() < MAX_IDLE_PIPES_PER_WORKER {
            self.idle.push(pipe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_caps_pipes_and_pool_reuses_them() {
        use std::os::fd::AsRawFd;
        let budget = Arc::new(Gauge::default());
        let mut pool = PipePool::new(budget.clone(), 2, 0);
        let a = pool.get().expect("first pipe");
        let b = pool.get().expect("second pipe");
        assert!(pool.get().is_none(), "a third pipe would pass maxpipes 2");
        let a_fd = a.read_end().as_raw_fd();
        pool.put(a);
        let again = pool.get().expect("the pooled pipe is lent again");
        assert_eq!(again.read_end().as_raw_fd(), a_fd);
        pool.put(again);
        pool.put(b);
        assert_eq!(budget.get(), 2, "idle pooled pipes still count");
        drop(pool);
        assert_eq!(budget.get(), 0);
    }

    #[test]
    fn a_pipe_returned_with_bytes_is_closed_not_pooled() {
        let budget = Arc::new(Gauge::default());
        let mut pool = PipePool::new(budget.clone(), 4, 0);
        let mut p = pool.get().unwrap();
        p.pending = 10;
        pool.put(p);
        assert_eq!(budget.get(), 0);
    }
}
