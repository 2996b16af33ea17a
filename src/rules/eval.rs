//! Evaluating the model: samples (fetch, then converters), ACLs,
//! conditions in three-valued logic, and rule lists that may stop to wait
//! for data and resume where they stopped (HAProxy's content rules).
//!
//! A fetch on bytes that may still grow ("may change") turns a failed
//! match into [`Verdict::Wait`]; a match stays a match. `!` keeps `Wait`;
//! AND and OR follow Kleene's logic, so a condition waits only when more
//! data could change its answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use parking_lot::Mutex;

use super::refs::PatternStore;
use super::table::{Table, Tracked};
use super::{Parsed, Sample, Verdict, hello, payload};
use crate::base::ids::{BackendId, ServerId};
use crate::config::pattern::MatchMethod;
use crate::config::{
    AclExpr, AclId, Action, Condition, Converter, Direction, Fetch, MapOutput, PayloadFetch,
    RuleSet, SampleExpr, TableRef, TcpRule, TemplatePart, TlsFetch, VarName, VarScope,
};
use std::sync::Arc;

/// What the engine asks of the connection being judged.
pub(crate) trait Facts {
    fn src(&self) -> Option<SocketAddr>;
    fn dst(&self) -> Option<SocketAddr>;
    /// The frontend's number and name.
    fn frontend(&self) -> (i64, &str);
    /// The backend chosen so far.
    fn backend(&self) -> Option<(i64, &str)>;
    fn bind_id(&self) -> i64;
    fn server_id(&self) -> Option<i64>;
    /// Usable servers of `b` (`None`: the current backend).
    fn nbsrv(&self, b: Option<BackendId>) -> Option<i64>;
    fn be_conn(&self, b: Option<BackendId>) -> Option<i64>;
    fn connslots(&self, b: Option<BackendId>) -> Option<i64>;
    fn srv_is_up(&self, b: BackendId, s: ServerId) -> bool;
    /// The bytes received so far on one side, and whether they are final
    /// (the buffer is full, the side closed, or the inspect delay ended);
    /// `None` where that side has no data at this point.
    fn data(&self, dir: Direction) -> Option<(&[u8], bool)>;
    /// The session's variables (`sess`, `txn`, `req`, `res` scopes).
    fn var(&self, v: &VarName) -> Option<Sample>;
    /// What the session's `n`-th `capture` action kept.
    fn captured(&self, n: usize) -> Option<Sample>;
    /// What stick counter `n` tracks.
    fn tracked(&self, n: usize) -> Option<&Tracked>;
    /// What the client's TLS connection answers to `q` (`ssl_fc` is
    /// false, the rest absent, on a plain connection).
    fn tls(&self, q: TlsFetch) -> Option<Sample> {
        (q == TlsFetch::Fc).then_some(Sample::Bool(false))
    }
}

/// What a rule list asks of the connection besides an answer.
pub(crate) trait Effects {
    fn set_var(&mut self, v: &VarName, s: Sample);
    fn unset_var(&mut self, v: &VarName);
    fn set_src(&mut self, ip: Option<IpAddr>, port: Option<u16>);
    fn set_dst(&mut self, ip: Option<IpAddr>, port: Option<u16>);
    fn expect_proxy(&mut self);
    fn capture(&mut self, s: Sample, len: usize);
    /// Stick counter `n` starts tracking (only when it tracks nothing yet).
    fn track(&mut self, n: usize, t: Tracked);
}

/// A sample and whether it may still change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    pub value: Option<Sample>,
    pub may_change: bool,
}

impl Fetched {
    fn some(s: Sample) -> Fetched {
        Fetched {
            value: Some(s),
            may_change: false,
        }
    }
    fn none() -> Fetched {
        Fetched {
            value: None,
            may_change: false,
        }
    }
}

/// How a rule list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// An `accept` rule, or no rule decided (the default).
    Accept,
    Reject,
    SilentDrop,
    /// `tcp-response content close`.
    Close,
    /// A condition waits for data: evaluate again from rule `at`.
    Wait {
        at: usize,
    },
}

/// The engine of one config: its pattern lists and the process's
/// variables.
#[derive(Debug, Default)]
pub(crate) struct Engine {
    pub patterns: PatternStore,
    proc_vars: Mutex<HashMap<String, Sample>>,
    /// The config's stick tables, by `TableId`.
    pub tables: Vec<Arc<Table>>,
}

impl Engine {
    pub(crate) fn new(
        patterns: &[crate::config::PatternRef],
        tables: &[crate::config::StickTable],
    ) -> Engine {
        Engine {
            patterns: PatternStore::new(patterns),
            proc_vars: Mutex::default(),
            tables: tables.iter().map(|t| Arc::new(Table::new(t))).collect(),
        }
    }

    pub(super) fn table(&self, r: &TableRef) -> Option<&Arc<Table>> {
        self.tables.get(r.id?.0)
    }

    /// Fetches and converts one sample.
    pub(crate) fn sample(&self, e: &SampleExpr, f: &dyn Facts) -> Fetched {
        let mut out = self.fetch(&e.fetch, f);
        for c in &e.converters {
            let Some(v) = out.value.take() else { break };
            out.value = self.convert(c, v);
        }
        out
    }

    fn fetch(&self, fetch: &Fetch, f: &dyn Facts) -> Fetched {
        use Sample::*;
        let int = |v: Option<i64>| v.map_or_else(Fetched::none, |i| Fetched::some(Int(i)));
        match fetch {
            Fetch::AlwaysTrue => Fetched::some(Bool(true)),
            Fetch::AlwaysFalse => Fetched::some(Bool(false)),
            Fetch::ConstInt(i) => Fetched::some(Int(*i)),
            Fetch::ConstBool(b) => Fetched::some(Bool(*b)),
            Fetch::ConstStr(s) => Fetched::some(Str(s.as_bytes().to_vec())),
            Fetch::Env(name) => std::env::var_os(name).map_or_else(Fetched::none, |v| {
                Fetched::some(Str(v.to_string_lossy().into_owned().into_bytes()))
            }),
            Fetch::Var(v) => self.var(v, f).map_or_else(Fetched::none, Fetched::some),
            Fetch::FeId => Fetched::some(Int(f.frontend().0)),
            Fetch::FeName => Fetched::some(Str(f.frontend().1.as_bytes().to_vec())),
            Fetch::BeId => int(f.backend().map(|b| b.0)),
            Fetch::BeName => f.backend().map_or_else(Fetched::none, |b| {
                Fetched::some(Str(b.1.as_bytes().to_vec()))
            }),
            Fetch::Tls(q) => f.tls(*q).map_or_else(Fetched::none, Fetched::some),
            Fetch::SoId => Fetched::some(Int(f.bind_id())),
            Fetch::SrvId => int(f.server_id()),
            Fetch::Nbsrv(b) => int(f.nbsrv(b.as_ref().and_then(|b| b.id))),
            Fetch::BeConn(b) => int(f.be_conn(b.as_ref().and_then(|b| b.id))),
            Fetch::Connslots(b) => int(f.connslots(b.as_ref().and_then(|b| b.id))),
            Fetch::SrvIsUp(b, _, s) => match (b.id, s) {
                (Some(b), Some(s)) => Fetched::some(Bool(f.srv_is_up(b, *s))),
                _ => Fetched::none(),
            },
            Fetch::Src => f
                .src()
                .map_or_else(Fetched::none, |a| Fetched::some(Ip(a.ip()))),
            Fetch::SrcPort => int(f.src().map(|a| a.port() as i64)),
            Fetch::Dst => f
                .dst()
                .map_or_else(Fetched::none, |a| Fetched::some(Ip(a.ip()))),
            Fetch::DstPort => int(f.dst().map(|a| a.port() as i64)),
            Fetch::WaitEnd => match f.data(Direction::Request) {
                Some((_, true)) => Fetched::some(Bool(true)),
                Some((_, false)) => Fetched {
                    value: None,
                    may_change: true,
                },
                None => Fetched::none(),
            },
            Fetch::Capture(n) => f.captured(*n).map_or_else(Fetched::none, Fetched::some),
            Fetch::ScTracked(n) => Fetched::some(Bool(f.tracked(*n).is_some())),
            Fetch::Sc { .. } | Fetch::SrcData { .. } | Fetch::TableCount(..) => {
                int(self.stick_fetch(fetch, f))
            }
            Fetch::Payload(dir, p) => match f.data(*dir) {
                None => Fetched::none(),
                Some((buf, last)) => payload_fetch(p, buf, last),
            },
        }
    }

    fn var(&self, v: &VarName, f: &dyn Facts) -> Option<Sample> {
        match v.scope {
            VarScope::Proc => self.proc_vars.lock().get(&v.name).cloned(),
            _ => f.var(v),
        }
    }

    fn convert(&self, c: &Converter, v: Sample) -> Option<Sample> {
        match c {
            Converter::Lower => Some(Sample::Str(v.to_bytes().to_ascii_lowercase())),
            Converter::Upper => Some(Sample::Str(v.to_bytes().to_ascii_uppercase())),
            Converter::Length => Some(Sample::Int(v.to_bytes().len() as i64)),
            Converter::IpMask { v4, v6 } => Some(Sample::Ip(match v.to_ip()? {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(*v4))),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128((*v6)?))),
            })),
            Converter::Map {
                output,
                patterns,
                default,
                ..
            } => {
                let list = self.patterns.refs.get(patterns.0)?;
                // A map converter uses the list's first way (the one it
                // registered; a list read by several converters with
                // different methods has one way per method).
                let way = list.ways.iter().position(|w| Some(w.0) == map_method(c))?;
                let text = list
                    .lookup(way, &v, |e| e.and_then(|e| e.value.clone()))
                    .or_else(|| default.clone())?;
                match output {
                    MapOutput::Str => Some(Sample::Str(text.into_bytes())),
                    MapOutput::Int => Sample::Str(text.into_bytes()).to_int().map(Sample::Int),
                    MapOutput::Ip => text.trim().parse().ok().map(Sample::Ip),
                }
            }
            Converter::Table { conv, table } => self.table_convert(*conv, table, &v),
        }
    }

    /// One ACL expression against its pattern list.
    fn expr(&self, e: &AclExpr, f: &dyn Facts) -> Verdict {
        if let Some(v) = self.alpn_expr(e, f) {
            return v;
        }
        let s = self.sample(&e.sample, f);
        let hit = s.value.as_ref().is_some_and(|v| {
            self.patterns
                .refs
                .get(e.patterns.0)
                .is_some_and(|r| r.matches(e.way, v))
        });
        match (hit, s.may_change) {
            (true, _) => Verdict::Match,
            (false, true) => Verdict::Wait,
            (false, false) => Verdict::NoMatch,
        }
    }

    /// `req.ssl_alpn` alone gives every protocol the client offers, as
    /// HAProxy's multi-valued fetch: the ACL matches when one matches.
    fn alpn_expr(&self, e: &AclExpr, f: &dyn Facts) -> Option<Verdict> {
        let Fetch::Payload(dir, PayloadFetch::SslAlpn) = &e.sample.fetch else {
            return None;
        };
        if !e.sample.converters.is_empty() {
            return None;
        }
        let Some((buf, last)) = f.data(*dir) else {
            return Some(Verdict::NoMatch);
        };
        let list = self.patterns.refs.get(e.patterns.0)?;
        Some(match hello::ssl_alpn_names(buf) {
            Parsed::Value(mut names) => {
                if names.any(|n| list.matches(e.way, &Sample::Str(n.to_vec()))) {
                    Verdict::Match
                } else {
                    Verdict::NoMatch
                }
            }
            Parsed::Absent => Verdict::NoMatch,
            Parsed::Incomplete if last => Verdict::NoMatch,
            Parsed::Incomplete => Verdict::Wait,
        })
    }

    /// An ACL: its expressions OR-ed.
    pub(crate) fn acl(&self, rs: &RuleSet, id: AclId, f: &dyn Facts) -> Verdict {
        let mut out = Verdict::NoMatch;
        for e in &rs.acls[id.0].exprs {
            match self.expr(e, f) {
                Verdict::Match => return Verdict::Match,
                Verdict::Wait => out = Verdict::Wait,
                Verdict::NoMatch => {}
            }
        }
        out
    }

    /// A condition; `None` (no condition) always matches.
    pub(crate) fn cond(&self, rs: &RuleSet, c: Option<&Condition>, f: &dyn Facts) -> Verdict {
        let Some(c) = c else { return Verdict::Match };
        let mut any = Verdict::NoMatch;
        for group in &c.any_of {
            let mut all = Verdict::Match;
            for t in group {
                let v = match (self.acl(rs, t.acl, f), t.negate) {
                    (Verdict::Match, true) => Verdict::NoMatch,
                    (Verdict::NoMatch, true) => Verdict::Match,
                    (v, _) => v,
                };
                match v {
                    Verdict::NoMatch => {
                        all = Verdict::NoMatch;
                        break;
                    }
                    Verdict::Wait => all = Verdict::Wait,
                    Verdict::Match => {}
                }
            }
            match all {
                Verdict::Match => {
                    any = Verdict::Match;
                    break;
                }
                Verdict::Wait => any = Verdict::Wait,
                Verdict::NoMatch => {}
            }
        }
        match (any, c.unless) {
            (Verdict::Match, true) => Verdict::NoMatch,
            (Verdict::NoMatch, true) => Verdict::Match,
            (v, _) => v,
        }
    }

    /// Runs `rules` from rule `from`: the first final action whose
    /// condition matches decides; other actions act and go on.
    pub(crate) fn run<F: Facts + Effects>(
        &self,
        rs: &RuleSet,
        rules: &[TcpRule],
        from: usize,
        f: &mut F,
    ) -> Decision {
        for (i, rule) in rules.iter().enumerate().skip(from) {
            match self.cond(rs, rule.cond.as_ref(), f) {
                Verdict::Wait => return Decision::Wait { at: i },
                Verdict::NoMatch => continue,
                Verdict::Match => {}
            }
            // The action's sample, once; one that needs bytes that may
            // still come waits for them, like a condition.
            let value = match rule.action.sample().map(|e| self.sample(e, &*f)) {
                Some(Fetched {
                    value: None,
                    may_change: true,
                }) => return Decision::Wait { at: i },
                Some(s) => s.value,
                None => None,
            };
            let port = || value.as_ref()?.to_int().and_then(|p| u16::try_from(p).ok());
            match &rule.action {
                Action::Accept => return Decision::Accept,
                Action::Reject => return Decision::Reject,
                Action::SilentDrop => return Decision::SilentDrop,
                Action::Close => return Decision::Close,
                Action::ExpectProxy => f.expect_proxy(),
                Action::SetVar(v, _) => {
                    if let Some(s) = value {
                        match v.scope {
                            VarScope::Proc => {
                                self.proc_vars.lock().insert(v.name.clone(), s);
                            }
                            _ => f.set_var(v, s),
                        }
                    }
                }
                Action::UnsetVar(v) => match v.scope {
                    VarScope::Proc => {
                        self.proc_vars.lock().remove(&v.name);
                    }
                    _ => f.unset_var(v),
                },
                Action::SetSrc(_) => {
                    if let Some(ip) = value.and_then(|s| s.to_ip()) {
                        f.set_src(Some(ip), None);
                    }
                }
                Action::SetDst(_) => {
                    if let Some(ip) = value.and_then(|s| s.to_ip()) {
                        f.set_dst(Some(ip), None);
                    }
                }
                Action::SetSrcPort(_) => {
                    if let Some(p) = port() {
                        f.set_src(None, Some(p));
                    }
                }
                Action::SetDstPort(_) => {
                    if let Some(p) = port() {
                        f.set_dst(None, Some(p));
                    }
                }
                Action::Capture { len, .. } => {
                    if let Some(s) = value {
                        f.capture(s, *len);
                    }
                }
                Action::Track { counter, table, .. } => {
                    if f.tracked(*counter).is_none()
                        && let Some(t) = self.table(table)
                        && let Some(key) = value.as_ref().and_then(|s| t.key(s))
                        && let Some(tracked) = t.track(key)
                    {
                        f.track(*counter, tracked);
                    }
                }
                Action::IncGpc { counter, gpc, idx } => {
                    if let Some(t) = f.tracked(*counter) {
                        t.table().inc_gp(t.entry(), *gpc, *idx);
                    }
                }
                Action::SetGpt {
                    counter, gpt, idx, ..
                } => {
                    if let Some(v) = value.as_ref().and_then(Sample::to_int)
                        && let Some(t) = f.tracked(*counter)
                    {
                        t.table().set_gp(t.entry(), *gpt, *idx, v);
                    }
                }
            }
        }
        Decision::Accept
    }

    /// A `%[...]` template as text (a sample that cannot be fetched is
    /// empty, as in HAProxy).
    pub(crate) fn render(&self, parts: &[TemplatePart], f: &dyn Facts) -> String {
        let mut out = String::new();
        for p in parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Sample(e) => {
                    if let Some(v) = self.sample(e, f).value {
                        out.push_str(&String::from_utf8_lossy(&v.to_bytes()));
                    }
                }
            }
        }
        out
    }
}

fn map_method(c: &Converter) -> Option<MatchMethod> {
    match c {
        Converter::Map { method, .. } => Some(*method),
        _ => None,
    }
}

fn mask32(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    }
}

fn mask128(bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits.min(128))
    }
}

/// A layer-6 fetch over the bytes so far; `last` says they are final.
fn payload_fetch(p: &PayloadFetch, buf: &[u8], last: bool) -> Fetched {
    use Sample::*;
    fn out<T>(r: Parsed<T>, last: bool, to: impl FnOnce(T) -> Sample) -> Fetched {
        match r {
            Parsed::Value(v) => Fetched::some(to(v)),
            Parsed::Absent => Fetched::none(),
            Parsed::Incomplete => Fetched {
                value: None,
                may_change: !last,
            },
        }
    }
    match p {
        // The length so far: it may still grow.
        PayloadFetch::Len => Fetched {
            value: Some(Int(buf.len() as i64)),
            may_change: !last,
        },
        PayloadFetch::Bytes { offset, len } => {
            let mut r = out(payload::payload(buf, *offset, *len), last, |b| {
                Bin(b.to_vec())
            });
            // Length 0: everything from the offset on, which grows as bytes
            // arrive (like `req.len`).
            if *len == 0 && r.value.is_some() {
                r.may_change = !last;
            }
            r
        }
        PayloadFetch::Lv { off1, len1, off2 } => {
            out(payload::payload_lv(buf, *off1, *len1, *off2), last, |b| {
                Bin(b.to_vec())
            })
        }
        PayloadFetch::SslHelloType => out(hello::ssl_hello_type(buf), last, Int),
        PayloadFetch::SslVer => out(hello::ssl_ver(buf), last, Int),
        PayloadFetch::SslSni => out(hello::ssl_sni(buf), last, |b| Str(b.to_vec())),
        PayloadFetch::SslAlpn => out(hello::ssl_alpn(buf), last, |b| Str(b.to_vec())),
        PayloadFetch::SslEcExt => out(hello::ssl_ec_ext(buf), last, Bool),
        PayloadFetch::RdpCookie(name) => {
            out(payload::rdp_cookie(buf, name.as_deref()), last, |b| {
                Str(b.to_vec())
            })
        }
        PayloadFetch::RdpCookieCnt(name) => match payload::rdp_cookie(buf, name.as_deref()) {
            // A count: 1 when the cookie is there, 0 when it cannot be (or
            // not yet: more bytes may bring it).
            Parsed::Value(_) => Fetched::some(Int(1)),
            Parsed::Absent => Fetched::some(Int(0)),
            Parsed::Incomplete => Fetched {
                value: Some(Int(0)),
                may_change: !last,
            },
        },
        PayloadFetch::ProtoHttp => out(payload::proto_http(buf), last, Bool),
    }
}
