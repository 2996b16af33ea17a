//! What the runtime API changed in the servers of a config, kept beside the
//! files so that it can be applied again: when the API changes something
//! (the config is parsed again with the change) and at every reload (the
//! new files with the changes that still fit them).
//!
//! `add server` lines are parsed as the files' `server` lines are, at the
//! end of their backend, but from a blank server (no `default-server`, as
//! HAProxy's dynamic servers) and with the keywords HAProxy 2.6 allows
//! there; `del server` leaves a server of the files out; the settings
//! (`check-addr`, `agent-send`, `ssl`...) are set on the parsed server.

use std::net::IpAddr;

use super::model::{Config, Location};
use super::parser::Parser;
use super::server::ServerParams;

/// Everything the runtime API changed in the servers, in the order it was
/// done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// `add server`, in order.
    pub added: Vec<AddedServer>,
    /// `del server` of a server of the files: (backend, server).
    pub deleted: Vec<(String, String)>,
    /// Settings changed on a server, the last of each kind only.
    pub settings: Vec<Setting>,
}

/// `add server BACKEND/NAME ADDR [params]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedServer {
    pub backend: String,
    pub name: String,
    pub addr: String,
    pub params: Vec<String>,
}

/// A server setting the runtime API changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub backend: String,
    pub server: String,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `set server check-addr|check-port`: what was given.
    CheckAddr(Option<IpAddr>, Option<u16>),
    /// `set server agent-addr|agent-port`.
    AgentAddr(Option<IpAddr>, Option<u16>),
    /// `set server agent-send`.
    AgentSend(String),
    /// `set server ssl on|off`.
    Ssl(bool),
}

impl Change {
    /// Changes that replace each other: an address and a port are set
    /// apart, so they are kept apart.
    fn kind(&self) -> (u8, bool, bool) {
        match self {
            Change::CheckAddr(a, p) => (0, a.is_some(), p.is_some()),
            Change::AgentAddr(a, p) => (1, a.is_some(), p.is_some()),
            Change::AgentSend(_) => (2, false, false),
            Change::Ssl(_) => (3, false, false),
        }
    }
}

/// Where the lines the runtime API added are said to be.
pub fn api_location() -> Location {
    Location {
        file: "runtime API".into(),
        line: 0,
    }
}

/// Server keywords HAProxy 2.6 refuses on `add server`.
const NOT_DYNAMIC: &[&str] = &[
    "cookie",
    "init-addr",
    "log-proto",
    "max-reuse",
    "namespace",
    "non-stick",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "stick",
    "no-agent-check",
    "no-check",
    "no-check-send-proxy",
    "no-check-ssl",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "no-ssl",
    "ssl-reuse",
    "tcp-ut",
];

/// The first keyword of `params` that `add server` refuses, if any.
/// (A value that happens to be such a word is refused too: no server
/// keyword takes one of these words as its value in practice.)
pub(super) fn refused_keyword(params: &[String]) -> Option<&str> {
    params
        .iter()
        .map(String::as_str)
        .find(|w| NOT_DYNAMIC.contains(w))
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deleted.is_empty() && self.settings.is_empty()
    }

    /// Adds a server (after a `del server` of a server of the files with
    /// the same name, the files' one stays left out).
    pub fn add(&mut self, server: AddedServer) {
        self.settings
            .retain(|x| !(x.backend == server.backend && x.server == server.name));
        self.added.push(server);
    }

    /// Deletes a server: one the API added is forgotten, one of the files
    /// is left out.
    pub fn delete(&mut self, backend: &str, server: &str) {
        self.settings
            .retain(|x| !(x.backend == backend && x.server == server));
        let before = self.added.len();
        self.added
            .retain(|a| !(a.backend == backend && a.name == server));
        let pair = (backend.to_string(), server.to_string());
        if self.added.len() == before && !self.deleted.contains(&pair) {
            self.deleted.push(pair);
        }
    }

    /// Sets a setting, replacing an earlier one of the same kind.
    pub fn set(&mut self, setting: Setting) {
        let kind = setting.change.kind();
        self.settings.retain(|x| {
            !(x.backend == setting.backend && x.server == setting.server && x.change.kind() == kind)
        });
        self.settings.push(setting);
    }

    /// The part of this overlay that fits `config` (the files alone): added
    /// servers whose backend exists and whose name is not in the files,
    /// deleted and changed servers that are. Returns it and a line for each
    /// change left out.
    pub fn fitting(&self, config: &Config) -> (Overlay, Vec<String>) {
        let mut kept = Overlay::default();
        let mut dropped = Vec::new();
        let server = |b: &str, s: &str| {
            config
                .backends
                .iter()
                .find(|x| x.name == b)
                .map(|x| x.servers.iter().any(|y| y.name == s))
        };
        for (b, s) in &self.deleted {
            if server(b, s) == Some(true) {
                kept.deleted.push((b.clone(), s.clone()));
            }
        }
        for a in &self.added {
            let replaces = kept.deleted.contains(&(a.backend.clone(), a.name.clone()));
            match server(&a.backend, &a.name) {
                Some(false) => kept.added.push(a.clone()),
                Some(true) if replaces => kept.added.push(a.clone()),
                Some(true) => dropped.push(format!(
                    "server {}/{} added at run time: the files now have a server of that name, theirs is used",
                    a.backend, a.name
                )),
                None => dropped.push(format!(
                    "server {}/{} added at run time is gone: no backend '{}' in the files",
                    a.backend, a.name, a.backend
                )),
            }
        }
        for x in &self.settings {
            let added = kept
                .added
                .iter()
                .any(|a| a.backend == x.backend && a.name == x.server);
            if added || server(&x.backend, &x.server) == Some(true) {
                kept.settings.push(x.clone());
            }
        }
        (kept, dropped)
    }
}

impl Parser<'_> {
    /// Leaves out the deleted servers and adds the added ones, before the
    /// drafts are validated.
    pub(super) fn apply_overlay(&mut self, overlay: &Overlay) {
        let loc = api_location();
        for (b, s) in &overlay.deleted {
            if let Some(p) = self
                .proxies
                .iter_mut()
                .find(|p| p.kind.back() && p.name == *b)
            {
                p.servers.retain(|x| x.name != *s);
            }
        }
        for a in &overlay.added {
            let Some(p) = self
                .proxies
                .iter_mut()
                .find(|p| p.kind.back() && p.name == a.backend)
            else {
                self.diags.error(&loc, "No such backend.");
                continue;
            };
            if let Some(word) = refused_keyword(&a.params) {
                self.diags.error(
                    &loc,
                    format!("'{word}' option is not accepted for dynamic server"),
                );
                continue;
            }
            p.add_server_from(
                ServerParams::default(),
                &a.name,
                &a.addr,
                &a.params,
                &loc,
                &mut self.diags,
            );
        }
    }
}

/// Sets the changed settings on the parsed servers.
pub(super) fn apply_settings(config: &mut Config, overlay: &Overlay) {
    for x in &overlay.settings {
        let Some(s) = config
            .backends
            .iter_mut()
            .find(|b| b.name == x.backend)
            .and_then(|b| b.servers.iter_mut().find(|s| s.name == x.server))
        else {
            continue;
        };
        match &x.change {
            Change::CheckAddr(addr, port) => {
                if addr.is_some() {
                    s.check.addr = *addr;
                }
                if let Some(p) = port {
                    // 0: the server's own port again.
                    s.check.port = (*p != 0).then_some(*p);
                }
            }
            Change::AgentAddr(addr, port) => {
                if addr.is_some() {
                    s.check.agent_addr = *addr;
                }
                if port.is_some() {
                    s.check.agent_port = *port;
                }
            }
            Change::AgentSend(text) => s.check.agent_send = Some(text.clone()),
            Change::Ssl(on) => {
                s.tls.switched_off |= s.tls.enabled && !on;
                s.tls.enabled = *on;
            }
        }
    }
}
