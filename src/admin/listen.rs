//! The runtime API's sockets: UNIX sockets (a stale file from an earlier
//! run is replaced, `mode` and owner applied) and TCP listeners, opened
//! before any worker starts so that a socket that cannot be bound stops
//! start-up, as in HAProxy.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::config::{Config, Level, StatsAddr, StatsSocket};
use crate::net::{BindError, open_bind};

/// Why a stats socket could not be opened.
#[derive(Debug)]
pub enum AdminError {
    /// Something that is not a socket sits at the path.
    NotASocket {
        path: PathBuf,
    },
    Bind {
        addr: String,
        source: io::Error,
    },
    /// `mode`, `user` or `group` could not be applied.
    Permissions {
        path: PathBuf,
        source: io::Error,
    },
    /// A stats frontend's `bind`.
    Frontend(BindError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::NotASocket { path } => write!(
                f,
                "stats socket {}: the path exists and is not a socket; not replacing it",
                path.display()
            ),
            AdminError::Bind { addr, source } => {
                write!(f, "stats socket {addr}: cannot bind: {source}")
            }
            AdminError::Permissions { path, source } => write!(
                f,
                "stats socket {}: cannot set mode or owner: {source}",
                path.display()
            ),
            AdminError::Frontend(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

enum Socket {
    /// With the file's identity, to remove only our own file at exit.
    Unix(UnixListener, PathBuf, (u64, u64)),
    Tcp(TcpListener),
}

/// What a listening socket serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Serve {
    /// The runtime API, at this level.
    Cli(Level),
    /// The `-S` socket: the runtime API at level admin, plus HAProxy's
    /// master CLI habits (`@1 CMD`, `show proc`, `reload`).
    Master,
    /// The stats page and metrics of the stats frontend of this name
    /// (looked up in the runtime in effect: a reload may change it).
    Stats(String),
}

/// One open stats socket or stats frontend bind.
pub(crate) struct Listening {
    socket: Socket,
    pub serve: Serve,
    /// How logs name it: the path or the address.
    pub name: String,
}

/// Opens every `stats socket`, the `-S` one, and every bind of the stats
/// frontends.
pub(crate) fn bind(
    config: &Config,
    master: Option<&StatsSocket>,
) -> Result<Vec<Listening>, AdminError> {
    let mut out: Vec<Listening> = config
        .global
        .stats_sockets
        .iter()
        .map(open)
        .collect::<Result<_, _>>()?;
    if let Some(m) = master {
        let mut l = open(m)?;
        l.serve = Serve::Master;
        out.push(l);
    }
    let stats = config.frontends.iter().enumerate();
    for (fi, fe) in stats.filter(|(_, f)| f.stats.is_some() && !f.disabled) {
        for (bi, b) in fe.binds.iter().enumerate() {
            let fi = crate::base::ids::FrontendId::new(fi);
            let reuseport = !config.global.noreuseport;
            if b.addr.tcp().is_none() {
                // The stats page reads its clients' IP addresses.
                return Err(AdminError::Bind {
                    addr: b.addr.to_string(),
                    source: io::Error::other(
                        "a stats frontend on a UNIX socket is not supported yet",
                    ),
                });
            }
            let mut ls = open_bind(b, bi as u32 + 1, fi, &fe.name, 1, reuseport)
                .map_err(AdminError::Frontend)?;
            let l = ls.remove(0);
            let crate::net::ListenSocket::Tcp(socket) = l.socket else {
                continue;
            };
            // The tests and operators read the port from this line.
            log::info!("stats page: frontend {} listening on {}", fe.name, l.addr);
            out.push(Listening {
                socket: Socket::Tcp(socket),
                serve: Serve::Stats(fe.name.clone()),
                name: l.addr.to_string(),
            });
        }
    }
    Ok(out)
}

fn open(s: &StatsSocket) -> Result<Listening, AdminError> {
    let socket = match &s.addr {
        StatsAddr::Unix(path) => open_unix(path, s)?,
        StatsAddr::Tcp(addr) => {
            let l = TcpListener::bind(*addr).map_err(|source| AdminError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            Socket::Tcp(l)
        }
    };
    let name = match &socket {
        Socket::Unix(_, p, _) => p.display().to_string(),
        Socket::Tcp(l) => l.local_addr().map_or(s.addr.to_string(), |a| a.to_string()),
    };
    log::info!(
        "stats socket listening on {name} (level {})",
        s.level.name()
    );
    Ok(Listening {
        socket,
        serve: Serve::Cli(s.level),
        name,
    })
}

fn open_unix(path: &Path, s: &StatsSocket) -> Result<Socket, AdminError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // A socket left by a process that died; a live process would lose
        // its socket too, as with HAProxy, which renames over it.
        if !meta.file_type().is_socket() {
            return Err(AdminError::NotASocket { path: path.into() });
        }
        let _ = std::fs::remove_file(path);
    }
    let bind_err = |source| AdminError::Bind {
        addr: path.display().to_string(),
        source,
    };
    let l = UnixListener::bind(path).map_err(bind_err)?;
    let perm_err = |source| AdminError::Permissions {
        path: path.into(),
        source,
    };
    if let Some(mode) = s.mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(perm_err)?;
    }
    if s.uid.is_some() || s.gid.is_some() {
        std::os::unix::fs::chown(path, s.uid, s.gid).map_err(perm_err)?;
    }
    let meta = std::fs::metadata(path).map_err(bind_err)?;
    Ok(Socket::Unix(l, path.into(), (meta.dev(), meta.ino())))
}

impl Listening {
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match &mut self.socket {
            Socket::Unix(l, ..) => registry.register(l, token, Interest::READABLE),
            Socket::Tcp(l) => registry.register(l, token, Interest::READABLE),
        }
    }

    /// A client and how to name it in logs.
    pub(crate) fn accept(&self) -> io::Result<(Stream, String)> {
        match &self.socket {
            Socket::Unix(l, path, _) => {
                let (s, _) = l.accept()?;
                Ok((Stream::Unix(s), path.display().to_string()))
            }
            Socket::Tcp(l) => {
                let (s, peer): (TcpStream, SocketAddr) = l.accept()?;
                Ok((Stream::Tcp(s), peer.to_string()))
            }
        }
    }

    /// A client of a TCP listener, with its address.
    pub(crate) fn accept_tcp(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match &self.socket {
            Socket::Tcp(l) => l.accept(),
            Socket::Unix(..) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Removes our UNIX socket file, unless another process replaced it.
    pub(crate) fn cleanup(&self) {
        if let Socket::Unix(_, path, id) = &self.socket
            && std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *id)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A client connection.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub(crate) fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Unix(s) => registry.register(s, token, interest),
            Stream::Tcp(s) => registry.register(s, token, interest),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = match self {
            Stream::Unix(s) => registry.deregister(s),
            Stream::Tcp(s) => registry.deregister(s),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
