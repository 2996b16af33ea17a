//! Rendering a `log-format` ([`crate::config::logformat`]) for one logged
//! session, from its [`Record`] and the names its indices point at.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use crate::base::clock;
use crate::base::log::Record;
use crate::config::logformat::{Flags, LogFormat, Node, Var};

/// What a record's indices point at, looked up by the logger thread.
pub(crate) struct Names<'a> {
    pub frontend: &'a str,
    pub backend: &'a str,
    /// `None` prints `<NOSRV>`.
    pub server: Option<&'a str>,
    pub server_addr: Option<SocketAddr>,
    pub hostname: &'a str,
    pub pid: u32,
    /// `option logasap`: `%Tt` and `%B` may not be final; HAProxy marks
    /// them with `+` in every line of the frontend.
    pub logasap: bool,
}

/// Renders `fmt` for one session into `out`.
pub(crate) fn render(fmt: &LogFormat, r: &Record, names: &Names<'_>, out: &mut String) {
    for node in &fmt.nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Var(v, flags) => var(*v, *flags, r, names, out),
            Node::Sample(i, flags) => match r.samples.get(*i).and_then(Option::as_deref) {
                Some(s) => name(s, *flags, out),
                None => out.push('-'),
            },
        }
    }
}

fn var(v: Var, f: Flags, r: &Record, n: &Names<'_>, out: &mut String) {
    let server = n.server_addr;
    match v {
        Var::ClientIp | Var::FrontendIp if r.unix.is_some() => name("unix", f, out),
        Var::ClientPort | Var::FrontendPort if let Some(id) = r.unix => {
            let _ = write!(out, "{id}");
        }
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
        Var::Frontend => name(n.frontend, f, out),
        // HAProxy marks a TLS client with `~` after the frontend's name.
        Var::FrontendTransport if r.tls_version.is_some() => {
            name(&format!("{}~", n.frontend), f, out)
        }
        Var::FrontendTransport => name(n.frontend, f, out),
        Var::Backend => name(n.backend, f, out),
        Var::Server => name(n.server.unwrap_or("<NOSRV>"), f, out),
        Var::Tw => num(r.tw, out),
        Var::Tc => num(r.tc, out),
        Var::Tt => {
            plus(n, out);
            num(r.tt, out)
        }
        Var::Td => {
            // The data phase: what is left of Tt after queue and connect.
            let td = if r.tw < 0 || r.tc < 0 {
                -1
            } else {
                r.tt - r.tw - r.tc
            };
            num(td, out)
        }
        Var::BytesRead => {
            plus(n, out);
            num(r.bytes_out, out)
        }
        Var::BytesUploaded => num(r.bytes_in, out),
        Var::TermState => {
            out.extend(r.term.letters());
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
        Var::SslVersion => optional(r.tls_version, f, out),
        Var::SslCipher => optional(r.tls_cipher, f, out),
    }
}

fn plus(n: &Names<'_>, out: &mut String) {
    if n.logasap {
        out.push('+');
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

/// A text that may be absent: `-`, or `""` when quoted (HAProxy's
/// `lf_text`).
fn optional(s: Option<&str>, f: Flags, out: &mut String) {
    match s {
        Some(s) => name(s, f, out),
        None if f.quote => out.push_str("\"\""),
        None => out.push('-'),
    }
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
mod tests;
