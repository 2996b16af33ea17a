//! Sample expressions (`fetch(args),converter(args),...`, HAProxy 2.6
//! configuration manual section 7.3) and `%[expr]` templates, read into
//! [`SampleExpr`]. Every fetch splicer knows is in [`FETCHES`], with its
//! output type, the match method an ACL uses by default, and where its data
//! exists; HTTP fetches are refused with the reason.

use super::model::*;
use super::pattern::MatchMethod;
use super::values::parse_int;

/// Where in a session's life a fetch has its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    /// Addresses, proxies, constants: from the connection's start.
    Connection,
    /// The client's TLS connection, once its handshake is done
    /// (`tcp-request session` and later; HAProxy's `L5CLI`).
    Session,
    /// The client's first bytes (`tcp-request content`, `use_backend`).
    Request,
    /// The server's first bytes (`tcp-response content`).
    Response,
}

type ArgsParser = fn(&[String]) -> Result<Fetch, String>;

/// A fetch keyword: its parser (given the arguments between parentheses),
/// output type, default ACL method, and stage.
pub(super) struct FetchKw {
    pub name: &'static str,
    parse: ArgsParser,
    pub output: SampleType,
    pub method: MatchMethod,
    pub stage: Stage,
}

const fn f(
    name: &'static str,
    parse: ArgsParser,
    output: SampleType,
    method: MatchMethod,
    stage: Stage,
) -> FetchKw {
    FetchKw {
        name,
        parse,
        output,
        method,
        stage,
    }
}

fn none(fetch: Fetch) -> impl Fn(&[String]) -> Result<Fetch, String> {
    move |args| match args {
        [] => Ok(fetch.clone()),
        _ => Err("takes no argument".into()),
    }
}

fn backend_arg(args: &[String]) -> Result<Option<BackendRef>, String> {
    match args {
        [] => Ok(None),
        [b] => Ok(Some(BackendRef {
            name: b.clone(),
            id: None,
        })),
        _ => Err("expects at most one argument (a backend)".into()),
    }
}

fn usize_arg(a: &str, what: &str) -> Result<usize, String> {
    parse_int(a, 0, usize::MAX).map_err(|e| format!("{what}: {e}"))
}

fn payload(dir: Direction, args: &[String]) -> Result<Fetch, String> {
    match args {
        [o, l] => Ok(Fetch::Payload(
            dir,
            PayloadFetch::Bytes {
                offset: usize_arg(o, "offset")?,
                len: usize_arg(l, "length")?,
            },
        )),
        _ => Err("expects 2 arguments (offset, length)".into()),
    }
}

fn payload_lv(dir: Direction, args: &[String]) -> Result<Fetch, String> {
    let (off1, len1, off2) = match args {
        [a, b] => (a, b, None),
        [a, b, c] => (a, b, Some(c)),
        _ => return Err("expects 2 or 3 arguments (offset1, length, [offset2])".into()),
    };
    let off2 = match off2 {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| format!("offset2: '{c}' is not an integer"))?,
        ),
        None => None,
    };
    Ok(Fetch::Payload(
        dir,
        PayloadFetch::Lv {
            off1: usize_arg(off1, "offset1")?,
            len1: usize_arg(len1, "length")?,
            off2,
        },
    ))
}

fn opt_name(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [] => Ok(None),
        [n] => Ok(Some(n.clone())),
        _ => Err("expects at most one argument".into()),
    }
}

fn req(p: PayloadFetch) -> Fetch {
    Fetch::Payload(Direction::Request, p)
}

fn tls(f: TlsFetch) -> impl Fn(&[String]) -> Result<Fetch, String> {
    none(Fetch::Tls(f))
}

/// `ssl_c_s_dn([entry[,occ[,format]]])`: the whole name only, for now.
fn dn(f: TlsFetch, args: &[String]) -> Result<Fetch, String> {
    match args {
        [] => Ok(Fetch::Tls(f)),
        _ => Err("arguments (an entry of the name, its format) are not supported yet".into()),
    }
}

use MatchMethod as M;
use SampleType as T;
use Stage::{Connection as C, Request as Q, Response as R, Session as S};

/// Every fetch splicer evaluates, by name; old names are aliases.
#[rustfmt::skip]
pub(super) const FETCHES: &[FetchKw] = &[
    f("always_true", |a| none(Fetch::AlwaysTrue)(a), T::Bool, M::Bool, C),
    f("always_false", |a| none(Fetch::AlwaysFalse)(a), T::Bool, M::Bool, C),
    f("int", |a| match a {
        [v] => v.parse().map(Fetch::ConstInt).map_err(|_| format!("'{v}' is not an integer")),
        _ => Err("expects one integer".into()),
    }, T::Int, M::Int, C),
    f("bool", |a| match a {
        [v] => match v.as_str() {
            "1" | "true" => Ok(Fetch::ConstBool(true)),
            "0" | "false" => Ok(Fetch::ConstBool(false)),
            _ => Err(format!("'{v}' is not a boolean")),
        },
        _ => Err("expects one boolean".into()),
    }, T::Bool, M::Bool, C),
    f("str", |a| match a {
        [v] => Ok(Fetch::ConstStr(v.clone())),
        _ => Err("expects one string".into()),
    }, T::Str, M::Str, C),
    f("env", |a| match a {
        [v] => Ok(Fetch::Env(v.clone())),
        _ => Err("expects an environment variable name".into()),
    }, T::Str, M::Str, C),
    f("var", |a| match a {
        [v] => parse_var(v).map(Fetch::Var),
        _ => Err("expects a variable name".into()),
    }, T::Str, M::Str, C),
    f("fe_id", |a| none(Fetch::FeId)(a), T::Int, M::Int, C),
    f("fe_name", |a| none(Fetch::FeName)(a), T::Str, M::Str, C),
    f("be_id", |a| none(Fetch::BeId)(a), T::Int, M::Int, C),
    f("be_name", |a| none(Fetch::BeName)(a), T::Str, M::Str, C),
    f("so_id", |a| none(Fetch::SoId)(a), T::Int, M::Int, C),
    f("srv_id", |a| none(Fetch::SrvId)(a), T::Int, M::Int, C),
    f("nbsrv", |a| backend_arg(a).map(Fetch::Nbsrv), T::Int, M::Int, C),
    f("be_conn", |a| backend_arg(a).map(Fetch::BeConn), T::Int, M::Int, C),
    f("connslots", |a| backend_arg(a).map(Fetch::Connslots), T::Int, M::Int, C),
    f("srv_is_up", |a| match a {
        // No backend: the proxy's own (an empty name until resolved).
        [v] => match v.split_once('/').unwrap_or(("", v)) {
            (b, s) if !s.is_empty() => Ok(Fetch::SrvIsUp(
                BackendRef { name: b.into(), id: None },
                s.into(),
                None,
            )),
            _ => Err(format!("'{v}' is not [BACKEND/]SERVER")),
        },
        _ => Err("expects one argument (BACKEND/SERVER)".into()),
    }, T::Bool, M::Bool, C),
    f("src", |a| none(Fetch::Src)(a), T::Ip, M::Ip, C),
    f("src_port", |a| none(Fetch::SrcPort)(a), T::Int, M::Int, C),
    f("dst", |a| none(Fetch::Dst)(a), T::Ip, M::Ip, C),
    f("dst_port", |a| none(Fetch::DstPort)(a), T::Int, M::Int, C),
    f("wait_end", |a| none(Fetch::WaitEnd)(a), T::Bool, M::Bool, Q),
    f("capture.req.hdr", |a| match a {
        [n] => n.parse().map(Fetch::Capture).map_err(|_| format!("'{n}' is not a capture number")),
        _ => Err("expects one argument (the capture number)".into()),
    }, T::Str, M::Str, C),
    f("req.len", |a| none(req(PayloadFetch::Len))(a), T::Int, M::Int, Q),
    f("req_len", |a| none(req(PayloadFetch::Len))(a), T::Int, M::Int, Q),
    f("req.payload", |a| payload(Direction::Request, a), T::Bin, M::Bin, Q),
    f("payload", |a| payload(Direction::Request, a), T::Bin, M::Bin, Q),
    f("req.payload_lv", |a| payload_lv(Direction::Request, a), T::Bin, M::Bin, Q),
    f("payload_lv", |a| payload_lv(Direction::Request, a), T::Bin, M::Bin, Q),
    f("req.ssl_hello_type", |a| none(req(PayloadFetch::SslHelloType))(a), T::Int, M::Int, Q),
    f("req_ssl_hello_type", |a| none(req(PayloadFetch::SslHelloType))(a), T::Int, M::Int, Q),
    f("req.ssl_sni", |a| none(req(PayloadFetch::SslSni))(a), T::Str, M::Str, Q),
    f("req_ssl_sni", |a| none(req(PayloadFetch::SslSni))(a), T::Str, M::Str, Q),
    f("req.ssl_ver", |a| none(req(PayloadFetch::SslVer))(a), T::Int, M::Int, Q),
    f("req_ssl_ver", |a| none(req(PayloadFetch::SslVer))(a), T::Int, M::Int, Q),
    f("req.ssl_alpn", |a| none(req(PayloadFetch::SslAlpn))(a), T::Str, M::Str, Q),
    f("req.ssl_ec_ext", |a| none(req(PayloadFetch::SslEcExt))(a), T::Bool, M::Bool, Q),
    f("req.rdp_cookie", |a| opt_name(a).map(|n| req(PayloadFetch::RdpCookie(n))), T::Str, M::Str, Q),
    f("rdp_cookie", |a| opt_name(a).map(|n| req(PayloadFetch::RdpCookie(n))), T::Str, M::Str, Q),
    f("req.rdp_cookie_cnt", |a| opt_name(a).map(|n| req(PayloadFetch::RdpCookieCnt(n))), T::Int, M::Int, Q),
    f("rdp_cookie_cnt", |a| opt_name(a).map(|n| req(PayloadFetch::RdpCookieCnt(n))), T::Int, M::Int, Q),
    f("req.proto_http", |a| none(req(PayloadFetch::ProtoHttp))(a), T::Bool, M::Bool, Q),
    f("req_proto_http", |a| none(req(PayloadFetch::ProtoHttp))(a), T::Bool, M::Bool, Q),
    f("res.len", |a| none(Fetch::Payload(Direction::Response, PayloadFetch::Len))(a), T::Int, M::Int, R),
    f("res.payload", |a| payload(Direction::Response, a), T::Bin, M::Bin, R),
    f("res.payload_lv", |a| payload_lv(Direction::Response, a), T::Bin, M::Bin, R),
    f("res.ssl_hello_type", |a| none(Fetch::Payload(Direction::Response, PayloadFetch::SslHelloType))(a), T::Int, M::Int, R),
    f("rep_ssl_hello_type", |a| none(Fetch::Payload(Direction::Response, PayloadFetch::SslHelloType))(a), T::Int, M::Int, R),
    f("ssl_fc", |a| tls(TlsFetch::Fc)(a), T::Bool, M::Bool, S),
    f("ssl_fc_sni", |a| tls(TlsFetch::FcSni)(a), T::Str, M::Str, S),
    f("ssl_fc_alpn", |a| tls(TlsFetch::FcAlpn)(a), T::Str, M::Str, S),
    f("ssl_fc_protocol", |a| tls(TlsFetch::FcProtocol)(a), T::Str, M::Str, S),
    f("ssl_fc_cipher", |a| tls(TlsFetch::FcCipher)(a), T::Str, M::Str, S),
    f("ssl_c_used", |a| tls(TlsFetch::CUsed)(a), T::Bool, M::Bool, S),
    f("ssl_c_verify", |a| tls(TlsFetch::CVerify)(a), T::Int, M::Int, S),
    f("ssl_c_s_dn", |a| dn(TlsFetch::CSubjectDn, a), T::Str, M::Str, S),
    f("ssl_c_i_dn", |a| dn(TlsFetch::CIssuerDn, a), T::Str, M::Str, S),
];

/// Prefixes of HAProxy's HTTP fetches, and of the TLS fetches splicer
/// does not have (those not in [`FETCHES`]): refused.
const HTTP_FETCH_PREFIXES: &[&str] = &[
    "hdr",
    "req.hdr",
    "res.hdr",
    "path",
    "url",
    "method",
    "status",
    "req.cook",
    "res.cook",
    "cook",
    "http_",
    "req.body",
    "base",
    "query",
    "capture.req.uri",
    "capture.req.method",
    "capture.req.ver",
    "capture.res",
    "req.fhdr",
    "res.fhdr",
    "req.ver",
    "res.ver",
    "ssl_fc",
    "ssl_c",
    "ssl_s",
    "ssl_bc",
];

pub(super) fn find_fetch(name: &str) -> Option<&'static FetchKw> {
    FETCHES.iter().find(|k| k.name == name)
}

/// `scope.name` → a variable (HAProxy's scopes; the name is kept as written).
pub(super) fn parse_var(v: &str) -> Result<VarName, String> {
    let (scope, name) = v
        .split_once('.')
        .ok_or_else(|| format!("invalid variable name '{v}': expects 'scope.name'"))?;
    let scope = match scope {
        "proc" => VarScope::Proc,
        "sess" => VarScope::Sess,
        "txn" => VarScope::Txn,
        "req" => VarScope::Req,
        "res" => VarScope::Res,
        _ => {
            return Err(format!(
                "invalid variable name '{v}': scope must be proc, sess, txn, req or res"
            ));
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!("invalid variable name '{v}'"));
    }
    Ok(VarName {
        scope,
        name: name.to_string(),
    })
}

/// A parsed expression and what the config needs to know about it.
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    pub expr: SampleExpr,
    /// The ACL method when no `-m` is given (`None`: `-m` is required).
    pub method: Option<MatchMethod>,
    pub stage: Stage,
    /// The type the expression gives (its last converter's).
    pub output: SampleType,
}

/// What converters need from the config: map files become pattern lists.
pub(super) trait MapFiles {
    fn map_file(&mut self, file: &str, method: MatchMethod) -> Result<PatternRefId, String>;
}

/// Splits `name(a,b),conv(c)` into items with their arguments.
fn items(text: &str) -> Result<Vec<(&str, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find([',', '(']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err(format!(
                "missing fetch method in sample expression '{text}'"
            ));
        }
        rest = &rest[end..];
        let mut args = Vec::new();
        if let Some(r) = rest.strip_prefix('(') {
            let close = r
                .find(')')
                .ok_or_else(|| format!("missing closing ')' after arguments to '{name}'"))?;
            let inner = &r[..close];
            if !inner.is_empty() {
                args = inner.split(',').map(|a| a.trim().to_string()).collect();
            }
            rest = &r[close + 1..];
        }
        out.push((name, args));
        if rest.is_empty() {
            return Ok(out);
        }
        match rest.strip_prefix(',') {
            Some(r) => rest = r,
            None => return Err(format!("unexpected '{rest}' after '{name}'")),
        }
    }
}

/// Parses one sample expression.
pub(super) fn parse(text: &str, maps: &mut dyn MapFiles) -> Result<Parsed, String> {
    let items = items(text)?;
    let (name, args) = &items[0];
    if let Some(sc) = super::stick_samples::fetch(name, args) {
        let (fetch, output) = sc.map_err(|e| format!("fetch method '{name}': {e}"))?;
        let mut expr = SampleExpr {
            fetch,
            converters: Vec::new(),
            text: text.to_string(),
        };
        let mut output = output;
        for (conv, args) in &items[1..] {
            let (c, out) = converter(conv, args, output, maps)
                .map_err(|e| format!("converter '{conv}': {e}"))?;
            expr.converters.push(c);
            output = out;
        }
        return Ok(Parsed {
            expr,
            method: default_method(output),
            stage: Stage::Connection,
            output,
        });
    }
    let Some(kw) = find_fetch(name) else {
        if HTTP_FETCH_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return Err(format!(
                "fetch method '{name}' needs mode http; splicer is a TCP load balancer"
            ));
        }
        return Err(format!("unknown fetch method '{name}'"));
    };
    let fetch = (kw.parse)(args).map_err(|e| format!("fetch method '{name}': {e}"))?;
    let mut output = kw.output;
    let mut converters = Vec::new();
    for (conv, args) in &items[1..] {
        let (c, out) =
            converter(conv, args, output, maps).map_err(|e| format!("converter '{conv}': {e}"))?;
        converters.push(c);
        output = out;
    }
    // Binary samples and variables have no default method (HAProxy's
    // table in 7.1): an ACL must say `-m`.
    let method = if converters.is_empty() && kw.name != "var" && kw.output != SampleType::Bin {
        Some(kw.method)
    } else if converters.is_empty() {
        None
    } else {
        default_method(output)
    };
    Ok(Parsed {
        expr: SampleExpr {
            fetch,
            converters,
            text: text.to_string(),
        },
        method,
        stage: kw.stage,
        output,
    })
}

fn default_method(t: SampleType) -> Option<MatchMethod> {
    match t {
        SampleType::Bool => Some(MatchMethod::Bool),
        SampleType::Int => Some(MatchMethod::Int),
        SampleType::Ip => Some(MatchMethod::Ip),
        SampleType::Str => Some(MatchMethod::Str),
        SampleType::Bin => None,
    }
}

fn converter(
    name: &str,
    args: &[String],
    input: SampleType,
    maps: &mut dyn MapFiles,
) -> Result<(Converter, SampleType), String> {
    let no_args = |c: Converter, out: SampleType| match args {
        [] => Ok((c, out)),
        _ => Err("takes no argument".to_string()),
    };
    match name {
        "lower" => no_args(Converter::Lower, SampleType::Str),
        "upper" => no_args(Converter::Upper, SampleType::Str),
        "length" => no_args(Converter::Length, SampleType::Int),
        "ipmask" => {
            if !matches!(input, SampleType::Ip | SampleType::Str) {
                return Err("expects an address".into());
            }
            let (v4, v6) = match args {
                [a] => (a, None),
                [a, b] => (a, Some(b)),
                _ => return Err("expects 1 or 2 arguments (IPv4 mask, IPv6 mask)".into()),
            };
            Ok((
                Converter::IpMask {
                    v4: mask_len(v4, 32)?,
                    v6: v6.map(|m| mask_len(m, 128)).transpose()?,
                },
                SampleType::Ip,
            ))
        }
        _ if name.starts_with("map") => {
            let (method, output) =
                map_kind(name).ok_or_else(|| "unknown map converter".to_string())?;
            let (file, default) = match args {
                [f] => (f, None),
                [f, d] => (f, Some(d.clone())),
                _ => return Err("expects 1 or 2 arguments (file, default value)".into()),
            };
            let patterns = maps.map_file(file, method)?;
            let out = match output {
                MapOutput::Str => SampleType::Str,
                MapOutput::Int => SampleType::Int,
                MapOutput::Ip => SampleType::Ip,
            };
            Ok((
                Converter::Map {
                    method,
                    output,
                    patterns,
                    default,
                },
                out,
            ))
        }
        _ => match super::stick_samples::converter(name, args) {
            Some(c) => c,
            None => Err("unknown converter".into()),
        },
    }
}

/// `map`, `map_str`, `map_beg_int`, `map_ip_str`...: method and output.
fn map_kind(name: &str) -> Option<(MatchMethod, MapOutput)> {
    let rest = name.strip_prefix("map")?;
    let mut parts = rest.split('_').skip(1);
    let method = match parts.next() {
        None => return Some((MatchMethod::Str, MapOutput::Str)),
        Some(m) => MatchMethod::from_name(m)?,
    };
    let output = match parts.next() {
        None | Some("str") => MapOutput::Str,
        Some("int") => MapOutput::Int,
        Some("ip") => MapOutput::Ip,
        Some(_) => return None,
    };
    if parts.next().is_some() || matches!(method, MatchMethod::Found | MatchMethod::Bool) {
        return None;
    }
    Some((method, output))
}

fn mask_len(text: &str, max: u8) -> Result<u8, String> {
    if let Ok(n) = text.parse::<u8>()
        && n <= max
    {
        return Ok(n);
    }
    if max == 32
        && let Ok(m) = text.parse::<std::net::Ipv4Addr>()
    {
        let bits = u32::from(m);
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            return Ok(bits.leading_ones() as u8);
        }
    }
    Err(format!("'{text}' is not a valid mask"))
}

/// A `%[expr]` template: a `use_backend` name.
pub(super) fn template(text: &str, maps: &mut dyn MapFiles) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("%[") {
        if start > 0 {
            parts.push(TemplatePart::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find(']')
            .ok_or_else(|| format!("missing ']' after '{after}'"))?;
        let p = parse(&after[..end], maps)?;
        if p.stage == Stage::Response {
            return Err(format!("'{}' fetches response data", &after[..end]));
        }
        parts.push(TemplatePart::Sample(p.expr));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_string()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoMaps;
    impl MapFiles for NoMaps {
        fn map_file(&mut self, _: &str, _: MatchMethod) -> Result<PatternRefId, String> {
            Ok(PatternRefId(7))
        }
    }

    #[test]
    fn expressions() {
        let p = parse("src,ipmask(24)", &mut NoMaps).unwrap();
        assert_eq!(p.expr.fetch, Fetch::Src);
        assert_eq!(
            p.expr.converters,
            vec![Converter::IpMask { v4: 24, v6: None }]
        );
        assert_eq!(p.method, Some(MatchMethod::Ip));
        let p = parse("req.payload(0,4)", &mut NoMaps).unwrap();
        assert_eq!(p.expr.fetch, req(PayloadFetch::Bytes { offset: 0, len: 4 }));
        assert_eq!(p.stage, Stage::Request);
        let p = parse("req.ssl_sni,lower,map_str(/x.map,def)", &mut NoMaps).unwrap();
        assert_eq!(p.method, Some(MatchMethod::Str));
        assert!(matches!(
            p.expr.converters[1],
            Converter::Map {
                patterns: PatternRefId(7),
                ..
            }
        ));
        let p = parse("dst_port,map_int_str(/x)", &mut NoMaps).unwrap();
        assert!(matches!(
            p.expr.converters[0],
            Converter::Map {
                method: MatchMethod::Int,
                output: MapOutput::Str,
                ..
            }
        ));
    }

    #[test]
    fn errors_say_why() {
        let cases: &[(&str, &str)] = &[
            ("nosuch", "unknown fetch method 'nosuch'"),
            ("hdr(host)", "needs mode http"),
            ("sc3_conn_rate", "not a stick counter"),
            ("src,nosuch", "converter 'nosuch': unknown converter"),
            ("req.payload(0)", "expects 2 arguments"),
            ("src,ipmask(33)", "not a valid mask"),
            ("var(foo)", "expects 'scope.name'"),
            ("req.payload(0,4", "missing closing ')'"),
        ];
        for (text, want) in cases {
            let e = parse(text, &mut NoMaps).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn templates() {
        let t = template("be_%[dst_port]_x", &mut NoMaps).unwrap();
        assert_eq!(t.len(), 3);
        assert!(matches!(&t[1], TemplatePart::Sample(s) if s.fetch == Fetch::DstPort));
        assert!(template("be_%[dst_port", &mut NoMaps).is_err());
    }
}
