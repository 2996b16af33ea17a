//! `server`, `server-template` and `source` lines of a proxy section: a
//! server's address (a name resolved now or by the resolver thread), its
//! parameters over the section's `default-server`, and HAProxy's
//! normalisation of its limits.

use super::model::*;
use super::parser::Diags;
use super::proxy::{ProxyDraft, report};
use super::server::{self, ParamIssue, ServerParams};

impl ProxyDraft {
    pub(super) fn server(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let (Some(name), Some(addr)) = (words.get(1), words.get(2)) else {
            return d.error(
                loc,
                "'server' expects <name> and <addr>[:<port>] as arguments.",
            );
        };
        self.add_server(name, addr, &words[3..], loc, d);
    }

    /// `server-template PREFIX NUM|LOW-HIGH FQDN[:PORT] [params]`: servers
    /// PREFIXn for each n, filled at run time by the name's records.
    pub(super) fn server_template(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let (Some(prefix), Some(range), Some(addr)) = (words.get(1), words.get(2), words.get(3))
        else {
            return d.error(
                loc,
                "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
            );
        };
        let bounds = match range.split_once('-') {
            Some((low, high)) => low.parse::<u32>().ok().zip(high.parse::<u32>().ok()),
            None => range.parse::<u32>().ok().map(|n| (1, n)),
        };
        let Some((low, high)) = bounds.filter(|(l, h)| *l >= 1 && l <= h) else {
            return d.error(
                loc,
                format!("Wrong server-template number or range arg '{range}'."),
            );
        };
        for n in low..=high {
            self.add_server(&format!("{prefix}{n}"), addr, &words[4..], loc, d);
        }
    }

    fn add_server(
        &mut self,
        name: &str,
        addr: &str,
        params_words: &[String],
        loc: &Location,
        d: &mut Diags,
    ) {
        self.add_server_from(
            self.default_server.clone(),
            name,
            addr,
            params_words,
            loc,
            d,
        );
    }

    /// A server line's server, its parameters applied over `base` (the
    /// section's `default-server`, or a blank one for `add server`).
    pub(super) fn add_server_from(
        &mut self,
        base: ServerParams,
        name: &str,
        addr: &str,
        params_words: &[String],
        loc: &Location,
        d: &mut Diags,
    ) {
        let who = format!("server '{}/{name}'", self.name);
        if let Some(first) = self.servers.iter().find(|s| s.name == *name) {
            d.error(
                loc,
                format!(
                    "{}, another server named '{name}' was already defined at line {}, please use distinct names.",
                    self.who(),
                    first.location.line
                ),
            );
        }
        let mut params = base;
        let issues = server::apply(&mut params, params_words, &who, Some(&self.tls));
        let failed = issues.iter().any(|i| matches!(i, ParamIssue::Error(_)));
        report(issues, loc, d);
        let srv_label = addr.starts_with('_');
        let start =
            if params.dns.resolvers.is_none() && params.dns.init_addr.is_none() && !srv_label {
                super::values::parse_server_addr(addr).map(|a| super::server_dns::Start {
                    addr: a,
                    fqdn: host_name(addr),
                    no_addr: false,
                    warning: None,
                })
            } else {
                super::server_dns::server_address(addr, &params.dns)
            };
        let start = match start {
            Ok(s) => s,
            Err(e) => return d.error(loc, format!("{who}: {e}")),
        };
        if let Some(w) = &start.warning {
            d.warn(loc, format!("{who}: {w}"));
        }
        if failed {
            return;
        }
        let tls = super::tls_server::finish(&params.tls, &self.tls, &who, loc, d);
        // HAProxy: a minconn above maxconn raises maxconn to it; a maxconn
        // alone is also the minconn (a static limit).
        let (mut maxconn, mut minconn) = (params.maxconn, params.minconn);
        match (maxconn.unwrap_or(0), minconn.unwrap_or(0)) {
            (max, min) if min > max => maxconn = Some(min),
            (max, 0) if max > 0 => minconn = Some(max),
            _ => {}
        }
        // The section's name is turned into an index once every section
        // is read (`validate.rs`); `usize::MAX` until then.
        let fqdn = start.fqdn.clone().filter(|_| !srv_label);
        let dns = start
            .fqdn
            .zip(params.dns.resolvers.clone())
            .map(|(fqdn, section)| ServerDns {
                resolvers: usize::MAX,
                resolvers_name: section,
                fqdn,
                prefer: params.dns.prefer,
                nets: params.dns.nets.clone(),
                allow_dup_ip: params.dns.allow_dup_ip,
                ignore_weight: params.dns.ignore_weight,
            });
        self.servers.push(Server {
            name: name.to_string(),
            location: loc.clone(),
            addr: start.addr,
            weight: params.weight,
            backup: params.backup,
            maxconn,
            minconn,
            // SRV records give a fixed port to each slot.
            port_mode: if srv_label {
                PortMode::Fixed
            } else {
                super::values::server_port_mode(addr)
            },
            maxqueue: params.maxqueue,
            track_spec: params.track.clone(),
            track: None,
            disabled: params.disabled,
            send_proxy: params.send_proxy,
            source: params.source,
            source_ports: params.source_ports,
            tfo: params.tfo,
            non_stick: params.non_stick,
            check: params.check,
            dns,
            fqdn,
            no_addr: start.no_addr,
            tls,
        });
    }

    pub(super) fn source(&mut self, words: &[String], loc: &Location, d: &mut Diags) {
        let Some(addr) = words.get(1) else {
            return d.error(loc, "'source' expects <addr>[:<port>] as argument.");
        };
        if let Some(extra) = words.get(2) {
            return d.error(loc, format!("'source': '{extra}' is not supported yet"));
        }
        match server::parse_source(addr, false) {
            Ok((ip, ports)) => (self.source, self.source_ports) = (Some(ip), ports),
            Err(e) => d.error(loc, format!("'source {addr}' : {e}")),
        }
    }
}

/// The host name of a server address written as a name, not an IP.
fn host_name(addr: &str) -> Option<String> {
    let (_, host, _) = super::values::split_host_port(addr).ok()?;
    (!host.is_empty() && host != "*" && host.parse::<std::net::IpAddr>().is_err())
        .then(|| host.to_string())
}
