//! `stats` lines of the global section: the runtime API sockets
//! (`stats socket`), their idle timeout and client limit. Messages follow
//! HAProxy 2.6's wording where it has one.

use std::path::PathBuf;

use super::keywords::did_you_mean;
use super::model::*;
use super::parser::Diags;
use super::values::{parse_bind_addr, parse_int, parse_time};

/// A `stats socket` parameter splicer implements; each takes a value.
pub(super) enum SocketParam {
    /// Applies the value (`None` when the line ends), or says why it cannot.
    Set(fn(&mut StatsSocket, Option<&str>) -> Result<(), String>),
    /// Accepted and ignored, with this reason in a warning.
    Ignored(&'static str),
}

use SocketParam::{Ignored, Set};

/// The order is the one typo suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const SOCKET_PARAMS: &[(&str, SocketParam)] = &[
    ("level", Set(level)),
    ("mode", Set(mode)),
    ("uid", Set(|s, v| numeric_id("uid", v).map(|id| s.uid = Some(id)))),
    ("gid", Set(|s, v| numeric_id("gid", v).map(|id| s.gid = Some(id)))),
    ("user", Set(|s, v| named_id("user", v).map(|id| s.uid = Some(id)))),
    ("group", Set(|s, v| named_id("group", v).map(|id| s.gid = Some(id)))),
    ("expose-fd", Ignored("splicer reloads in place and passes no listener to another process")),
];

/// Bind parameters HAProxy accepts on a stats socket that splicer does not
/// implement, and whether each takes a value.
const UNSUPPORTED_SOCKET_PARAMS: &[(&str, bool)] = &[
    ("accept-proxy", false),
    ("severity-output", true),
    ("process", true),
    ("thread", true),
    ("nice", true),
    ("maxconn", true),
    ("name", true),
    ("id", true),
    ("ssl", false),
    ("crt", true),
    ("interface", true),
    ("namespace", true),
    ("defer-accept", false),
    ("transparent", false),
    ("v4v6", false),
    ("v6only", false),
    ("backlog", true),
];

/// Applies one `stats ...` line of the global section.
pub(super) fn global(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    let sub = words.get(1).map_or("", String::as_str);
    let arg = words.get(2).map(String::as_str);
    match sub {
        "socket" => {
            if let Some(mut s) = socket(words, loc, d) {
                // `unix-bind` lines before this one: defaults, and the prefix.
                let u = &g.unix_bind;
                if let StatsAddr::Unix(path) = &mut s.addr {
                    if let Some(prefix) = &u.prefix {
                        *path = PathBuf::from(format!("{prefix}{}", path.display()));
                    }
                    s.mode = s.mode.or(u.perms.mode);
                    s.uid = s.uid.or(u.perms.uid);
                    s.gid = s.gid.or(u.perms.gid);
                }
                g.stats_sockets.push(s);
            }
            return;
        }
        "timeout" => match arg.map(|v| parse_time(v, 1000)) {
            None => d.error(loc, "'stats timeout' expects a positive value"),
            Some(Err(e)) => d.error(loc, format!("'stats timeout' : {e}")),
            Some(Ok(t)) if t.is_zero() => d.error(loc, "'stats timeout' expects a positive value"),
            Some(Ok(t)) => g.stats_timeout = t,
        },
        "maxconn" => match arg.map(|v| parse_int::<usize>(v, 1, usize::MAX)) {
            Some(Ok(n)) => g.stats_maxconn = n,
            _ => d.error(loc, "'stats maxconn' expects a positive value"),
        },
        "bind-process" => {
            d.warn(
                loc,
                "'stats bind-process' ignored: splicer runs a single process",
            );
            return;
        }
        other => {
            return d.error(
                loc,
                format!(
                    "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')"
                ),
            );
        }
    }
    if let Some(extra) = words.get(3) {
        d.error(
            loc,
            format!("'stats {sub}' cannot handle unexpected argument '{extra}'"),
        );
    }
}

/// `stats socket ADDR [params]`; `None` after reporting an error.
fn socket(words: &[String], loc: &Location, d: &mut Diags) -> Option<StatsSocket> {
    let Some(addr) = words.get(2) else {
        d.error(
            loc,
            "'stats socket' in global section expects an address or a path to a UNIX socket",
        );
        return None;
    };
    let addr = match stats_addr(addr) {
        Ok(a) => a,
        Err(e) => {
            d.error(loc, format!("'stats socket' : {e}"));
            return None;
        }
    };
    let mut s = StatsSocket {
        addr,
        mode: None,
        uid: None,
        gid: None,
        level: DEFAULT_STATS_LEVEL,
        location: loc.clone(),
    };
    let errors = d.errors.len();
    let mut i = 3;
    while i < words.len() {
        let p = words[i].as_str();
        let v = words.get(i + 1).map(String::as_str);
        if let Some((_, param)) = SOCKET_PARAMS.iter().find(|(k, _)| *k == p) {
            match param {
                Set(set) => {
                    if let Err(e) = set(&mut s, v) {
                        d.error(loc, format!("'stats socket' : {e}"));
                    }
                }
                Ignored(why) => {
                    d.warn(loc, format!("'stats socket' : '{p}' ignored: {why}"));
                }
            }
            i += 2;
        } else if let Some(&(_, takes)) = UNSUPPORTED_SOCKET_PARAMS.iter().find(|(k, _)| *k == p) {
            d.error(loc, format!("'stats socket' : '{p}' is not supported yet"));
            i += 1 + usize::from(takes);
        } else {
            let known = SOCKET_PARAMS
                .iter()
                .map(|(k, _)| *k)
                .chain(UNSUPPORTED_SOCKET_PARAMS.iter().map(|(k, _)| *k));
            let hint = did_you_mean(p, known);
            d.error(loc, format!("'stats socket' : unknown keyword '{p}'{hint}"));
            i += 1;
        }
    }
    if matches!(s.addr, StatsAddr::Tcp(_))
        && (s.mode.is_some() || s.uid.is_some() || s.gid.is_some())
    {
        d.warn(
            loc,
            "'stats socket' : 'mode', 'user' and 'group' only apply to UNIX sockets; ignored for a TCP address",
        );
    }
    (d.errors.len() == errors).then_some(s)
}

fn level(s: &mut StatsSocket, v: Option<&str>) -> Result<(), String> {
    s.level = match v {
        Some("user") => Level::User,
        Some("operator") => Level::Operator,
        Some("admin") => Level::Admin,
        None => return Err("'level' : missing level".into()),
        Some(other) => {
            return Err(format!(
                "'level' only supports 'user', 'operator', and 'admin' (got '{other}')"
            ));
        }
    };
    Ok(())
}

fn mode(s: &mut StatsSocket, v: Option<&str>) -> Result<(), String> {
    s.mode = Some(parse_mode(v)?);
    Ok(())
}

/// `mode OCTAL` of a UNIX socket (stats socket, `bind`, `unix-bind`).
pub(super) fn parse_mode(v: Option<&str>) -> Result<u32, String> {
    match v.and_then(|m| u32::from_str_radix(m, 8).ok()) {
        Some(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!(
            "'mode' : missing or invalid mode '{}' (octal integer expected)",
            v.unwrap_or("")
        )),
    }
}

/// `uid N` / `gid N`.
pub(super) fn numeric_id(what: &str, v: Option<&str>) -> Result<u32, String> {
    let v = v.ok_or_else(|| format!("'{what}' : missing value"))?;
    parse_int(v, 0, u32::MAX).map_err(|e| format!("'{what}' : {e}"))
}

/// `user NAME` / `group NAME`, looked up by the host's name service
/// (through the privileged parent in a jailed process).
pub(super) fn named_id(what: &str, v: Option<&str>) -> Result<u32, String> {
    let name = v.ok_or_else(|| format!("'{what}' : missing {what} name"))?;
    let found = match what {
        "user" => crate::host::user(name).map(|u| u.map(|(uid, _)| uid)),
        _ => crate::host::group(name),
    };
    found
        .ok()
        .flatten()
        .ok_or_else(|| format!("'{what}' : unknown {what} name '{name}'"))
}

/// A UNIX path (`/...` or `unix@...`) or a TCP address with one port.
fn stats_addr(text: &str) -> Result<StatsAddr, String> {
    if let Some(path) = text.strip_prefix("unix@") {
        return Ok(StatsAddr::Unix(PathBuf::from(path)));
    }
    if text.starts_with('/') {
        return Ok(StatsAddr::Unix(PathBuf::from(text)));
    }
    let addrs = parse_bind_addr(text)?;
    match addrs.as_slice() {
        [one] => Ok(StatsAddr::Tcp(*one)),
        _ => Err(format!("a port range is not permitted here in '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn global_of(lines: &str) -> Result<Global, Vec<String>> {
        let text = format!(
            "global\n{lines}\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten a\n    bind 127.0.0.1:0\n    server s 127.0.0.1:1\n"
        );
        parse_str("t.cfg", &text)
            .map(|l| l.config.global)
            .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn sockets_are_read_with_haproxys_defaults() {
        let g = global_of(
            "    stats socket /run/a.sock mode 660 level admin\n    stats socket ipv4@127.0.0.1:9999\n    stats socket unix@/run/b.sock level user uid 0 gid 0\n    stats timeout 2m\n    stats maxconn 4",
        )
        .unwrap();
        let got: Vec<(String, Option<u32>, Level, Option<u32>)> = g
            .stats_sockets
            .iter()
            .map(|s| (s.addr.to_string(), s.mode, s.level, s.uid))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/run/a.sock".into(), Some(0o660), Level::Admin, None),
                ("127.0.0.1:9999".into(), None, Level::Operator, None),
                ("/run/b.sock".into(), None, Level::User, Some(0)),
            ]
        );
        assert_eq!(g.stats_timeout, std::time::Duration::from_secs(120));
        assert_eq!(g.stats_maxconn, 4);
        let d = global_of("    nbthread 1").unwrap();
        assert!(d.stats_sockets.is_empty());
        assert_eq!(d.stats_timeout, DEFAULT_STATS_TIMEOUT);
    }

    #[test]
    fn bad_lines_are_errors_at_their_line() {
        let cases: &[(&str, &str)] = &[
            (
                "stats socket",
                "t.cfg:2: 'stats socket' in global section expects an address or a path to a UNIX socket",
            ),
            (
                "stats socket /a level foo",
                "t.cfg:2: 'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got 'foo')",
            ),
            (
                "stats socket /a level",
                "t.cfg:2: 'stats socket' : 'level' : missing level",
            ),
            (
                "stats socket /a mode 999",
                "t.cfg:2: 'stats socket' : 'mode' : missing or invalid mode '999' (octal integer expected)",
            ),
            (
                "stats socket /a levl admin",
                "t.cfg:2: 'stats socket' : unknown keyword 'levl'; did you mean 'level'?",
            ),
            (
                "stats socket /a user no-such-user-here",
                "t.cfg:2: 'stats socket' : 'user' : unknown user name 'no-such-user-here'",
            ),
            (
                "stats socket z.sock",
                "t.cfg:2: 'stats socket' : missing port specification in 'z.sock'",
            ),
            (
                "stats socket /a accept-proxy",
                "t.cfg:2: 'stats socket' : 'accept-proxy' is not supported yet",
            ),
            (
                "stats timeout 0",
                "t.cfg:2: 'stats timeout' expects a positive value",
            ),
            (
                "stats maxconn 0",
                "t.cfg:2: 'stats maxconn' expects a positive value",
            ),
            (
                "stats foo",
                "t.cfg:2: 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'foo')",
            ),
            (
                "stats",
                "t.cfg:2: 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '')",
            ),
        ];
        for (line, want) in cases {
            let errors = global_of(&format!("    {line}")).expect_err(line);
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{line}: want {want}, got {errors:?}"
            );
        }
    }
}
