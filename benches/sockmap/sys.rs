//! Every `unsafe` call of the probe: the bpf(2) syscall, TCP_INFO, the queue
//! ioctls, splice/pipe, poll and per-thread rusage. Each wrapper hands the
//! kernel only memory it borrows for the duration of the call.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A `bpf_attr` layout for one command: a `#[repr(C)]` prefix of the kernel's
/// union, whose pointer fields (as u64) point at memory the caller keeps
/// alive across the call. Only this crate's types implement it.
pub trait BpfAttr: private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! bpf_attrs {
    ($($t:ty),*) => { $(impl private::Sealed for $t {} impl BpfAttr for $t {})* };
}
bpf_attrs!(
    crate::bpf::MapCreate,
    crate::bpf::MapElem,
    crate::bpf::ProgLoad,
    crate::bpf::ProgAttach
);

fn check(res: libc::c_long) -> io::Result<libc::c_long> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// bpf(cmd, attr, sizeof attr). The kernel zero-fills the rest of its union.
pub fn bpf<A: BpfAttr>(cmd: u32, attr: &mut A) -> io::Result<i32> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` (sealed trait);
    // its u64 pointers come from borrows the caller holds during this call.
    let res = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut A, size_of::<A>()) };
    check(res).map(|fd| fd as i32)
}

/// Takes ownership of a descriptor the kernel just returned.
pub fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was returned by a successful bpf()/pipe2() and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub fn tcp_info(fd: &impl AsRawFd) -> io::Result<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `info`, which we own.
    let res = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    check(res.into()).map(|_| info)
}

fn ioctl_int(fd: RawFd, req: libc::Ioctl) -> io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCINQ/SIOCOUTQ write one int into `n`.
    let res = unsafe { libc::ioctl(fd, req, &mut n as *mut libc::c_int) };
    check(res.into()).map(|_| n as u64)
}

/// Bytes in the socket's write queue not yet acked (SIOCOUTQ).
pub fn outq(fd: &impl AsRawFd) -> io::Result<u64> {
    ioctl_int(fd.as_raw_fd(), libc::TIOCOUTQ)
}

/// Bytes in the socket's receive queue not yet read (SIOCINQ).
pub fn inq(fd: &impl AsRawFd) -> io::Result<u64> {
    ioctl_int(fd.as_raw_fd(), libc::FIONREAD)
}

pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// splice(2) without offsets: one side must be a pipe.
pub fn splice(from: BorrowedFd, to: BorrowedFd, len: usize) -> io::Result<usize> {
    // SAFETY: no offsets are passed; both descriptors are borrowed and open.
    let res = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE,
        )
    };
    check(res as libc::c_long).map(|n| n as usize)
}

/// poll(2) on one descriptor; returns the revents (0 on timeout).
pub fn poll(fd: &impl AsRawFd, events: i16, timeout: Duration) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one pollfd we own.
    let res = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    check(res.into()).map(|_| p.revents)
}

/// poll(2) on several descriptors at once, revents written back in place.
pub fn poll_many(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    // SAFETY: the slice is ours for the call; nfds matches its length.
    let res = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout.as_millis() as libc::c_int,
        )
    };
    check(res.into()).map(|n| n as usize)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { zeroed() };
    // SAFETY: getrusage writes one rusage into `ru`, which we own.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU (user + system) charged to the calling thread so far.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU charged to this whole process so far (all its threads, not the
/// kernel's kworkers or ksoftirqd).
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}
