//! The health-check part of the model: a server's check keywords and the
//! probe its backend runs (`option httpchk`, `tcp-check`, ...).

use std::time::Duration;

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
    /// `check-send-proxy`: the check's connection starts with a PROXY
    /// header (the server's `send-proxy` version, else v1).
    pub send_proxy: bool,
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
            send_proxy: false,
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
