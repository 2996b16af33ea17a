//! Privilege separation: the process splits in two before it binds
//! anything. The parent stays root, outside the jail, and is the process
//! the operator and systemd know (pidfile, `MAINPID`): it forwards the
//! signals it gets to the child, answers the child's requests, and exits
//! with the child's status. The child is the serving process: it binds
//! its first sockets, drops to the configured user in the jail
//! (`identity`), and runs everything else.
//!
//! They talk over a SOCK_SEQPACKET socketpair, one request and one answer
//! at a time. A request is an op byte and its argument; an answer is
//! `0` + payload (and, for a file or a socket, the descriptor attached with
//! SCM_RIGHTS), or `1` + the errno (4 bytes, little endian) + a message.
//! The parent opens only the config files it was started with, so a
//! compromised child cannot read others through it.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use socket2::{Domain, Socket, Type};

use super::{SocketSpec, UnixAddr, UnixPerms, UnixSpec};
use crate::sys::fdpass;
use crate::sys::process::{self, Exit, Forked};

/// The largest request or answer (a host's addresses, a path).
const MAX_MESSAGE: usize = 16 * 1024;

const OP_READ: u8 = b'F';
const OP_RESOLVE: u8 = b'R';
const OP_USER: u8 = b'U';
const OP_GROUP: u8 = b'G';
const OP_BIND: u8 = b'B';
const OP_BIND_UNIX: u8 = b'X';
const OP_NOTIFY: u8 = b'N';
const OP_SCRIPT: u8 = b'S';

const ANSWER_OK: u8 = 0;
const ANSWER_ERR: u8 = 1;

/// How often the parent looks at its child while waiting for signals.
const PARENT_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Which half of the split this is.
pub(crate) enum Role {
    /// The privileged parent, after its child ended: how it ended.
    Parent(Exit),
    /// The serving process: go on starting (calls to `host` now go to the
    /// parent).
    Child,
}

/// Splits the process: returns in the child at once (with the parent's
/// line installed in `host`), and in the parent only once the child has
/// ended. Call while the process has one thread, with the handled signals
/// blocked (`sys::block_signals`): the parent takes them from its own
/// queue and passes them on.
pub(crate) fn split(
    files: &[PathBuf],
    scripts: &[PathBuf],
    sockets: &[PathBuf],
) -> io::Result<Role> {
    let (parent_end, child_end) = Socket::pair(Domain::UNIX, Type::SEQPACKET.cloexec(), None)?;
    let parent_pid = std::process::id();
    match process::fork()? {
        Forked::Child => {
            drop(parent_end);
            // An orphaned serving process stops rather than run unsupervised.
            process::die_with_parent(libc::SIGTERM)?;
            if process::parent_pid() as u32 != parent_pid {
                return Err(io::Error::other("the privileged parent is gone"));
            }
            super::use_parent(Client {
                sock: Mutex::new(child_end.into()),
                parent: parent_pid,
            });
            Ok(Role::Child)
        }
        Forked::Parent(child) => {
            drop(child_end);
            log::info!("privileged parent {parent_pid}: serving process is {child}");
            let allowed = Allowed {
                files: files.to_vec(),
                scripts: scripts.to_vec(),
                sockets: sockets.to_vec(),
            };
            let sock: OwnedFd = parent_end.into();
            std::thread::Builder::new()
                .name("privileged".into())
                .spawn(move || serve(&sock, &allowed))?;
            Ok(Role::Parent(supervise(child)))
        }
    }
}

/// Whether this is the serving half of a split process.
pub(crate) fn is_child() -> bool {
    super::PARENT.get().is_some()
}

/// Arms again, in the serving half, the signal that stops it when the
/// privileged parent dies: the kernel forgets it when the process's
/// credentials change (prctl(2), PR_SET_PDEATHSIG). An error when the
/// parent is already gone.
pub(crate) fn rearm_parent_death() -> io::Result<()> {
    let Some(client) = super::PARENT.get() else {
        return Ok(());
    };
    process::die_with_parent(libc::SIGTERM)?;
    if process::parent_pid() as u32 != client.parent {
        return Err(io::Error::other("the privileged parent is gone"));
    }
    Ok(())
}

/// The parent's main thread: passes signals on until the child ends.
fn supervise(child: libc::pid_t) -> Exit {
    loop {
        if let Some(sig) = crate::sys::wait_signal(PARENT_TICK)
            && let Err(e) = process::kill(child, sig)
        {
            log::warn!("cannot pass signal {sig} to the serving process {child}: {e}");
        }
        match process::try_wait(child) {
            Ok(Some(exit)) => return exit,
            Ok(None) => {}
            Err(e) => {
                log::error!("cannot wait for the serving process {child}: {e}");
                return Exit::Code(1);
            }
        }
    }
}

/// What the parent opens or runs for its child: the config files and the
/// VRRP notify scripts of the config it started with.
struct Allowed {
    files: Vec<PathBuf>,
    scripts: Vec<PathBuf>,
    /// The UNIX socket files of `bind` lines (the parent replaces files
    /// as root: only these).
    sockets: Vec<PathBuf>,
}

/// Notify scripts the parent lets run at once (keepalived-like bound).
const MAX_SCRIPTS: usize = 16;
static SCRIPTS_RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The parent's request loop, until the child closes its end.
fn serve(sock: &OwnedFd, allowed: &Allowed) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = match fdpass::recv(sock.as_fd(), &mut buf) {
            Ok((0, _)) => return,
            Ok((n, _)) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!("privileged parent: cannot read a request: {e}");
                return;
            }
        };
        let (payload, fd) = match answer(&buf[..n], allowed) {
            Ok((payload, fd)) => {
                let mut out = vec![ANSWER_OK];
                out.extend_from_slice(&payload);
                (out, fd)
            }
            Err(e) => {
                let mut out = vec![ANSWER_ERR];
                out.extend_from_slice(&e.raw_os_error().unwrap_or(0).to_le_bytes());
                out.extend_from_slice(e.to_string().as_bytes());
                out.truncate(MAX_MESSAGE);
                (out, None)
            }
        };
        if let Err(e) = fdpass::send(sock.as_fd(), &payload, fd.as_ref().map(|f| f.as_fd())) {
            log::error!("privileged parent: cannot answer: {e}");
            return;
        }
    }
}

fn text(bytes: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Carries out one request (in the parent, as root, outside the jail).
fn answer(req: &[u8], allowed: &Allowed) -> io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let (&op, arg) = req
        .split_first()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    let arg = text(arg)?;
    match op {
        OP_READ => {
            let path = Path::new(arg);
            if !allowed.files.iter().any(|p| p == path) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "not a configuration file of this process",
                ));
            }
            let file = std::fs::File::open(path)?;
            Ok((Vec::new(), Some(file.into())))
        }
        OP_RESOLVE => {
            let addrs = super::direct_resolve(arg)?;
            let lines: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            Ok((lines.join("\n").into_bytes(), None))
        }
        OP_USER => Ok((
            process::user_by_name(arg)?
                .map(|(u, g)| format!("{u} {g}"))
                .unwrap_or_default()
                .into_bytes(),
            None,
        )),
        OP_GROUP => Ok((
            process::group_by_name(arg)?
                .map(|g| g.to_string())
                .unwrap_or_default()
                .into_bytes(),
            None,
        )),
        OP_BIND => {
            let spec = decode_spec(arg)?;
            let sock = super::direct_listen_socket(&spec)?;
            Ok((Vec::new(), Some(sock.into())))
        }
        OP_BIND_UNIX => {
            let spec = decode_unix(arg)?;
            if let UnixAddr::Path(path) = &spec.addr
                && !allowed.sockets.contains(path)
            {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "not a UNIX socket of this process's configuration",
                ));
            }
            let sock = super::direct_unix_socket(&spec)?;
            Ok((Vec::new(), Some(sock.into())))
        }
        OP_NOTIFY => {
            super::notify::send(arg);
            if arg.starts_with("READY=1") {
                // A daemon's command waits for this parent too.
                super::daemon::ready();
            }
            Ok((Vec::new(), None))
        }
        OP_SCRIPT => {
            // The script, then its arguments, one per line.
            let mut words = arg.split('\n');
            let script = Path::new(words.next().unwrap_or_default());
            if !allowed.scripts.iter().any(|p| p == script) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "not a notify script of this process's configuration",
                ));
            }
            run_script(script, words)?;
            Ok((Vec::new(), None))
        }
        _ => Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
}

/// Starts a notify script and reaps it on a thread of its own.
fn run_script<'a>(script: &Path, args: impl Iterator<Item = &'a str>) -> io::Result<()> {
    use std::sync::atomic::Ordering;
    if SCRIPTS_RUNNING.fetch_add(1, Ordering::Relaxed) >= MAX_SCRIPTS {
        SCRIPTS_RUNNING.fetch_sub(1, Ordering::Relaxed);
        return Err(io::Error::other(format!(
            "{MAX_SCRIPTS} notify scripts still running"
        )));
    }
    let spawned = std::process::Command::new(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            SCRIPTS_RUNNING.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    std::thread::spawn(move || {
        let _ = child.wait();
        SCRIPTS_RUNNING.fetch_sub(1, Ordering::Relaxed);
    });
    Ok(())
}

/// `ADDR FLAGS [INTERFACE]`: FLAGS bit 0 = v6only, bit 1 = v4v6, bit 2 =
/// transparent, bit 3 = no SO_REUSEPORT (interface names have no spaces:
/// the config refuses them).
fn encode_spec(spec: &SocketSpec) -> String {
    let flags = u8::from(spec.v6only)
        | (u8::from(spec.v4v6) << 1)
        | (u8::from(spec.transparent) << 2)
        | (u8::from(!spec.reuseport) << 3);
    match &spec.interface {
        Some(name) => format!("{} {flags} {name}", spec.addr),
        None => format!("{} {flags}", spec.addr),
    }
}

/// `KIND MODE UID GID NAME`: KIND `u` (a file) or `a` (abstract), `-`
/// for what is not set; NAME is the rest of the line.
fn encode_unix(spec: &UnixSpec) -> io::Result<String> {
    let n = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    let (kind, name) = match &spec.addr {
        UnixAddr::Path(p) => ('u', p.to_str().map(str::to_string)),
        UnixAddr::Abstract(n) => ('a', Some(n.clone())),
    };
    let name = name.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let p = spec.perms;
    Ok(format!(
        "{kind} {} {} {} {name}",
        n(p.mode),
        n(p.uid),
        n(p.gid)
    ))
}

fn decode_unix(arg: &str) -> io::Result<UnixSpec> {
    let bad = || io::Error::from(io::ErrorKind::InvalidInput);
    let mut words = arg.splitn(5, ' ');
    let mut next = || words.next().ok_or_else(bad);
    let kind = next()?;
    let num = |w: &str| match w {
        "-" => Ok(None),
        n => n.parse().map(Some).map_err(|_| bad()),
    };
    let (mode, uid, gid) = (num(next()?)?, num(next()?)?, num(next()?)?);
    let name = next()?;
    let addr = match kind {
        "u" => UnixAddr::Path(PathBuf::from(name)),
        "a" => UnixAddr::Abstract(name.to_string()),
        _ => return Err(bad()),
    };
    Ok(UnixSpec {
        addr,
        perms: UnixPerms { mode, uid, gid },
    })
}

fn decode_spec(arg: &str) -> io::Result<SocketSpec> {
    let bad = || io::Error::from(io::ErrorKind::InvalidInput);
    let mut words = arg.split(' ');
    let addr: SocketAddr = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let flags: u8 = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let interface = words.next().map(str::to_string);
    if words.next().is_some() || interface.as_deref() == Some("") {
        return Err(bad());
    }
    Ok(SocketSpec {
        addr,
        v6only: flags & 1 != 0,
        v4v6: flags & 2 != 0,
        interface,
        transparent: flags & 4 != 0,
        reuseport: flags & 8 == 0,
    })
}

/// The serving process's end of the line to its parent.
pub(crate) struct Client {
    sock: Mutex<OwnedFd>,
    parent: u32,
}

impl Client {
    /// One request and its answer; the lock keeps answers with their
    /// requests when several threads ask.
    fn call(&self, op: u8, arg: &str) -> io::Result<(Vec<u8>, Option<OwnedFd>)> {
        let mut req = Vec::with_capacity(1 + arg.len());
        req.push(op);
        req.extend_from_slice(arg.as_bytes());
        if req.len() > MAX_MESSAGE {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let sock = self.sock.lock();
        fdpass::send(sock.as_fd(), &req, None)?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        let (n, fd) = loop {
            match fdpass::recv(sock.as_fd(), &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        match buf[..n].split_first() {
            Some((&ANSWER_OK, payload)) => Ok((payload.to_vec(), fd)),
            Some((&ANSWER_ERR, rest)) if rest.len() >= 4 => {
                let errno = i32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                let msg = String::from_utf8_lossy(&rest[4..]).into_owned();
                Err(if errno != 0 {
                    io::Error::from_raw_os_error(errno)
                } else {
                    io::Error::other(msg)
                })
            }
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the privileged parent is gone",
            )),
            _ => Err(io::Error::from(io::ErrorKind::InvalidData)),
        }
    }

    fn fd(&self, op: u8, arg: &str) -> io::Result<OwnedFd> {
        self.call(op, arg)?
            .1
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    pub(super) fn read_file(&self, path: &Path) -> io::Result<String> {
        let path = path
            .to_str()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut file = std::fs::File::from(self.fd(OP_READ, path)?);
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok(text)
    }

    pub(super) fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let (payload, _) = self.call(OP_RESOLVE, host)?;
        text(&payload)?
            .lines()
            .map(|l| {
                l.parse()
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
            })
            .collect()
    }

    pub(super) fn user(&self, name: &str) -> io::Result<Option<(u32, u32)>> {
        let (payload, _) = self.call(OP_USER, name)?;
        let t = text(&payload)?;
        if t.is_empty() {
            return Ok(None);
        }
        let bad = || io::Error::from(io::ErrorKind::InvalidData);
        let (u, g) = t.split_once(' ').ok_or_else(bad)?;
        Ok(Some((
            u.parse().map_err(|_| bad())?,
            g.parse().map_err(|_| bad())?,
        )))
    }

    pub(super) fn group(&self, name: &str) -> io::Result<Option<u32>> {
        let (payload, _) = self.call(OP_GROUP, name)?;
        let t = text(&payload)?;
        if t.is_empty() {
            return Ok(None);
        }
        t.parse()
            .map(Some)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    }

    pub(super) fn listen_socket(&self, spec: &SocketSpec) -> io::Result<Socket> {
        Ok(Socket::from(self.fd(OP_BIND, &encode_spec(spec))?))
    }

    pub(super) fn unix_listen_socket(&self, spec: &UnixSpec) -> io::Result<Socket> {
        Ok(Socket::from(self.fd(OP_BIND_UNIX, &encode_unix(spec)?)?))
    }

    pub(super) fn run_script(&self, script: &Path, args: &[String]) -> io::Result<()> {
        let mut arg = script
            .to_str()
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
            .to_string();
        for a in args {
            if a.contains('\n') {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            arg.push('\n');
            arg.push_str(a);
        }
        self.call(OP_SCRIPT, &arg).map(drop)
    }

    pub(super) fn notify(&self, state: &str) {
        if let Err(e) = self.call(OP_NOTIFY, state) {
            log::warn!("cannot notify systemd through the privileged parent: {e}");
        }
    }

    pub(super) fn parent_pid(&self) -> u32 {
        self.parent
    }
}

#[cfg(test)]
#[path = "privsep_tests.rs"]
mod tests;
