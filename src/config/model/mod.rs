//! The typed configuration model: what the parser produces and everything
//! downstream reads. Addresses are `SocketAddr`, durations `Duration`; nothing
//! after the parser looks at a string from the file again.
//!
//! `listen` sections are split by the parser into a frontend and a backend of
//! the same name, with the frontend's `default_backend` pointing at it.

mod check;
mod dns;
mod limits;
mod listen;
mod log;
mod peers;
mod rules;
mod stick;
mod tables;
mod tcp;
mod tls;

pub use check::*;
pub use dns::*;
pub use limits::*;
pub use listen::*;
pub use log::*;
pub use peers::*;
pub use rules::*;
pub use stick::*;
pub use tables::*;
pub use tcp::*;
pub use tls::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a directive came from, for messages (`FILE:LINE: ...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// `global maxconn` where the open files limit cannot be read; otherwise
/// an unset maxconn is [`ideal_maxconn`]'s, as in HAProxy.
pub const DEFAULT_GLOBAL_MAXCONN: usize = 4096;
/// Frontend `maxconn` when not set (HAProxy: inherits global maxconn).
/// `None` in the model means "use global maxconn".
/// `retries` when not set (HAProxy default: 3).
pub const DEFAULT_RETRIES: u32 = 3;
/// `timeout connect` when not set. HAProxy warns and uses infinity; an
/// unbounded connect is never what an operator wants, so we use 5 s and warn.
pub const DEFAULT_TIMEOUT_CONNECT: Duration = Duration::from_secs(5);
/// `server ... weight` when not set (HAProxy: 1).
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest accepted server weight (HAProxy: 256).
pub const MAX_WEIGHT: u32 = 256;
/// listen(2) backlog when neither the bind, the frontend's `backlog` nor
/// a maxconn gives one (HAProxy's last resort; the kernel caps it at
/// somaxconn).
pub const DEFAULT_BACKLOG: i32 = 1024;
/// `balance random` draws when no `(N)` is given (HAProxy: 2).
pub const DEFAULT_RANDOM_DRAWS: u32 = 2;
/// `tune.pipesize` when not set: the kernel's default (64 KiB).
pub const DEFAULT_PIPESIZE: usize = 0;

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
    /// `vrrp NAME` sections (splicer's extension).
    pub vrrp: Vec<super::vrrp::VrrpInstance>,
    /// `announce NAME` sections (splicer's extension).
    pub announce: Vec<super::announce::Announce>,
    /// `resolvers NAME` sections.
    pub resolvers: Vec<super::resolvers::Resolvers>,
    /// Every pattern list of `acl` lines and map converters, by
    /// [`PatternRefId`]: the runtime API edits them.
    pub patterns: Vec<PatternRef>,
    /// `stick-table` lines and `table` lines of peers sections, by
    /// [`TableId`].
    pub tables: Vec<StickTable>,
    /// `peers NAME` sections that name this process (a section without
    /// the local peer is dropped with a warning, as HAProxy does), and
    /// the `disabled` ones, which share nothing.
    pub peers: Vec<PeersSection>,
    /// The local peer name: `-L`, else `localpeer`, else the host name.
    pub localpeer: String,
    /// `mysql-cluster NAME` sections (splicer's extension).
    pub mysql_clusters: Vec<super::mysql::MysqlCluster>,
}

impl Config {
    pub fn backend(&self, name: &str) -> Option<crate::base::ids::BackendId> {
        let i = self.backends.iter().position(|b| b.name == name)?;
        Some(crate::base::ids::BackendId::new(i))
    }
}

#[derive(Debug, Clone)]
pub struct Global {
    /// `log` lines: where `log global` in a proxy sends its logs.
    pub logs: Vec<LogTarget>,
    /// `log-tag`: the syslog tag; `None` = the program name.
    pub log_tag: Option<String>,
    /// `log-send-hostname [NAME]`: the host name put in syslog headers
    /// (the system's when no name is given).
    pub log_send_hostname: Option<String>,
    /// `nbthread`; `None` = one worker per online CPU.
    pub nbthread: Option<usize>,
    /// `maxconn`: sessions across the whole process; when the config sets
    /// none ([`Global::maxconn_set`] false), derived from the open files
    /// limit ([`ideal_maxconn`]).
    pub maxconn: usize,
    /// Whether `maxconn` was in the config.
    pub maxconn_set: bool,
    /// `strict-limits` (HAProxy 2.6's default; `no strict-limits` turns it
    /// off): start-up fails, and a reload is refused, when the open files
    /// limit cannot hold maxconn's descriptors; off, it is a warning.
    pub strict_limits: bool,
    /// `maxpipes`: pipes across the whole process; `None` = maxconn / 4 (HAProxy).
    pub maxpipes: Option<usize>,
    /// `tune.pipesize` in bytes; 0 = kernel default.
    pub pipesize: usize,
    /// `nosplice`: never splice, whatever proxies ask.
    pub nosplice: bool,
    /// `hard-stop-after`: cap on the soft-stop wait.
    pub hard_stop_after: Option<Duration>,
    /// `pidfile` (the `-p` flag overrides it).
    pub pidfile: Option<PathBuf>,
    /// `spread-checks`: each check interval is moved by up to this many
    /// percent either way, at random (HAProxy: 0, max 50).
    pub spread_checks: u32,
    /// `stats socket` lines: the runtime API listeners.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`: how long an idle runtime API client is kept.
    pub stats_timeout: Duration,
    /// `stats maxconn`: runtime API clients at once.
    pub stats_maxconn: usize,
    /// `uid` / `user`: who the serving process runs as (HAProxy: only
    /// applied when started as root; see README "Privileges").
    pub uid: Option<u32>,
    /// `gid` / `group`.
    pub gid: Option<u32>,
    /// `chroot`: the serving process's jail.
    pub chroot: Option<PathBuf>,
    /// `daemon`: go to the background (the `-D` flag; `-Ws`/`-db` keep
    /// the foreground, as in HAProxy).
    pub daemon: bool,
    /// `master-worker` (the `-W` flag).
    pub master_worker: bool,
    /// `quiet`: only warnings and errors at start (the `-q` flag).
    pub quiet: bool,
    /// `node NAME`: this load balancer's name (`show info`, the stats
    /// page's `show-node`); `None` = the host name.
    pub node: Option<String>,
    /// `maxconnrate`, `maxsessrate`: new connections (sessions) per
    /// second across the process (0 = no limit). Without connection
    /// rules both count the same accepts.
    pub maxconnrate: u32,
    pub maxsessrate: u32,
    /// `server-state-file`: where `load-server-state-from-file global`
    /// reads the servers' states (as `show servers state` wrote them).
    pub server_state_file: Option<PathBuf>,
    /// `server-state-base`: the directory of relative state file names.
    pub server_state_base: Option<PathBuf>,
    /// `tune.bufsize`: the buffer of the copy path, per worker (HAProxy:
    /// 16384).
    pub bufsize: usize,
    /// `tune.maxaccept`: connections a listener accepts in a row before
    /// the worker turns to other events (`None`: no limit, `-1`).
    pub maxaccept: Option<usize>,
    /// `tune.maxpollevents`: events a worker takes from one poll.
    pub maxpollevents: usize,
    /// `tune.rcvbuf.client|server`, `tune.sndbuf.client|server`: socket
    /// buffer sizes (SO_RCVBUF/SO_SNDBUF); `None`: the kernel's.
    pub rcvbuf_client: Option<usize>,
    pub rcvbuf_server: Option<usize>,
    pub sndbuf_client: Option<usize>,
    pub sndbuf_server: Option<usize>,
    /// `noreuseport`: listeners without SO_REUSEPORT (one socket per bind,
    /// shared by the workers; another process cannot bind the port too).
    pub noreuseport: bool,
    /// `unix-bind`: defaults of the UNIX listening sockets declared after
    /// it (the stats sockets): a path prefix, mode, owner.
    pub unix_bind: UnixBind,
    /// `max-spread-checks`: the first checks of all servers start within
    /// this delay (else within the check interval).
    pub max_spread_checks: Option<Duration>,
    /// `cpu-map` lines, one rule per thread they bind (later ones win).
    pub cpu_map: Vec<CpuRule>,
    /// `ulimit-n N`: the open files limit is raised to at least N (never
    /// lowered, as in HAProxy 2.6); `None` = the soft limit is raised to
    /// the hard one.
    pub ulimit_n: Option<u64>,
    /// `setenv`, `presetenv`, `unsetenv` and `resetenv` lines, in order.
    /// The parser applies them to its own view of the environment as it
    /// reads (a later `"${NAME}"` sees them); the process environment is
    /// left as it was.
    pub env: Vec<EnvOp>,
    /// `tune.ssl.cachesize`: TLS sessions kept for resumption by id.
    pub tls_cache_size: usize,
    /// `tune.ssl.maxrecord`: largest TLS record payload sent (0: the library's).
    pub tls_max_record: usize,
}

/// `tune.ssl.cachesize` when not set (HAProxy: 20000).
pub const DEFAULT_TLS_CACHE_SIZE: usize = 20000;

impl Config {
    /// The server state files the backends read at start, each once.
    pub fn server_state_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in self.backends.iter().filter_map(|b| b.state_file.clone()) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// `unix-bind [prefix P] [mode M] [user U|uid N] [group G|gid N]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixBind {
    pub prefix: Option<String>,
    /// Defaults of the sockets' `mode`, owner and group.
    pub perms: UnixPerms,
}

/// One thread's CPUs from a `cpu-map` line (thread N is worker N-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuRule {
    pub thread: usize,
    pub cpus: Vec<usize>,
}

/// One environment change of the `global` section (HAProxy 2.6, section 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOp {
    /// `setenv NAME VALUE` (`overwrite`), or `presetenv NAME VALUE`: only
    /// when NAME is not set yet.
    Set {
        name: String,
        value: String,
        overwrite: bool,
    },
    /// `unsetenv NAME...`.
    Unset(Vec<String>),
    /// `resetenv [NAME...]`: every variable but these is removed.
    Reset { keep: Vec<String> },
}

/// `tune.bufsize` when not set (HAProxy: 16384).
pub const DEFAULT_BUFSIZE: usize = 16384;
/// `tune.maxaccept` when not set or 0 (HAProxy 2.6: 4; it was 64 before
/// its accept queues, and its own measurements found 4 fastest).
pub const DEFAULT_MAXACCEPT: usize = 4;
/// `tune.maxpollevents` when not set or not above 0 (HAProxy: 200). A
/// smaller batch means shorter loop turns: a session's event waits for at
/// most this many others.
pub const DEFAULT_MAXPOLLEVENTS: usize = 200;

/// `stats timeout` when not set (HAProxy: 10 s).
pub(super) const DEFAULT_STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// `stats maxconn` when not set (HAProxy: 10).
pub const DEFAULT_STATS_MAXCONN: usize = 10;

/// What a runtime API client may do; each level includes the ones below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read-only, and no sensitive data.
    User,
    /// Read everything, change nothing that alters traffic but counters.
    Operator,
    Admin,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::User => "user",
            Level::Operator => "operator",
            Level::Admin => "admin",
        }
    }
}

/// `stats socket ... level` when not set (HAProxy: operator).
pub const DEFAULT_STATS_LEVEL: Level = Level::Operator;

/// Where a runtime API socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    /// A UNIX socket path.
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl std::fmt::Display for StatsAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsAddr::Unix(p) => write!(f, "{}", p.display()),
            StatsAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// One `stats socket ADDR [mode M] [level L] [uid|user U] [gid|group G]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub addr: StatsAddr,
    /// `mode`: permissions of a UNIX socket file.
    pub mode: Option<u32>,
    /// `uid`/`user`, `gid`/`group`: owner of a UNIX socket file.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub level: Level,
    pub location: Location,
}

impl Global {
    /// Worker threads: `nbthread`, else one per online CPU.
    pub fn workers(&self) -> usize {
        self.nbthread
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

impl Default for Global {
    fn default() -> Self {
        Global {
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            nbthread: None,
            maxconn: DEFAULT_GLOBAL_MAXCONN,
            maxconn_set: false,
            strict_limits: true,
            maxpipes: None,
            pipesize: DEFAULT_PIPESIZE,
            nosplice: false,
            hard_stop_after: None,
            pidfile: None,
            spread_checks: 0,
            stats_sockets: Vec::new(),
            stats_timeout: DEFAULT_STATS_TIMEOUT,
            stats_maxconn: DEFAULT_STATS_MAXCONN,
            uid: None,
            gid: None,
            chroot: None,
            daemon: false,
            master_worker: false,
            quiet: false,
            node: None,
            ulimit_n: None,
            tls_cache_size: DEFAULT_TLS_CACHE_SIZE,
            tls_max_record: 0,
            cpu_map: Vec::new(),
            unix_bind: UnixBind::default(),
            max_spread_checks: None,
            bufsize: DEFAULT_BUFSIZE,
            maxaccept: Some(DEFAULT_MAXACCEPT),
            maxpollevents: DEFAULT_MAXPOLLEVENTS,
            rcvbuf_client: None,
            rcvbuf_server: None,
            sndbuf_client: None,
            sndbuf_server: None,
            noreuseport: false,
            server_state_file: None,
            server_state_base: None,
            maxconnrate: 0,
            maxsessrate: 0,
            env: Vec::new(),
        }
    }
}

/// Splice policy for one direction of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpliceMode {
    /// Copy small transfers, splice once reads keep filling the buffer
    /// (no option given: splicer's default).
    #[default]
    Auto,
    /// `option splice-request` / `option splice-response`: splice from the first byte.
    Always,
    /// `no option splice-auto` (and no explicit direction), or global `nosplice`.
    Never,
}

/// Splice-related options as written in one proxy (after defaults inheritance).
/// `None` = not mentioned; `Some(false)` = `no option ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpliceOptions {
    pub auto: Option<bool>,
    pub request: Option<bool>,
    pub response: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Bind {
    pub addr: BindAddr,
    /// Mode and owner of the socket file of a `unix@` bind.
    pub perms: UnixPerms,
    /// `v4v6`: a `:::port` socket also accepts IPv4.
    pub v4v6: bool,
    /// `v6only`.
    pub v6only: bool,
    /// listen(2) backlog: the bind's `backlog`, else the frontend's
    /// `backlog`, else the frontend's maxconn, else global maxconn
    /// (HAProxy's order); validation fills it in.
    pub backlog: Option<i32>,
    /// Socket options of the listening socket.
    pub options: ListenOptions,
    /// `name`.
    pub name: Option<String>,
    /// `accept-proxy`: the client sends a PROXY v1/v2 header first.
    pub accept_proxy: bool,
    /// `ssl`: clients speak TLS, terminated here.
    pub tls: Option<BindTls>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Frontend {
    pub name: String,
    pub location: Location,
    /// The section's rank among frontend, backend and listen sections, in
    /// file order (statistics list proxies in this order).
    pub order: usize,
    /// Proxy number in statistics (`iid`): `id`, or HAProxy's automatic one.
    pub uid: u32,
    pub binds: Vec<Bind>,
    /// `maxconn`; `None` = global maxconn.
    pub maxconn: Option<usize>,
    /// `rate-limit sessions N`: new sessions per second (0 = no limit).
    pub rate_limit: u32,
    /// Index into `Config::backends` (resolved by the parser).
    pub default_backend: Option<crate::base::ids::BackendId>,
    /// `timeout client`; `None` = no timeout (HAProxy warns).
    pub timeout_client: Option<Duration>,
    /// `timeout client-fin`; `None` = `timeout client`.
    pub timeout_client_fin: Option<Duration>,
    pub splice: SpliceOptions,
    /// `disabled`.
    pub disabled: bool,
    /// `option clitcpka` (or `tcpka`) and `clitcpka-*`: keep-alive probes
    /// on accepted client connections.
    pub keepalive: Keepalive,
    /// `option nolinger`: client connections close with a reset
    /// (SO_LINGER 0), as HAProxy's frontend side does.
    pub nolinger: bool,
    /// Where and how this frontend logs its sessions.
    pub log: FrontendLog,
    /// A `mode http` frontend that serves the stats page or Prometheus
    /// metrics (on the admin thread; workers never see it).
    pub stats: Option<super::StatsPage>,
    /// ACLs and rules (shared with its backend in a `listen` section).
    pub rules: std::sync::Arc<RuleSet>,
}

/// `balance` algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `random` / `random(N)`: N draws, the least loaded wins.
    Random {
        draws: u32,
    },
}

/// `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    #[default]
    MapBased,
    Consistent,
}

/// `send-proxy` / `send-proxy-v2` on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

/// Where a server's port comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortMode {
    /// The port of its address.
    #[default]
    Fixed,
    /// No port (or `:0`): the port the client connected to.
    Client,
    /// `:+N` / `:-N`: the client's destination port moved by N.
    Offset(i32),
}

impl PortMode {
    /// The address to connect to for a client that reached `local`.
    pub fn target(
        self,
        addr: std::net::SocketAddr,
        local: std::net::SocketAddr,
    ) -> std::net::SocketAddr {
        let port = match self {
            PortMode::Fixed => return addr,
            PortMode::Client => local.port(),
            PortMode::Offset(d) => (i32::from(local.port()) + d).rem_euclid(65536) as u16,
        };
        std::net::SocketAddr::new(addr.ip(), port)
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub location: Location,
    pub addr: SocketAddr,
    /// 0..=256; 0 means "never picked unless forced".
    pub weight: u32,
    pub backup: bool,
    /// `maxconn`; `None` = unlimited. With `minconn` below it, the limit
    /// in effect grows with the backend's load up to this (`fullconn`).
    pub maxconn: Option<u32>,
    /// `minconn`: the limit in effect when the backend is idle.
    pub minconn: Option<u32>,
    /// A port given, none (the client's), or an offset from the client's.
    pub port_mode: PortMode,
    /// `source ADDR:LOW-HIGH` (or `:PORT`): the source ports its
    /// connections use, in turn; `None`: the kernel picks.
    pub source_ports: Option<(u16, u16)>,
    /// `track [PROXY/]SERVER` as written, and the server it names: this
    /// server has no check of its own and follows that one's UP/DOWN.
    pub track_spec: Option<String>,
    pub track: Option<(crate::base::ids::BackendId, crate::base::ids::ServerId)>,
    /// `maxqueue` (0 = unlimited): shown as `qlimit`. Sessions never wait
    /// for one server in splicer (they wait in the backend's queue), so
    /// the limit is never reached.
    pub maxqueue: u32,
    pub disabled: bool,
    pub send_proxy: Option<ProxyVersion>,
    /// `source ADDR` on the server line, or the backend's `source`: bind this
    /// local address before connecting (IP_BIND_ADDRESS_NO_PORT is set).
    pub source: Option<std::net::IpAddr>,
    /// `tfo`: TCP Fast Open on connect (TCP_FASTOPEN_CONNECT).
    pub tfo: bool,
    /// `non-stick`: `stick` rules never store this server.
    pub non_stick: bool,
    pub check: CheckParams,
    /// Run-time resolution of the address's host name (`resolvers`).
    pub dns: Option<ServerDns>,
    /// The host name of the address, when it was written as one (not for
    /// a SRV label): HAProxy's `srv_fqdn`.
    pub fqdn: Option<String>,
    /// Started without an address (`init-addr none`, or a name that did
    /// not resolve under `resolvers`): in maintenance until resolved.
    pub no_addr: bool,
    /// `ssl`, `check-ssl` and their settings.
    pub tls: ServerTls,
}

#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub location: Location,
    /// As [`Frontend::order`]; a listen's frontend and backend share it.
    pub order: usize,
    /// As [`Frontend::uid`].
    pub uid: u32,
    /// Written as a `listen` section: HAProxy then calls it "proxy" in logs.
    pub listen: bool,
    pub balance: Balance,
    pub hash_type: HashType,
    pub servers: Vec<Server>,
    /// `mysql-role ... cluster NAME`: the cluster monitor decides which
    /// servers this backend may use.
    pub mysql: Option<super::mysql::MysqlRole>,
    /// `timeout connect`.
    pub timeout_connect: Duration,
    /// `timeout server`; `None` = no timeout (HAProxy warns).
    pub timeout_server: Option<Duration>,
    /// `timeout server-fin`; `None` = `timeout server`.
    pub timeout_server_fin: Option<Duration>,
    /// `timeout tunnel`: once both sides are connected it replaces client and
    /// server timeouts (HAProxy semantics).
    pub timeout_tunnel: Option<Duration>,
    /// `timeout queue`; `None` = `timeout connect` (HAProxy semantics).
    pub timeout_queue: Option<Duration>,
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// `option allbackups`.
    pub allbackups: bool,
    pub splice: SpliceOptions,
    pub disabled: bool,
    /// What the health checks of this backend's `check` servers do.
    pub check: CheckKind,
    /// `option srvtcpka` (or `tcpka`) and `srvtcpka-*`: keep-alive probes
    /// on server connections.
    pub keepalive: Keepalive,
    /// `option nolinger`: a client's FIN is passed on to the server as a
    /// reset that ends the session, as HAProxy's backend side does.
    pub nolinger: bool,
    /// `option tcp-smart-connect`: TCP_QUICKACK off on the server socket
    /// when data waits to go with the handshake's last ACK.
    pub smart_connect: bool,
    /// `option log-health-checks`: log every check result that changes the
    /// health counter, not only UP/DOWN transitions.
    pub log_health_checks: bool,
    /// `load-server-state-from-file` and `server-state-file-name`: the
    /// file whose server states apply at start (`None`: none).
    pub state_file: Option<PathBuf>,
    /// `fullconn`: the backend load at which servers reach their
    /// `maxconn`; by default 10 % of the maxconns of the frontends that
    /// send to it (HAProxy), at least 1.
    pub fullconn: usize,
    /// Where the backend's events go (server UP/DOWN, maintenance, checks):
    /// its `log` lines, `log global` expanded. Formats do not apply.
    pub log: FrontendLog,
    /// ACLs and rules (shared with its frontend in a `listen` section).
    pub rules: std::sync::Arc<RuleSet>,
}

/// A message about the config: an error stops start-up, a warning does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What loading a config gives: the model (when there were no errors) plus
/// every warning, or every error.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

impl SpliceOptions {
    /// The splice mode of one direction for a session crossing `fe` and `be`:
    /// like HAProxy, an option set on either side applies to the session.
    pub fn resolve(
        fe: &SpliceOptions,
        be: &SpliceOptions,
        nosplice: bool,
    ) -> (SpliceMode, SpliceMode) {
        let dir = |f: Option<bool>, b: Option<bool>| {
            if nosplice {
                SpliceMode::Never
            } else if f == Some(true) || b == Some(true) {
                SpliceMode::Always
            } else if f == Some(false)
                || b == Some(false)
                || fe.auto == Some(false)
                || be.auto == Some(false)
            {
                SpliceMode::Never
            } else {
                SpliceMode::Auto
            }
        };
        (dir(fe.request, be.request), dir(fe.response, be.response))
    }
}
