//! Going to the background (`-D`, or `daemon` in `global` without `-Ws` or
//! `-db`), as init scripts expect: the command returns once the daemon
//! listens — with status 0 — or once it failed to start — with 1 and its
//! error still on the terminal. The daemon is in a session of its own and,
//! once ready, writes nothing more to the terminal (`log` targets carry its
//! logs, as with HAProxy).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use parking_lot::Mutex;

use crate::sys::process::{self, Forked};

/// The write end of the pipe the waiting command reads; set in a daemon
/// until it is ready.
static READY: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Which side of the detach this is.
pub(crate) enum Detached {
    /// The command the operator ran: exit with this status.
    Foreground(u8),
    /// The daemon: go on starting, then call [`ready`].
    Daemon,
}

/// Forks the daemon. Call while the process has a single thread.
pub(crate) fn detach() -> io::Result<Detached> {
    let (read_end, write_end) = crate::sys::pipe()?;
    match process::fork()? {
        Forked::Child => {
            drop(read_end);
            process::new_session()?;
            *READY.lock() = Some(write_end);
            Ok(Detached::Daemon)
        }
        Forked::Parent(child) => {
            drop(write_end);
            Ok(Detached::Foreground(wait_ready(read_end, child)))
        }
    }
}

/// The command's side: one byte means ready; the pipe closing without it
/// means the daemon ended before it was ready.
fn wait_ready(read_end: OwnedFd, child: libc::pid_t) -> u8 {
    // The pipe is non-blocking (sys::pipe); poll it until a byte or EOF.
    let mut file = std::fs::File::from(read_end);
    let mut byte = [0u8; 1];
    loop {
        match file.read(&mut byte) {
            Ok(1) => return 0,
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Reap the failed daemon so it is not left a zombie of the command.
    for _ in 0..50 {
        if let Ok(Some(_)) = process::try_wait(child) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    1
}

/// Tells the waiting command the daemon is ready, and leaves the terminal:
/// standard input, output and error go to /dev/null. Does nothing in a
/// process that did not detach.
pub(crate) fn ready() {
    let Some(pipe) = READY.lock().take() else {
        return;
    };
    let _ = std::fs::File::from(pipe).write_all(b"R");
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        Ok(null) => {
            for fd in [0, 1, 2] {
                if let Err(e) = process::dup_onto(null.as_fd(), fd) {
                    log::warn!("cannot detach descriptor {fd} from the terminal: {e}");
                }
            }
            if null.as_raw_fd() <= 2 {
                // It took the place of a closed standard descriptor: keep it.
                std::mem::forget(null);
            }
        }
        Err(e) => log::warn!("cannot open /dev/null: {e}"),
    }
}
