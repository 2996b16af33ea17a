//! The few raw libc calls splicer needs, each behind a small safe function
//! with a `SAFETY:` note. Everything else uses std, mio or socket2.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Runs a libc call and turns `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        // SAFETY: each caller passes valid descriptors and buffers it owns for
        // the duration of the call; see the comment at the call site.
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub(crate) mod fdpass;
pub(crate) mod process;

/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets a pipe's capacity (`tune.pipesize`); returns the size the kernel chose.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ takes an int argument and a pipe descriptor we own.
    syscall!(fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size)).map(|n| n as usize)
}

/// Moves up to `len` bytes between `from` and `to` (one of them a pipe)
/// without copying them through user space. Both ends must be non-blocking.
pub(crate) fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;
    // SAFETY: null offsets are valid for sockets and pipes; the descriptors
    // are borrowed from live objects owned by the caller.
    syscall!(splice(
        from.as_raw_fd(),
        std::ptr::null_mut(),
        to.as_raw_fd(),
        std::ptr::null_mut(),
        len,
        flags
    ))
    .map(|n| n as usize)
}

/// The signals splicer handles synchronously in its main thread.
pub(crate) const HANDLED_SIGNALS: [libc::c_int; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGUSR2,
    libc::SIGTTOU,
    libc::SIGTTIN,
];

fn handled_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HANDLED_SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Blocks the handled signals in the calling thread and the threads it
/// spawns afterwards, so they are only ever taken by [`wait_signal`].
pub(crate) fn block_signals() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits up to `timeout` for one of the blocked signals; `None` on timeout.
pub(crate) fn wait_signal(timeout: std::time::Duration) -> Option<libc::c_int> {
    let set = handled_set();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub(crate) fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit.
        syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    }
    Ok(lim.rlim_cur)
}

/// The open files limit now (`Ulimit-n` in `show info`).
pub(crate) fn nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    Ok(lim.rlim_cur)
}

/// Sets IP_BIND_ADDRESS_NO_PORT: a later bind to a source address leaves
/// the port unchosen until connect (so ports are shared across destinations).
pub(crate) fn set_bind_address_no_port(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)
}

/// TCP_DEFER_ACCEPT: a listener hands out a connection once data came, or
/// after about `secs` seconds of retransmitted SYN-ACKs; 0 turns it off.
pub(crate) fn set_defer_accept(fd: BorrowedFd<'_>, secs: i32) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, secs)
}

/// TCP_FASTOPEN on a listener: accept data in SYNs, with a queue of
/// `qlen` pending Fast Open requests.
pub(crate) fn set_fastopen(fd: BorrowedFd<'_>, qlen: i32) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, qlen)
}

/// TCP_FASTOPEN_CONNECT on a client socket: the first write goes in the
/// SYN when the kernel holds a Fast Open cookie for the server.
pub(crate) fn set_fastopen_connect(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT, 1)
}

/// One int-valued setsockopt.
fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and its size is passed with it; the
    // descriptor is borrowed from a live socket.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&value as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))
    .map(drop)
}

/// The host's broken-down local time of a Unix time (its TZ rules), or
/// `None` when the C library cannot say.
pub(crate) fn localtime(secs: i64) -> Option<libc::tm> {
    let t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the
    // thread-safe variant and keeps no pointer to them.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

/// An AF_PACKET address: interface `ifindex`, link-layer protocol
/// `protocol` (host order) and destination `mac`, for a datagram packet
/// socket's `send_to`.
pub(crate) fn link_addr(ifindex: u32, protocol: u16, mac: [u8; 6]) -> socket2::SockAddr {
    // SAFETY: sockaddr_ll is plain integers and arrays; all zeroes is valid.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&mac);
    let mut storage = socket2::SockAddrStorage::zeroed();
    let len = std::mem::size_of::<libc::sockaddr_ll>();
    // SAFETY: sockaddr_storage is larger than sockaddr_ll and suitably
    // aligned for it; the copy writes exactly one sockaddr_ll into it.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&ll as *const libc::sockaddr_ll).cast::<u8>(),
            (&mut storage as *mut socket2::SockAddrStorage).cast::<u8>(),
            len,
        );
    }
    // SAFETY: `storage` holds an initialised AF_PACKET address of `len` bytes.
    unsafe { socket2::SockAddr::new(storage, len as libc::socklen_t) }
}
