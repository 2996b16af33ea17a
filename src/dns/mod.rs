//! Run-time DNS resolution (HAProxy 2.6, configuration.txt 5.3): one
//! thread with its own `mio::Poll` and one non-blocking UDP socket per
//! `nameserver`. Servers that name a `resolvers` section and have a host
//! name are grouped by (section, name, preferred family) into
//! resolutions; each is queried every `hold valid` (looked at every
//! `timeout resolve`), sent to every name server of the section, retried
//! after `timeout retry` up to `resolve_retries` times, switching A/AAAA
//! once when every server answered an error. The first valid answer is
//! applied to the servers ([`select::pick`]): a new address is published
//! through the server's `AddrCell`, which workers read on their next
//! connect; a server left without an address goes to maintenance
//! (resolution) and comes back when an answer has one for it. An error
//! puts the servers in maintenance only once no valid answer came within
//! its `hold` period. Nothing here ever blocks a worker.

mod packet;
mod select;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::base::ids::{BackendId, ServerId};
use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::config::{IpFamily, Resolvers};
use crate::runtime::{Runtime, admin};
use packet::{Data, Rcode, Response};
use select::Pick;

/// Largest datagram read (the most `accepted_payload_size` can announce).
const MAX_DATAGRAM: usize = 65535;

/// Starts the resolver when some server is resolved at run time.
pub(crate) fn start(rt: Arc<Runtime>) -> io::Result<Option<Service>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut thread = Thread::new(rt, poll)?;
    if thread.resolutions.is_empty() {
        return Ok(None);
    }
    log::info!(
        "DNS resolver started: {} names for {} servers",
        thread.resolutions.len(),
        thread
            .resolutions
            .iter()
            .map(|r| r.servers.len())
            .sum::<usize>()
    );
    Ok(Some(Service::spawn("dns", Some(waker), move |stop| {
        thread.run(&stop)
    })?))
}

/// Why a resolution failed, each with its `hold` period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Nx,
    Refused,
    Timeout,
    Other,
}

/// A query waiting for answers.
struct InFlight {
    id: u16,
    qtype: u16,
    deadline: Instant,
    /// Queries left, this one included (`resolve_retries`).
    tries_left: u32,
    /// Name servers that have not answered this query yet.
    pending: usize,
    /// The family switch (A <-> AAAA) was tried in this round.
    switched: bool,
    last_error: Failure,
}

/// One name resolved for a group of servers.
struct Resolution {
    section: usize,
    fqdn: String,
    prefer: IpFamily,
    /// In backend order: the order HAProxy hands an answer to its servers.
    servers: Vec<(BackendId, ServerId)>,
    next: Instant,
    query: Option<InFlight>,
    last_valid: Option<Instant>,
}

struct Nameserver {
    section: usize,
    name: String,
    socket: UdpSocket,
}

struct Thread {
    rt: Arc<Runtime>,
    poll: Poll,
    nameservers: Vec<Nameserver>,
    resolutions: Vec<Resolution>,
    /// Query id -> resolution.
    by_id: HashMap<u16, usize>,
    next_id: u16,
}

impl Thread {
    fn new(rt: Arc<Runtime>, poll: Poll) -> io::Result<Thread> {
        let mut nameservers = Vec::new();
        for (section, r) in rt.resolvers.iter().enumerate() {
            for ns in &r.nameservers {
                let local: SocketAddr = if ns.addr.is_ipv4() {
                    "0.0.0.0:0".parse().unwrap_or(ns.addr)
                } else {
                    "[::]:0".parse().unwrap_or(ns.addr)
                };
                let mut socket = UdpSocket::bind(local)?;
                socket.connect(ns.addr)?;
                poll.registry().register(
                    &mut socket,
                    Token(nameservers.len()),
                    Interest::READABLE,
                )?;
                nameservers.push(Nameserver {
                    section,
                    name: ns.name.clone(),
                    socket,
                });
            }
        }
        let mut resolutions: Vec<Resolution> = Vec::new();
        let now = Instant::now();
        for (b, be) in rt.backends.iter().enumerate() {
            if be.config.disabled {
                continue;
            }
            for (s, cfg) in be.config.servers.iter().enumerate() {
                let Some(dns) = &cfg.dns else { continue };
                // SRV labels are refused by the config for now.
                if dns.srv() {
                    continue;
                }
                let key = |r: &Resolution| {
                    r.section == dns.resolvers && r.fqdn == dns.fqdn && r.prefer == dns.prefer
                };
                let id = (BackendId::new(b), ServerId::new(s));
                match resolutions.iter_mut().find(|r| key(r)) {
                    Some(r) => r.servers.push(id),
                    None => resolutions.push(Resolution {
                        section: dns.resolvers,
                        fqdn: dns.fqdn.to_ascii_lowercase(),
                        prefer: dns.prefer,
                        servers: vec![id],
                        next: now,
                        query: None,
                        last_valid: None,
                    }),
                }
            }
        }
        Ok(Thread {
            rt,
            poll,
            nameservers,
            resolutions,
            by_id: HashMap::new(),
            next_id: std::process::id() as u16,
        })
    }

    fn section(&self, i: usize) -> &Resolvers {
        &self.rt.resolvers[i]
    }

    fn run(&mut self, stop: &StopFlag) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !stop.is_set() {
            let now = Instant::now();
            self.on_time(now);
            let next = self
                .resolutions
                .iter()
                .map(|r| r.query.as_ref().map_or(r.next, |q| q.deadline))
                .min();
            let timeout = next.map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("DNS resolver stopped: {e}");
                return;
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                self.drain(ev.token().0, &mut buf);
            }
        }
    }

    /// Reads every datagram waiting on name server `ns`.
    fn drain(&mut self, ns: usize, buf: &mut [u8]) {
        loop {
            let n = match self.nameservers[ns].socket.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP port unreachable and the like: that name server
                // will time out.
                Err(e) => {
                    log::debug!("DNS: nameserver {}: {e}", self.nameservers[ns].name);
                    continue;
                }
            };
            match packet::parse(&buf[..n]) {
                Ok(resp) => self.on_response(ns, resp),
                Err(e) => log::debug!(
                    "DNS: bad response from {}: {e:?}",
                    self.nameservers[ns].name
                ),
            }
        }
    }

    fn on_time(&mut self, now: Instant) {
        for i in 0..self.resolutions.len() {
            let r = &mut self.resolutions[i];
            match &mut r.query {
                Some(q) if now >= q.deadline => {
                    q.last_error = Failure::Timeout;
                    self.retry(i, now);
                }
                Some(_) => {}
                None if now >= r.next => {
                    let (section, qtype) = (r.section, preferred_type(r.prefer));
                    let tries = self.section(section).retries.max(1);
                    self.send(i, qtype, tries, false, now);
                }
                None => {}
            }
        }
    }

    /// Sends a query of `qtype` for resolution `i` to every name server
    /// of its section.
    fn send(&mut self, i: usize, qtype: u16, tries_left: u32, switched: bool, now: Instant) {
        if let Some(q) = self.resolutions[i].query.take() {
            self.by_id.remove(&q.id);
        }
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let section = self.resolutions[i].section;
        let (payload, timeout) = {
            let s = self.section(section);
            (s.payload_size, s.timeout_retry)
        };
        let query = packet::query(id, &self.resolutions[i].fqdn, qtype, payload);
        let mut pending = 0;
        for ns in self.nameservers.iter().filter(|n| n.section == section) {
            match ns.socket.send(&query) {
                Ok(_) => pending += 1,
                Err(e) => log::debug!("DNS: cannot query nameserver {}: {e}", ns.name),
            }
        }
        self.by_id.insert(id, i);
        self.resolutions[i].query = Some(InFlight {
            id,
            qtype,
            deadline: now + timeout,
            tries_left,
            pending,
            switched,
            last_error: Failure::Timeout,
        });
    }

    fn on_response(&mut self, ns: usize, resp: Response) {
        let Some(&i) = self.by_id.get(&resp.id) else {
            return;
        };
        let r = &self.resolutions[i];
        let Some(q) = &r.query else { return };
        if r.section != self.nameservers[ns].section || resp.name != r.fqdn || resp.qtype != q.qtype
        {
            return;
        }
        let ips: Vec<IpAddr> = resp
            .answers
            .iter()
            .filter_map(|rec| match rec.data {
                Data::A(ip) => Some(IpAddr::V4(ip)),
                Data::Aaaa(ip) => Some(IpAddr::V6(ip)),
                _ => None,
            })
            .collect();
        let now = Instant::now();
        let failure = match resp.rcode {
            Rcode::NoError if !ips.is_empty() => None,
            Rcode::NxDomain => Some(Failure::Nx),
            Rcode::Refused => Some(Failure::Refused),
            _ => Some(Failure::Other),
        };
        let Some(failure) = failure else {
            self.valid(i, ips, &self.nameservers[ns].name.clone(), now);
            return;
        };
        let Some(q) = &mut self.resolutions[i].query else {
            return;
        };
        q.last_error = failure;
        q.pending = q.pending.saturating_sub(1);
        if q.pending == 0 {
            // Every name server answered an error: HAProxy first asks for
            // the other family, then starts over with the preferred one.
            let (qtype, tries, switched) = (q.qtype, q.tries_left, q.switched);
            if !switched {
                self.send(i, other_type(qtype), tries, true, now);
            } else {
                self.retry(i, now);
            }
        }
    }

    /// The current query failed: try again, or give up for this round.
    fn retry(&mut self, i: usize, now: Instant) {
        let Some(q) = &self.resolutions[i].query else {
            return;
        };
        let (tries, error) = (q.tries_left.saturating_sub(1), q.last_error);
        if tries > 0 {
            let qtype = preferred_type(self.resolutions[i].prefer);
            self.send(i, qtype, tries, false, now);
            return;
        }
        if let Some(q) = self.resolutions[i].query.take() {
            self.by_id.remove(&q.id);
        }
        let r = &self.resolutions[i];
        let s = self.section(r.section);
        let hold = match error {
            Failure::Nx => s.hold.nx,
            Failure::Refused => s.hold.refused,
            Failure::Timeout => s.hold.timeout,
            Failure::Other => s.hold.other,
        };
        let next = now + s.hold.valid.max(s.timeout_resolve);
        let expired = r.last_valid.is_none_or(|t| now.duration_since(t) >= hold);
        log::debug!("DNS: resolution of {} failed ({error:?})", r.fqdn);
        if expired {
            let reason = format!("DNS {error:?} status").to_lowercase();
            for &(b, s) in &r.servers.clone() {
                self.to_maint(b, s, &reason);
            }
        }
        self.resolutions[i].next = next;
    }

    /// A valid answer: every server of the name picks its address.
    fn valid(&mut self, i: usize, mut ips: Vec<IpAddr>, from: &str, now: Instant) {
        if let Some(q) = self.resolutions[i].query.take() {
            self.by_id.remove(&q.id);
        }
        let r = &mut self.resolutions[i];
        r.last_valid = Some(now);
        let s = &self.rt.resolvers[r.section];
        r.next = now + s.hold.valid.max(s.timeout_resolve);
        let section = s.name.clone();
        let servers = r.servers.clone();
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
                .zip(&be.config.servers)
                .enumerate()
                .filter(|(j, (o, c))| {
                    *j != s.index()
                        && o.admin_flags() & admin::RESOLUTION_MAINT == 0
                        && c.dns
                            .as_ref()
                            .is_some_and(|d| d.fqdn.eq_ignore_ascii_case(&dns.fqdn))
                })
                .map(|(_, (o, _))| o.addr.get().ip())
                .collect();
            match select::pick(&mut ips, dns, has_ip.then_some(current.ip()), &held) {
                Pick::Keep => {}
                Pick::NoIp => self.to_maint(b, s, "No IP for server"),
                Pick::Change(ip) => {
                    srv.addr.set(SocketAddr::new(ip, current.port()));
                    let old = if has_ip {
                        current.ip().to_string()
                    } else {
                        "(none)".into()
                    };
                    rt.event(
                        be,
                        log::Level::Info,
                        5,
                        format!(
                            "{}/{} changed its IP from {old} to {ip} by {section}/{from}.",
                            be.config.name, srv.name
                        ),
                    );
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

    fn to_maint(&self, b: BackendId, s: ServerId, reason: &str) {
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

fn preferred_type(prefer: IpFamily) -> u16 {
    match prefer {
        IpFamily::V4 => packet::TYPE_A,
        IpFamily::V6 => packet::TYPE_AAAA,
    }
}

fn other_type(qtype: u16) -> u16 {
    if qtype == packet::TYPE_A {
        packet::TYPE_AAAA
    } else {
        packet::TYPE_A
    }
}
