//! One VRRP instance inside the VRRP thread: its raw socket, its state
//! machine, and the side effects the machine asks for (advertisements,
//! VIPs added and removed through netlink, gratuitous ARPs, the log line
//! and the notify script of each transition).
//!
//! Packets enter through [`Instance::receive`], which drops anything the
//! RFC says to drop before the machine sees it; the interface, tracked
//! backends and workers are looked at in [`Instance::refresh`].

use std::collections::HashSet;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Child;
use std::time::Instant;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::arp::{self, Schedule};
use super::machine::{Action, Machine, State, centis};
use super::netlink::{Link, Netlink};
use super::packet::{self, Advert, MULTICAST_GROUP, PROTO_VRRP, VRRP_TTL};
use crate::base::vrrp::{Status, Transition};
use crate::config::VrrpInstance;
use crate::config::vrrp::OWNER_PRIORITY;
use crate::runtime::Runtime;

/// Kinds of "dropped because ..." warnings remembered per instance; past
/// this the rest go to the debug log only.
const MAX_WARNINGS: usize = 64;
/// Notify scripts still running at once; more are not started.
const MAX_CHILDREN: usize = 32;
/// TOS of advertisements: IP precedence "internetwork control".
const TOS_NETWORK_CONTROL: u8 = 0xc0;
const RECV_BUFFER: usize = 2048;

/// What the thread shares between instances.
pub(crate) struct Ctx<'a> {
    pub nl: &'a mut Netlink,
    pub arp: &'a Socket,
    pub rt: &'a Runtime,
    pub children: &'a mut Vec<Child>,
}

pub(crate) struct Instance {
    pub cfg: VrrpInstance,
    machine: Machine,
    link: Option<Link>,
    local_ip: Option<Ipv4Addr>,
    /// Raw VRRP socket, bound to the interface (reopened when its index
    /// changes); `None` while the interface is missing.
    pub sock: Option<Socket>,
    garp: Schedule,
    fault: Option<String>,
    warned: HashSet<String>,
    send_failing: bool,
    pub status: Status,
}

impl Instance {
    pub(crate) fn new(cfg: VrrpInstance) -> Instance {
        let machine = Machine::new(
            cfg.priority,
            cfg.advert_centis(),
            cfg.preempt,
            Ipv4Addr::UNSPECIFIED,
        );
        Instance {
            status: Status::new(cfg.priority),
            cfg,
            machine,
            link: None,
            local_ip: None,
            sock: None,
            garp: Schedule::default(),
            fault: None,
            warned: HashSet::new(),
            send_failing: false,
        }
    }

    /// Removes VIPs a crashed run may have left on the interface; called
    /// once at start, before anything is sent or received.
    pub(crate) fn remove_leftovers(&self, nl: &mut Netlink) -> io::Result<()> {
        let Some(link) = nl.link(&self.cfg.interface)? else {
            return Ok(());
        };
        for vip in &self.cfg.vips {
            if nl.del_addr(link.index, vip.addr)? {
                log::warn!(
                    "vrrp {}: removed {} from {}, left there by an earlier run",
                    self.cfg.name,
                    vip.addr,
                    self.cfg.interface
                );
            }
        }
        Ok(())
    }

    /// When [`Instance::on_timers`] next has work.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.machine.deadline(), self.garp.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Looks at the interface, the tracked backends and the workers
    /// (`stalled`: a worker that stopped turning), enters or leaves FAULT,
    /// and starts the machine on the first call without a fault. Returns
    /// whether the raw socket was (re)opened, so the caller registers it.
    pub(crate) fn refresh(
        &mut self,
        ctx: &mut Ctx<'_>,
        now: Instant,
        stalled: Option<&str>,
    ) -> bool {
        let mut reopened = false;
        let fault = match ctx.nl.link(&self.cfg.interface) {
            // The kernel did not answer in time: nothing is known to have
            // changed, so nothing changes (a hiccup must not move the VIP).
            Err(e) => {
                self.warn_once(
                    "netlink".into(),
                    format!("cannot read interface state: {e}"),
                );
                return false;
            }
            Ok(None) => {
                self.link = None;
                self.sock = None;
                Some(format!("interface {} not found", self.cfg.interface))
            }
            Ok(Some(link)) => {
                if self.sock.is_none() || self.link.is_none_or(|l| l.index != link.index) {
                    match open_socket(&self.cfg, &link) {
                        Ok(s) => {
                            self.sock = Some(s);
                            reopened = true;
                        }
                        Err(e) => {
                            self.sock = None;
                            self.warn_once(
                                "socket".into(),
                                format!("cannot open the VRRP socket: {e}"),
                            );
                        }
                    }
                }
                self.link = Some(link);
                match primary_ip(ctx.nl, &link, &self.cfg) {
                    Ok(ip) => self.local_ip = ip,
                    Err(e) => {
                        self.warn_once("netlink".into(), format!("cannot read addresses: {e}"))
                    }
                }
                if let Some(ip) = self.local_ip {
                    self.machine.set_local_ip(ip);
                }
                self.fault_reason(ctx.rt, &link, stalled)
            }
        };
        let mut out = Vec::new();
        match (&fault, self.machine.state()) {
            (Some(why), State::Init | State::Backup | State::Master) => {
                self.machine.fault(why.clone(), &mut out)
            }
            (None, State::Init) => self.machine.start(now, &mut out),
            (None, State::Fault) => self.machine.fault_cleared(now, &mut out),
            _ => {}
        }
        self.fault = fault;
        self.apply(ctx, now, out);
        reopened
    }

    fn fault_reason(&self, rt: &Runtime, link: &Link, stalled: Option<&str>) -> Option<String> {
        let name = &self.cfg.interface;
        if !link.up {
            return Some(format!("interface {name} is down"));
        }
        if !link.running {
            return Some(format!("interface {name} has no carrier"));
        }
        if self.sock.is_none() {
            return Some(format!("no VRRP socket on {name}"));
        }
        if self.local_ip.is_none() {
            return Some(format!("interface {name} has no IPv4 address of its own"));
        }
        // By name: a reload may have moved the backend, or dropped it (then
        // it is not tracked until a restart applies the new vrrp section;
        // the reload warns).
        for t in &self.cfg.track_backends {
            let backend = rt.backends.iter().find(|b| b.config.name == *t);
            if backend.is_some_and(|b| b.usable_counts() == (0, 0)) {
                return Some(format!("backend {t} has no usable server"));
            }
        }
        stalled.map(str::to_string)
    }

    /// Fires due timers: the machine's, and the gratuitous ARP repeats.
    pub(crate) fn on_timers(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let mut out = Vec::new();
        self.machine.tick(now, &mut out);
        self.apply(ctx, now, out);
        if self.garp.due(now) {
            self.announce(ctx);
        }
    }

    /// Reads every packet waiting on the socket.
    pub(crate) fn receive(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let mut buf = [0u8; RECV_BUFFER];
        loop {
            let Some(sock) = &self.sock else { return };
            let n = match (&*sock).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("vrrp {}: receive: {e}", self.cfg.name);
                    return;
                }
            };
            match self.check(&buf[..n]) {
                Ok(Some((from, adv))) => {
                    self.status.adverts_received += 1;
                    let mut out = Vec::new();
                    self.machine.advert(now, from, &adv, &mut out);
                    self.apply(ctx, now, out);
                }
                Ok(None) => {}
                Err((kind, why)) => {
                    self.status.dropped += 1;
                    self.warn_once(kind, why);
                }
            }
        }
    }

    /// RFC 5798 §7.1: `Ok(None)` for packets that are not ours to look at
    /// (another virtual router, our own), `Err((kind, message))` for ones
    /// to drop and log (a warning per kind and sender, the rest at debug).
    fn check(&self, packet: &[u8]) -> Result<Option<(Ipv4Addr, Advert)>, (String, String)> {
        let r = match packet::decode_ip(packet) {
            Ok(r) => r,
            Err(e) => {
                let src = packet.get(12..16).map_or(Ipv4Addr::UNSPECIFIED, |b| {
                    Ipv4Addr::new(b[0], b[1], b[2], b[3])
                });
                let kind = format!("{src} {:?}", std::mem::discriminant(&e));
                return Err((kind, format!("dropped a packet from {src}: {e}")));
            }
        };
        if r.advert.vrid != self.cfg.vrid || Some(r.src) == self.local_ip {
            return Ok(None);
        }
        if !self.cfg.unicast_peers.is_empty() && !self.cfg.unicast_peers.contains(&r.src) {
            return Err((
                format!("{} peer", r.src),
                format!(
                    "dropped an advertisement from {}: not a unicast_peer",
                    r.src
                ),
            ));
        }
        let mut theirs = r.advert.addrs.clone();
        let mut ours: Vec<Ipv4Addr> = self.cfg.vips.iter().map(|v| v.addr).collect();
        theirs.sort();
        ours.sort();
        // The RFC drops a mismatch unless the sender is the address owner.
        if theirs != ours && r.advert.priority != OWNER_PRIORITY {
            return Err((
                format!("{} addresses", r.src),
                format!(
                    "dropped an advertisement from {}: it lists {:?}, this instance {:?} (check virtual_ipaddress on both)",
                    r.src, theirs, ours
                ),
            ));
        }
        Ok(Some((r.src, r.advert)))
    }

    fn apply(&mut self, ctx: &mut Ctx<'_>, now: Instant, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { priority } => self.send(priority),
                Action::TakeVips => self.take_vips(ctx, now),
                Action::ReleaseVips => self.release_vips(ctx),
                Action::Transition { from, to, reason } => {
                    let reason = reason.to_string();
                    if to == State::Fault {
                        log::warn!("vrrp {}: {from} -> {to}: {reason}", self.cfg.name);
                    } else {
                        log::info!("vrrp {}: {from} -> {to}: {reason}", self.cfg.name);
                    }
                    self.status.transitions += 1;
                    self.status.last_transition = Some(Transition {
                        at: now,
                        from,
                        to,
                        reason,
                    });
                    self.notify(ctx, to);
                }
            }
        }
        self.publish();
    }

    fn send(&mut self, priority: u8) {
        let (Some(sock), Some(src)) = (&self.sock, self.local_ip) else {
            return;
        };
        let adv = Advert {
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.advert_centis(),
            addrs: self.cfg.vips.iter().map(|v| v.addr).collect(),
        };
        let peers: Vec<Ipv4Addr> = if self.cfg.unicast_peers.is_empty() {
            vec![MULTICAST_GROUP]
        } else {
            self.cfg.unicast_peers.clone()
        };
        let mut failed = None;
        for dst in peers {
            let packet = ip_packet(src, dst, &adv.encode(src, dst));
            match sock.send_to(&packet, &SockAddr::from(SocketAddrV4::new(dst, 0))) {
                Ok(_) => self.status.adverts_sent += 1,
                Err(e) => failed = Some(format!("cannot send an advertisement to {dst}: {e}")),
            }
        }
        match failed {
            Some(e) if !self.send_failing => {
                log::warn!("vrrp {}: {e}", self.cfg.name);
                self.send_failing = true;
            }
            Some(_) => {}
            None if self.send_failing => {
                log::info!("vrrp {}: advertisements go out again", self.cfg.name);
                self.send_failing = false;
            }
            None => {}
        }
    }

    fn take_vips(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let Some(link) = self.link else { return };
        for vip in &self.cfg.vips {
            if let Err(e) = ctx.nl.add_addr(link.index, *vip) {
                log::error!(
                    "vrrp {}: cannot add {vip} to {}: {e}",
                    self.cfg.name,
                    self.cfg.interface
                );
            }
        }
        self.status.holds_vips = true;
        self.garp = Schedule::start(now);
        if self.garp.due(now) {
            self.announce(ctx);
        }
    }

    fn release_vips(&mut self, ctx: &mut Ctx<'_>) {
        self.garp.cancel();
        self.status.holds_vips = false;
        let Some(link) = self.link else { return };
        for vip in &self.cfg.vips {
            if let Err(e) = ctx.nl.del_addr(link.index, vip.addr) {
                log::error!(
                    "vrrp {}: cannot remove {} from {}: {e}",
                    self.cfg.name,
                    vip.addr,
                    self.cfg.interface
                );
            }
        }
    }

    /// One gratuitous ARP per VIP.
    fn announce(&mut self, ctx: &mut Ctx<'_>) {
        let Some(Link {
            index,
            mac: Some(mac),
            ..
        }) = self.link
        else {
            return;
        };
        for vip in &self.cfg.vips {
            if let Err(e) = arp::send(ctx.arp, index, mac, vip.addr) {
                log::debug!(
                    "vrrp {}: gratuitous ARP for {}: {e}",
                    self.cfg.name,
                    vip.addr
                );
            }
        }
    }

    /// `notify SCRIPT`: `SCRIPT INSTANCE NAME STATE PRIORITY`, started and
    /// left running; the thread reaps it later.
    fn notify(&mut self, ctx: &mut Ctx<'_>, to: State) {
        let Some(script) = &self.cfg.notify else {
            return;
        };
        ctx.children
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if ctx.children.len() >= MAX_CHILDREN {
            log::warn!(
                "vrrp {}: {MAX_CHILDREN} notify scripts still running; not starting another",
                self.cfg.name
            );
            return;
        }
        let args = [
            "INSTANCE".to_string(),
            self.cfg.name.clone(),
            to.name().to_string(),
            self.cfg.priority.to_string(),
        ];
        match crate::host::spawn_script(script, &args) {
            Ok(Some(child)) => ctx.children.push(child),
            Ok(None) => {}
            Err(e) => log::error!(
                "vrrp {}: cannot run notify script {}: {e}",
                self.cfg.name,
                script.display()
            ),
        }
    }

    /// Brings `status` up to date (the caller copies it to the runtime).
    fn publish(&mut self) {
        let s = &mut self.status;
        s.state = self.machine.state();
        s.priority = self.machine.priority();
        s.local_ip = self.local_ip;
        s.master = self.machine.master();
        s.master_adver_interval = if s.state == State::Master {
            centis(self.cfg.advert_centis())
        } else {
            self.machine.master_adver_interval()
        };
        s.fault = self.fault.clone();
    }

    /// Stops the machine: a master sends priority 0 and releases the VIPs.
    pub(crate) fn stop(&mut self, ctx: &mut Ctx<'_>, now: Instant) {
        let mut out = Vec::new();
        self.machine.stop(&mut out);
        self.apply(ctx, now, out);
    }

    /// A warning the first time a `kind` of problem is seen, debug after.
    fn warn_once(&mut self, kind: String, what: String) {
        if self.warned.len() < MAX_WARNINGS && self.warned.insert(kind) {
            log::warn!("vrrp {}: {what}", self.cfg.name);
        } else {
            log::debug!("vrrp {}: {what}", self.cfg.name);
        }
    }
}

/// The interface's primary IPv4 address: the first one that is not a
/// secondary and not one of the VIPs. The kernel picks the same as source
/// of locally generated packets, and the RFC's tie-break compares it.
fn primary_ip(nl: &mut Netlink, link: &Link, cfg: &VrrpInstance) -> io::Result<Option<Ipv4Addr>> {
    let addrs = nl.addrs(link.index)?;
    let own = || {
        addrs
            .iter()
            .filter(|a| !cfg.vips.iter().any(|v| v.addr == a.addr))
    };
    Ok(own()
        .find(|a| !a.secondary)
        .or_else(|| own().next())
        .map(|a| a.addr))
}

/// A raw IP socket for protocol 112 on the instance's interface: TTL 255,
/// our own IPv4 header (so the source the checksum covers is the one
/// sent), the VRRP group joined unless unicast, no loop-back of our own.
fn open_socket(cfg: &VrrpInstance, link: &Link) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTO_VRRP))),
    )?;
    s.set_nonblocking(true)?;
    s.bind_device(Some(cfg.interface.as_bytes()))?;
    s.set_header_included_v4(true)?;
    s.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
    s.set_ttl_v4(u32::from(VRRP_TTL))?;
    s.set_multicast_loop_v4(false)?;
    s.set_multicast_all_v4(false)?;
    if cfg.unicast_peers.is_empty() {
        s.join_multicast_v4_n(
            &MULTICAST_GROUP,
            &InterfaceIndexOrAddress::Index(link.index),
        )?;
    }
    Ok(s)
}

/// IPv4 header + message; the kernel fills in the identification and the
/// header checksum.
fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> Vec<u8> {
    let total = (20 + msg.len()) as u16;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, TOS_NETWORK_CONTROL]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, VRRP_TTL, PROTO_VRRP, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(msg);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_ip_packets_decode_as_sent() {
        let src = Ipv4Addr::new(198, 51, 100, 11);
        let adv = Advert {
            vrid: 51,
            priority: 150,
            interval_cs: 10,
            addrs: vec![Ipv4Addr::new(198, 51, 100, 100)],
        };
        let p = ip_packet(src, MULTICAST_GROUP, &adv.encode(src, MULTICAST_GROUP));
        let r = packet::decode_ip(&p).unwrap();
        assert_eq!((r.src, r.dst, r.advert), (src, MULTICAST_GROUP, adv));
    }
}
