//! One connection to a peer, without its socket: bytes in, bytes out.
//! The handshake (either side), then the messages of HAProxy's peers
//! protocol: table definitions before a table's first update, local
//! updates pushed in update-id order, acknowledgements of what was
//! received, a full resync taught on request or asked for, heartbeats.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{self, Define, Dict, Error, Field, KeyFormat, Message};
use crate::config::TableKey;
use crate::rules::sync::WireKind;
use crate::rules::table::{Entry, Key, Table};

/// A heartbeat goes out after this long without sending anything.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(3);
/// A peer that sent nothing for this long is gone (HAProxy's reconnect
/// period).
pub(crate) const SILENCE: Duration = Duration::from_secs(5);
/// Stop filling the output past this many bytes; the rest waits.
const OUT_HIGH: usize = 256 * 1024;

/// A table shared by the section, as the links see it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub table: Arc<Table>,
    /// Our id for it on the wire (1-based).
    pub id: u64,
    pub define: Define,
    pub key: KeyFormat,
}

impl Shared {
    pub(crate) fn new(table: Arc<Table>, id: u64) -> Shared {
        let c = &table.config;
        let (key_type, key_len, key) = match c.key {
            TableKey::Ip => (codec::KEY_IPV4, 4, KeyFormat::Fixed(4)),
            TableKey::Ipv6 => (codec::KEY_IPV6, 16, KeyFormat::Fixed(16)),
            TableKey::Integer => (codec::KEY_SINT, 4, KeyFormat::Int),
            // HAProxy counts the string's terminating zero.
            TableKey::String(n) => (codec::KEY_STR, n as u64 + 1, KeyFormat::Str { max: n }),
            TableKey::Binary(n) => (codec::KEY_BIN, n as u64, KeyFormat::Fixed(n)),
        };
        let layout = table.wire_layout();
        let define = Define {
            id,
            name: c.sync_name.as_bytes().to_vec(),
            key_type,
            key_len,
            data: layout.iter().fold(0, |d, w| d | 1 << w.id),
            expire: Some(c.expire.map_or(0, |e| e.as_millis() as u64)),
            params: layout
                .iter()
                .filter(|w| w.elems.is_some() || w.kind == WireKind::Freq)
                .map(|w| (w.id, w.elems.map(|n| n as u64), w.period))
                .collect(),
        };
        Shared {
            table,
            id,
            define,
            key,
        }
    }

    fn key_bytes(&self, k: &Key) -> Vec<u8> {
        match k {
            Key::Ip(IpAddr::V4(a)) => a.octets().to_vec(),
            Key::Ip(IpAddr::V6(a)) => a.octets().to_vec(),
            Key::Int(i) => (*i as u32).to_be_bytes().to_vec(),
            Key::Bytes(b) => match self.key {
                KeyFormat::Str { .. } => {
                    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                    b[..end].to_vec()
                }
                _ => b.to_vec(),
            },
        }
    }

    fn key_of(&self, b: &[u8]) -> Option<Key> {
        Some(match self.table.config.key {
            TableKey::Ip => Key::Ip(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
            TableKey::Ipv6 => Key::Ip(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
            TableKey::Integer => Key::Int(u32::from_be_bytes(b.try_into().ok()?) as i64),
            TableKey::String(_) | TableKey::Binary(_) => Key::Bytes(b.into()),
        })
    }
}

/// Where the section stands on its first full resync.
#[derive(Debug)]
pub(crate) struct Resync {
    pub done: bool,
    /// A link asked for it and waits for the lesson.
    pub assigned: bool,
    /// `done` was written into the tables' logs.
    pub recorded: bool,
    /// Give up waiting for a peer to teach after this.
    pub deadline: Instant,
}

/// What every link of a section shares.
#[derive(Debug)]
pub(crate) struct Section {
    pub name: String,
    pub local: String,
    pub tables: Vec<Shared>,
    pub resync: Resync,
}

/// Why a link ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Close {
    /// The handshake was refused with this status (sent or received).
    Refused(u16),
    /// Bad bytes from the peer (an error message was queued).
    Protocol(Error),
    /// The peer said it saw an error.
    PeerError(u8),
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Refused(code) => write!(f, "handshake refused with status {code}"),
            Close::Protocol(e) => write!(f, "{e}"),
            Close::PeerError(k) => write!(f, "the peer reported error {k}"),
        }
    }
}

/// Handshake progress.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// We connected and sent hello; waiting for the status line.
    AwaitStatus,
    /// A peer connected; reading its three hello lines.
    AwaitHello {
        lines: Vec<String>,
    },
    Ready,
}

/// What a link knows of one shared table.
#[derive(Debug, Default)]
struct LinkTable {
    /// The last local update pushed.
    last_pushed: u64,
    /// The peer's id for this table, from its definition.
    remote_id: Option<u64>,
    /// How the peer's updates of it read.
    fields: Vec<Field>,
    /// The last update id received, and the last one acknowledged.
    last_get: u32,
    last_acked: u32,
    /// Whether our definition was sent on this link.
    defined: bool,
}

/// A full resync being taught to the peer.
#[derive(Debug)]
struct Teach {
    /// Where each table's pushes resume once the peer confirms.
    origin: Vec<u64>,
    /// What is left to send: (table, entry).
    left: Vec<(usize, Arc<Entry>)>,
    /// The end message went out; waiting for the confirmation.
    finished: bool,
}

/// One peer connection.
#[derive(Debug)]
pub(crate) struct Link {
    /// The peer's name (known from the start when we connected).
    pub peer: Option<String>,
    stage: Stage,
    /// The peer speaks 2.1 (updates carry their expiry).
    timed: bool,
    tables: Vec<LinkTable>,
    /// The table the peer's next updates are for (its last switch).
    current: Option<usize>,
    /// The table our last updates were for.
    sent_table: Option<usize>,
    /// The id of our last update sent, for incremental updates.
    last_sent_id: Option<u32>,
    teach: Option<Teach>,
    /// We asked this peer for a full resync.
    pub learning: bool,
    /// Resync end messages to confirm.
    confirm: u32,
    tx_dict: Dict,
    rx_dict: Dict,
    pub inbuf: Vec<u8>,
    pub out: Vec<u8>,
    pub last_rx: Instant,
    pub last_tx: Instant,
}

impl Link {
    fn new(peer: Option<String>, stage: Stage, tables: usize, now: Instant) -> Link {
        Link {
            peer,
            stage,
            timed: true,
            tables: (0..tables).map(|_| LinkTable::default()).collect(),
            current: None,
            sent_table: None,
            last_sent_id: None,
            teach: None,
            learning: false,
            confirm: 0,
            tx_dict: Dict::default(),
            rx_dict: Dict::default(),
            inbuf: Vec::new(),
            out: Vec::new(),
            last_rx: now,
            last_tx: now,
        }
    }

    /// A link we open to `peer`: the hello goes out at once (`minor`: 1,
    /// or 0 after the peer refused our version).
    pub(crate) fn connect(sec: &Section, peer: &str, minor: u32, now: Instant) -> Link {
        let mut l = Link::new(Some(peer.into()), Stage::AwaitStatus, sec.tables.len(), now);
        l.out.extend_from_slice(
            format!(
                "{} {}.{minor}\n{peer}\n{} {} 1\n",
                codec::PROTOCOL,
                codec::MAJOR,
                sec.local,
                std::process::id()
            )
            .as_bytes(),
        );
        l.timed = minor >= 1;
        l
    }

    /// A link a peer opened.
    pub(crate) fn accept(sec: &Section, now: Instant) -> Link {
        Link::new(
            None,
            Stage::AwaitHello { lines: Vec::new() },
            sec.tables.len(),
            now,
        )
    }

    pub(crate) fn ready(&self) -> bool {
        self.stage == Stage::Ready
    }

    /// Whether a lesson to the peer is under way (until it confirms).
    #[cfg(test)]
    pub(crate) fn teaching(&self) -> bool {
        self.teach.is_some()
    }

    /// Reads what came in. `Ok(true)`: the handshake just completed
    /// (the caller settles collisions and resync duties).
    pub(crate) fn receive(
        &mut self,
        sec: &mut Section,
        known: &dyn Fn(&str) -> bool,
        now: Instant,
    ) -> Result<bool, Close> {
        let mut became_ready = false;
        loop {
            match &mut self.stage {
                Stage::AwaitStatus => {
                    let Some(line) = codec::take_line(&mut self.inbuf).map_err(Close::Protocol)?
                    else {
                        return Ok(became_ready);
                    };
                    let code: u16 = line.trim().parse().unwrap_or(codec::STATUS_PROTOCOL);
                    if code != codec::STATUS_OK {
                        return Err(Close::Refused(code));
                    }
                    self.ready_now(sec, now);
                    became_ready = true;
                }
                Stage::AwaitHello { lines } => {
                    let Some(line) = codec::take_line(&mut self.inbuf).map_err(Close::Protocol)?
                    else {
                        return Ok(became_ready);
                    };
                    lines.push(line);
                    if lines.len() < 3 {
                        continue;
                    }
                    let lines = std::mem::take(lines);
                    match hello(&lines, &sec.local, known) {
                        Ok((name, minor)) => {
                            self.peer = Some(name);
                            self.timed = minor >= 1;
                            self.out.extend_from_slice(b"200\n");
                            self.ready_now(sec, now);
                            became_ready = true;
                        }
                        Err(code) => {
                            self.out.extend_from_slice(format!("{code}\n").as_bytes());
                            return Err(Close::Refused(code));
                        }
                    }
                }
                Stage::Ready => return self.messages(sec, now).map(|()| became_ready),
            }
        }
    }

    /// Handles every whole message in the input; what is left of the
    /// last one waits for more bytes. Bad bytes queue the protocol's
    /// error message.
    fn messages(&mut self, sec: &mut Section, now: Instant) -> Result<(), Close> {
        // Out of the link while its messages, which borrow it, are handled.
        let buf = std::mem::take(&mut self.inbuf);
        let mut at = 0;
        let result = loop {
            match codec::frame(&buf[at..]) {
                Ok(Some((msg, used))) => {
                    at += used;
                    self.last_rx = now;
                    if let Err(e) = self.handle(sec, msg) {
                        break Err(e);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(Close::Protocol(e)),
            }
        };
        self.inbuf = buf;
        self.inbuf.drain(..at);
        if let Err(Close::Protocol(e)) = &result {
            let kind = match e {
                Error::Size(_) => codec::ERR_SIZE,
                Error::Protocol(_) => codec::ERR_PROTOCOL,
            };
            codec::put_error(&mut self.out, kind);
        }
        result
    }

    fn ready_now(&mut self, sec: &mut Section, now: Instant) {
        self.stage = Stage::Ready;
        self.last_rx = now;
        let name = self.peer.clone().unwrap_or_default();
        for (lt, sh) in self.tables.iter_mut().zip(&sec.tables) {
            // Pushes resume from what this peer acknowledged last.
            let log = sh.table.sync.as_ref().map(|s| s.log.lock());
            lt.last_pushed = log
                .as_ref()
                .and_then(|l| l.acked.get(&name).copied())
                .unwrap_or(0)
                .min(log.as_ref().map_or(0, |l| l.last));
        }
        if !sec.resync.done && !sec.resync.assigned {
            sec.resync.assigned = true;
            self.learning = true;
            codec::put_control(&mut self.out, codec::CTRL_RESYNC_REQUEST);
        }
    }

    fn handle(&mut self, sec: &mut Section, msg: Message<'_>) -> Result<(), Close> {
        match msg {
            Message::Control(codec::CTRL_RESYNC_REQUEST) => {
                let origin = self.tables.iter().map(|t| t.last_pushed).collect();
                let mut left = Vec::new();
                for (i, sh) in sec.tables.iter().enumerate() {
                    left.extend(sh.table.snapshot().into_iter().map(|e| (i, e)));
                }
                // Sent from the end of the list.
                left.reverse();
                self.teach = Some(Teach {
                    origin,
                    left,
                    finished: false,
                });
            }
            Message::Control(k @ (codec::CTRL_RESYNC_FINISHED | codec::CTRL_RESYNC_PARTIAL)) => {
                if self.learning {
                    self.learning = false;
                    sec.resync.assigned = false;
                    if k == codec::CTRL_RESYNC_FINISHED {
                        sec.resync.done = true;
                        log::info!(
                            "peers {}: full resync from {} finished",
                            sec.name,
                            self.peer.as_deref().unwrap_or("?")
                        );
                    }
                }
                self.confirm += 1;
            }
            Message::Control(codec::CTRL_RESYNC_CONFIRM) => {
                if let Some(t) = self.teach.take() {
                    for (lt, o) in self.tables.iter_mut().zip(t.origin) {
                        lt.last_pushed = o;
                    }
                }
            }
            Message::Control(_) | Message::Other => {}
            Message::Error(k) => return Err(Close::PeerError(k)),
            Message::Define(d) => {
                self.current = None;
                for lt in &mut self.tables {
                    if lt.remote_id == Some(d.id) {
                        lt.remote_id = None;
                    }
                }
                let Some(i) = sec.tables.iter().position(|s| s.define.name == d.name) else {
                    return Ok(());
                };
                let ours = &sec.tables[i].define;
                if ours.key_type != d.key_type || ours.key_len != d.key_len {
                    return Ok(());
                }
                let Some(fields) = fields_of(&d) else {
                    return Ok(());
                };
                let lt = &mut self.tables[i];
                lt.remote_id = Some(d.id);
                lt.fields = fields;
                self.current = Some(i);
            }
            Message::Switch { table: id } => {
                self.current = self.tables.iter().position(|t| t.remote_id == Some(id));
            }
            Message::Update { id, expire, body } => {
                let Some(i) = self.current else { return Ok(()) };
                let lt = &mut self.tables[i];
                lt.last_get = match id {
                    Some(id) => id,
                    None => lt.last_get.wrapping_add(1),
                };
                let sh = &sec.tables[i];
                let u = codec::read_update(body, sh.key, &lt.fields, &mut self.rx_dict)
                    .map_err(Close::Protocol)?;
                // A peer's key as this table would store it.
                if let Some(key) = sh
                    .key_of(&u.key)
                    .and_then(|k| sh.table.key(&crate::rules::sync::key_sample(&k)))
                {
                    sh.table.import(key, &u.values, expire.map(|e| e as u64));
                }
            }
            Message::Ack { table, update } => {
                if self.teach.is_some() {
                    return Ok(());
                }
                let Some(sh) = sec.tables.iter().find(|s| s.id == table) else {
                    return Ok(());
                };
                if let (Some(sync), Some(name)) = (&sh.table.sync, &self.peer) {
                    let mut log = sync.log.lock();
                    let id = log.widen(update);
                    log.acked.insert(name.clone(), id);
                }
            }
        }
        Ok(())
    }

    /// Fills the output: acknowledgements, then the lesson being taught
    /// or the local updates not pushed yet, then resync messages.
    pub(crate) fn send(&mut self, sec: &Section, now: Instant) {
        if !self.ready() {
            return;
        }
        let before = self.out.len();
        for lt in &mut self.tables {
            if lt.last_get != lt.last_acked
                && let Some(rid) = lt.remote_id
            {
                codec::put_ack(&mut self.out, rid, lt.last_get);
                lt.last_acked = lt.last_get;
            }
        }
        if self.teach.is_some() {
            self.send_lesson(sec);
        } else {
            for i in 0..sec.tables.len() {
                self.push_updates(sec, i);
            }
        }
        while self.confirm > 0 {
            codec::put_control(&mut self.out, codec::CTRL_RESYNC_CONFIRM);
            self.confirm -= 1;
        }
        if self.out.len() == before && now.duration_since(self.last_tx) >= HEARTBEAT {
            codec::put_control(&mut self.out, codec::CTRL_HEARTBEAT);
        }
        if self.out.len() != before {
            self.last_tx = now;
        }
    }

    fn send_lesson(&mut self, sec: &Section) {
        let Some(mut t) = self.teach.take() else {
            return;
        };
        while self.out.len() < OUT_HIGH
            && let Some((i, e)) = t.left.pop()
        {
            let id = Table::update_of(&e);
            self.put_entry(sec, i, &e, id);
        }
        if t.left.is_empty() && !t.finished {
            codec::put_control(
                &mut self.out,
                if sec.resync.done {
                    codec::CTRL_RESYNC_FINISHED
                } else {
                    codec::CTRL_RESYNC_PARTIAL
                },
            );
            t.finished = true;
        }
        self.teach = Some(t);
    }

    fn push_updates(&mut self, sec: &Section, i: usize) {
        let Some(sync) = &sec.tables[i].table.sync else {
            return;
        };
        let batch: Vec<(u64, Arc<Entry>)> = {
            let log = sync.log.lock();
            if log.last <= self.tables[i].last_pushed {
                return;
            }
            log.by_id
                .range(self.tables[i].last_pushed + 1..)
                .take(1024)
                .map(|(id, e)| (*id, e.clone()))
                .collect()
        };
        for (id, e) in batch {
            if self.out.len() >= OUT_HIGH {
                return;
            }
            self.put_entry(sec, i, &e, id);
            self.tables[i].last_pushed = id;
        }
    }

    fn put_entry(&mut self, sec: &Section, i: usize, e: &Entry, id: u64) {
        let sh = &sec.tables[i];
        if !self.tables[i].defined || self.sent_table != Some(i) {
            if self.tables[i].defined {
                codec::put_switch(&mut self.out, sh.id);
            } else {
                codec::put_define(&mut self.out, &sh.define);
                self.tables[i].defined = true;
            }
            self.sent_table = Some(i);
            self.last_sent_id = None;
        }
        let (values, left) = sh.table.export(e);
        let wire_id = id as u32;
        let incremental = self
            .last_sent_id
            .is_some_and(|p| p.wrapping_add(1) == wire_id);
        codec::put_update(
            &mut self.out,
            wire_id,
            incremental,
            self.timed.then_some(left as u32),
            &sh.key_bytes(&e.key),
            sh.key,
            &values,
            &mut self.tx_dict,
        );
        self.last_sent_id = Some(wire_id);
    }
}

/// Checks a peer's three hello lines: the protocol and version, our
/// name, its name (a peer of the section) with its pid. Its name and
/// minor version, or the status to refuse with.
fn hello(
    lines: &[String],
    local: &str,
    known: &dyn Fn(&str) -> bool,
) -> Result<(String, u32), u16> {
    let (_, minor) = codec::read_version(&lines[0])?;
    if lines[1] != local {
        return Err(codec::STATUS_HOST);
    }
    let (name, _) = lines[2].split_once(' ').ok_or(codec::STATUS_PROTOCOL)?;
    if !known(name) {
        return Err(codec::STATUS_PEER);
    }
    Ok((name.to_string(), minor))
}

/// How a peer's updates of a table read, from its definition; `None`
/// when it stores a type this side cannot read (HAProxy ignores the
/// table then).
fn fields_of(d: &Define) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    for t in 0..64u8 {
        if d.data & (1 << t) == 0 {
            continue;
        }
        let (kind, array) = codec::data_kind(t)?;
        let elems = if array {
            let n = d.params.iter().find(|p| p.0 == t)?.1?;
            usize::try_from(n).ok().filter(|n| *n <= 100)?
        } else {
            1
        };
        out.push(Field { id: t, kind, elems });
    }
    Some(out)
}
