//! What the process asks of the host outside its own sockets: the config
//! files, names (hosts, users, groups), listening sockets, and the service
//! manager (systemd's `NOTIFY_SOCKET`).
//!
//! A process that runs as itself does each directly. One that gives up
//! root (`user`, `group`, `uid`, `gid`, `chroot` in `global`) is split in
//! two at start ([`privsep`]): the privileged parent stays root, outside
//! the jail, and does these few things on request; the serving process
//! drops to the configured identity ([`identity`]) and, from then on,
//! every call below goes to the parent. So a reload still reads the files
//! outside the jail, resolves names with the host's resolver and binds
//! ports below 1024, while the process that talks to clients can do none
//! of that itself.

pub(crate) mod daemon;
pub(crate) mod identity;
mod notify;
pub(crate) mod privsep;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use socket2::{Domain, Protocol, Socket, Type};

/// `sun_path` less the NUL that starts an abstract name: HAProxy binds
/// `abns@` names padded with NULs to this length, so clients must too.
pub(crate) const ABNS_LEN: usize = 107;

/// The jailed process's line to its parent; unset in a process that does
/// everything itself.
static PARENT: OnceLock<privsep::Client> = OnceLock::new();

/// From now on, [`read_file`], [`resolve`], [`user`], [`group`],
/// [`listen_socket`] and [`notify`] go to the privileged parent.
pub(crate) fn use_parent(client: privsep::Client) {
    if PARENT.set(client).is_err() {
        log::error!("the privileged parent was already set");
    }
}

/// A fuzzed config reaches no file and no name server (`/dev/zero` as an
/// ACL file, a name to look up): the fuzz targets test the parsers, and
/// must neither block nor wait.
fn fuzzing_refuses() -> io::Result<()> {
    if cfg!(feature = "fuzzing") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no files or names while fuzzing",
        ));
    }
    Ok(())
}

/// Reads a whole text file (a config file).
pub(crate) fn read_file(path: &Path) -> io::Result<String> {
    fuzzing_refuses()?;
    match PARENT.get() {
        Some(p) => p.read_file(path),
        None => std::fs::read_to_string(path),
    }
}

/// The addresses of a host name (the C library's resolver: /etc/hosts,
/// DNS, NSS), in its order.
pub(crate) fn resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    fuzzing_refuses()?;
    match PARENT.get() {
        Some(p) => p.resolve(host),
        None => direct_resolve(host),
    }
}

/// This host's name (HAProxy's default local peer name): a system call,
/// answered in a jail too, so no question to the privileged parent.
pub(crate) fn hostname() -> Option<String> {
    crate::sys::hostname()
}

/// A user's `(uid, primary gid)`, or `None` when there is no such user.
pub(crate) fn user(name: &str) -> io::Result<Option<(u32, u32)>> {
    match PARENT.get() {
        Some(p) => p.user(name),
        None => crate::sys::process::user_by_name(name),
    }
}

/// A group's gid, or `None` when there is no such group.
pub(crate) fn group(name: &str) -> io::Result<Option<u32>> {
    match PARENT.get() {
        Some(p) => p.group(name),
        None => crate::sys::process::group_by_name(name),
    }
}

/// What a listening socket needs before `bind(2)`; what comes after
/// (listen, non-blocking, other options) the caller does on the socket it
/// gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketSpec {
    pub addr: SocketAddr,
    /// IPV6_V6ONLY on (`v6only`).
    pub v6only: bool,
    /// IPV6_V6ONLY off (`v4v6`); neither: the system's default.
    pub v4v6: bool,
    /// SO_BINDTODEVICE (`interface`): only packets of this interface.
    pub interface: Option<String>,
    /// IP_TRANSPARENT / IPV6_TRANSPARENT (`transparent`): bind an address
    /// the host does not have.
    pub transparent: bool,
    /// SO_REUSEPORT (off with `noreuseport`).
    pub reuseport: bool,
}

/// A TCP socket bound to `spec.addr` with SO_REUSEADDR and SO_REUSEPORT,
/// not yet listening, close-on-exec.
pub(crate) fn listen_socket(spec: &SocketSpec) -> io::Result<Socket> {
    match PARENT.get() {
        Some(p) => p.listen_socket(spec),
        None => direct_listen_socket(spec),
    }
}

/// Where a UNIX listening socket lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnixAddr {
    /// A socket file (`unix@PATH`, a path).
    Path(std::path::PathBuf),
    /// A name in Linux's abstract namespace (`abns@NAME`).
    Abstract(String),
}

/// The permissions and owner of a socket file (`mode`, `uid`, `gid`);
/// `None`: left as created. The config's `UnixPerms` is this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UnixPerms {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A UNIX listening socket: a file (with its mode and owner) or an
/// abstract name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnixSpec {
    pub addr: UnixAddr,
    pub perms: UnixPerms,
}

/// A UNIX stream socket bound (and listening, with the system's backlog)
/// as `spec` asks, close-on-exec. A file is made as HAProxy 2.6 makes it:
/// bound at `PATH.PID.tmp`, given its owner and mode there, then renamed
/// over whatever `PATH` held (a stale socket of an earlier run, or the
/// live one of the process being replaced: clients never find no file).
pub(crate) fn unix_listen_socket(spec: &UnixSpec) -> io::Result<Socket> {
    match PARENT.get() {
        Some(p) => p.unix_listen_socket(spec),
        None => direct_unix_socket(spec),
    }
}

/// Tells systemd `state` (`READY=1`, `RELOADING=1`, `STOPPING=1`), when it
/// started this process with `Type=notify`. A jailed process asks its
/// parent: the parent is the main process systemd knows.
pub(crate) fn notify(state: &str) {
    match PARENT.get() {
        Some(p) => p.notify(state),
        None => notify::send(state),
    }
}

/// Runs a VRRP notify script with `args`, stdin from /dev/null: here
/// (returns the child, for the caller to reap) or, in a jailed process,
/// in the privileged parent, outside the jail and as root, as keepalived
/// runs them (returns `None`; the parent reaps it). The parent runs only
/// the scripts of the config it started with.
pub(crate) fn spawn_script(script: &Path, args: &[String]) -> io::Result<Option<Child>> {
    match PARENT.get() {
        Some(p) => p.run_script(script, args).map(|()| None),
        None => Command::new(script)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .map(Some),
    }
}

/// The pid systemd and the pidfile know: the parent's in a split process.
pub(crate) fn main_pid() -> u32 {
    match PARENT.get() {
        Some(p) => p.parent_pid(),
        None => std::process::id(),
    }
}

fn direct_resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

fn direct_listen_socket(spec: &SocketSpec) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(spec.addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(spec.reuseport)?;
    if spec.addr.is_ipv6() {
        if spec.v6only {
            sock.set_only_v6(true)?;
        } else if spec.v4v6 {
            sock.set_only_v6(false)?;
        }
    }
    if let Some(name) = &spec.interface {
        sock.bind_device(Some(name.as_bytes()))?;
    }
    if spec.transparent {
        if spec.addr.is_ipv6() {
            sock.set_ip_transparent_v6(true)?;
        } else {
            sock.set_ip_transparent_v4(true)?;
        }
    }
    sock.bind(&spec.addr.into())?;
    Ok(sock)
}

fn direct_unix_socket(spec: &UnixSpec) -> io::Result<Socket> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{SocketAddr as UnixSockAddr, UnixListener};
    match &spec.addr {
        UnixAddr::Abstract(name) => {
            let mut padded = name.as_bytes().to_vec();
            padded.resize(ABNS_LEN, 0);
            let l = UnixListener::bind_addr(&UnixSockAddr::from_abstract_name(&padded)?)?;
            Ok(Socket::from(std::os::fd::OwnedFd::from(l)))
        }
        UnixAddr::Path(path) => {
            let tmp = format!("{}.{}.tmp", path.display(), std::process::id());
            let _ = std::fs::remove_file(&tmp);
            let l = UnixListener::bind(&tmp)?;
            let p = spec.perms;
            let placed = (|| {
                if p.uid.is_some() || p.gid.is_some() {
                    std::os::unix::fs::chown(&tmp, p.uid, p.gid)?;
                }
                if let Some(mode) = p.mode {
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
                }
                std::fs::rename(&tmp, path)
            })();
            if let Err(e) = placed {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(Socket::from(std::os::fd::OwnedFd::from(l)))
        }
    }
}
