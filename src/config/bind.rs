//! `bind ADDR[,ADDR...] [params]`: one [`Bind`] per address and port of
//! each range, all sharing the line's parameters. The TLS parameters are
//! read in `tls_bind.rs`.

use super::keywords::did_you_mean;
use super::model::*;
use super::parser::Diags;
use super::proxy::ProxyDraft;
use super::stats::{named_id, numeric_id, parse_mode};
use super::tls::TlsGlobal;
use super::tls_bind::{self, BindDraft};
use super::values::{parse_bind_addr, parse_int};

/// `bind ... backlog` upper bound (listen(2) takes an int).
const MAX_BACKLOG: i32 = i32::MAX;
/// `bind ... mss` bound on either side of zero (HAProxy).
const MAX_MSS: i32 = 65535;
/// Longest interface name the kernel takes (IFNAMSIZ less the NUL).
const MAX_IFNAME: usize = 15;

/// A bind parameter splicer implements.
pub(super) enum Param {
    Flag(fn(&mut Bind)),
    Value(fn(&mut Bind, &str) -> Result<(), String>),
    /// The UNIX socket parameters: HAProxy words their errors itself,
    /// a missing value included.
    Unix(fn(&mut Bind, Option<&str>) -> Result<(), String>),
}

use Param::{Flag, Unix, Value};

/// The order is the one typo suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const PARAMS: &[(&str, Param)] = &[
    ("v4v6", Flag(|b| b.v4v6 = true)),
    ("v6only", Flag(|b| b.v6only = true)),
    ("accept-proxy", Flag(|b| b.accept_proxy = true)),
    // 0: unset, the frontend's backlog applies (HAProxy).
    ("backlog", Value(|b, v| parse_int(v, 0, MAX_BACKLOG).map(|n| b.backlog = (n != 0).then_some(n)))),
    ("defer-accept", Flag(|b| b.options.defer_accept = true)),
    ("tfo", Flag(|b| b.options.tfo = true)),
    ("transparent", Flag(|b| b.options.transparent = true)),
    ("interface", Value(|b, v| interface(v).map(|i| b.options.interface = Some(i)))),
    ("mss", Value(|b, v| mss(v).map(|m| b.options.mss = Some(m)))),
    ("name", Value(|b, v| {
        b.name = Some(v.to_string());
        Ok(())
    })),
    ("mode", Unix(|b, v| parse_mode(v).map(|m| b.perms.mode = Some(m)))),
    ("user", Unix(|b, v| named_id("user", v).map(|u| b.perms.uid = Some(u)))),
    ("uid", Unix(|b, v| numeric_id("uid", v).map(|u| b.perms.uid = Some(u)))),
    ("group", Unix(|b, v| named_id("group", v).map(|g| b.perms.gid = Some(g)))),
    ("gid", Unix(|b, v| numeric_id("gid", v).map(|g| b.perms.gid = Some(g)))),
];

/// Longest UNIX socket path (HAProxy 2.6 keeps room in `sun_path` for the
/// `.PID.tmp` name it binds first).
const MAX_UNIX_PATH: usize = 97;
/// Longest abstract name (`sun_path` less the leading NUL).
const MAX_ABNS_NAME: usize = 107;

pub(super) fn parse(proxy: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let Some(list) = words.get(1) else {
        return d.error(
            loc,
            "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.",
        );
    };
    // `unix-bind` lines before this section: defaults the line overrides.
    let mut template = template(proxy.unix_bind.perms, loc);
    let ctx = format!("'bind {list}'");
    let mut tls = BindDraft::default();
    params(
        &mut template,
        Some((&mut tls, &proxy.tls)),
        &words[2..],
        &ctx,
        proxy.kind.word(),
        loc,
        d,
    );
    let line = tls_bind::Line { ctx: &ctx, loc };
    template.tls = tls_bind::finish(&tls, &proxy.tls, &proxy.name, list, &line, d);
    for one in list.split(',') {
        if let Some(addr) = unix_addr(one, proxy.unix_bind.prefix.as_deref()) {
            match addr {
                Ok(addr) => proxy.binds.push(Bind {
                    addr,
                    ..template.clone()
                }),
                Err(e) => d.error(loc, format!("'bind' : {e}")),
            }
            continue;
        }
        match parse_bind_addr(one) {
            Ok(addrs) => {
                proxy.binds.extend(addrs.into_iter().map(|addr| Bind {
                    addr: BindAddr::Tcp(addr),
                    ..template.clone()
                }));
            }
            Err(e) => d.error(loc, format!("'bind' : {e}")),
        }
    }
}

/// A bind before its address and parameters are read.
fn template(perms: UnixPerms, loc: &Location) -> Bind {
    Bind {
        addr: BindAddr::Tcp(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        perms,
        v4v6: false,
        v6only: false,
        backlog: None,
        options: ListenOptions::default(),
        name: None,
        accept_proxy: false,
        tls: None,
        location: loc.clone(),
    }
}

/// Checks the parameters of a bind line whose listener is not a proxy's
/// (a `peers` section's `bind` and `default-bind`): the same words and
/// messages, nothing kept; TLS is refused (the peers listener speaks in
/// clear).
pub(super) fn check_params(
    words: &[String],
    ctx: &str,
    section: &str,
    loc: &Location,
    d: &mut Diags,
) {
    params(
        &mut template(UnixPerms::default(), loc),
        None,
        words,
        ctx,
        section,
        loc,
        d,
    );
}

/// Applies the parameters `words` of a bind line to `template`, its TLS
/// ones to `tls` (with the global TLS defaults; `None`: TLS is refused);
/// `ctx` names the line in messages (`'bind ADDR'`), `section` the kind of
/// section it is in, as HAProxy's messages do. Every problem is reported.
pub(super) fn params(
    template: &mut Bind,
    mut tls: Option<(&mut BindDraft, &TlsGlobal)>,
    words: &[String],
    ctx: &str,
    section: &str,
    loc: &Location,
    d: &mut Diags,
) {
    let mut i = 0;
    while i < words.len() {
        let p = words[i].as_str();
        let arg = words.get(i + 1).map(String::as_str);
        if let Some((draft, global)) = tls.as_mut() {
            let line = tls_bind::Line { ctx, loc };
            if let Some(used) = tls_bind::param(draft, global, p, arg, &line, d) {
                i += used;
                continue;
            }
        } else if let Some((_, takes_value)) = tls_bind::params().find(|(k, _)| *k == p) {
            d.error(loc, format!("{ctx}: '{p}' is not supported yet"));
            i += if takes_value && arg.is_some() { 2 } else { 1 };
            continue;
        }
        if let Some((_, param)) = PARAMS.iter().find(|(k, _)| *k == p) {
            match (param, arg) {
                (Flag(set), _) => set(template),
                (Value(_), None) => d.error(loc, format!("{ctx}: '{p}' expects an argument")),
                (Unix(set), v) => {
                    i += 1;
                    if let Err(e) = set(template, v) {
                        d.error(loc, format!("{ctx} in section '{section}' : {e}"));
                    }
                }
                (Value(set), Some(v)) => {
                    i += 1;
                    if let Err(e) = set(template, v) {
                        d.error(loc, format!("{ctx}: '{p}': {e}"));
                    }
                }
            }
        } else if let Some(&(_, takes_value)) = UNSUPPORTED_BIND.iter().find(|(k, _)| *k == p) {
            d.error(loc, format!("{ctx}: '{p}' is not supported yet"));
            if takes_value {
                i += 1;
            }
        } else {
            let known = PARAMS.iter().map(|(k, _)| *k);
            let tls = tls_bind::params().map(|(k, _)| k);
            let hint = did_you_mean(
                p,
                known
                    .chain(tls)
                    .chain(UNSUPPORTED_BIND.iter().map(|(k, _)| *k)),
            );
            d.error(
                loc,
                format!("{ctx} in section '{section}': unknown keyword '{p}'{hint}"),
            );
        }
        i += 1;
    }
    if template.v4v6 && template.v6only {
        d.error(
            loc,
            format!("{ctx}: 'v4v6' and 'v6only' are mutually exclusive"),
        );
    }
}

/// `unix@PATH`, a path (starts with `/`), `abns@NAME`; `None` for an
/// address of another family. The `unix-bind` prefix goes before a path.
fn unix_addr(text: &str, prefix: Option<&str>) -> Option<Result<BindAddr, String>> {
    if let Some(name) = text.strip_prefix("abns@") {
        return Some(if name.len() > MAX_ABNS_NAME {
            Err(format!(
                "socket path '{text}' too long (max {MAX_ABNS_NAME})"
            ))
        } else {
            Ok(BindAddr::Abns(name.to_string()))
        });
    }
    let path = text
        .strip_prefix("unix@")
        .or_else(|| text.starts_with('/').then_some(text))?;
    let path = format!("{}{path}", prefix.unwrap_or(""));
    Some(if path.len() > MAX_UNIX_PATH {
        Err(format!(
            "socket path '{text}' too long (max {MAX_UNIX_PATH})"
        ))
    } else {
        Ok(BindAddr::Unix(path.into()))
    })
}

/// `interface NAME`: a name the kernel could know (it says at bind time
/// whether it does).
fn interface(v: &str) -> Result<String, String> {
    if v.is_empty()
        || v.len() > MAX_IFNAME
        || v.contains(['/', ':'])
        || v.contains(char::is_whitespace)
    {
        return Err(format!("'{v}' is not an interface name"));
    }
    Ok(v.to_string())
}

/// `mss N`: 1..65535 sets the MSS, -65535..-1 lowers the client's.
fn mss(v: &str) -> Result<i32, String> {
    match v.parse::<i32>() {
        Ok(n) if n != 0 && n.abs() <= MAX_MSS => Ok(n),
        _ => Err(format!(
            "expects an MSS with an absolute value between 1 and {MAX_MSS} (got '{v}')"
        )),
    }
}

/// `bind` parameters HAProxy has that splicer does not implement yet, and
/// whether each takes a value (skipped with it, so the error is reported once).
const UNSUPPORTED_BIND: &[(&str, bool)] = &[
    ("namespace", true),
    ("process", true),
    ("thread", true),
    ("nice", true),
    ("maxconn", true),
    ("id", true),
    ("level", true),
    ("severity-output", true),
    ("expose-fd", true),
    ("accept-netscaler-cip", true),
    ("tcp-ut", true),
    ("proto", true),
    ("quic-cc-algo", true),
    ("quic-force-retry", false),
];

#[cfg(test)]
mod tests {
    use crate::config::{BindAddr, UnixPerms};

    type Binds = Vec<(BindAddr, UnixPerms)>;

    fn binds(global: &str, bind: &str) -> Result<Binds, Vec<String>> {
        let text = format!(
            "global\n{global}\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             listen fe\n    {bind}\n    server s 127.0.0.1:1\n"
        );
        let l = crate::config::parse_str("t.cfg", &text)
            .map_err(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        Ok(l.config.frontends[0]
            .binds
            .iter()
            .map(|b| (b.addr.clone(), b.perms))
            .collect())
    }

    #[test]
    fn unix_binds_are_read_with_unix_bind_defaults() {
        let unix = |p: &str| BindAddr::Unix(p.into());
        let perms = |mode, uid, gid| UnixPerms { mode, uid, gid };
        let cases: &[(&str, &str, &str, Binds)] = &[
            (
                "unix@",
                "",
                "bind unix@/run/a.sock",
                vec![(unix("/run/a.sock"), perms(None, None, None))],
            ),
            (
                "a path",
                "",
                "bind /run/a.sock mode 660 uid 5 gid 6",
                vec![(unix("/run/a.sock"), perms(Some(0o660), Some(5), Some(6)))],
            ),
            (
                "abns",
                "",
                "bind abns@lb",
                vec![(BindAddr::Abns("lb".into()), perms(None, None, None))],
            ),
            (
                "a list",
                "",
                "bind unix@/a,abns@b",
                vec![
                    (unix("/a"), UnixPerms::default()),
                    (BindAddr::Abns("b".into()), UnixPerms::default()),
                ],
            ),
            (
                "prefix and defaults",
                "    unix-bind prefix /run/lb/ mode 600 uid 7",
                "bind unix@a.sock mode 640",
                vec![(unix("/run/lb/a.sock"), perms(Some(0o640), Some(7), None))],
            ),
            (
                "no prefix on abns",
                "    unix-bind prefix /run/lb/",
                "bind abns@x",
                vec![(BindAddr::Abns("x".into()), UnixPerms::default())],
            ),
        ];
        for (what, global, bind, want) in cases {
            assert_eq!(&binds(global, bind).unwrap(), want, "{what}");
        }
    }

    #[test]
    fn bad_unix_binds_are_haproxy_worded() {
        let long = format!("bind unix@/{}", "a".repeat(97));
        let cases = [
            (
                "bind unix@/a mode abc",
                "'bind unix@/a' in section 'listen' : 'mode' : missing or invalid mode 'abc' (octal integer expected)",
            ),
            (
                "bind unix@/a mode",
                "'bind unix@/a' in section 'listen' : 'mode' : missing or invalid mode '' (octal integer expected)",
            ),
            (
                "bind unix@/a gid",
                "'bind unix@/a' in section 'listen' : 'gid' : missing value",
            ),
            (
                "bind unix@/a user no-such-user-here",
                "'bind unix@/a' in section 'listen' : 'user' : unknown user name 'no-such-user-here'",
            ),
            (long.as_str(), "too long (max 97)"),
        ];
        for (bind, want) in cases {
            let errs = binds("", bind).unwrap_err();
            assert!(errs.iter().any(|e| e.contains(want)), "{bind}: {errs:?}");
        }
    }
}
