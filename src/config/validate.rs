//! Turns proxy drafts into the model once every file is read: splits
//! `listen` sections, resolves `default_backend` names, checks duplicate
//! names, and warns where HAProxy warns (missing timeouts, HTTP-only
//! directives in TCP proxies, a frontend without `bind`).

use super::model::*;
use super::parser::{Diags, Parser};
use super::proxy::{HttpStyle, Kind, ProxyDraft};
use super::stats_page::allowed_in_stats;

/// Builds the config from a parser that has read every file.
pub(super) fn finish(parser: Parser<'_>, files: &[std::path::PathBuf]) -> (Config, Diags) {
    let Parser {
        mut global,
        proxies,
        vrrp,
        announce,
        resolvers,
        peers,
        mysql,
        mut diags,
        patterns,
        ..
    } = parser;
    if !global.maxconn_set
        && let Ok(limit) = crate::sys::nofile_ceiling()
    {
        let binds = proxies.iter().map(|p| p.binds.len()).sum();
        let servers = proxies.iter().map(|p| p.servers.len()).sum();
        global.maxconn = ideal_maxconn(FdBudget::of(&global, binds, servers, limit));
    }
    let mut config = Config {
        global,
        frontends: Vec::new(),
        backends: Vec::new(),
        vrrp: Vec::new(),
        announce: Vec::new(),
        resolvers,
        patterns: patterns.refs,
        tables: Vec::new(),
        peers: Vec::new(),
        localpeer: String::new(),
        mysql_clusters: super::mysql::finish(mysql, &mut diags),
    };
    check_duplicates(&proxies, &mut diags);
    let uids = proxy_uids(&proxies);
    // Backends first, so that frontends can resolve `default_backend`.
    // A stats-only listen is a frontend alone: it has no servers.
    let backs = proxies.iter().enumerate();
    for (i, p) in backs.filter(|(_, p)| p.kind.back() && !stats_only(p)) {
        common_checks(p, &mut diags);
        let mut be = backend(p, &mut diags);
        (be.order, be.uid) = (i, uids[i]);
        config.backends.push(be);
    }
    let mut pending = Vec::new();
    for (i, p) in proxies.iter().enumerate().filter(|(_, p)| p.kind.front()) {
        if p.kind == Kind::Frontend || stats_only(p) {
            common_checks(p, &mut diags);
        }
        let (mut fe, target) = frontend(p, config.global.maxconn, &mut diags);
        (fe.order, fe.uid) = (i, uids[i]);
        pending.push(target);
        config.frontends.push(fe);
    }
    for (fe, target) in config.frontends.iter_mut().zip(pending) {
        let Some((name, loc)) = target else { continue };
        let found = config.backends.iter().position(|b| b.name == name);
        match found.map(crate::base::ids::BackendId::new) {
            Some(b) => fe.default_backend = Some(b),
            None => diags.error(
                &loc,
                format!(
                    "proxy '{}': unable to find required default_backend: '{name}'.",
                    fe.name
                ),
            ),
        }
    }
    // Tables first: rules name them.
    let peers = super::peers::finish(peers, &proxies, files, &mut diags);
    (config.tables, config.peers, config.localpeer) =
        (peers.tables, peers.sections, peers.localpeer);
    super::validate_rules::link(&mut config, &proxies, &mut diags);
    default_fullconn(&mut config);
    resolve_tracks(&mut config, &mut diags);
    state_files(&mut config, &proxies);
    link_resolvers(&mut config, &mut diags);
    super::mysql::link(&mut config, &proxies, &mut diags);
    config.vrrp = super::vrrp::finish(vrrp, &config.backends, &mut diags);
    config.announce = super::announce::finish(announce, &config.backends, &mut diags);
    // `log global` means the global section's lines, wherever it is.
    let drafts = proxies.iter().filter(|p| p.kind.front());
    for (fe, p) in config.frontends.iter_mut().zip(drafts) {
        fe.log = p
            .log
            .resolve(&config.global, &p.who(), &p.location, &mut diags);
    }
    let drafts = proxies.iter().filter(|p| p.kind.back());
    for (be, p) in config.backends.iter_mut().zip(drafts) {
        be.log = p.log.targets(&config.global);
    }
    let listening = config
        .frontends
        .iter()
        .any(|f| !f.disabled && !f.binds.is_empty());
    if !listening && diags.errors.is_empty() {
        let location = proxies
            .first()
            .map(|p| p.location.clone())
            .unwrap_or_else(|| Location {
                file: files.first().cloned().unwrap_or_default(),
                line: 1,
            });
        diags.error(&location, "no enabled frontend has a 'bind': splicer would not listen anywhere (HAProxy exits with 'no listener')");
    }
    // Report in file order, then line order, as a reader goes through them.
    let rank = |l: &Location| (files.iter().position(|f| *f == l.file), l.line);
    diags.errors.sort_by_key(|d| rank(&d.location));
    diags.warnings.sort_by_key(|d| rank(&d.location));
    (config, diags)
}

/// `track [PROXY/]SERVER`: the server it names, which must have a check
/// (or track one), on a server without one (HAProxy's messages).
fn resolve_tracks(config: &mut Config, d: &mut Diags) {
    use crate::base::ids::{BackendId, ServerId};
    let mut found = Vec::new();
    for (bi, b) in config.backends.iter().enumerate() {
        for (si, s) in b.servers.iter().enumerate() {
            if s.port_mode != PortMode::Fixed && s.check.enabled && s.check.port.is_none() {
                d.error(
                    &s.location,
                    format!(
                        "proxy '{}': server '{}' has neither service port nor check port.",
                        b.name, s.name
                    ),
                );
            }
            let Some(spec) = &s.track_spec else { continue };
            let who = format!("'server {}/{}'", b.name, s.name);
            if s.check.enabled {
                d.error(
                    &s.location,
                    format!("{who} : unable to enable checks and tracking at the same time!"),
                );
                continue;
            }
            let (proxy, name) = spec.split_once('/').unwrap_or((&b.name, spec));
            let Some(tb) = config.backends.iter().position(|x| x.name == proxy) else {
                d.error(
                    &s.location,
                    format!("{who} : unable to find required proxy '{proxy}' for tracking."),
                );
                continue;
            };
            let tbe = &config.backends[tb];
            let Some(ts) = tbe.servers.iter().position(|x| x.name == name) else {
                d.error(
                    &s.location,
                    format!("{who} : unable to find required server '{name}' for tracking."),
                );
                continue;
            };
            let t = &tbe.servers[ts];
            if !t.check.enabled && !t.check.agent && t.track_spec.is_none() {
                d.error(
                    &s.location,
                    format!("{who} : unable to use {proxy}/{name} for tracking as it does not have any check nor agent enabled."),
                );
                continue;
            }
            found.push((bi, si, BackendId::new(tb), ServerId::new(ts)));
        }
    }
    for (bi, si, tb, ts) in found {
        config.backends[bi].servers[si].track = Some((tb, ts));
    }
}

/// Where each backend reads its servers' states at start: the global
/// `server-state-file`, or its own file (`server-state-file-name`, else
/// its name), relative names under `server-state-base`.
fn state_files(config: &mut Config, proxies: &[ProxyDraft]) {
    let g = &config.global;
    let under_base = |name: &std::path::Path| match &g.server_state_base {
        Some(base) if name.is_relative() => base.join(name),
        _ => name.to_path_buf(),
    };
    let drafts = proxies.iter().filter(|p| p.kind.back());
    for (be, p) in config.backends.iter_mut().zip(drafts) {
        be.state_file = match p.state_from.as_deref() {
            Some("global") => g.server_state_file.as_deref().map(under_base),
            Some("local") => {
                let name = p.state_file_name.clone().unwrap_or_else(|| be.name.clone());
                Some(under_base(std::path::Path::new(&name)))
            }
            _ => None,
        };
    }
}

/// A backend without `fullconn` gets 10 % of the maxconns of the
/// frontends that send to it (a listen sends to itself), at least 1, as
/// HAProxy computes it.
fn default_fullconn(config: &mut Config) {
    let mut total = vec![0usize; config.backends.len()];
    for fe in config.frontends.iter().filter(|f| !f.disabled) {
        let target = fe.default_backend.map(|b| b.index()).or_else(|| {
            config
                .backends
                .iter()
                .position(|b| b.listen && b.name == fe.name)
        });
        if let Some(b) = target {
            let maxconn = fe.maxconn.unwrap_or(config.global.maxconn);
            total[b] = total[b].saturating_add(maxconn);
        }
    }
    for (be, sum) in config.backends.iter_mut().zip(total) {
        if be.fullconn == 0 {
            be.fullconn = sum.div_ceil(10).max(1);
        }
    }
}

/// First automatic proxy number. HAProxy 2.6 numbers proxies from 2 when
/// a stats socket exists (observed with `show stat`); splicer always does.
const FIRST_AUTO_UID: u32 = 2;

/// Each proxy's number: its `id`, else the first free number from a
/// counter that moves past each number given and one step per proxy
/// (explicit ids included), as HAProxy assigns them.
fn proxy_uids(proxies: &[ProxyDraft]) -> Vec<u32> {
    let mut used: std::collections::BTreeSet<u32> = proxies.iter().filter_map(|p| p.id).collect();
    let mut next = FIRST_AUTO_UID;
    proxies
        .iter()
        .map(|p| {
            let uid = p.id.unwrap_or_else(|| {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            });
            next += 1;
            uid
        })
        .collect()
}

/// Frontends share names only with backends, never with each other; same for
/// backends. A listen is both.
fn check_duplicates(proxies: &[ProxyDraft], d: &mut Diags) {
    for (i, p) in proxies.iter().enumerate() {
        let clash = proxies[..i].iter().find(|q| {
            q.name == p.name && (q.kind.front() && p.kind.front() || q.kind.back() && p.kind.back())
        });
        if let Some(q) = clash {
            d.error(
                &p.location,
                format!(
                    "{} '{}' has the same name as {} '{}' declared at {}.",
                    p.kind.word(),
                    p.name,
                    q.kind.word(),
                    q.name,
                    q.location
                ),
            );
        }
    }
}

/// A `mode http` frontend or listen that only serves the stats page or
/// Prometheus metrics: the one HTTP thing splicer answers.
pub(super) fn stats_only(p: &ProxyDraft) -> bool {
    p.mode_http.is_some()
        && p.kind.front()
        && p.stats.serves()
        && p.servers.is_empty()
        && p.default_backend.is_none()
}

/// Checks made once per section (a listen is checked once, not twice).
fn common_checks(p: &ProxyDraft, d: &mut Diags) {
    if let Some(loc) = &p.mode_http {
        if stats_only(p) {
            return stats_checks(p, d);
        }
        let why = if p.stats.serves() {
            " A stats frontend may use it, with no servers and no default_backend."
        } else {
            ""
        };
        d.error(
            loc,
            format!(
                "{}: mode http is not supported (splicer is a TCP load balancer; use 'mode tcp').{why}",
                p.who()
            ),
        );
        return;
    }
    if p.stats.enabled.is_some() {
        let loc = p.stats.enabled.as_ref().unwrap_or(&p.location);
        d.warn(
            loc,
            format!(
                "'stats' statement ignored for {} as it requires HTTP mode.",
                p.who()
            ),
        );
    }
    if let Some((_, loc)) = &p.stats.metrics {
        d.warn(
            loc,
            format!(
                "'http-request' rules ignored for {} as they require HTTP mode.",
                p.who()
            ),
        );
    }
    for h in &p.http_only {
        // HAProxy only speaks of httplog for the side that logs: the frontend.
        if h.style == HttpStyle::HttpLog && !p.kind.front() {
            continue;
        }
        let who = p.who();
        let message = match h.style {
            HttpStyle::HttpLog => format!(
                "{} not usable with {who} (needs 'mode http'). Falling back to 'option tcplog'.",
                h.what
            ),
            HttpStyle::Rules => format!(
                "{} rules ignored for {who} as they require HTTP mode.",
                h.what
            ),
            HttpStyle::Directive => {
                format!("{} ignored for {who} as it requires HTTP mode.", h.what)
            }
        };
        d.warn(&h.location, message);
    }
    let t = &p.timeouts;
    let missing = (p.kind.front() && t.client.is_none())
        || (p.kind.back() && (t.connect.is_none() || t.server.is_none()));
    if missing && !p.disabled {
        let note = if p.kind.back() && t.connect.is_none() {
            format!(
                " Without 'timeout connect' splicer uses {} s.",
                DEFAULT_TIMEOUT_CONNECT.as_secs()
            )
        } else {
            String::new()
        };
        d.warn(
            &p.location,
            format!(
                "missing timeouts for {}. While not properly invalid, you will certainly encounter various problems with such a configuration. To fix this, please ensure that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'.{note}",
                p.who()
            ),
        );
    }
}

fn backend(p: &ProxyDraft, d: &mut Diags) -> Backend {
    if p.servers.is_empty() && !p.disabled {
        d.warn(
            &p.location,
            format!(
                "{} has no server; connections to it will be closed.",
                p.who()
            ),
        );
    }
    p.checks.warn(&p.who(), p.disabled, d);
    let servers = p
        .servers
        .iter()
        .cloned()
        .map(|mut s| {
            if s.source.is_none() {
                (s.source, s.source_ports) = (p.source, p.source_ports);
            }
            s.check.timeout = p.timeouts.check;
            s
        })
        .collect();
    Backend {
        name: p.name.clone(),
        location: p.location.clone(),
        order: 0,
        uid: 0,
        listen: p.kind == Kind::Listen,
        balance: p.balance,
        hash_type: p.hash_type,
        servers,
        mysql: None,
        timeout_connect: p.timeouts.connect.unwrap_or(DEFAULT_TIMEOUT_CONNECT),
        timeout_server: p.timeouts.server,
        timeout_server_fin: p.timeouts.server_fin,
        timeout_tunnel: p.timeouts.tunnel,
        timeout_queue: p.timeouts.queue,
        retries: p.retries.unwrap_or(DEFAULT_RETRIES),
        redispatch: p.redispatch,
        allbackups: p.allbackups,
        splice: p.splice,
        disabled: p.disabled,
        check: p.checks.resolve(),
        log_health_checks: p.log_health_checks,
        fullconn: p.fullconn.unwrap_or(0),
        state_file: None,
        keepalive: p.srv_ka,
        nolinger: p.nolinger,
        smart_connect: p.smart_connect,
        log: FrontendLog::default(),
        rules: Default::default(),
    }
}

/// The frontend's binds with what their sockets take from the frontend:
/// the listen backlog in HAProxy's order (the bind's, the frontend's
/// `backlog`, its maxconn, global maxconn) and `option tcp-smart-accept`.
fn binds(p: &ProxyDraft, global_maxconn: usize) -> Vec<Bind> {
    let maxconn = p.maxconn.unwrap_or(global_maxconn);
    let fallback = i32::try_from(maxconn)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_BACKLOG);
    let backlog = p.backlog.unwrap_or(fallback);
    let mut binds = p.binds.clone();
    for b in &mut binds {
        b.backlog = Some(b.backlog.unwrap_or(backlog));
        b.options.smart_accept = p.smart_accept;
    }
    binds
}

/// A stats frontend: HTTP directives that change nothing are warned
/// about, others refused; PROXY headers and TLS are not read there.
fn stats_checks(p: &ProxyDraft, d: &mut Diags) {
    let who = p.who();
    for h in &p.http_only {
        match allowed_in_stats(&h.what) {
            Some(None) => {}
            Some(Some(why)) => d.warn(
                &h.location,
                format!("{} has no effect in stats {who}: {why}.", h.what),
            ),
            None => d.error(
                &h.location,
                format!("{} is not supported in stats {who}: in mode http splicer serves only the stats page and Prometheus metrics.", h.what),
            ),
        }
    }
    for b in p.binds.iter().filter(|b| b.accept_proxy) {
        d.error(
            &b.location,
            format!("'accept-proxy' is not supported on the binds of stats {who}."),
        );
    }
    // The admin thread serves the page in clear.
    for b in p.binds.iter().filter(|b| b.tls.is_some()) {
        d.error(
            &b.location,
            format!("'ssl' is not supported yet on the binds of stats {who}."),
        );
    }
    if p.timeouts.client.is_none() && !p.disabled {
        d.warn(
            &p.location,
            format!(
                "missing 'timeout client' for stats {who}: splicer gives clients {} s.",
                super::stats_page::DEFAULT_STATS_TIMEOUT.as_secs()
            ),
        );
    }
}

/// The frontend and the name of the backend it sends to (resolved later).
fn frontend(
    p: &ProxyDraft,
    global_maxconn: usize,
    d: &mut Diags,
) -> (Frontend, Option<(String, Location)>) {
    if p.binds.is_empty() && p.kind == Kind::Frontend && !p.disabled {
        d.warn(
            &p.location,
            format!(
                "{} has no 'bind' directive. Please declare it as a backend if this was intended.",
                p.who()
            ),
        );
    }
    let stats = stats_only(p);
    let target = match (&p.default_backend, p.kind) {
        (Some(t), _) => Some(t.clone()),
        (None, _) if stats => None,
        (None, Kind::Listen) => Some((p.name.clone(), p.location.clone())),
        (None, _) => {
            if !p.disabled {
                d.warn(
                    &p.location,
                    format!(
                        "{} has no 'default_backend': every connection will be closed.",
                        p.who()
                    ),
                );
            }
            None
        }
    };
    let fe = Frontend {
        name: p.name.clone(),
        location: p.location.clone(),
        order: 0,
        uid: 0,
        binds: binds(p, global_maxconn),
        maxconn: p.maxconn,
        rate_limit: p.rate_limit.unwrap_or(0),
        default_backend: None,
        timeout_client: p.timeouts.client,
        timeout_client_fin: p.timeouts.client_fin,
        splice: p.splice,
        disabled: p.disabled,
        keepalive: p.cli_ka,
        nolinger: p.nolinger,
        log: FrontendLog::default(),
        stats: stats.then(|| p.stats.resolve(p.timeouts.http_request, p.timeouts.client)),
        rules: Default::default(),
    };
    (fe, target)
}

/// Points each server's `resolvers NAME` at its section (HAProxy's message
/// when there is none).
fn link_resolvers(config: &mut Config, d: &mut Diags) {
    for be in &mut config.backends {
        for s in &mut be.servers {
            let Some(dns) = &mut s.dns else { continue };
            match config
                .resolvers
                .iter()
                .position(|r| r.name == dns.resolvers_name)
            {
                Some(i) => dns.resolvers = i,
                None => d.error(
                    &s.location,
                    format!(
                        "backend '{}', server '{}': unable to find required resolvers '{}'",
                        be.name, s.name, dns.resolvers_name
                    ),
                ),
            }
        }
    }
    for r in &config.resolvers {
        if r.nameservers.is_empty() {
            d.warn(
                &r.location,
                format!("resolvers '{}' has no nameserver", r.name),
            );
        }
    }
}
