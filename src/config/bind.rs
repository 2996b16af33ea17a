//! `bind ADDR[,ADDR...] [params]`: one [`Bind`] per address and port of
//! each range, all sharing the line's parameters.

use super::keywords::did_you_mean;
use super::model::*;
use super::parser::Diags;
use super::proxy::ProxyDraft;
use super::values::{parse_bind_addr, parse_int};

/// `bind ... backlog` upper bound (listen(2) takes an int).
const MAX_BACKLOG: i32 = i32::MAX;

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
    ("backlog", Value(|b, v| parse_int(v, 1, MAX_BACKLOG).map(|n| b.backlog = Some(n)))),
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
    ("interface", true),
    ("transparent", false),
    ("defer-accept", false),
    ("tfo", false),
    ("mss", true),
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
