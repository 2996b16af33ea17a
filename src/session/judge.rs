//! What the rule engine sees of a connection ([`Judge`], the session's
//! side of `rules::Facts` and `rules::Effects`) and what rules leave in a
//! session ([`Vars`]: variables, captures, stick counters).

use std::net::{IpAddr, SocketAddr};

use super::*;
use crate::config::{Direction, STICK_COUNTERS, TlsFetch, VarName};
use crate::rules::table::Tracked;
use crate::rules::{Effects, Facts, Sample};

/// The session's variables (`sess`, `txn`, `req`, `res` scopes) and what
/// its `capture` actions kept, in their order. Most sessions have none:
/// one pointer until a rule sets something.
#[derive(Debug, Default, Clone)]
pub(crate) struct Vars(Option<Box<Kept>>);

#[derive(Debug, Default, Clone)]
struct Kept {
    vars: Vec<(VarName, Sample)>,
    captures: Vec<Sample>,
    /// The stick counters: the table entries it tracks.
    tracked: [Option<Tracked>; STICK_COUNTERS],
    /// `stick` rules: looked at (once a session), the server they chose
    /// and the keys the store rules keep for when the server is known.
    stick: Option<Stick>,
}

#[derive(Debug, Default, Clone)]
struct Stick {
    server: Option<ServerId>,
    stores: Vec<(crate::config::TableId, crate::rules::table::Key)>,
}

impl Vars {
    fn get(&self, v: &VarName) -> Option<&Sample> {
        let k = self.0.as_ref()?;
        k.vars.iter().find(|(n, _)| n == v).map(|(_, s)| s)
    }
    fn kept(&mut self) -> &mut Kept {
        self.0.get_or_insert_with(Box::default)
    }
    fn set(&mut self, v: &VarName, s: Sample) {
        let k = self.kept();
        match k.vars.iter_mut().find(|(n, _)| n == v) {
            Some(slot) => slot.1 = s,
            None => k.vars.push((v.clone(), s)),
        }
    }
    fn unset(&mut self, v: &VarName) {
        if let Some(k) = &mut self.0 {
            k.vars.retain(|(n, _)| n != v);
        }
    }
    fn captured(&self, n: usize) -> Option<&Sample> {
        self.0.as_ref()?.captures.get(n)
    }
    fn tracked(&self, n: usize) -> Option<&Tracked> {
        self.0.as_ref()?.tracked.get(n)?.as_ref()
    }
    /// What the `stick` rules said, once they ran: the server they
    /// chose, if any.
    pub(crate) fn stuck(&self) -> Option<Option<ServerId>> {
        self.0.as_ref()?.stick.as_ref().map(|s| s.server)
    }
    /// The `stick` rules ran: their server, and the keys to store.
    pub(crate) fn set_stick(
        &mut self,
        server: Option<ServerId>,
        stores: Vec<(crate::config::TableId, crate::rules::table::Key)>,
    ) {
        self.kept().stick = Some(Stick { server, stores });
    }
    /// The stuck server failed: the next pick is the algorithm's.
    pub(crate) fn unstick(&mut self) {
        if let Some(s) = self.0.as_mut().and_then(|k| k.stick.as_mut()) {
            s.server = None;
        }
    }
    /// The keys to store, once (the server is known).
    pub(crate) fn take_stores(
        &mut self,
    ) -> Vec<(crate::config::TableId, crate::rules::table::Key)> {
        self.0
            .as_mut()
            .and_then(|k| k.stick.as_mut())
            .map(|s| std::mem::take(&mut s.stores))
            .unwrap_or_default()
    }
    /// Every entry the session tracks.
    pub(crate) fn trackers(&self) -> impl Iterator<Item = &Tracked> {
        self.0.iter().flat_map(|k| k.tracked.iter().flatten())
    }
}

/// What the engine sees of a connection, and what rules change in it.
pub(crate) struct Judge<'a> {
    pub rt: &'a Runtime,
    pub frontend: FrontendId,
    pub backend: Option<BackendId>,
    pub server: Option<ServerId>,
    pub bind_id: u32,
    pub src: &'a mut SocketAddr,
    pub dst: &'a mut SocketAddr,
    pub unix: bool,
    pub vars: &'a mut Vars,
    pub request: Option<(&'a [u8], bool)>,
    pub response: Option<(&'a [u8], bool)>,
    pub expect_proxy: bool,
    /// The session exists (past its session rules).
    pub started: bool,
    /// The client's TLS connection (`bind ... ssl`).
    pub tls: Option<&'a crate::tls::TlsConn>,
}

impl Facts for Judge<'_> {
    fn src(&self) -> Option<SocketAddr> {
        (!self.unix).then_some(*self.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        (!self.unix).then_some(*self.dst)
    }
    fn frontend(&self) -> (i64, &str) {
        let fe = &self.rt.frontend(self.frontend).config;
        (fe.uid as i64, &fe.name)
    }
    fn backend(&self) -> Option<(i64, &str)> {
        let be = &self.rt.backend(self.backend?).config;
        Some((be.uid as i64, &be.name))
    }
    fn bind_id(&self) -> i64 {
        self.bind_id as i64
    }
    fn server_id(&self) -> Option<i64> {
        // Servers are numbered from 1 in their backend (`sid`).
        self.backend?;
        Some(self.server?.index() as i64 + 1)
    }
    fn nbsrv(&self, b: Option<BackendId>) -> Option<i64> {
        let (active, backup) = self.rt.backend(b.or(self.backend)?).usable_counts();
        Some(if active > 0 { active } else { backup } as i64)
    }
    fn be_conn(&self, b: Option<BackendId>) -> Option<i64> {
        Some(self.rt.backend(b.or(self.backend)?).active.get() as i64)
    }
    fn connslots(&self, b: Option<BackendId>) -> Option<i64> {
        let be = self.rt.backend(b.or(self.backend)?);
        let mut free = 0i64;
        for (s, cfg) in be.servers.iter().zip(&be.config.servers) {
            if !s.usable() {
                continue;
            }
            // A server without maxconn takes any number: so does the backend.
            let Some(max) = cfg.maxconn.filter(|m| *m > 0) else {
                return Some(-1);
            };
            free += max as i64 - s.active.get() as i64;
            free += cfg.maxqueue as i64;
        }
        Some(free.max(0))
    }
    fn srv_is_up(&self, b: BackendId, s: ServerId) -> bool {
        self.rt.backend(b).server(s).usable()
    }
    fn data(&self, dir: Direction) -> Option<(&[u8], bool)> {
        match dir {
            Direction::Request => self.request,
            Direction::Response => self.response,
        }
    }
    fn var(&self, v: &VarName) -> Option<Sample> {
        self.vars.get(v).cloned()
    }
    fn captured(&self, n: usize) -> Option<Sample> {
        self.vars.captured(n).cloned()
    }
    fn tracked(&self, n: usize) -> Option<&Tracked> {
        self.vars.tracked(n)
    }
    fn tls(&self, q: TlsFetch) -> Option<Sample> {
        let Some(t) = self.tls else {
            return (q == TlsFetch::Fc).then_some(Sample::Bool(false));
        };
        let i = t.info();
        let text = |v: &str| Sample::Str(v.as_bytes().to_vec());
        let cert = || i.peer_cert().and_then(|c| crate::tls::describe(c).ok());
        match q {
            TlsFetch::Fc => Some(Sample::Bool(true)),
            TlsFetch::FcSni => i.sni().map(text),
            TlsFetch::FcAlpn => i.alpn().map(|a| Sample::Str(a.to_vec())),
            TlsFetch::FcProtocol => i.version().map(text),
            TlsFetch::FcCipher => i.cipher().map(text),
            TlsFetch::CUsed => Some(Sample::Bool(i.peer_cert().is_some())),
            // A certificate that does not verify ends the handshake.
            TlsFetch::CVerify => Some(Sample::Int(0)),
            TlsFetch::CSubjectDn => cert().map(|c| text(&c.subject)),
            TlsFetch::CIssuerDn => cert().map(|c| text(&c.issuer)),
        }
    }
}

impl Effects for Judge<'_> {
    fn set_var(&mut self, v: &VarName, s: Sample) {
        self.vars.set(v, s);
    }
    fn unset_var(&mut self, v: &VarName) {
        self.vars.unset(v);
    }
    fn set_src(&mut self, ip: Option<IpAddr>, port: Option<u16>) {
        set_addr(self.src, ip, port);
    }
    fn set_dst(&mut self, ip: Option<IpAddr>, port: Option<u16>) {
        set_addr(self.dst, ip, port);
    }
    fn expect_proxy(&mut self) {
        self.expect_proxy = true;
    }
    fn track(&mut self, n: usize, t: Tracked) {
        // Tracked once the session exists: its session counters move now.
        if self.started {
            t.table().session_started(t.entry());
        }
        if let Some(slot) = self.vars.kept().tracked.get_mut(n) {
            slot.get_or_insert(t);
        }
    }
    fn capture(&mut self, s: Sample, len: usize) {
        let mut bytes = s.to_bytes().into_owned();
        bytes.truncate(len);
        self.vars.kept().captures.push(Sample::Str(bytes));
    }
}

fn set_addr(a: &mut SocketAddr, ip: Option<IpAddr>, port: Option<u16>) {
    if let Some(ip) = ip {
        // HAProxy keeps the port when only the address changes.
        *a = SocketAddr::new(ip, a.port());
    }
    if let Some(p) = port {
        a.set_port(p);
    }
}
