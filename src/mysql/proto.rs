//! The client side of the MySQL/MariaDB protocol, sans-IO: the cluster
//! monitor's thread owns the socket and hands this codec what it reads
//! ([`Client::receive`]), writes what it asks ([`Client::output`],
//! [`Client::written`]) and takes [`Event`]s ([`Client::poll_event`]).
//!
//! It logs in (handshake v10, response 41, `mysql_native_password` or the
//! fast path of `caching_sha2_password`, an auth switch to either), then
//! sends text queries one at a time and reads their answers; COM_QUIT ends
//! the session politely. No TLS, no database, no prepared statements: a
//! monitor needs a login and a few `SELECT`s and `SHOW`s.

use std::collections::VecDeque;
use std::fmt;

use super::answer::{Answer, read_err, read_ok};
use super::auth::{NONCE_LEN, Plugin};
use super::packet::{Inbound, MAX_PAYLOAD, Reader, put_packet};

pub(crate) use super::answer::ResultSet;

// Capability flags (the protocol's CLIENT_* names).
const LONG_PASSWORD: u32 = 0x0000_0001;
const PROTOCOL_41: u32 = 0x0000_0200;
const TRANSACTIONS: u32 = 0x0000_2000;
const SECURE_CONNECTION: u32 = 0x0000_8000;
const PLUGIN_AUTH: u32 = 0x0008_0000;
const DEPRECATE_EOF: u32 = 0x0100_0000;

/// utf8mb4_general_ci: values arrive as UTF-8 whatever the server's default.
const CHARSET_UTF8MB4: u8 = 45;
const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;

/// What a server said, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The login succeeded; queued queries go out now.
    LoggedIn,
    /// The answer to a query that returned a result set.
    Rows(ResultSet),
    /// The OK answer to a query without rows.
    Done { affected_rows: u64 },
    /// The ERR answer to a query; the connection stays usable.
    QueryError {
        code: u16,
        state: String,
        message: String,
    },
}

/// Why the connection cannot go on. After one, the client ignores what
/// else arrives and the caller closes the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtoError {
    /// An ERR before or during the login: 1045 access denied, 1129 host
    /// blocked, 1040 too many connections.
    Server {
        code: u16,
        message: String,
    },
    /// An ERR nobody asked for, after the login: the server is shutting
    /// down (1053) or the session was killed.
    Ended {
        code: u16,
        message: String,
    },
    /// An auth plugin other than the two the monitor speaks.
    UnsupportedPlugin(String),
    /// caching_sha2_password wants the password itself (its cache has no
    /// hash of it), over TLS or RSA-encrypted.
    FullAuthRequired,
    /// A greeting older than protocol 10 with the 4.1 capabilities.
    OldServer,
    /// A packet that does not parse; names the packet.
    Malformed(&'static str),
    /// A packet the client did not ask for; says what it was.
    Unexpected(&'static str),
    OutOfSequence {
        expected: u8,
        got: u8,
    },
    /// A packet or an answer over [`MAX_PAYLOAD`].
    TooLarge,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Server { code, message } => {
                write!(f, "server refused the login: {code} {message}")
            }
            ProtoError::Ended { code, message } => {
                write!(f, "server ended the session: {code} {message}")
            }
            ProtoError::UnsupportedPlugin(name) => write!(
                f,
                "the server asks for auth plugin {name}, which splicer's monitor does not \
                 speak; give the monitor user mysql_native_password"
            ),
            ProtoError::FullAuthRequired => f.write_str(
                "caching_sha2_password wants a full authentication (the server has no \
                 cached hash of the password), which needs TLS or RSA that splicer's \
                 monitor does not do; give the monitor user mysql_native_password, or \
                 log in once as it with the mysql client to fill the server's cache",
            ),
            ProtoError::OldServer => f.write_str(
                "the server speaks a protocol older than MySQL 4.1, which splicer's \
                 monitor does not",
            ),
            ProtoError::Malformed(what) => write!(f, "the server sent a malformed {what}"),
            ProtoError::Unexpected(what) => {
                write!(
                    f,
                    "the server sent {what}, which the monitor did not ask for"
                )
            }
            ProtoError::OutOfSequence { expected, got } => write!(
                f,
                "the server sent packet number {got} where {expected} was due; the \
                 connection is out of step"
            ),
            ProtoError::TooLarge => write!(
                f,
                "the server sent more than {} MiB in one packet or one answer; the \
                 monitor's queries never need that much",
                MAX_PAYLOAD >> 20
            ),
        }
    }
}

impl std::error::Error for ProtoError {}

#[derive(Debug)]
enum State {
    /// Connected; the server speaks first.
    Greeting,
    /// The handshake response went out with `plugin`'s answer; waiting for
    /// OK, ERR, an auth switch or (caching_sha2) the fast-auth result.
    Login { plugin: Plugin },
    /// Logged in, no query in flight.
    Idle,
    /// A query went out; its answer so far.
    Query(Answer),
    /// COM_QUIT went out, or a fatal error was returned: input is ignored.
    Closed,
}

/// One connection's protocol state. See the module doc for the flow.
///
/// Output: [`Client::output`] is what to write next; after each write the
/// caller reports how much went with [`Client::written`], so short writes
/// need no copy of their own.
#[derive(Debug)]
pub(crate) struct Client {
    inbound: Inbound,
    session: Session,
}

/// Everything but the input buffer, so that a packet borrowed from
/// [`Inbound`] can be handled by `&mut Session`.
#[derive(Debug)]
struct Session {
    user: String,
    password: String,
    state: State,
    /// The sequence id of the next packet, either way.
    seq: u8,
    deprecate_eof: bool,
    server_version: Option<String>,
    connection_id: Option<u32>,
    queued: VecDeque<String>,
    quitting: bool,
    events: VecDeque<Event>,
    out: Vec<u8>,
}

impl Client {
    /// A client that will log in as `user`. A NUL in `user` would end the
    /// name on the wire early; the config layer refuses such names.
    pub(crate) fn new(user: &str, password: &str) -> Client {
        Client {
            inbound: Inbound::default(),
            session: Session {
                user: user.to_owned(),
                password: password.to_owned(),
                state: State::Greeting,
                seq: 0,
                deprecate_eof: false,
                server_version: None,
                connection_id: None,
                queued: VecDeque::new(),
                quitting: false,
                events: VecDeque::new(),
                out: Vec::new(),
            },
        }
    }

    /// Bytes read from the server, in any pieces: partial packets wait for
    /// the rest. An error is fatal: the caller drops the socket, and later
    /// bytes are ignored. Events read before the error stay pollable.
    pub(crate) fn receive(&mut self, bytes: &[u8]) -> Result<(), ProtoError> {
        if matches!(self.session.state, State::Closed) {
            return Ok(());
        }
        self.inbound.extend(bytes);
        let result = self.handle_packets();
        if result.is_err() {
            self.session.state = State::Closed;
        }
        self.inbound.compact();
        result
    }

    fn handle_packets(&mut self) -> Result<(), ProtoError> {
        while let Some((seq, payload)) = self.inbound.next_packet()? {
            self.session.packet(seq, payload)?;
            if matches!(self.session.state, State::Closed) {
                break;
            }
        }
        Ok(())
    }

    /// The next event, in the order the server sent them.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.session.events.pop_front()
    }

    /// The bytes to write to the server next; empty when there are none.
    pub(crate) fn output(&self) -> &[u8] {
        &self.session.out
    }

    /// `n` bytes of [`Client::output`] were written.
    pub(crate) fn written(&mut self, n: usize) {
        let n = n.min(self.session.out.len());
        self.session.out.drain(..n);
    }

    /// Queues a COM_QUERY. Queries go out one at a time, in order, each
    /// after the previous answer; queued before the login, they go out
    /// once it succeeds. Ignored after [`Client::quit`].
    pub(crate) fn query(&mut self, sql: &str) {
        if self.session.quitting {
            return;
        }
        self.session.queued.push_back(sql.to_owned());
        self.session.next_command();
    }

    /// Ends the session with COM_QUIT, after which the server closes; the
    /// caller flushes [`Client::output`] and waits for that close (or a
    /// deadline). Always quit before closing: a connection dropped before
    /// its login ends counts against the server's `max_connect_errors`,
    /// which in the end blocks the monitor's host (1129). So a quit during
    /// the login waits for it to finish, and the server sees a clean login
    /// then COM_QUIT. (A refused login counts as well on MariaDB 10.11,
    /// wrong password included: nothing here can spare that one.) Queued
    /// queries are dropped; one in flight is answered to nobody, COM_QUIT
    /// going out behind it.
    pub(crate) fn quit(&mut self) {
        let s = &mut self.session;
        s.quitting = true;
        s.queued.clear();
        match s.state {
            State::Idle => s.next_command(),
            State::Query(_) => s.send_quit(),
            State::Greeting | State::Login { .. } | State::Closed => {}
        }
    }

    /// The version from the greeting, without MariaDB 10's "5.5.5-"
    /// prefix (kept for old replication clients).
    pub(crate) fn server_version(&self) -> Option<&str> {
        self.session.server_version.as_deref()
    }

    /// The server's id for this session (`CONNECTION_ID()`, what
    /// `KILL` takes).
    pub(crate) fn connection_id(&self) -> Option<u32> {
        self.session.connection_id
    }

    /// Logged in and not yet quit or failed.
    pub(crate) fn logged_in(&self) -> bool {
        matches!(self.session.state, State::Idle | State::Query(_))
    }
}

#[cfg(test)]
impl Client {
    /// A query waits for its answer, or to be sent.
    pub(crate) fn busy(&self) -> bool {
        matches!(self.session.state, State::Query(_)) || !self.session.queued.is_empty()
    }
}

impl Session {
    fn packet(&mut self, seq: u8, payload: &[u8]) -> Result<(), ProtoError> {
        if matches!(self.state, State::Idle) {
            // Nothing is due; a server going down may still say why.
            if payload.first() == Some(&0xFF) {
                let err = read_err(payload)?;
                return Err(ProtoError::Ended {
                    code: err.code,
                    message: err.message,
                });
            }
            return Err(ProtoError::Unexpected(
                "a packet while no query was running",
            ));
        }
        if seq != self.seq {
            return Err(ProtoError::OutOfSequence {
                expected: self.seq,
                got: seq,
            });
        }
        self.seq = self.seq.wrapping_add(1);
        match &mut self.state {
            State::Greeting => self.greeting(payload),
            State::Login { plugin } => {
                let plugin = *plugin;
                self.login(plugin, payload)
            }
            State::Query(answer) => {
                if let Some(event) = answer.packet(payload)? {
                    self.state = State::Idle;
                    if !self.quitting {
                        self.events.push_back(event);
                    }
                    self.next_command();
                }
                Ok(())
            }
            State::Idle | State::Closed => Ok(()),
        }
    }

    fn greeting(&mut self, payload: &[u8]) -> Result<(), ProtoError> {
        if payload.first() == Some(&0xFF) {
            // Refused before any greeting: too many connections, host blocked.
            let err = read_err(payload)?;
            return Err(ProtoError::Server {
                code: err.code,
                message: err.message,
            });
        }
        let greeting = read_greeting(payload)?;
        let version = greeting.version;
        let version = version
            .strip_prefix("5.5.5-")
            .filter(|v| !v.is_empty())
            .unwrap_or(&version);
        self.server_version = Some(version.to_owned());
        self.connection_id = Some(greeting.connection_id);
        self.deprecate_eof = greeting.capabilities & DEPRECATE_EOF != 0;

        // Answer for the server's default plugin if the monitor speaks it,
        // else as native: the server switches to the user's plugin if needed.
        let plugin_auth = greeting.capabilities & PLUGIN_AUTH != 0;
        let plugin = greeting
            .plugin
            .and_then(|name| Plugin::from_name(&name))
            .unwrap_or(Plugin::Native);
        let capabilities = LONG_PASSWORD
            | PROTOCOL_41
            | TRANSACTIONS
            | SECURE_CONNECTION
            | (greeting.capabilities & (PLUGIN_AUTH | DEPRECATE_EOF));
        let answer = plugin.answer(&self.password, &greeting.nonce);

        let mut p = Vec::with_capacity(64 + self.user.len());
        p.extend_from_slice(&capabilities.to_le_bytes());
        p.extend_from_slice(&(MAX_PAYLOAD as u32).to_le_bytes());
        p.push(CHARSET_UTF8MB4);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(self.user.as_bytes());
        p.push(0);
        p.push(answer.len() as u8);
        p.extend_from_slice(&answer);
        if plugin_auth {
            p.extend_from_slice(plugin.name().as_bytes());
            p.push(0);
        }
        self.send(&p);
        self.state = State::Login { plugin };
        Ok(())
    }

    fn login(&mut self, plugin: Plugin, payload: &[u8]) -> Result<(), ProtoError> {
        match payload.first() {
            Some(0x00) => {
                read_ok(payload)?;
                self.state = State::Idle;
                if !self.quitting {
                    self.events.push_back(Event::LoggedIn);
                }
                self.next_command();
                Ok(())
            }
            Some(0xFF) => {
                let err = read_err(payload)?;
                Err(ProtoError::Server {
                    code: err.code,
                    message: err.message,
                })
            }
            Some(0xFE) => self.auth_switch(payload),
            // caching_sha2_password's fast-auth result: 3 = the hash
            // matched, an OK follows; 4 = send the password itself.
            Some(0x01) if plugin == Plugin::CachingSha2 => match payload {
                [_, 3] => Ok(()),
                [_, 4] => Err(ProtoError::FullAuthRequired),
                _ => Err(ProtoError::Malformed("caching_sha2_password result")),
            },
            Some(0x01) => Err(ProtoError::Unexpected(
                "auth data for mysql_native_password",
            )),
            _ => Err(ProtoError::Malformed("answer to the login")),
        }
    }

    /// 0xFE, the plugin's name, then its data: for both plugins spoken
    /// here a new 20-byte nonce, which servers end with a NUL.
    fn auth_switch(&mut self, payload: &[u8]) -> Result<(), ProtoError> {
        if payload.len() == 1 {
            // The pre-4.1 switch, to mysql_old_password.
            return Err(ProtoError::UnsupportedPlugin(
                "mysql_old_password".to_owned(),
            ));
        }
        let mut r = Reader::new(&payload[1..], "auth switch request");
        let name = r.nul_str()?;
        let Some(plugin) = Plugin::from_name(name) else {
            return Err(ProtoError::UnsupportedPlugin(
                String::from_utf8_lossy(name).into_owned(),
            ));
        };
        let nonce = r.rest();
        if nonce.len() < NONCE_LEN {
            return Err(r.malformed());
        }
        let answer = plugin.answer(&self.password, &nonce[..NONCE_LEN]);
        self.send(&answer);
        self.state = State::Login { plugin };
        Ok(())
    }

    /// Sends the next command if none is in flight: the first queued
    /// query, or COM_QUIT once quitting.
    fn next_command(&mut self) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        if self.quitting {
            self.send_quit();
        } else if let Some(sql) = self.queued.pop_front() {
            let mut p = Vec::with_capacity(1 + sql.len());
            p.push(COM_QUERY);
            p.extend_from_slice(sql.as_bytes());
            self.seq = 0;
            self.send(&p);
            self.state = State::Query(Answer::new(self.deprecate_eof));
        }
    }

    fn send_quit(&mut self) {
        self.seq = 0;
        self.send(&[COM_QUIT]);
        self.state = State::Closed;
    }

    fn send(&mut self, payload: &[u8]) {
        self.seq = put_packet(&mut self.out, self.seq, payload);
    }
}

/// The greeting's fields the client uses.
#[derive(Debug)]
struct Greeting {
    version: String,
    connection_id: u32,
    capabilities: u32,
    /// The auth plugin data: 8 bytes, then the rest (12 for both plugins).
    nonce: Vec<u8>,
    plugin: Option<Vec<u8>>,
}

/// Reads a handshake v10: protocol version, server version (NUL ended),
/// connection id, nonce part 1 (8 bytes), a filler, capabilities (low 16
/// bits), charset, status, capabilities (high 16 bits), plugin data
/// length, 10 reserved bytes (MariaDB's extended capabilities in the last
/// four, not needed here), nonce part 2 and its NUL, the plugin name.
fn read_greeting(payload: &[u8]) -> Result<Greeting, ProtoError> {
    let mut r = Reader::new(payload, "greeting");
    if r.u8()? != 10 {
        return Err(ProtoError::OldServer);
    }
    let version = String::from_utf8_lossy(r.nul_str()?).into_owned();
    let connection_id = r.u32()?;
    let mut nonce = r.bytes(8)?.to_vec();
    r.u8()?;
    let low = r.u16()?;
    r.u8()?;
    r.u16()?;
    let high = r.u16()?;
    let capabilities = u32::from(low) | u32::from(high) << 16;
    if capabilities & (PROTOCOL_41 | SECURE_CONNECTION) != PROTOCOL_41 | SECURE_CONNECTION {
        return Err(ProtoError::OldServer);
    }
    let data_len = usize::from(r.u8()?);
    r.bytes(10)?;
    // The data length counts both parts and part 2's NUL; MySQL sends 0
    // without PLUGIN_AUTH, and 12 bytes then.
    let part2 = data_len.saturating_sub(9).max(12);
    nonce.extend_from_slice(r.bytes(part2)?);
    if nonce.len() < NONCE_LEN {
        return Err(r.malformed());
    }
    if !r.is_empty() {
        r.u8()?;
    }
    let plugin = if capabilities & PLUGIN_AUTH != 0 {
        // Some MySQL 5.5 servers omit the name's NUL.
        let rest = r.rest();
        let name = match rest.iter().position(|&b| b == 0) {
            Some(end) => &rest[..end],
            None => rest,
        };
        Some(name.to_vec())
    } else {
        None
    };
    Ok(Greeting {
        version,
        connection_id,
        capabilities,
        nonce,
        plugin,
    })
}
