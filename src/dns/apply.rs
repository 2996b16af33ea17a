//! What a valid answer does to servers: a host name's addresses are
//! handed to the servers resolving it ([`select::pick`]); a SRV label's
//! records fill or clear its template slots ([`srv::Table`]). Changes go
//! out through each server's `AddrCell`, host name and administrative
//! flags, with HAProxy 2.6's log lines.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::select::{self, Pick};
use super::srv::{Change, Fill, Record};
use super::{Kind, Thread};
use crate::base::ids::{BackendId, ServerId};
use crate::runtime::{Oper, admin};

/// A server's address while it has none.
const NO_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Thread {
    /// A valid answer for a host name: every server of the name picks its
    /// address.
    pub(super) fn valid_host(&mut self, i: usize, mut ips: Vec<IpAddr>, from: &str) {
        let r = &self.resolutions[i];
        let section = self.rt.resolvers[r.section].name.clone();
        let (fqdn, servers) = (r.fqdn.clone(), r.servers.clone());
        let rt = self.rt.clone();
        for &(b, s) in &servers {
            let be = rt.backend(b);
            let srv = be.server(s);
            let Some(dns) = &be.config.servers[s.index()].dns else {
                continue;
            };
            let has_ip = srv.admin_flags() & admin::RESOLUTION_MAINT == 0;
            let current = srv.addr.get();
            // Addresses held by the other servers of the backend resolving
            // the same name, when they have one.
            let held: Vec<IpAddr> = be
                .servers
                .iter()
                .enumerate()
                .filter(|(j, o)| {
                    *j != s.index()
                        && o.admin_flags() & admin::RESOLUTION_MAINT == 0
                        && o.hostname
                            .lock()
                            .as_deref()
                            .is_some_and(|h| h.eq_ignore_ascii_case(&fqdn))
                })
                .map(|(_, o)| o.addr.get().ip())
                .collect();
            match select::pick(&mut ips, dns, has_ip.then_some(current.ip()), &held) {
                Pick::Keep => {}
                Pick::NoIp => self.to_maint(b, s, "No IP for server"),
                Pick::Change(ip) => {
                    self.set_ip(b, s, ip, has_ip, &format!("{section}/{from}"));
                    if !has_ip {
                        srv.set_admin(admin::RESOLUTION_MAINT, false);
                        be.refresh_state();
                        rt.event(
                            be,
                            log::Level::Warn,
                            4,
                            format!(
                                "Server {}/{} administratively READY thanks to valid DNS answer.",
                                be.config.name, srv.name
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A valid answer for SRV label `i`: its slots follow the records.
    pub(super) fn valid_srv(
        &mut self,
        i: usize,
        records: &[Record],
        additional: &[(String, IpAddr)],
        now: Instant,
    ) {
        let obsolete = self.rt.resolvers[self.resolutions[i].section].hold.obsolete;
        let r = &mut self.resolutions[i];
        let Kind::Srv(table) = &mut r.kind else {
            return;
        };
        let changes = table.update(records, additional, now, obsolete);
        let servers = r.servers.clone();
        for c in changes {
            match c {
                Change::Clear(slot) => self.clear_slot(servers[slot]),
                Change::Fill(f) => self.fill_slot(servers[f.slot], &f),
            }
        }
        self.regroup(now);
    }

    /// The slot's record is gone (or its label failed for longer than
    /// its `hold`): no host name, no address, maintenance.
    pub(super) fn clear_slot(&mut self, (b, s): (BackendId, ServerId)) {
        self.to_maint(b, s, "entry removed from SRV record");
        let srv = self.rt.backend(b).server(s);
        *srv.hostname.lock() = None;
        srv.addr.set(NO_ADDR);
        self.no_resolution.insert((b, s));
    }

    /// HAProxy: the target's additional record gives the address (no A
    /// query then); otherwise the target is resolved on its own.
    fn fill_slot(&mut self, (b, s): (BackendId, ServerId), f: &Fill) {
        let rt = self.rt.clone();
        let be = rt.backend(b);
        let srv = be.server(s);
        match f.ip {
            Some(ip) => {
                let current = srv.addr.get();
                if current.ip() != ip {
                    let had = !current.ip().is_unspecified();
                    self.set_ip(b, s, ip, had, "DNS additional record");
                }
                self.no_resolution.insert((b, s));
            }
            None => {
                self.no_resolution.remove(&(b, s));
            }
        }
        {
            let mut host = srv.hostname.lock();
            if host.is_none() {
                *host = Some(f.target.clone());
                rt.event(
                    be,
                    log::Level::Info,
                    5,
                    format!(
                        "{}/{} changed its FQDN from (null) to {} by 'SRV record'",
                        be.config.name, srv.name, f.target
                    ),
                );
            }
        }
        let current = srv.addr.get();
        srv.addr.set(SocketAddr::new(current.ip(), f.port));
        let ignore_weight = be.config.servers[s.index()]
            .dns
            .as_ref()
            .is_some_and(|d| d.ignore_weight);
        if !ignore_weight {
            srv.weight.store(f.weight, Ordering::Relaxed);
        }
        if current.ip().is_unspecified() {
            self.to_maint(b, s, "entry removed from SRV record");
        } else {
            self.resolves_again(b, s);
        }
        be.refresh_state();
    }

    /// Publishes `ip` (the port stays) with HAProxy's log line.
    fn set_ip(&self, b: BackendId, s: ServerId, ip: IpAddr, had: bool, by: &str) {
        let be = self.rt.backend(b);
        let srv = be.server(s);
        let current = srv.addr.get();
        srv.addr.set(SocketAddr::new(ip, current.port()));
        let old = if had {
            current.ip().to_string()
        } else {
            "(none)".into()
        };
        self.rt.event(
            be,
            log::Level::Info,
            5,
            format!(
                "{}/{} changed its IP from {old} to {ip} by {by}.",
                be.config.name, srv.name
            ),
        );
    }

    /// Leaves maintenance (resolution) when in it.
    fn resolves_again(&self, b: BackendId, s: ServerId) {
        let be = self.rt.backend(b);
        let srv = be.server(s);
        if srv.admin_flags() & admin::RESOLUTION_MAINT == 0 {
            return;
        }
        srv.set_admin(admin::RESOLUTION_MAINT, false);
        be.refresh_state();
        let host = srv.hostname.lock().clone().unwrap_or_default();
        let state = if srv.oper() == Oper::Down {
            "DOWN"
        } else {
            "UP"
        };
        let ready = if srv.admin_flags() & admin::FORCED_DRAIN != 0 {
            "DRAIN"
        } else {
            "READY"
        };
        self.rt.event(
            be,
            log::Level::Warn,
            4,
            format!(
                "Server {}/{} ('{host}') is {state}/{ready} (resolves again).",
                be.config.name, srv.name
            ),
        );
    }

    pub(super) fn to_maint(&self, b: BackendId, s: ServerId, reason: &str) {
        let be = self.rt.backend(b);
        let srv = be.server(s);
        if srv.admin_flags() & admin::RESOLUTION_MAINT != 0 {
            return;
        }
        srv.set_admin(admin::RESOLUTION_MAINT, true);
        be.refresh_state();
        self.rt.event(
            be,
            log::Level::Warn,
            4,
            format!(
                "Server {}/{} is going DOWN for maintenance ({reason}).",
                be.config.name, srv.name
            ),
        );
    }
}
