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
//! its `hold` period. A SRV label (`_service._proto.name`) is one
//! resolution per backend, whose records fill the template's slots
//! ([`srv`]): target, port and weight, the address from the additional
//! section or else from a resolution of the target. Host resolutions
//! follow the servers' current host names ([`Thread::regroup`]), which
//! SRV records and `set server fqdn` change. Nothing here ever blocks a
//! worker.

mod apply;
mod packet;
mod select;
mod srv;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::base::ids::{BackendId, ServerId};
use crate::base::service::{Service, StopFlag};
use crate::base::token::WAKER;
use crate::config::{IpFamily, Resolvers};
use crate::runtime::Runtime;
use packet::{Data, Rcode, Response};

/// Largest datagram read (the most `accepted_payload_size` can announce).
const MAX_DATAGRAM: usize = 65535;
/// Longest sleep, so that a host name changed by the runtime API is seen.
const MAX_SLEEP: Duration = Duration::from_secs(1);

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

enum Kind {
    /// A/AAAA of a host name, for the servers that have it now.
    Host,
    /// SRV records of a label, for the slots of one backend.
    Srv(srv::Table),
}

/// One name resolved for a group of servers.
struct Resolution {
    section: usize,
    fqdn: String,
    prefer: IpFamily,
    kind: Kind,
    /// In backend order: the order HAProxy hands an answer to its servers
    /// (for a SRV label, its slots).
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
    /// SRV slots that take no A/AAAA resolution: their address came in
    /// an additional record, or they hold no record.
    no_resolution: HashSet<(BackendId, ServerId)>,
}

impl Resolution {
    fn qtype(&self) -> u16 {
        match (&self.kind, self.prefer) {
            (Kind::Srv(_), _) => packet::TYPE_SRV,
            (Kind::Host, IpFamily::V4) => packet::TYPE_A,
            (Kind::Host, IpFamily::V6) => packet::TYPE_AAAA,
        }
    }
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
        let mut no_resolution = HashSet::new();
        let now = Instant::now();
        for (b, be) in rt.backends.iter().enumerate() {
            if be.config.disabled {
                continue;
            }
            for (s, cfg) in be.config.servers.iter().enumerate() {
                let Some(dns) = cfg.dns.as_ref().filter(|d| d.srv()) else {
                    continue;
                };
                let id = (BackendId::new(b), ServerId::new(s));
                no_resolution.insert(id);
                let fqdn = dns.fqdn.to_ascii_lowercase();
                // HAProxy keeps one SRV request per label and backend.
                let same = |r: &&mut Resolution| {
                    r.section == dns.resolvers && r.fqdn == fqdn && r.servers[0].0 == id.0
                };
                match resolutions.iter_mut().find(same) {
                    Some(r) => r.servers.push(id),
                    None => resolutions.push(Resolution {
                        section: dns.resolvers,
                        fqdn,
                        prefer: dns.prefer,
                        kind: Kind::Host,
                        servers: vec![id],
                        next: now,
                        query: None,
                        last_valid: None,
                    }),
                }
            }
        }
        for r in &mut resolutions {
            r.kind = Kind::Srv(srv::Table::new(r.servers.len()));
        }
        let mut thread = Thread {
            rt,
            poll,
            nameservers,
            resolutions,
            by_id: HashMap::new(),
            next_id: std::process::id() as u16,
            no_resolution,
        };
        thread.regroup(now);
        Ok(thread)
    }

    /// Host resolutions follow the servers' host names now: a server
    /// joins the resolution of its name (made when new) and one left
    /// without servers is dropped. SRV resolutions stay.
    fn regroup(&mut self, now: Instant) {
        type Key = (usize, String, IpFamily);
        let mut wanted: Vec<(Key, Vec<(BackendId, ServerId)>)> = Vec::new();
        for (b, be) in self.rt.backends.iter().enumerate() {
            if be.config.disabled {
                continue;
            }
            for (s, cfg) in be.config.servers.iter().enumerate() {
                let Some(dns) = &cfg.dns else { continue };
                let id = (BackendId::new(b), ServerId::new(s));
                if dns.srv() && self.no_resolution.contains(&id) {
                    continue;
                }
                let Some(host) = be.servers[s].hostname.lock().clone() else {
                    continue;
                };
                let key = (dns.resolvers, host.to_ascii_lowercase(), dns.prefer);
                match wanted.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, servers)) => servers.push(id),
                    None => wanted.push((key, vec![id])),
                }
            }
        }
        let mut kept = Vec::new();
        for mut r in self.resolutions.drain(..) {
            if matches!(r.kind, Kind::Srv(_)) {
                kept.push(r);
                continue;
            }
            let key = (r.section, r.fqdn.clone(), r.prefer);
            if let Some(pos) = wanted.iter().position(|(k, _)| *k == key) {
                r.servers = wanted.remove(pos).1;
                kept.push(r);
            }
        }
        for ((section, fqdn, prefer), servers) in wanted {
            kept.push(Resolution {
                section,
                fqdn,
                prefer,
                kind: Kind::Host,
                servers,
                next: now,
                query: None,
                last_valid: None,
            });
        }
        self.resolutions = kept;
        self.by_id = self
            .resolutions
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.query.as_ref().map(|q| (q.id, i)))
            .collect();
    }

    fn section(&self, i: usize) -> &Resolvers {
        &self.rt.resolvers[i]
    }

    fn run(&mut self, stop: &StopFlag) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !stop.is_set() {
            let now = Instant::now();
            if self.rt.dns_changed.swap(false, Ordering::AcqRel) {
                self.regroup(now);
            }
            self.on_time(now);
            let next = self
                .resolutions
                .iter()
                .map(|r| r.query.as_ref().map_or(r.next, |q| q.deadline))
                .min();
            let timeout = next
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
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
                    let (section, qtype) = (r.section, r.qtype());
                    let tries = self.section(section).retries.max(1);
                    // Only A and AAAA switch to the other family.
                    let switched = qtype == packet::TYPE_SRV;
                    self.send(i, qtype, tries, switched, now);
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
        let ips: Vec<IpAddr> = resp.answers.iter().filter_map(address).collect();
        let records: Vec<srv::Record> = resp
            .answers
            .iter()
            .filter_map(|rec| match &rec.data {
                Data::Srv {
                    weight,
                    port,
                    target,
                    ..
                } => Some(srv::Record {
                    target: target.clone(),
                    port: *port,
                    weight: *weight,
                }),
                _ => None,
            })
            .collect();
        let found = match r.kind {
            Kind::Host => !ips.is_empty(),
            Kind::Srv(_) => !records.is_empty(),
        };
        let now = Instant::now();
        let failure = match resp.rcode {
            Rcode::NoError if found => None,
            Rcode::NxDomain => Some(Failure::Nx),
            Rcode::Refused => Some(Failure::Refused),
            _ => Some(Failure::Other),
        };
        let Some(failure) = failure else {
            self.valid(i, now);
            if matches!(self.resolutions[i].kind, Kind::Host) {
                let from = self.nameservers[ns].name.clone();
                self.valid_host(i, ips, &from);
            } else {
                let additional: Vec<(String, IpAddr)> = resp
                    .additional
                    .iter()
                    .filter_map(|rec| address(rec).map(|ip| (rec.name.clone(), ip)))
                    .collect();
                self.valid_srv(i, &records, &additional, now);
            }
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
            let qtype = self.resolutions[i].qtype();
            self.send(i, qtype, tries, qtype == packet::TYPE_SRV, now);
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
        self.resolutions[i].next = next;
        if !expired {
            return;
        }
        let servers = self.resolutions[i].servers.clone();
        if let Kind::Srv(table) = &mut self.resolutions[i].kind {
            // HAProxy drops every record of the label.
            for slot in table.clear() {
                self.clear_slot(servers[slot]);
            }
            self.regroup(now);
        } else {
            let reason = format!("DNS {error:?} status").to_lowercase();
            for &(b, s) in &servers {
                self.to_maint(b, s, &reason);
            }
        }
    }

    /// A valid answer ends the query; the next round is `hold valid`
    /// away.
    fn valid(&mut self, i: usize, now: Instant) {
        if let Some(q) = self.resolutions[i].query.take() {
            self.by_id.remove(&q.id);
        }
        let r = &mut self.resolutions[i];
        r.last_valid = Some(now);
        let s = &self.rt.resolvers[r.section];
        r.next = now + s.hold.valid.max(s.timeout_resolve);
    }
}

fn address(rec: &packet::Record) -> Option<IpAddr> {
    match rec.data {
        Data::A(ip) => Some(IpAddr::V4(ip)),
        Data::Aaaa(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

fn other_type(qtype: u16) -> u16 {
    if qtype == packet::TYPE_A {
        packet::TYPE_AAAA
    } else {
        packet::TYPE_A
    }
}

/// The response parser, for the fuzz targets ([`crate::fuzz`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_response(data: &[u8]) {
    let _ = packet::parse(data);
}

/// A response to start fuzzing from: a query for an A record, turned into
/// its (empty) answer.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_seed() -> Vec<u8> {
    let mut q = packet::query(0x1234, "www.foobar.com", 1, 1232);
    q[2] |= 0x80;
    q
}
