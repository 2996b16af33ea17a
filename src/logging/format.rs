//! `log-format` strings: parsed once when the config loads into a list of
//! [`Node`]s, rendered for every logged session by the logger thread from a
//! [`Record`] and the names it points at. `option tcplog` is the format
//! [`TCPLOG`].

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use super::Record;
use crate::base::clock;

/// HAProxy's definition of `option tcplog`.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// A `%` variable splicer can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    /// Our side of the server connection.
    BackendIp,
    BackendPort,
    ServerIp,
    ServerPort,
    /// `%t`: accept date, local time, milliseconds.
    AcceptDate,
    /// `%T`: accept date, GMT.
    GmtDate,
    /// `%Tl`: accept date, local time with its offset.
    LocalDate,
    /// `%Ts`: accept date as a Unix timestamp.
    Timestamp,
    /// `%ms`: milliseconds of the accept date.
    Millis,
    FrontendTransport,
    Frontend,
    Backend,
    Server,
    Tw,
    Tc,
    Tt,
    Td,
    /// `%B`: server to client.
    BytesRead,
    /// `%U`: client to server.
    BytesUploaded,
    TermState,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BackendQueue,
    Pid,
    Hostname,
}

/// Names as written after `%`.
const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("bi", Var::BackendIp),
    ("bp", Var::BackendPort),
    ("si", Var::ServerIp),
    ("sp", Var::ServerPort),
    ("t", Var::AcceptDate),
    ("T", Var::GmtDate),
    ("Tl", Var::LocalDate),
    ("Ts", Var::Timestamp),
    ("ms", Var::Millis),
    ("ft", Var::FrontendTransport),
    ("f", Var::Frontend),
    ("b", Var::Backend),
    ("s", Var::Server),
    ("Tw", Var::Tw),
    ("Tc", Var::Tc),
    ("Tt", Var::Tt),
    ("Td", Var::Td),
    ("B", Var::BytesRead),
    ("U", Var::BytesUploaded),
    ("ts", Var::TermState),
    ("ac", Var::ActConn),
    ("fc", Var::FeConn),
    ("bc", Var::BeConn),
    ("sc", Var::SrvConn),
    ("rc", Var::Retries),
    ("sq", Var::SrvQueue),
    ("bq", Var::BackendQueue),
    ("pid", Var::Pid),
    ("H", Var::Hostname),
];

/// Variables HAProxy only has in HTTP mode (its error for a TCP proxy).
const HTTP_VARS: &[&str] = &[
    "CC", "CS", "HM", "HP", "HPO", "HQ", "HU", "HV", "Ta", "Ti", "Tq", "TR", "Tr", "r", "tr",
    "trg", "trl", "tsc",
];

/// Variables HAProxy has in TCP mode that splicer does not render yet.
const UNSUPPORTED_VARS: &[&str] = &[
    "ID", "ST", "Th", "Tu", "lc", "rt", "hr", "hrl", "hs", "hsl", "sslc", "sslv",
];

/// `%{+Q,+X,+E}`: quote, hexadecimal, escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub quote: bool,
    pub hex: bool,
    pub escape: bool,
}

impl Flags {
    /// Applies `+Q,-X,...`; anything else is ignored, as HAProxy does.
    fn apply(mut self, spec: &str) -> Flags {
        for item in spec.split(',') {
            let mut chars = item.chars();
            let on = match chars.next() {
                Some('+') => true,
                Some('-') => false,
                _ => continue,
            };
            match chars.as_str() {
                "Q" => self.quote = on,
                "X" => self.hex = on,
                "E" => self.escape = on,
                _ => {}
            }
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Text(String),
    Var(Var, Flags),
}

/// A parsed `log-format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub nodes: Vec<Node>,
}

impl LogFormat {
    pub fn uses(&self, var: Var) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n, Node::Var(v, _) if *v == var))
    }

    /// The `option tcplog` format.
    pub fn tcplog() -> LogFormat {
        parse(TCPLOG).expect("the tcplog format parses")
    }
}

/// Parses a format string; the error is HAProxy's reason after
/// `failed to parse log-format : `.
pub fn parse(src: &str) -> Result<LogFormat, String> {
    let mut nodes = Vec::new();
    let mut text = String::new();
    // `%o` flags, applied to every following variable.
    let mut all = Flags::default();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c != '%' {
            // HAProxy merges runs of spaces into one, escaped or not.
            if !(c == ' ' && text.ends_with(' ')) {
                text.push(c);
            }
            continue;
        }
        if let Some(r) = rest.strip_prefix('%') {
            text.push('%');
            rest = r;
            continue;
        }
        let mut flags = all;
        let mut spec = None;
        if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(format!("truncated line after '{r}'."));
            };
            flags = flags.apply(&r[..end]);
            spec = Some(&r[..end]);
            rest = &r[end + 1..];
        }
        if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("missing ']' after '{r}'."));
            };
            return Err(format!(
                "sample fetch expressions ('%[{}]') are not supported yet.",
                &r[..end]
            ));
        }
        let len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(len);
        rest = after;
        if name.is_empty() {
            return Err(match spec {
                Some(s) => {
                    format!("parse argument modifier without variable name near '%{{{s}}}'.")
                }
                None => "truncated line after '%'.".to_string(),
            });
        }
        if name == "o" {
            all = flags;
            continue;
        }
        let var = lookup(name)?;
        if !text.is_empty() {
            nodes.push(Node::Text(std::mem::take(&mut text)));
        }
        nodes.push(Node::Var(var, flags));
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    Ok(LogFormat { nodes })
}

fn lookup(name: &str) -> Result<Var, String> {
    if let Some((_, v)) = VARS.iter().find(|(n, _)| *n == name) {
        return Ok(*v);
    }
    if HTTP_VARS.contains(&name) {
        return Err(format!(
            "format variable '{name}' is reserved for HTTP mode."
        ));
    }
    if UNSUPPORTED_VARS.contains(&name) {
        return Err(format!("format variable '{name}' is not supported yet."));
    }
    Err(format!(
        "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'."
    ))
}

/// What a record's indices point at, looked up by the logger thread.
pub struct Names<'a> {
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `None` prints `<NOSRV>`.
    pub server: Option<&'a str>,
    pub server_addr: Option<SocketAddr>,
    pub hostname: &'a str,
    pub pid: u32,
}

/// Renders `fmt` for one session into `out`.
pub fn render(fmt: &LogFormat, r: &Record, names: &Names<'_>, out: &mut String) {
    for node in &fmt.nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Var(v, flags) => var(*v, *flags, r, names, out),
        }
    }
}

fn var(v: Var, f: Flags, r: &Record, n: &Names<'_>, out: &mut String) {
    let server = n.server_addr;
    match v {
        Var::ClientIp => ip(Some(r.client.ip()), f, out),
        Var::ClientPort => port(Some(r.client.port()), f, out),
        Var::FrontendIp => ip(Some(r.local.ip()), f, out),
        Var::FrontendPort => port(Some(r.local.port()), f, out),
        Var::BackendIp => ip(r.source.map(|a| a.ip()), f, out),
        Var::BackendPort => port(r.source.map(|a| a.port()), f, out),
        Var::ServerIp => ip(server.map(|a: SocketAddr| a.ip()), f, out),
        Var::ServerPort => port(server.map(|a| a.port()), f, out),
        Var::AcceptDate => clock::accept_date(r.accepted, out),
        Var::GmtDate => clock::gmt_date(r.accepted, out),
        Var::LocalDate => clock::local_date(r.accepted, out),
        Var::Timestamp => {
            let secs = clock::unix_secs(r.accepted);
            let _ = if f.hex {
                write!(out, "{secs:08X}")
            } else {
                write!(out, "{secs}")
            };
        }
        Var::Millis => {
            let _ = write!(out, "{:03}", clock::millis(r.accepted));
        }
        Var::FrontendTransport | Var::Frontend => name(n.frontend, f, out),
        Var::Backend => name(n.backend, f, out),
        Var::Server => name(n.server.unwrap_or("<NOSRV>"), f, out),
        Var::Tw => num(r.tw, out),
        Var::Tc => num(r.tc, out),
        Var::Tt => num(r.tt, out),
        Var::Td => {
            // The data phase: what is left of Tt after queue and connect.
            let td = if r.tw < 0 || r.tc < 0 {
                -1
            } else {
                r.tt - r.tw - r.tc
            };
            num(td, out)
        }
        Var::BytesRead => num(r.bytes_out, out),
        Var::BytesUploaded => num(r.bytes_in, out),
        Var::TermState => {
            out.push(r.term.cause);
            out.push(r.term.state);
        }
        Var::ActConn => num(r.actconn, out),
        Var::FeConn => num(r.feconn, out),
        Var::BeConn => num(r.beconn, out),
        Var::SrvConn => num(r.srvconn, out),
        Var::Retries => {
            if r.redispatched {
                out.push('+');
            }
            num(r.retries, out)
        }
        Var::SrvQueue => num(r.srv_queue, out),
        Var::BackendQueue => num(r.backend_queue, out),
        Var::Pid => {
            let _ = if f.hex {
                write!(out, "{:04X}", n.pid)
            } else {
                write!(out, "{}", n.pid)
            };
        }
        Var::Hostname => name(n.hostname, f, out),
    }
}

fn num(v: impl std::fmt::Display, out: &mut String) {
    let _ = write!(out, "{v}");
}

fn ip(a: Option<IpAddr>, f: Flags, out: &mut String) {
    let Some(a) = a else {
        out.push('-');
        return;
    };
    if f.hex {
        let _ = match a {
            IpAddr::V4(v4) => write!(out, "{:08X}", u32::from(v4)),
            IpAddr::V6(v6) => write!(out, "{:032X}", u128::from(v6)),
        };
    } else if f.quote {
        let _ = write!(out, "\"{a}\"");
    } else {
        let _ = write!(out, "{a}");
    }
}

fn port(p: Option<u16>, f: Flags, out: &mut String) {
    let _ = match p {
        None => write!(out, "-"),
        Some(p) if f.hex => write!(out, "{p:04X}"),
        Some(p) => write!(out, "{p}"),
    };
}

fn name(s: &str, f: Flags, out: &mut String) {
    if f.quote {
        out.push('"');
    }
    if f.escape {
        for c in s.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
    } else {
        out.push_str(s);
    }
    if f.quote {
        out.push('"');
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
