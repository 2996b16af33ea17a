//! `bind ADDR[,ADDR...] [params]`: one [`Bind`] per address and port of
//! each range, all sharing the line's parameters.

use super::keywords::did_you_mean;
use super::model::*;
use super::parser::Diags;
use super::proxy::ProxyDraft;
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
}

use Param::{Flag, Value};

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
];

pub(super) fn parse(proxy: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let Some(list) = words.get(1) else {
        return d.error(
            loc,
            "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.",
        );
    };
    let mut template = Bind {
        addr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        v4v6: false,
        v6only: false,
        backlog: None,
        options: ListenOptions::default(),
        name: None,
        accept_proxy: false,
        location: loc.clone(),
    };
    let ctx = format!("'bind {list}'");
    let mut i = 2;
    while i < words.len() {
        let p = words[i].as_str();
        let arg = words.get(i + 1).map(String::as_str);
        if let Some((_, param)) = PARAMS.iter().find(|(k, _)| *k == p) {
            match (param, arg) {
                (Flag(set), _) => set(&mut template),
                (Value(_), None) => d.error(loc, format!("{ctx}: '{p}' expects an argument")),
                (Value(set), Some(v)) => {
                    i += 1;
                    if let Err(e) = set(&mut template, v) {
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
            let hint = did_you_mean(p, known.chain(UNSUPPORTED_BIND.iter().map(|(k, _)| *k)));
            d.error(
                loc,
                format!(
                    "{ctx} in section '{}': unknown keyword '{p}'{hint}",
                    proxy.kind.word()
                ),
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
    for one in list.split(',') {
        match parse_bind_addr(one) {
            Ok(addrs) => {
                proxy.binds.extend(addrs.into_iter().map(|addr| Bind {
                    addr,
                    ..template.clone()
                }));
            }
            Err(e) => d.error(loc, format!("'bind' : {e}")),
        }
    }
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
    ("ssl", false),
    ("crt", true),
    ("crt-list", true),
    ("ca-file", true),
    ("crl-file", true),
    ("verify", true),
    ("ciphers", true),
    ("ciphersuites", true),
    ("curves", true),
    ("ecdhe", true),
    ("alpn", true),
    ("npn", true),
    ("strict-sni", false),
    ("ssl-min-ver", true),
    ("ssl-max-ver", true),
    ("no-sslv3", false),
    ("no-tlsv10", false),
    ("no-tlsv11", false),
    ("no-tlsv12", false),
    ("no-tlsv13", false),
    ("force-sslv3", false),
    ("force-tlsv10", false),
    ("force-tlsv11", false),
    ("force-tlsv12", false),
    ("force-tlsv13", false),
    ("prefer-client-ciphers", false),
    ("generate-certificates", false),
    ("allow-0rtt", false),
    ("namespace", true),
    ("process", true),
    ("thread", true),
    ("nice", true),
    ("maxconn", true),
    ("id", true),
    ("level", true),
    ("mode", true),
    ("uid", true),
    ("gid", true),
    ("user", true),
    ("group", true),
    ("severity-output", true),
    ("expose-fd", true),
    ("accept-netscaler-cip", true),
    ("tcp-ut", true),
    ("proto", true),
    ("quic-cc-algo", true),
    ("quic-force-retry", false),
];
