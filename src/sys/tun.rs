//! A tun device held open by this process (`announce`): its link is a
//! signal to the routing daemon. The kernel removes a device it created
//! for us when the last descriptor closes, and turns the carrier off on a
//! persistent one: either way a process that dies takes its route with it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `TUNSETIFF`: `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `TUNSETCARRIER`: `_IOW('T', 226, int)` (Linux 5.0).
const TUNSETCARRIER: libc::c_ulong = 0x4004_54e2;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` with the flags member of its union (the only one used).
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl IfReqFlags {
    fn new(name: &str) -> io::Result<IfReqFlags> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{name}' is not an interface name"),
            ));
        }
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        };
        for (d, s) in req.name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        Ok(req)
    }
}

/// An open tun device.
#[derive(Debug)]
pub(crate) struct Tun {
    fd: OwnedFd,
    name: String,
}

impl Tun {
    /// Creates the tun device `name` (or attaches to a persistent one of
    /// that name), carrier off, and sets it administratively up. Creating
    /// needs CAP_NET_ADMIN; so does setting it up, unless it already is.
    pub(crate) fn open(name: &str) -> io::Result<Tun> {
        let path = c"/dev/net/tun";
        let raw = syscall!(open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC))?;
        // SAFETY: open succeeded: the descriptor is ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReqFlags::new(name)?;
        req.flags = IFF_TUN | IFF_NO_PI;
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which
        // `IfReqFlags` lays out (name, then the flags of the union, padded
        // to the union's size); it lives for the call.
        syscall!(ioctl(
            fd.as_raw_fd(),
            TUNSETIFF,
            &mut req as *mut IfReqFlags
        ))?;
        let tun = Tun {
            fd,
            name: name.to_string(),
        };
        tun.set_carrier(false)?;
        set_up(name)?;
        Ok(tun)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Turns the link's carrier on or off. Needs only this descriptor: it
    /// works after the process gave up root.
    pub(crate) fn set_carrier(&self, on: bool) -> io::Result<()> {
        let v: libc::c_int = on.into();
        // SAFETY: TUNSETCARRIER reads one int through the pointer, which
        // points at `v` for the call.
        syscall!(ioctl(
            self.fd.as_raw_fd(),
            TUNSETCARRIER,
            &v as *const libc::c_int
        ))?;
        Ok(())
    }
}

/// Sets the interface `name` administratively up (SIOCSIFFLAGS), unless
/// it already is.
fn set_up(name: &str) -> io::Result<()> {
    let raw = syscall!(socket(
        libc::AF_INET,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: socket succeeded: the descriptor is ours alone.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfReqFlags::new(name)?;
    // SAFETY: SIOCGIFFLAGS fills the flags of the `struct ifreq` laid out
    // by `IfReqFlags`, which lives for the call.
    syscall!(ioctl(
        sock.as_raw_fd(),
        libc::SIOCGIFFLAGS,
        &mut req as *mut IfReqFlags
    ))?;
    let up = libc::IFF_UP as libc::c_short;
    if req.flags & up != 0 {
        return Ok(());
    }
    req.flags |= up;
    // SAFETY: as above; SIOCSIFFLAGS reads the same structure.
    syscall!(ioctl(
        sock.as_raw_fd(),
        libc::SIOCSIFFLAGS,
        &mut req as *mut IfReqFlags
    ))?;
    Ok(())
}
