//! A background thread and the way to stop it: the health checker, the
//! runtime API, the VRRP speaker and the logger each run as one. A thread
//! with an event loop watches its [`StopFlag`] and is woken by the
//! waker; the logger has none and ends when its last sender is gone.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mio::Waker;

/// The flag a service's thread watches.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A running service thread.
#[derive(Debug)]
pub(crate) struct Service {
    name: &'static str,
    thread: JoinHandle<()>,
    stop: StopFlag,
    waker: Option<Arc<Waker>>,
}

impl Service {
    /// Starts `run` on a thread named `name`; `run` gets the flag to watch.
    /// `waker` wakes its event loop when the flag is set.
    pub(crate) fn spawn(
        name: &'static str,
        waker: Option<Arc<Waker>>,
        run: impl FnOnce(StopFlag) + Send + 'static,
    ) -> io::Result<Service> {
        let stop = StopFlag::default();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(flag))?;
        Ok(Service {
            name,
            thread,
            stop,
            waker,
        })
    }

    /// Asks the thread to stop, without waiting for it.
    pub(crate) fn shutdown(&self) {
        self.stop.0.store(true, Ordering::Release);
        if let Some(w) = &self.waker {
            let _ = w.wake();
        }
    }

    /// Asks the thread to stop and waits for it.
    pub(crate) fn stop(self) {
        self.shutdown();
        self.join();
    }

    /// Waits for the thread to end on its own.
    pub(crate) fn join(self) {
        if self.thread.join().is_err() {
            log::error!("{} thread panicked", self.name);
        }
    }
}
