//! The runtime API's changes to the servers of the running config (`add
//! server`, `del server`, `set server check-addr` ...): the admin thread
//! asks, the main thread applies them as it applies a reload (the config
//! parsed again with the change, a new runtime for every worker at once,
//! state carried by name), and answers.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{AddedServer, Setting};

/// One change.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Add(AddedServer),
    Delete { backend: String, server: String },
    Set(Setting),
}

/// A change and where its answer goes: `Ok`, or the config's errors.
pub(crate) struct Request {
    pub edit: Edit,
    pub reply: Sender<Result<(), Vec<String>>>,
}

/// How long the admin thread waits for the main thread's answer (a
/// change takes a few milliseconds; a stopping process takes none).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The admin thread's end: sends a change and waits for its answer.
#[derive(Debug, Default)]
pub(crate) struct Edits {
    tx: parking_lot::Mutex<Option<Sender<Request>>>,
}

impl Edits {
    /// The main thread's end; changes asked before are refused.
    pub(crate) fn open(&self) -> Receiver<Request> {
        let (tx, rx) = crossbeam_channel::unbounded();
        *self.tx.lock() = Some(tx);
        rx
    }

    /// Applies `edit` through the main thread, which a SIGURG wakes.
    pub(crate) fn apply(&self, edit: Edit) -> Result<(), Vec<String>> {
        let Some(tx) = self.tx.lock().clone() else {
            return Err(vec![
                "runtime changes are not available in this process".into(),
            ]);
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        if tx.send(Request { edit, reply }).is_err() {
            return Err(vec!["the process is stopping".into()]);
        }
        // The main thread also looks at the queue on its own every tick.
        let _ = crate::sys::process::kill(std::process::id() as libc::pid_t, libc::SIGURG);
        answer
            .recv_timeout(ANSWER_WITHIN)
            .unwrap_or_else(|_| Err(vec!["the change was not applied in time".into()]))
    }
}
