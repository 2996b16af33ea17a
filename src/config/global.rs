//! Keywords of the `global` section. Each one splicer implements is
//! registered once in [`GLOBAL_KEYWORDS`], with how its arguments are read;
//! the names HAProxy has that splicer refuses, ignores or removed are the
//! lists in `keywords.rs`.

use super::keywords::{REMOVED_GLOBAL, UNSUPPORTED_GLOBAL, did_you_mean, global_vocabulary};
use super::logs::{global_log, global_log_send_hostname, global_log_tag};
use super::model::*;
use super::parser::Diags;
use super::stats::{named_id, numeric_id};
use super::values::{parse_int, parse_size, parse_time};

/// `nbthread` upper bound (HAProxy's MAX_THREADS on 64-bit builds).
pub(super) const MAX_NBTHREAD: usize = 64;
/// The smallest `tune.bufsize` splicer takes (HAProxy fails below about
/// this for its own messages).
const MIN_BUFSIZE: usize = 1024;
/// `spread-checks` upper bound, in percent (HAProxy).
pub(super) const MAX_SPREAD_CHECKS: u32 = 50;

/// How a global keyword reads its line. The shared shapes give every
/// keyword of that shape the same messages for a missing or extra argument.
enum Parse {
    /// The whole line; the parser checks the arguments itself.
    Line(fn(&mut Global, &[String], &Location, &mut Diags)),
    /// No argument.
    Flag(fn(&mut Global, &Location, &mut Diags)),
    /// Exactly one argument; an error is reported as `'KEY': error`.
    Value(fn(&mut Global, &str) -> Result<(), String>),
}

/// A global keyword splicer implements, and how its line is read.
pub(super) struct GlobalKeyword {
    pub name: &'static str,
    parse: Parse,
}

const fn line(
    name: &'static str,
    parse: fn(&mut Global, &[String], &Location, &mut Diags),
) -> GlobalKeyword {
    GlobalKeyword {
        name,
        parse: Parse::Line(parse),
    }
}

const fn flag(name: &'static str, parse: fn(&mut Global, &Location, &mut Diags)) -> GlobalKeyword {
    GlobalKeyword {
        name,
        parse: Parse::Flag(parse),
    }
}

const fn value(
    name: &'static str,
    parse: fn(&mut Global, &str) -> Result<(), String>,
) -> GlobalKeyword {
    GlobalKeyword {
        name,
        parse: Parse::Value(parse),
    }
}

/// The global keywords splicer implements. The order is the one typo
/// suggestions prefer on a tie.
#[rustfmt::skip]
pub(super) const GLOBAL_KEYWORDS: &[GlobalKeyword] = &[
    line("log", global_log),
    line("log-tag", global_log_tag),
    line("log-send-hostname", global_log_send_hostname),
    value("nbthread", |g, v| parse_int(v, 1, MAX_NBTHREAD).map(|n| g.nbthread = Some(n))),
    value("maxconn", |g, v| parse_int(v, 1, usize::MAX).map(|n| (g.maxconn, g.maxconn_set) = (n, true))),
    flag("strict-limits", |g, _, _| g.strict_limits = true),
    value("maxpipes", |g, v| parse_int(v, 0, usize::MAX).map(|n| g.maxpipes = Some(n))),
    value("tune.pipesize", |g, v| parse_size(v).map(|n| g.pipesize = n)),
    flag("nosplice", |g, _, _| g.nosplice = true),
    value("hard-stop-after", |g, v| parse_time(v, 1000).map(|t| g.hard_stop_after = Some(t))),
    value("pidfile", |g, v| {
        g.pidfile = Some(v.into());
        Ok(())
    }),
    flag("daemon", |g, _, _| g.daemon = true),
    flag("quiet", |g, _, _| g.quiet = true),
    value("node", |g, v| {
        g.node = Some(v.into());
        Ok(())
    }),
    value("server-state-file", |g, v| {
        g.server_state_file = Some(v.into());
        Ok(())
    }),
    value("server-state-base", |g, v| {
        g.server_state_base = Some(v.into());
        Ok(())
    }),
    value("tune.bufsize", |g, v| parse_size(v).and_then(|n| {
        if n < MIN_BUFSIZE {
            return Err(format!("'{v}' is below the smallest buffer splicer takes ({MIN_BUFSIZE})"));
        }
        g.bufsize = n;
        Ok(())
    })),
    value("tune.maxaccept", |g, v| {
        // HAProxy: -1 (any negative count) is no limit, 0 the default.
        let n: i64 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
        g.maxaccept = match usize::try_from(n) {
            Err(_) => None,
            Ok(0) => Some(DEFAULT_MAXACCEPT),
            Ok(n) => Some(n),
        };
        Ok(())
    }),
    value("tune.maxpollevents", |g, v| {
        // HAProxy: 0 or less is the default.
        let n: i64 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
        g.maxpollevents = usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(DEFAULT_MAXPOLLEVENTS);
        Ok(())
    }),
    value("tune.rcvbuf.client", |g, v| parse_size(v).map(|n| g.rcvbuf_client = Some(n))),
    value("tune.rcvbuf.server", |g, v| parse_size(v).map(|n| g.rcvbuf_server = Some(n))),
    value("tune.sndbuf.client", |g, v| parse_size(v).map(|n| g.sndbuf_client = Some(n))),
    value("tune.sndbuf.server", |g, v| parse_size(v).map(|n| g.sndbuf_server = Some(n))),
    flag("noreuseport", |g, _, _| g.noreuseport = true),
    line("unix-bind", unix_bind),
    value("max-spread-checks", |g, v| {
        parse_time(v, 1000).map(|t| g.max_spread_checks = Some(t))
    }),
    line("cpu-map", |g, w, l, d| super::cpumap::parse(&mut g.cpu_map, w, l, d)),
    value("maxconnrate", |g, v| parse_int(v, 0, u32::MAX).map(|n| g.maxconnrate = n)),
    value("maxsessrate", |g, v| parse_int(v, 0, u32::MAX).map(|n| g.maxsessrate = n)),
    value("ulimit-n", |g, v| parse_int(v, 1, u64::MAX).map(|n| g.ulimit_n = Some(n))),
    line("master-worker", |g, words, loc, d| match words.get(1).map(String::as_str) {
        None | Some("no-exit-on-failure") => g.master_worker = true,
        Some(other) => d.error(loc, format!("'master-worker' only supports 'no-exit-on-failure' option, not '{other}'")),
    }),
    value("spread-checks", |g, v| parse_int(v, 0, MAX_SPREAD_CHECKS).map(|n| g.spread_checks = n)),
    // Free text that nothing shows yet: any words are accepted.
    line("description", |_, _, _, _| {}),
    line("stats", super::stats::global),
    line("user", |g, w, l, d| identity(g, w, l, d, Id::User)),
    line("group", |g, w, l, d| identity(g, w, l, d, Id::Group)),
    line("uid", |g, w, l, d| identity(g, w, l, d, Id::Uid)),
    line("gid", |g, w, l, d| identity(g, w, l, d, Id::Gid)),
    line("chroot", global_chroot),
    line("setenv", super::environment::setenv),
    line("presetenv", super::environment::setenv),
    line("unsetenv", super::environment::unsetenv),
    line("resetenv", super::environment::resetenv),
    value("tune.ssl.cachesize", |g, v| parse_int(v, 0, usize::MAX).map(|n| g.tls_cache_size = n)),
    // Seconds when bare (HAProxy).
    value("tune.ssl.maxrecord", |g, v| parse_int(v, 0, usize::MAX).map(|n| g.tls_max_record = n)),
];

/// The four ways `global` names the identity of the serving process.
#[derive(Clone, Copy)]
enum Id {
    /// `user NAME`: its uid only (the group is `group`'s, as in HAProxy).
    User,
    /// `group NAME`.
    Group,
    /// `uid N`.
    Uid,
    /// `gid N`.
    Gid,
}

/// `user`, `group`, `uid`, `gid`: each sets the uid or the gid once; a
/// second one is ignored with a warning (HAProxy: "already specified.
/// Continuing.").
fn identity(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags, which: Id) {
    let key = words[0].as_str();
    let arg = words.get(1).map(String::as_str).unwrap_or("");
    let (slot, what) = match which {
        Id::User | Id::Uid => (&mut g.uid, "user/uid"),
        Id::Group | Id::Gid => (&mut g.gid, "group/gid"),
    };
    if slot.is_some() {
        return d.warn(loc, format!("{what} already specified. Continuing."));
    }
    let found = match which {
        Id::User => crate::host::user(arg).map(|u| u.map(|(uid, _)| uid)),
        Id::Group => crate::host::group(arg),
        Id::Uid | Id::Gid => {
            if arg.parse::<u32>().is_err() {
                let name = if matches!(which, Id::Uid) {
                    "user"
                } else {
                    "group"
                };
                d.warn(
                    loc,
                    format!(
                        "{key}: string '{arg}' is not a number; you might want to use the '{name}' parameter to use a system {name} name"
                    ),
                );
            }
            Ok(Some(leading_number(arg)))
        }
    };
    let kind = if matches!(which, Id::User | Id::Uid) {
        "user"
    } else {
        "group"
    };
    match found {
        Ok(Some(id)) => *slot = Some(id),
        Ok(None) => d.error(loc, format!("cannot find {kind} id for '{arg}'")),
        Err(e) => d.error(loc, format!("cannot find {kind} id for '{arg}' ({e})")),
    }
    if let Some(extra) = words.get(2) {
        d.error(
            loc,
            format!("'{key}' cannot handle unexpected argument '{extra}'"),
        );
    }
}

/// `unix-bind`: defaults for the UNIX sockets declared after it.
fn unix_bind(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    let bad =
        "'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options.";
    let mut u = g.unix_bind.clone();
    for pair in words[1..].chunks(2) {
        let [key, value] = pair else {
            return d.error(
                loc,
                format!("'unix-bind' : missing value for '{}'", pair[0]),
            );
        };
        // The same readers as the `stats socket` and `bind` parameters.
        let v = Some(value.as_str());
        let p = &mut u.perms;
        let result = match key.as_str() {
            "prefix" => {
                u.prefix = Some(value.clone());
                Ok(())
            }
            "mode" => u32::from_str_radix(value, 8)
                .map(|m| p.mode = Some(m))
                .map_err(|_| format!("invalid mode '{value}'")),
            "uid" => numeric_id("uid", v).map(|n| p.uid = Some(n)),
            "gid" => numeric_id("gid", v).map(|n| p.gid = Some(n)),
            "user" => named_id("user", v).map(|n| p.uid = Some(n)),
            "group" => named_id("group", v).map(|n| p.gid = Some(n)),
            _ => return d.error(loc, bad),
        };
        if let Err(e) = result {
            return d.error(loc, format!("'unix-bind' : {e}"));
        }
    }
    g.unix_bind = u;
}

/// What C's `atoi` reads of a `uid`/`gid` value that is not a number
/// (HAProxy warns and uses it).
fn leading_number(v: &str) -> u32 {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// `chroot DIR`: the jail of the serving process.
fn global_chroot(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    match words.get(1) {
        Some(dir) if !dir.is_empty() => g.chroot = Some(dir.into()),
        _ => d.error(loc, "'chroot' expects a directory as an argument."),
    }
}

/// Applies one line of the global section.
pub(super) fn keyword(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    if key == "no" {
        return negated(g, &words[1..], loc, d);
    }
    let Some(kw) = GLOBAL_KEYWORDS.iter().find(|k| k.name == key) else {
        return not_implemented(key, loc, d);
    };
    let max = match kw.parse {
        Parse::Line(parse) => return parse(g, words, loc, d),
        Parse::Flag(parse) => {
            parse(g, loc, d);
            1
        }
        Parse::Value(parse) => {
            let Some(v) = words.get(1) else {
                return d.error(loc, format!("'{key}' expects an argument"));
            };
            if let Err(e) = parse(g, v) {
                return d.error(loc, format!("'{key}': {e}"));
            }
            2
        }
    };
    if let Some(extra) = words.get(max) {
        d.error(
            loc,
            format!("'{key}' cannot handle unexpected argument '{extra}'"),
        );
    }
}

/// `no WORD` in `global`: HAProxy 2.6 takes it for a few words only.
fn negated(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    const NEGATABLE: [&str; 6] = [
        "log",
        "busy-polling",
        "set-dumpable",
        "strict-limits",
        "insecure-fork-wanted",
        "numa-cpu-mapping",
    ];
    match words.first().map(String::as_str) {
        Some("strict-limits") => match words.get(1) {
            None => g.strict_limits = false,
            Some(extra) => d.error(
                loc,
                format!("'strict-limits' cannot handle unexpected argument '{extra}'"),
            ),
        },
        Some(w) if NEGATABLE.contains(&w) => d.error(loc, format!("'no {w}' is not supported yet")),
        _ => d.error(
            loc,
            "negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.",
        ),
    }
}

/// A word that is not one of [`GLOBAL_KEYWORDS`].
fn not_implemented(key: &str, loc: &Location, d: &mut Diags) {
    if let Some((_, msg)) = REMOVED_GLOBAL.iter().find(|(w, _)| *w == key) {
        d.error(loc, *msg);
    } else if UNSUPPORTED_GLOBAL.contains(&key) {
        d.error(loc, format!("'{key}' is not supported yet"));
    } else {
        let hint = did_you_mean(key, global_vocabulary());
        d.error(
            loc,
            format!("unknown keyword '{key}' in 'global' section{hint}"),
        );
    }
}
