//! `peers NAME` sections (HAProxy 2.6 configuration manual, section 3.5),
//! the local peer name (`-L`, global `localpeer`, else the host name) and
//! the `table` lines of peers sections.
//!
//! Lines enter through [`Peers::header`] and [`keyword`] while the files
//! are read; [`finish`] then gives the model its [`PeersSection`]s, every
//! stick table in declaration order with the sections that share them
//! resolved, and the local peer name. As HAProxy does, a section that does
//! not name the local peer is removed with a warning, and a table of a
//! removed or `disabled` section is kept to this process. Messages are
//! HAProxy's (`haproxy -c`, 2.6), with a few fixes of later versions that
//! HAProxy marked for 2.6 (said where they are).
//!
//! Checked and without effect: the parameters of `peer`/`server` lines
//! and `default-server` (read as on a proxy's server line, TLS ones refused
//! there too: the peers thread connects in clear, with no check, source
//! address or other option), those of `bind` and `default-bind` (the
//! peers listener takes none), and `log` lines (splicer logs nothing about
//! its peers).

use std::net::SocketAddr;

use super::keywords::did_you_mean;
use super::model::*;
use super::parser::Diags;
use super::proxy::ProxyDraft;
use super::server::{self, ParamIssue, ServerParams};
use super::values::{parse_bind_addr, resolve_host, split_host_port};

/// The global keyword read here.
pub(super) const GLOBAL_KEYWORDS: &[&str] = &["localpeer"];

/// How a peers section keyword reads its line: the parser's peers state,
/// the section (an index into it), the proxies read so far (for table name
/// conflicts).
type Parse = fn(&mut Peers, usize, &[ProxyDraft], &[String], &Location, &mut Diags);

/// The keywords of a `peers` section. The order is the one typo
/// suggestions prefer on a tie.
const KEYWORDS: &[(&str, Parse)] = &[
    ("peer", peer_line),
    ("server", peer_line),
    ("bind", bind_line),
    ("table", table_line),
    ("default-bind", |p, s, _, words, loc, d| {
        p.sections[s].used = true;
        let ctx = format!("'default-bind {}'", words.get(1).map_or("", String::as_str));
        super::bind::check_params(&words[1..], &ctx, "peers", loc, d);
    }),
    ("default-server", |p, s, _, words, loc, d| {
        let sec = &mut p.sections[s];
        sec.used = true;
        let issues = server::apply(&mut sec.default_server, &words[1..], "default-server", None);
        report(issues, loc, d);
    }),
    ("log", |p, s, _, words, loc, d| {
        p.sections[s].used = true;
        if words.len() == 2 && words[1] == "global" {
            return;
        }
        if let Err(e) = super::logs::parse_target(words, true, loc) {
            d.error(loc, e);
        }
    }),
    ("disabled", |p, s, _, _, _, _| {
        p.sections[s].section.disabled = true
    }),
    ("enabled", |p, s, _, _, _, _| {
        p.sections[s].section.disabled = false
    }),
];

/// What the parser keeps of the peers sections while it reads the files.
pub(super) struct Peers {
    /// The local peer name: `-L`, else `localpeer` (given before any peers
    /// section), else the host name.
    pub localpeer: String,
    /// `-L` named it: `localpeer` lines are ignored.
    from_command_line: bool,
    sections: Vec<Draft>,
    /// `table` lines of every section, in order.
    tables: Vec<StickTable>,
}

/// One section as read so far.
struct Draft {
    section: PeersSection,
    /// A line other than `disabled`/`enabled` was read. HAProxy builds the
    /// section's listener then, and tells a table naming an empty section
    /// apart from one naming a section without the local peer.
    used: bool,
    /// A `peer` line was read: no `bind` line may follow.
    peer_line: bool,
    /// The `bind` line: no `peer` line may follow, nor another `bind`.
    bind_line: Option<Location>,
    /// `default-server`: where the parameters of later lines start from.
    default_server: ServerParams,
}

impl Peers {
    /// `localpeer` is the `-L` name if given, else the host name.
    pub(super) fn new(command_line: Option<&str>) -> Peers {
        let localpeer = match command_line {
            Some(name) => name.to_string(),
            None => crate::host::hostname().unwrap_or_default(),
        };
        Peers {
            localpeer,
            from_command_line: command_line.is_some(),
            sections: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// `peers NAME`: starts a section; its index. A section with a bad
    /// name is still read (its lines are checked), the load fails anyway.
    pub(super) fn header(&mut self, words: &[String], loc: &Location, d: &mut Diags) -> usize {
        let name = words.get(1).cloned().unwrap_or_default();
        if name.is_empty() {
            d.error(loc, "missing name for peers section.");
        } else if let Some(extra) = words.get(2) {
            d.error(
                loc,
                format!("'peers' cannot handle unexpected argument '{extra}'."),
            );
        } else if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            d.error(
                loc,
                format!("character '{c}' is not permitted in 'peers' name '{name}'."),
            );
        }
        if let Some(first) = self.sections.iter().find(|s| s.section.name == name) {
            d.error(
                loc,
                format!(
                    "peers section '{name}' has the same name as another peers section declared at {}.",
                    first.section.location
                ),
            );
        }
        self.sections.push(Draft {
            section: PeersSection {
                name,
                location: loc.clone(),
                disabled: false,
                peers: Vec::new(),
                bind: None,
            },
            used: false,
            peer_line: false,
            bind_line: None,
            default_server: ServerParams::default(),
        });
        self.sections.len() - 1
    }

    /// Global `localpeer NAME`: taken unless `-L` named the local peer or
    /// a peers section was already read (HAProxy's warnings).
    pub(super) fn localpeer_line(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        if let Some(extra) = words.get(2) {
            return d.error(
                loc,
                format!("'localpeer' cannot handle unexpected argument '{extra}'."),
            );
        }
        let Some(name) = words.get(1) else {
            return d.error(loc, "'localpeer' expects a name as an argument.");
        };
        if self.from_command_line {
            return d.warn(
                loc,
                "'localpeer' ignored since it is already set by using the '-L' command line argument.",
            );
        }
        if !self.sections.is_empty() {
            return d.warn(
                loc,
                "'localpeer' ignored since it is used after 'peers' section.",
            );
        }
        self.localpeer = name.clone();
    }
}

/// One line of the peers section `section`.
pub(super) fn keyword(
    peers: &mut Peers,
    section: usize,
    proxies: &[ProxyDraft],
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let key = words[0].as_str();
    match KEYWORDS.iter().find(|(k, _)| *k == key) {
        Some((_, parse)) => parse(peers, section, proxies, words, loc, d),
        None => {
            let hint = did_you_mean(key, KEYWORDS.iter().map(|(k, _)| *k));
            d.error(
                loc,
                format!("unknown keyword '{key}' in 'peers' section{hint}"),
            );
        }
    }
}

/// `peer NAME ADDR:PORT [param*]`, or `server NAME [ADDR:PORT] [param*]`
/// (the local peer's `server` line has no address: the `bind` line has it).
fn peer_line(
    peers: &mut Peers,
    s: usize,
    _: &[ProxyDraft],
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let kw = words[0].as_str();
    let is_peer = kw == "peer";
    let sec = &mut peers.sections[s];
    sec.used = true;
    let Some(name) = words.get(1) else {
        return d.warn(
            loc,
            format!("'{kw}' : ignoring invalid peer definition (missing name and address:port)"),
        );
    };
    let who = format!("'{kw} {name}'");
    if is_peer {
        if sec.bind_line.is_some() {
            return d.error(loc, "mixing \"peer\" and \"bind\" line is forbidden");
        }
        sec.peer_line = true;
    }
    let local = *name == peers.localpeer;
    if local && let Some(first) = sec.section.local() {
        return d.error(
            loc,
            format!(
                "{who} : local peer name already referenced at {}.",
                first.location
            ),
        );
    }
    // The local peer's `server` line takes no address.
    let with_addr = is_peer || !local;
    let mut rest = &words[2..];
    let mut addr_text = None;
    if with_addr {
        addr_text = rest.first();
        rest = &rest[rest.len().min(1)..];
    } else if let Some(w) = rest.first().filter(|w| w.contains(':')) {
        d.error(
            loc,
            format!(
                "{who} : unknown keyword '{w}'. Hint: no address was expected for this server."
            ),
        );
        rest = &rest[1..];
    }
    let mut params = sec.default_server.clone();
    let issues = server::apply(
        &mut params,
        rest,
        &format!("{kw} '{}/{name}'", sec.section.name),
        None,
    );
    report(issues, loc, d);
    if params.check.enabled
        || params.check.agent
        || params.dns.init_addr.is_some()
        || params.dns.resolvers.is_some()
    {
        d.warn(
            loc,
            format!("{who} : init_addr, resolvers, check and agent are ignored for peers."),
        );
    }
    let addr = match addr_text {
        None if with_addr => {
            // As HAProxy since 3.2 (marked for every stable version): a
            // `peer` line without an address is ignored with a warning, a
            // remote `server` line without one quietly.
            if is_peer {
                d.warn(
                    loc,
                    format!("{who} : ignoring invalid peer definition (missing address:port)"),
                );
            }
            return;
        }
        None => None,
        Some(text) => match peer_addr(text, local) {
            Ok(a) => Some(a),
            Err(e) => return d.error(loc, format!("{who} : {e}")),
        },
    };
    // Two remote peers of one name: HAProxy's check since 2.9 (marked for
    // every stable version; 2.6.12 takes the line).
    if let Some(first) = sec.section.remotes().find(|p| p.name == *name) {
        return d.error(
            loc,
            format!(
                "peers section '{}': another peer named '{name}' was already defined at {}, please use distinct names.",
                sec.section.name, first.location
            ),
        );
    }
    if local && is_peer {
        sec.section.bind = addr;
    }
    sec.section.peers.push(Peer {
        name: name.clone(),
        addr,
        local,
        location: loc.clone(),
    });
}

/// `bind ADDR:PORT [param*]`: where the local peer (a `server` line
/// without address) listens.
fn bind_line(
    peers: &mut Peers,
    s: usize,
    _: &[ProxyDraft],
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let sec = &mut peers.sections[s];
    sec.used = true;
    if sec.peer_line {
        return d.error(loc, "mixing \"peer\" and \"bind\" line is forbidden");
    }
    let Some(list) = words.get(1) else {
        return d.error(loc, "'bind' expects <addr>:<port> as arguments.");
    };
    if let Some(first) = &sec.bind_line {
        return d.error(
            loc,
            format!(
                "One listener per \"peers\" section is authorized but another is already configured at [{first}]."
            ),
        );
    }
    let ctx = format!("'bind {list}'");
    super::bind::check_params(&words[2..], &ctx, "peers", loc, d);
    let mut addrs = Vec::new();
    for one in list.split(',') {
        let found = tcp_only(one).and_then(|()| parse_bind_addr(one));
        match found {
            Ok(a) => addrs.extend(a),
            Err(e) => return d.error(loc, format!("{ctx} : {e}")),
        }
    }
    match addrs[..] {
        [a] if a.port() == 0 => d.error(loc, format!("{ctx} : invalid port '0'")),
        [a] => {
            sec.section.bind = Some(a);
            sec.bind_line = Some(loc.clone());
        }
        // As HAProxy since 2.9 (marked for every stable version; 2.6.12
        // listens on the last address alone).
        _ => d.error(
            loc,
            "Only one listener per \"peers\" section is authorized. Multiple listening addresses or port range are not supported.",
        ),
    }
}

/// `table NAME type ... size ... [expire T] [nopurge] [store ...]`: a
/// stick table this section shares, named `SECTION/NAME` in rules and the
/// runtime API, `/NAME` in the peers protocol (HAProxy's `nid`, so that
/// HAProxy peers find it).
fn table_line(
    peers: &mut Peers,
    s: usize,
    proxies: &[ProxyDraft],
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    peers.sections[s].used = true;
    let section = peers.sections[s].section.name.clone();
    let Some(short) = words.get(1) else {
        return d.error(loc, "table: ID not provided.");
    };
    let name = format!("{section}/{short}");
    // HAProxy compares the whole name since 2.9 (marked for 2.6; 2.6.12
    // compares `NAME` with the other tables' whole names).
    if let Some(e) = table_conflict(&name, short, proxies.iter(), peers) {
        return d.error(loc, e);
    }
    let mut warnings = Vec::new();
    let sync_name = format!("/{short}");
    let table = super::tcp_rules::stick_table(
        &name,
        &sync_name,
        Some(&section),
        &words[2..],
        loc,
        &mut warnings,
    );
    for w in warnings {
        d.warn(loc, format!("table: {w}"));
    }
    match table {
        Ok(t) => peers.tables.push(t),
        Err(e) => d.error(loc, format!("table: {e}")),
    }
}

/// HAProxy's error when a table named `name` (`shown` in the message) was
/// already declared, by a proxy of `proxies` or a peers section.
pub(super) fn table_conflict<'a>(
    name: &str,
    shown: &str,
    mut proxies: impl Iterator<Item = &'a ProxyDraft>,
    peers: &Peers,
) -> Option<String> {
    let conflict = |what: &str, owner: &str, at: &Location| {
        format!(
            "stick-table name '{shown}' conflicts with table declared in {what} '{owner}' at {at}."
        )
    };
    if let Some((p, t)) =
        proxies.find_map(|p| Some((p, p.table.as_ref().filter(|t| t.name == name)?)))
    {
        return Some(conflict(p.kind.word(), &p.name, &t.location));
    }
    let t = peers.tables.iter().find(|t| t.name == name)?;
    Some(conflict(
        "peers",
        t.peers.as_deref().unwrap_or_default(),
        &t.location,
    ))
}

/// What a finished load has of peers: every stick table (`proxies`' and
/// the sections'), in declaration order, with the sections that share
/// them; the sections kept; the local peer name.
pub(super) struct Finished {
    pub tables: Vec<StickTable>,
    pub sections: Vec<PeersSection>,
    pub localpeer: String,
}

/// Resolves the `peers NAME` of proxies' stick tables, removes the
/// sections that do not name the local peer, and unshares the tables of
/// removed and disabled sections (HAProxy's `check_config_validity`).
/// `files` orders the tables as they were declared.
pub(super) fn finish(
    peers: Peers,
    proxies: &[ProxyDraft],
    files: &[std::path::PathBuf],
    d: &mut Diags,
) -> Finished {
    let Peers {
        localpeer,
        sections,
        tables: section_tables,
        ..
    } = peers;
    let mut tables = Vec::new();
    for p in proxies {
        let Some(mut t) = p.table.clone() else {
            continue;
        };
        if let Some(name) = t.peers.take() {
            let found = sections.iter().rev().find(|s| s.section.name == name);
            match found {
                // HAProxy does not look for the section of a disabled proxy.
                _ if p.disabled => {}
                None => d.error(
                    &t.location,
                    format!("Proxy '{}': unable to find sync peers '{name}'.", p.name),
                ),
                Some(s) if s.section.disabled => {}
                Some(s) if !s.used => d.error(
                    &t.location,
                    format!(
                        "Proxy '{}': unable to find local peer '{localpeer}' in peers section '{name}'.",
                        p.name
                    ),
                ),
                Some(_) => t.peers = Some(name),
            }
        }
        tables.push(t);
    }
    tables.extend(section_tables);
    let rank = |l: &Location| (files.iter().position(|f| *f == l.file), l.line);
    tables.sort_by_key(|t| rank(&t.location));
    let mut kept = Vec::new();
    for s in sections {
        let s = s.section;
        if !s.disabled && s.local().is_none() {
            // A section without a name was an error already.
            if !s.name.is_empty() {
                d.warn(
                    &s.location,
                    format!(
                        "Removing incomplete section 'peers {}' (no peer named '{localpeer}').",
                        s.name
                    ),
                );
            }
            continue;
        }
        kept.push(s);
    }
    // A table is shared only through a section that is kept and enabled;
    // a disabled section is kept (the runtime API and a reload see it) but
    // shares nothing, as HAProxy's tables forget it.
    for t in &mut tables {
        let shared = t
            .peers
            .as_deref()
            .is_some_and(|n| kept.iter().any(|s| s.name == n && !s.disabled));
        if !shared {
            t.peers = None;
        }
    }
    Finished {
        tables,
        sections: kept,
        localpeer,
    }
}

/// Refuses the address families peers cannot use: splicer's peers speak
/// TCP over IPv4 and IPv6 only.
fn tcp_only(text: &str) -> Result<(), String> {
    let family = text.split_once('@').map(|(f, _)| f);
    if text.starts_with('/') || family.is_some_and(|f| f != "ipv4" && f != "ipv6") {
        return Err(format!(
            "address '{text}' is not supported yet for peers (only [ipv4@|ipv6@]HOST:PORT)"
        ));
    }
    Ok(())
}

/// A `peer` or `server` address: `[ipv4@|ipv6@]HOST:PORT`, HOST resolved
/// now. The port is required and fixed (HAProxy since 2.9, marked for
/// every stable version: 2.6.12 takes none, an offset or 0 for a remote
/// peer). `listen`: the local peer's, where HOST may be empty or `*`.
fn peer_addr(text: &str, listen: bool) -> Result<SocketAddr, String> {
    tcp_only(text)?;
    let (family, host, port) = split_host_port(text)?;
    let port = match port {
        None | Some("") => return Err(format!("missing port specification in '{text}'")),
        Some(p) if p.starts_with(['+', '-']) => {
            return Err(format!("port offset not permitted here in '{text}'"));
        }
        Some(p) if p.contains('-') => {
            return Err(format!("port range not permitted here in '{text}'"));
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("invalid port '{p}'")),
        },
    };
    if !listen && (host.is_empty() || host == "*") {
        return Err(format!("missing address in '{text}'"));
    }
    Ok(SocketAddr::new(resolve_host(&family, host, text)?, port))
}

fn report(issues: Vec<ParamIssue>, loc: &Location, d: &mut Diags) {
    for issue in issues {
        match issue {
            ParamIssue::Error(e) => d.error(loc, e),
            ParamIssue::Warning(w) => d.warn(loc, w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses() {
        let good: &[(&str, bool, &str)] = &[
            ("ipv4", false, "127.0.0.1:10000"),
            ("ipv6", false, "[::1]:10000"),
            ("family prefix", false, "ipv4@127.0.0.2:10000"),
            ("any host to listen on", true, "0.0.0.0:10000"),
        ];
        for (desc, listen, text) in good {
            assert!(peer_addr(text, *listen).is_ok(), "{desc}: {text}");
        }
        assert_eq!(
            peer_addr(":10000", true),
            Ok("0.0.0.0:10000".parse().unwrap())
        );
        let bad: &[(&str, bool, &str)] = &[
            (
                "127.0.0.1",
                false,
                "missing port specification in '127.0.0.1'",
            ),
            (
                "127.0.0.1:+1",
                false,
                "port offset not permitted here in '127.0.0.1:+1'",
            ),
            (
                "127.0.0.1:1-5",
                false,
                "port range not permitted here in '127.0.0.1:1-5'",
            ),
            ("127.0.0.1:0", true, "invalid port '0'"),
            ("127.0.0.1:x", false, "invalid port 'x'"),
            (":10000", false, "missing address in ':10000'"),
            (
                "unix@/tmp/p.sock",
                false,
                "address 'unix@/tmp/p.sock' is not supported yet for peers (only [ipv4@|ipv6@]HOST:PORT)",
            ),
        ];
        for (text, listen, expected) in bad {
            assert_eq!(
                peer_addr(text, *listen),
                Err(expected.to_string()),
                "{text}"
            );
        }
    }
}
