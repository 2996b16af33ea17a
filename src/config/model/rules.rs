//! The rule engine's model (HAProxy 2.6 configuration manual, sections 4
//! `tcp-request`/`tcp-response`/`use_backend`/`use-server` and 7): sample
//! expressions, ACLs, conditions, rules, and the pattern lists (files and
//! inline values) that the runtime API can edit. The engine that evaluates
//! them is the `rules` module.

use std::time::Duration;

use super::Location;
use crate::base::ids::{BackendId, ServerId};
use crate::config::pattern::MatchMethod;

/// A backend named in an expression, resolved after every section is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRef {
    pub name: String,
    /// Set by validation; `None` only while the config is being read.
    pub id: Option<BackendId>,
}

/// Where a variable lives (`proc.`, `sess.`, `txn.`, `req.`, `res.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarScope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
}

/// A variable: its scope and its name without the scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName {
    pub scope: VarScope,
    pub name: String,
}

impl std::fmt::Display for VarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = match self.scope {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
        };
        write!(f, "{scope}.{}", self.name)
    }
}

/// A sample fetch: what is known about a connection at layers 4 to 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    AlwaysTrue,
    AlwaysFalse,
    /// `int(N)`, `bool(B)`, `str(S)`: a constant.
    ConstInt(i64),
    ConstBool(bool),
    ConstStr(String),
    /// `env(NAME)`: read when evaluated, as HAProxy does.
    Env(String),
    Var(VarName),
    FeId,
    FeName,
    BeId,
    BeName,
    /// The bind's `id` (`so_id`).
    SoId,
    /// `nbsrv([backend])`: usable servers; `None` = the current backend.
    Nbsrv(Option<BackendRef>),
    BeConn(Option<BackendRef>),
    /// `connslots([backend])`: free connection and queue places.
    Connslots(Option<BackendRef>),
    /// `srv_is_up(backend/server)`.
    SrvIsUp(BackendRef, String, Option<ServerId>),
    Src,
    SrcPort,
    Dst,
    DstPort,
    /// The current server's number (`srv_id`), once one is chosen.
    SrvId,
    /// Layer 6, on the request (client) or response (server) bytes.
    Payload(Direction, PayloadFetch),
    /// `wait_end`: true only once the inspect delay has ended.
    WaitEnd,
    /// `ssl_fc*`, `ssl_c_*`: the client's TLS connection.
    Tls(super::TlsFetch),
    /// `capture.req.hdr(N)`: what the session's N-th `capture` action
    /// kept.
    Capture(usize),
    /// `scN_DATA` / `sc_DATA(N)`: what `data` does with the entry stick
    /// counter N tracks (`table`: the tracked key looked up there
    /// instead).
    Sc {
        counter: usize,
        data: super::StickOp,
        table: Option<super::TableRef>,
    },
    /// `src_DATA([table])`: ... with the client address's entry.
    SrcData {
        data: super::StickOp,
        table: super::TableRef,
    },
    /// `scN_tracked` / `sc_tracked(N)`.
    ScTracked(usize),
    /// `table_cnt([table])` / `table_avl([table])`.
    TableCount(super::TableCount, super::TableRef),
}

/// Which bytes a layer-6 fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFetch {
    Len,
    Bytes {
        offset: usize,
        len: usize,
    },
    Lv {
        off1: usize,
        len1: usize,
        off2: Option<i64>,
    },
    SslHelloType,
    SslSni,
    SslVer,
    SslAlpn,
    SslEcExt,
    RdpCookie(Option<String>),
    RdpCookieCnt(Option<String>),
    ProtoHttp,
}

/// The type of a sample, for default match methods and converter checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    Bool,
    Int,
    Ip,
    Str,
    Bin,
}

/// What a `map*` converter returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOutput {
    Str,
    Int,
    Ip,
}

/// A converter applied after a fetch (`src,ipmask(24)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converter {
    Lower,
    Upper,
    /// `ipmask(v4[,v6])`: prefix lengths.
    IpMask {
        v4: u8,
        v6: Option<u8>,
    },
    /// `length`: the byte length of a string.
    Length,
    /// `map*(file[,default])`: the value of the first matching key.
    Map {
        method: MatchMethod,
        output: MapOutput,
        patterns: PatternRefId,
        default: Option<String>,
    },
    /// `table_*(...,table)`, `in_table(table)`: the entry of the input
    /// sample in a stick table.
    Table {
        conv: super::TableConv,
        table: super::TableRef,
    },
}

/// A fetch and its converters, with the text it was written as (logs and
/// the runtime API show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    pub fetch: Fetch,
    pub converters: Vec<Converter>,
    pub text: String,
}

/// The number of a pattern list in [`Config::patterns`](super::Config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatternRefId(pub usize);

/// Whether a pattern list serves ACLs, maps or both (`show acl`, `show map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatternUse {
    pub acl: bool,
    pub map: bool,
}

/// One line of a pattern list: a key, and a value for maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternEntry {
    pub key: String,
    pub value: Option<String>,
}

/// A list of patterns the runtime API can edit: a file (`-f`, `-M`, map
/// converters), shared by every expression naming it, or the inline values
/// of one `acl` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternRef {
    /// HAProxy's `unique_id`: `#ID` in the runtime API.
    pub uid: u32,
    /// The file, for lists read from one.
    pub file: Option<String>,
    /// `show acl`'s description.
    pub description: String,
    pub used: PatternUse,
    pub entries: Vec<PatternEntry>,
    /// Every way an expression matches this list (method, `-i`): the
    /// engine keeps one index per way.
    pub ways: Vec<(MatchMethod, bool)>,
}

/// One `acl` line (or one anonymous condition term): a sample matched
/// against a pattern list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclExpr {
    pub sample: SampleExpr,
    pub method: MatchMethod,
    pub icase: bool,
    pub patterns: PatternRefId,
    /// The index of `(method, icase)` in the list's `ways`.
    pub way: usize,
}

/// A named ACL: its lines OR-ed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub name: String,
    pub exprs: Vec<AclExpr>,
}

/// The number of an ACL in its section's [`RuleSet::acls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CondTerm {
    pub negate: bool,
    pub acl: AclId,
}

/// `if|unless` terms: an OR of ANDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub unless: bool,
    pub any_of: Vec<Vec<CondTerm>>,
}

/// A `%[expr]` template (dynamic `use_backend` names): text and samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Sample(SampleExpr),
}

/// What a `tcp-request`/`tcp-response` rule does when its condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    /// `tcp-response content close`: close the server side.
    Close,
    SilentDrop,
    /// `tcp-request connection expect-proxy layer4`.
    ExpectProxy,
    SetVar(VarName, SampleExpr),
    UnsetVar(VarName),
    SetSrc(SampleExpr),
    SetDst(SampleExpr),
    SetSrcPort(SampleExpr),
    SetDstPort(SampleExpr),
    /// `capture EXPR len N`: kept for the log (`%[capture.req.hdr(N)]`).
    Capture {
        sample: SampleExpr,
        len: usize,
    },
    /// `track-scN KEY [table T]`.
    Track {
        counter: usize,
        key: SampleExpr,
        table: super::TableRef,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)` (`gpc` is `Gpc0` or `Gpc1`,
    /// which fall back to the `gpc` array as in HAProxy), or
    /// `sc-inc-gpc(IDX,N)` (`Gpc`, element `idx`).
    IncGpc {
        counter: usize,
        gpc: super::DataType,
        idx: usize,
    },
    /// `sc-set-gpt0(N) VALUE` (`Gpt0`) or `sc-set-gpt(IDX,N) VALUE`
    /// (`Gpt`, element `idx`).
    SetGpt {
        counter: usize,
        gpt: super::DataType,
        idx: usize,
        value: SampleExpr,
    },
}

impl Action {
    /// The sample the action reads, if any.
    pub fn sample(&self) -> Option<&SampleExpr> {
        match self {
            Action::SetVar(_, e)
            | Action::SetSrc(e)
            | Action::SetDst(e)
            | Action::SetSrcPort(e)
            | Action::SetDstPort(e)
            | Action::Capture { sample: e, .. }
            | Action::Track { key: e, .. }
            | Action::SetGpt { value: e, .. } => Some(e),
            _ => None,
        }
    }

    /// [`Self::sample`], to resolve the names it holds.
    pub fn sample_mut(&mut self) -> Option<&mut SampleExpr> {
        match self {
            Action::SetVar(_, e)
            | Action::SetSrc(e)
            | Action::SetDst(e)
            | Action::SetSrcPort(e)
            | Action::SetDstPort(e)
            | Action::Capture { sample: e, .. }
            | Action::Track { key: e, .. }
            | Action::SetGpt { value: e, .. } => Some(e),
            _ => None,
        }
    }

    /// Whether the rule ends the evaluation of its list.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Action::Accept | Action::Reject | Action::Close | Action::SilentDrop
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRule {
    pub action: Action,
    pub cond: Option<Condition>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchTarget {
    Backend(BackendRef),
    /// A name with `%[...]`: computed per connection; no such backend
    /// falls back to `default_backend`.
    Dynamic(Vec<TemplatePart>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    pub target: SwitchTarget,
    pub cond: Option<Condition>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseServer {
    pub name: String,
    /// Set by validation.
    pub server: Option<ServerId>,
    pub cond: Option<Condition>,
    pub location: Location,
}

/// What a `stick` rule does (HAProxy 2.6, section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickKind {
    /// `stick match`: a stored key sends the session to its server.
    Match,
    /// `stick on`: match, then store.
    On,
    /// `stick store-request`: the key is stored with the chosen server.
    StoreRequest,
    /// `stick store-response`: the same, with a key read on the
    /// server's side.
    StoreResponse,
}

impl StickKind {
    pub fn matches(self) -> bool {
        matches!(self, StickKind::Match | StickKind::On)
    }

    pub fn stores(self) -> bool {
        !matches!(self, StickKind::Match)
    }
}

/// A `stick match|on|store-request|store-response` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickRule {
    pub kind: StickKind,
    pub key: SampleExpr,
    /// The type `key` gives: the table's type must be reachable from it.
    pub key_type: SampleType,
    pub table: super::TableRef,
    pub cond: Option<Condition>,
    pub location: Location,
}

/// The ACLs and rules of one section (a `listen` section's frontend and
/// backend share one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    pub acls: Vec<Acl>,
    /// `tcp-request inspect-delay`.
    pub inspect_delay: Option<Duration>,
    pub connection: Vec<TcpRule>,
    pub session: Vec<TcpRule>,
    pub content: Vec<TcpRule>,
    /// `tcp-response inspect-delay`.
    pub response_delay: Option<Duration>,
    pub response: Vec<TcpRule>,
    pub use_backend: Vec<UseBackend>,
    pub use_server: Vec<UseServer>,
    /// `stick` rules, in order.
    pub stick: Vec<StickRule>,
    /// `option persist`: `use-server` and `stick` keep a server that is
    /// down.
    pub persist: bool,
    /// A `use_backend` rule reads the client's bytes: switching peeks.
    pub use_backend_reads_payload: bool,
    /// `monitor fail if|unless COND`: the `monitor-uri` answers 503 when
    /// one holds.
    pub monitor_fail: Vec<Condition>,
}

impl RuleSet {
    /// Every `tcp-request` and `tcp-response` rule.
    pub fn tcp_rules_mut(&mut self) -> impl Iterator<Item = &mut TcpRule> {
        self.connection
            .iter_mut()
            .chain(&mut self.session)
            .chain(&mut self.content)
            .chain(&mut self.response)
    }

    pub fn is_empty(&self) -> bool {
        self.connection.is_empty()
            && self.session.is_empty()
            && self.content.is_empty()
            && self.response.is_empty()
            && self.use_backend.is_empty()
            && self.use_server.is_empty()
            && self.stick.is_empty()
    }
}
