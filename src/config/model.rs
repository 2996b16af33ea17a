//! The typed configuration model: what the parser produces and everything
//! downstream reads. Addresses are `SocketAddr`, durations `Duration`; nothing
//! after the parser looks at a string from the file again.
//!
//! `listen` sections are split by the parser into a frontend and a backend of
//! the same name, with the frontend's `default_backend` pointing at it.

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

/// `global maxconn` when not set. HAProxy derives it from the fd limit; a fixed
/// value keeps behaviour predictable.
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
/// `bind ... backlog` when not set (HAProxy: frontend maxconn, capped by somaxconn).
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
    /// `maxconn`: sessions across the whole process.
    pub maxconn: usize,
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
}

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

impl Default for Global {
    fn default() -> Self {
        Global {
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            nbthread: None,
            maxconn: DEFAULT_GLOBAL_MAXCONN,
            maxpipes: None,
            pipesize: DEFAULT_PIPESIZE,
            nosplice: false,
            hard_stop_after: None,
            pidfile: None,
            spread_checks: 0,
            stats_sockets: Vec::new(),
            stats_timeout: DEFAULT_STATS_TIMEOUT,
            stats_maxconn: DEFAULT_STATS_MAXCONN,
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
    pub addr: SocketAddr,
    /// `v4v6`: a `:::port` socket also accepts IPv4.
    pub v4v6: bool,
    /// `v6only`.
    pub v6only: bool,
    pub backlog: Option<i32>,
    /// `name`.
    pub name: Option<String>,
    /// `accept-proxy`: the client sends a PROXY v1/v2 header first.
    pub accept_proxy: bool,
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
    /// Index into `Config::backends` (resolved by the parser).
    pub default_backend: Option<crate::base::ids::BackendId>,
    /// `timeout client`; `None` = no timeout (HAProxy warns).
    pub timeout_client: Option<Duration>,
    /// `timeout client-fin`; `None` = `timeout client`.
    pub timeout_client_fin: Option<Duration>,
    pub splice: SpliceOptions,
    /// `disabled`.
    pub disabled: bool,
    /// Where and how this frontend logs its sessions.
    pub log: FrontendLog,
    /// A `mode http` frontend that serves the stats page or Prometheus
    /// metrics (on the admin thread; workers never see it).
    pub stats: Option<super::StatsPage>,
}

/// `log` lines of a frontend (`log global` expanded), and what it logs.
#[derive(Debug, Clone, Default)]
pub struct FrontendLog {
    /// Empty: the frontend logs nothing.
    pub targets: Vec<LogTarget>,
    /// `option tcplog` or `log-format`: one line at the end of each
    /// session. `None`: HAProxy's default, a `Connect from` line when the
    /// session starts.
    pub format: Option<super::logformat::LogFormat>,
    /// `option dontlognull`: no line for a session whose client sent nothing.
    pub dontlognull: bool,
    /// `log-tag` of the proxy, else of `global`.
    pub tag: Option<String>,
}

impl FrontendLog {
    /// Whether its lines show our side of the server connection (`%bi`,
    /// `%bp`), which costs a `getsockname` per session.
    pub fn wants_source(&self) -> bool {
        use super::logformat::Var;
        !self.targets.is_empty()
            && self
                .format
                .as_ref()
                .is_some_and(|f| f.uses(Var::BackendIp) || f.uses(Var::BackendPort))
    }
}

/// `len` when not set (HAProxy: 1024, what every syslog server accepts).
pub const DEFAULT_LOG_LEN: usize = 1024;
/// `len` bounds (HAProxy).
pub const MIN_LOG_LEN: usize = 80;
pub const MAX_LOG_LEN: usize = 65535;

/// One `log` line: a destination, its framing and its filter.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTarget {
    pub dest: LogDest,
    /// `len`: longest message sent, header included (not for stdout/stderr).
    pub max_len: usize,
    pub format: SyslogFormat,
    /// Syslog facility number (`local0` = 16).
    pub facility: u8,
    /// Messages less severe than this are not sent (7 = debug: all).
    pub level: u8,
    /// Messages more severe than this are sent at this level (0 = emerg).
    pub min_level: u8,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    Stdout,
    Stderr,
    /// A unix datagram socket such as `/dev/log`.
    Unix(PathBuf),
    Udp(SocketAddr),
}

/// `format` of a `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// RFC 3164 without the host name (HAProxy's default).
    #[default]
    Local,
    Rfc3164,
    Rfc5424,
    /// `<level>` then the message.
    Short,
    /// `<priority>` then the message.
    Priority,
    /// `<level>`, an ISO date, the message.
    Timed,
    /// An ISO date, the message.
    Iso,
    /// The message alone.
    Raw,
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

/// Health-check keywords of a server. Defaults are HAProxy's. What the probe
/// sends and expects is the backend's [`CheckKind`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckParams {
    pub enabled: bool,
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    pub rise: u32,
    pub fall: u32,
    pub port: Option<u16>,
    pub addr: Option<std::net::IpAddr>,
    pub slowstart: Option<Duration>,
    /// The backend's `timeout check`; `None` = `inter` bounds the probe (HAProxy).
    pub timeout: Option<Duration>,
    /// `on-marked-down shutdown-sessions`.
    pub on_marked_down: Option<OnMarkedDown>,
    /// `on-marked-up shutdown-backup-sessions`.
    pub on_marked_up: Option<OnMarkedUp>,
    /// `observe layer4`: count connection errors of live traffic.
    pub observe: bool,
    /// `error-limit`: errors seen by `observe` before `on-error` acts.
    pub error_limit: u32,
    /// `on-error`.
    pub on_error: OnError,
    /// `agent-check` and its settings.
    pub agent: bool,
    pub agent_port: Option<u16>,
    pub agent_inter: Option<Duration>,
    pub agent_addr: Option<std::net::IpAddr>,
    /// `agent-send`: a string sent to the agent once connected.
    pub agent_send: Option<String>,
}

/// `on-marked-down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMarkedDown {
    ShutdownSessions,
}

/// `on-marked-up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMarkedUp {
    ShutdownBackupSessions,
}

/// `on-error`: what `observe` does once `error-limit` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    FastInter,
    /// HAProxy's default.
    #[default]
    FailCheck,
    SuddenDeath,
    MarkDown,
}

/// HAProxy's `error-limit` default.
pub const DEFAULT_ERROR_LIMIT: u32 = 10;

/// HAProxy's `inter` default.
pub const DEFAULT_CHECK_INTER: Duration = Duration::from_secs(2);
/// HAProxy's `rise` default.
pub const DEFAULT_CHECK_RISE: u32 = 2;
/// HAProxy's `fall` default.
pub const DEFAULT_CHECK_FALL: u32 = 3;

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            enabled: false,
            inter: DEFAULT_CHECK_INTER,
            fastinter: None,
            downinter: None,
            rise: DEFAULT_CHECK_RISE,
            fall: DEFAULT_CHECK_FALL,
            port: None,
            addr: None,
            slowstart: None,
            timeout: None,
            on_marked_down: None,
            on_marked_up: None,
            observe: false,
            error_limit: DEFAULT_ERROR_LIMIT,
            on_error: OnError::default(),
            agent: false,
            agent_port: None,
            agent_inter: None,
            agent_addr: None,
            agent_send: None,
        }
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
    /// `maxconn`; `None` = unlimited.
    pub maxconn: Option<u32>,
    pub disabled: bool,
    pub send_proxy: Option<ProxyVersion>,
    /// `source ADDR` on the server line, or the backend's `source`: bind this
    /// local address before connecting (IP_BIND_ADDRESS_NO_PORT is set).
    pub source: Option<std::net::IpAddr>,
    pub check: CheckParams,
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
    /// `option log-health-checks`: log every check result that changes the
    /// health counter, not only UP/DOWN transitions.
    pub log_health_checks: bool,
    /// Where the backend's events go (server UP/DOWN, maintenance, checks):
    /// its `log` lines, `log global` expanded. Formats do not apply.
    pub log: FrontendLog,
}

/// A compiled regular expression from the config (`rstring`, `rstatus`,
/// `rbinary`). Compared by its source text.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::bytes::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// The probe a backend's checked servers run. HAProxy allows one check type
/// per backend; the last `option ...-check` line wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CheckKind {
    /// No check option: a layer-4 connect.
    #[default]
    Connect,
    /// `option httpchk` with `http-check send` / `http-check expect`.
    Http(HttpCheck),
    /// `option mysql-check [user U [post-41|pre-41]]`. Without a user only
    /// the server's greeting is read (HAProxy: nothing is sent).
    Mysql { user: Option<String>, post41: bool },
    /// `option pgsql-check user U`.
    Pgsql { user: String },
    /// `option redis-check`: `PING`, expect `+PONG`.
    Redis,
    /// `option ssl-hello-chk`: a TLS ClientHello, any TLS record back is up.
    SslHello,
    /// `option tcp-check` and its `tcp-check` rules, in order. No rule at all
    /// means a plain connect.
    Tcp(Vec<TcpCheckRule>),
}

/// `option httpchk` defaults (HAProxy's).
pub const DEFAULT_HTTPCHK_METHOD: &str = "OPTIONS";
pub const DEFAULT_HTTPCHK_URI: &str = "/";
pub const DEFAULT_HTTPCHK_VERSION: &str = "HTTP/1.0";

/// `option httpchk [METHOD] [URI] [VERSION]` plus `http-check` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub method: String,
    pub uri: String,
    pub version: String,
    /// `http-check send hdr NAME VALUE`, in order.
    pub headers: Vec<(String, String)>,
    /// `http-check send body STRING`.
    pub body: Option<String>,
    /// `http-check expect ...` lines, all of which must pass, in order.
    /// Empty: any 2xx or 3xx status passes (HAProxy).
    pub expect: Vec<HttpExpect>,
    /// `http-check disable-on-404`: a 404 from an UP server drains it.
    pub disable_on_404: bool,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            method: DEFAULT_HTTPCHK_METHOD.into(),
            uri: DEFAULT_HTTPCHK_URI.into(),
            version: DEFAULT_HTTPCHK_VERSION.into(),
            headers: Vec::new(),
            body: None,
            expect: Vec::new(),
            disable_on_404: false,
        }
    }
}

/// `http-check expect [!] <match> <pattern>`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpExpect {
    /// `!`: the check passes when the match fails.
    pub negate: bool,
    pub matcher: HttpMatch,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpMatch {
    /// `status 200,201,300-399`: inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX` on the three status digits.
    RStatus(Pattern),
    /// `string TEXT` anywhere in the body.
    String(String),
    /// `rstring REGEX` on the body.
    RString(Pattern),
}

/// One `tcp-check` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpCheckRule {
    /// `tcp-check connect [port N] [send-proxy]`: (re)connect, on another
    /// port if given. A rule list that does not start with `connect` gets an
    /// implicit one to the check port.
    Connect { port: Option<u16>, send_proxy: bool },
    /// `tcp-check send STRING` (escapes already applied by the lexer) or
    /// `tcp-check send-binary HEX`.
    Send(Vec<u8>),
    /// `tcp-check expect [!] string|rstring|binary|rbinary PATTERN`.
    Expect { negate: bool, matcher: TcpMatch },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TcpMatch {
    /// The bytes appear somewhere in what was received.
    String(Vec<u8>),
    /// The regex matches what was received.
    RString(Pattern),
    /// The bytes (given in hex) appear in what was received.
    Binary(Vec<u8>),
    /// The regex matches the hex text of what was received (HAProxy).
    RBinary(Pattern),
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
