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
pub(crate) mod tun;

/// A non-blocking, close-on-exec pipe: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Watches `fd` in the epoll instance `epfd` for readability,
/// level-triggered, reporting `token` (what mio's `Token` carries). mio
/// registers everything edge-triggered; a listener is better level-triggered:
/// the worker can stop after one accept with no call to see the queue
/// empty, and whatever stays queued is reported again at the next wait.
pub(crate) fn epoll_watch_level(
    epfd: std::os::fd::RawFd,
    fd: BorrowedFd<'_>,
    token: usize,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token as u64,
    };
    // SAFETY: `epfd` is the caller's live epoll instance, `fd` is
    // borrowed; `ev` is a valid event the kernel copies.
    syscall!(epoll_ctl(
        epfd,
        libc::EPOLL_CTL_ADD,
        fd.as_raw_fd(),
        &mut ev
    ))
    .map(drop)
}

/// Stops watching `fd` in the epoll instance `epfd`.
pub(crate) fn epoll_unwatch(epfd: std::os::fd::RawFd, fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `epfd` is the caller's live epoll instance, `fd` is borrowed;
    // EPOLL_CTL_DEL ignores the event.
    syscall!(epoll_ctl(
        epfd,
        libc::EPOLL_CTL_DEL,
        fd.as_raw_fd(),
        std::ptr::null_mut()
    ))
    .map(drop)
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
pub(crate) const HANDLED_SIGNALS: [libc::c_int; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGUSR2,
    libc::SIGTTOU,
    libc::SIGTTIN,
    // Sent by the process to itself: a runtime API change is waiting.
    libc::SIGURG,
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
    let mut lim = nofile()?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit.
        syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    }
    Ok(lim.rlim_cur)
}

/// Raises the open files limit to at least `n` (`ulimit-n`): the soft
/// limit to `n` and the hard one with it if needed (root only); a limit
/// already higher is kept, as HAProxy 2.6 never shrinks it.
pub(crate) fn raise_nofile_limit_to(n: u64) -> io::Result<()> {
    let mut lim = nofile()?;
    let n = n as libc::rlim_t;
    if lim.rlim_cur >= n {
        return Ok(());
    }
    lim.rlim_cur = n;
    lim.rlim_max = lim.rlim_max.max(n);
    // SAFETY: `lim` is a valid rlimit.
    syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim)).map(drop)
}

/// The open files limit the process can have: the larger of the soft and
/// hard limits (HAProxy sizes an unset maxconn from it).
pub(crate) fn nofile_ceiling() -> io::Result<u64> {
    nofile().map(|lim| lim.rlim_cur.max(lim.rlim_max))
}

/// The open files limit now (`Ulimit-n` in `show info`).
pub(crate) fn nofile_limit() -> io::Result<u64> {
    nofile().map(|lim| lim.rlim_cur)
}

/// RLIMIT_NOFILE: the soft and hard open files limits.
fn nofile() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    Ok(lim)
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

/// TCP_REPAIR on: closing the socket then sends nothing to the peer
/// (needs CAP_NET_ADMIN).
pub(crate) fn set_tcp_repair(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_REPAIR, 1)
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

/// Sets a variable of the process environment (`setenv` in `global`).
/// Only from the main thread before any other thread starts: the C
/// library's environment is not thread-safe.
pub(crate) fn set_env(name: &str, value: &str) {
    // SAFETY: the caller runs single-threaded (see above), so no other
    // thread reads the environment meanwhile.
    unsafe { std::env::set_var(name, value) }
}

/// Removes a variable of the process environment; as [`set_env`].
pub(crate) fn remove_env(name: &str) {
    // SAFETY: as in `set_env`.
    unsafe { std::env::remove_var(name) }
}

/// Binds the calling thread to `cpus` (sched_setaffinity; `cpu-map`).
pub(crate) fn pin_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET only writes bit `c` of the live set; `c` is below
        // 64 (the config's bound), within the set's 1024 bits.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: the set is live and its size is passed with it; pid 0 is the
    // calling thread.
    syscall!(sched_setaffinity(
        0,
        std::mem::size_of::<libc::cpu_set_t>(),
        &set
    ))
    .map(drop)
}

/// The host name (uname's nodename): a system call, so it also works in
/// a chroot, where /proc may be missing.
pub(crate) fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is live and its length is passed with it;
    // gethostname writes at most that many bytes.
    syscall!(gethostname(buf.as_mut_ptr().cast(), buf.len())).ok()?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
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
