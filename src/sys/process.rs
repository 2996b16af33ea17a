//! Process identity: fork, users and groups, chroot, capabilities, signals
//! to other processes. Used by `host` to split the process into a
//! privileged parent and a jailed, unprivileged serving process.

use std::ffi::CString;
use std::io;

/// Which side of a [`fork`] this is.
pub(crate) enum Forked {
    /// The original process; the child's pid.
    Parent(libc::pid_t),
    Child,
}

/// fork(2). Only call while the process has a single thread: the child
/// gets a copy of the calling thread alone.
pub(crate) fn fork() -> io::Result<Forked> {
    let pid = syscall!(fork())?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// The real user id.
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// The real group id.
pub(crate) fn gid() -> u32 {
    // SAFETY: getgid cannot fail and touches no memory.
    unsafe { libc::getgid() }
}

/// The effective user id (0: may change identity and bind any port).
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Size of the buffer getpwnam_r/getgrnam_r fill (grown on ERANGE).
const NSS_BUFFER: usize = 4096;

/// A user's `(uid, primary gid)` from the name service (passwd, NSS);
/// `None` when there is no such user.
pub(crate) fn user_by_name(name: &str) -> io::Result<Option<(u32, u32)>> {
    let cname = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0 as libc::c_char; NSS_BUFFER];
    loop {
        // SAFETY: passwd is plain data; getpwnam_r overwrites it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is to a live local, `buf.len()` is the
        // buffer's real size, and nothing keeps the pointers after the call.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pw,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some((pw.pw_uid, pw.pw_gid))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // "Not found" comes back as one of these from some NSS modules.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// A group's gid from the name service; `None` when there is no such group.
pub(crate) fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let cname = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0 as libc::c_char; NSS_BUFFER];
    loop {
        // SAFETY: group is plain data; getgrnam_r overwrites it.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_by_name`.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut gr,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(gr.gr_gid)),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Replaces the supplementary groups with `groups` (needs root).
pub(crate) fn set_groups(groups: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer and length describe the live slice.
    syscall!(setgroups(groups.len(), groups.as_ptr())).map(drop)
}

/// setgid(2): real, effective and saved group id.
pub(crate) fn set_gid(gid: u32) -> io::Result<()> {
    syscall!(setgid(gid)).map(drop)
}

/// setuid(2): real, effective and saved user id. From root, this drops
/// every capability unless [`keep_caps`] was set first.
pub(crate) fn set_uid(uid: u32) -> io::Result<()> {
    syscall!(setuid(uid)).map(drop)
}

/// PR_SET_KEEPCAPS: keep the permitted capabilities across a setuid away
/// from root (the effective set is still cleared; see [`set_caps`]).
pub(crate) fn keep_caps(on: bool) -> io::Result<()> {
    let arg = libc::c_ulong::from(on);
    syscall!(prctl(
        libc::PR_SET_KEEPCAPS,
        arg,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong
    ))
    .map(drop)
}

/// PR_SET_NO_NEW_PRIVS: nothing this process runs can gain privileges
/// (set-user-id programs, file capabilities).
pub(crate) fn no_new_privs() -> io::Result<()> {
    syscall!(prctl(
        libc::PR_SET_NO_NEW_PRIVS,
        1 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong
    ))
    .map(drop)
}

/// The kernel's capability ABI version 3 (64-bit sets in two halves).
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets this thread's effective and permitted capabilities to `caps` (a
/// bit per capability number, e.g. `1 << CAP_NET_RAW`) and clears the
/// inheritable set. Call before other threads start: they inherit it.
pub(crate) fn set_caps(caps: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let low = caps as u32;
    let high = (caps >> 32) as u32;
    let data = [
        CapData {
            effective: low,
            permitted: low,
            inheritable: 0,
        },
        CapData {
            effective: high,
            permitted: high,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads one header and two data structs (version 3),
    // both live locals with the kernel's layout.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// kill(2): sends `sig` to process `pid`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    syscall!(kill(pid, sig)).map(drop)
}

/// How a child ended, when it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// Reaps `pid` if it has ended; never blocks.
pub(crate) fn try_wait(pid: libc::pid_t) -> io::Result<Option<Exit>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a live int for waitpid to fill.
    let rc = syscall!(waitpid(pid, &mut status, libc::WNOHANG))?;
    if rc == 0 {
        return Ok(None);
    }
    Ok(Some(if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }))
}

/// The parent's pid.
pub(crate) fn parent_pid() -> libc::pid_t {
    // SAFETY: getppid cannot fail and touches no memory.
    unsafe { libc::getppid() }
}

/// setsid(2): a new session without a controlling terminal (`-D`).
pub(crate) fn new_session() -> io::Result<()> {
    syscall!(setsid()).map(drop)
}

/// PR_SET_PDEATHSIG: `sig` is sent to this process when its parent dies.
pub(crate) fn die_with_parent(sig: libc::c_int) -> io::Result<()> {
    syscall!(prctl(
        libc::PR_SET_PDEATHSIG,
        sig as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong
    ))
    .map(drop)
}

/// dup2(2): makes `to` a copy of `from` (stdio redirection for `-D`).
pub(crate) fn dup_onto(from: std::os::fd::BorrowedFd<'_>, to: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    syscall!(dup2(from.as_raw_fd(), to)).map(drop)
}
