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

/// Reads a whole text file (a config file).
pub(crate) fn read_file(path: &Path) -> io::Result<String> {
    match PARENT.get() {
        Some(p) => p.read_file(path),
        None => std::fs::read_to_string(path),
    }
}

/// The addresses of a host name (the C library's resolver: /etc/hosts,
/// DNS, NSS), in its order.
pub(crate) fn resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    match PARENT.get() {
        Some(p) => p.resolve(host),
        None => direct_resolve(host),
    }
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
