//! HAProxy's peers protocol on the wire (doc/peers-v2.0.txt in HAProxy's
//! sources, version 2.1 messages as HAProxy 2.6 sends them): the
//! variable-length integers, the handshake lines, and the framed
//! messages. Everything here is pure: bytes in, values out, and back.
//!
//! A message is two bytes, class and type; a type with its top bit set
//! is followed by a varint length and that many bytes. Stick-table
//! messages need the table's definition to be read (key type and the
//! stored data), so an update is framed here and read by
//! [`read_update`] once the definition is known.

use std::fmt;

use crate::rules::sync::{WireKind, WireValue};

/// The protocol name of the hello line.
pub(crate) const PROTOCOL: &str = "HAProxyS";
/// The version sent: 2.1 (expiry in updates); 2.0 is accepted.
pub(crate) const MAJOR: u32 = 2;
pub(crate) const MINOR: u32 = 1;
/// Longest message accepted (HAProxy refuses more than its buffer).
pub(crate) const MAX_MESSAGE: usize = 16384;
/// Longest handshake line.
pub(crate) const MAX_LINE: usize = 512;

pub(crate) const CLASS_CONTROL: u8 = 0;
pub(crate) const CLASS_ERROR: u8 = 1;
pub(crate) const CLASS_TABLE: u8 = 10;
pub(crate) const CLASS_RESERVED: u8 = 255;

pub(crate) const CTRL_RESYNC_REQUEST: u8 = 0;
pub(crate) const CTRL_RESYNC_FINISHED: u8 = 1;
pub(crate) const CTRL_RESYNC_PARTIAL: u8 = 2;
pub(crate) const CTRL_RESYNC_CONFIRM: u8 = 3;
pub(crate) const CTRL_HEARTBEAT: u8 = 4;

pub(crate) const ERR_PROTOCOL: u8 = 0;
pub(crate) const ERR_SIZE: u8 = 1;

const UPDATE: u8 = 0x80;
const INC_UPDATE: u8 = 0x81;
const DEFINE: u8 = 0x82;
const SWITCH: u8 = 0x83;
const ACK: u8 = 0x84;
const UPDATE_TIMED: u8 = 0x85;
const INC_UPDATE_TIMED: u8 = 0x86;

/// Handshake status codes.
pub(crate) const STATUS_OK: u16 = 200;
pub(crate) const STATUS_PROTOCOL: u16 = 501;
pub(crate) const STATUS_VERSION: u16 = 502;
pub(crate) const STATUS_HOST: u16 = 503;
pub(crate) const STATUS_PEER: u16 = 504;

/// Why bytes from a peer were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Error {
    /// Malformed: the connection ends with a protocol error message.
    Protocol(&'static str),
    /// A message longer than [`MAX_MESSAGE`].
    Size(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::Size(n) => write!(f, "message of {n} bytes is too long"),
        }
    }
}

/// Appends `v` as the protocol's varint: below 240 one byte; else the low
/// 4 bits with 0xF0, then 7 bits a byte with the top bit on all but the
/// last, each step taking away what the previous byte stood for.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 240 {
        out.push(v as u8);
        return;
    }
    out.push((v as u8) | 0xF0);
    v = (v - 240) >> 4;
    while v >= 128 {
        out.push((v as u8) | 0x80);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
}

/// A reader over a message's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Error> {
        let (&first, mut rest) = self
            .buf
            .split_first()
            .ok_or(Error::Protocol("truncated integer"))?;
        let mut v = first as u64;
        if first >= 240 {
            let mut shift = 4u32;
            loop {
                let (&b, r) = rest
                    .split_first()
                    .ok_or(Error::Protocol("truncated integer"))?;
                rest = r;
                if shift > 63 {
                    return Err(Error::Protocol("integer too long"));
                }
                v = v.wrapping_add((b as u64) << shift);
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
        }
        self.buf = rest;
        Ok(v)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.buf.len() {
            return Err(Error::Protocol("truncated message"));
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// One message, framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Control(u8),
    Error(u8),
    Define(Define),
    Switch {
        table: u64,
    },
    /// An entry update, read later with the table's definition.
    Update {
        /// Its update id; `None`: the previous one plus one.
        id: Option<u32>,
        /// Ms before it expires (2.1 timed updates).
        expire: Option<u32>,
        body: &'a [u8],
    },
    Ack {
        table: u64,
        update: u32,
    },
    /// A class or type this side does not know: skipped.
    Other,
}

/// A table definition message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Define {
    /// The sender's id for the table.
    pub id: u64,
    pub name: Vec<u8>,
    pub key_type: u64,
    pub key_len: u64,
    /// A bit per stored data type.
    pub data: u64,
    /// The table's expire (ms), when sent.
    pub expire: Option<u64>,
    /// Per stored type: its elements (arrays) and period (rates).
    pub params: Vec<(u8, Option<u64>, Option<u64>)>,
}

/// Key types on the wire.
pub(crate) const KEY_SINT: u64 = 2;
pub(crate) const KEY_IPV4: u64 = 4;
pub(crate) const KEY_IPV6: u64 = 5;
pub(crate) const KEY_STR: u64 = 6;
pub(crate) const KEY_BIN: u64 = 7;

/// The encoding of HAProxy's data type `id` (2.6 and the ids later
/// versions added), and whether it is an array.
pub(crate) fn data_kind(id: u8) -> Option<(WireKind, bool)> {
    Some(match id {
        0..=2 | 4 | 6 | 7 | 9 | 11 | 13 | 15 | 17 | 20 | 25 => (WireKind::Int, false),
        3 | 5 | 8 | 10 | 12 | 14 | 16 | 18 | 21 | 26 => (WireKind::Freq, false),
        19 => (WireKind::Dict, false),
        22 | 23 => (WireKind::Int, true),
        24 => (WireKind::Freq, true),
        _ => return None,
    })
}

/// Splits the next whole message off `buf`: `Ok(None)` until it is all
/// there; the message and the bytes it took.
pub(crate) fn frame(buf: &[u8]) -> Result<Option<(Message<'_>, usize)>, Error> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (class, kind) = (buf[0], buf[1]);
    if class == CLASS_RESERVED {
        return Err(Error::Protocol("reserved message class"));
    }
    if kind & 0x80 == 0 {
        let msg = match class {
            CLASS_CONTROL => Message::Control(kind),
            CLASS_ERROR => Message::Error(kind),
            _ => Message::Other,
        };
        return Ok(Some((msg, 2)));
    }
    let mut r = Reader::new(&buf[2..]);
    let len = match r.varint() {
        Ok(l) => l,
        // A varint is at most 10 bytes: shorter is not all there yet.
        Err(_) if buf.len() < 12 => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(Error::Size(len as usize));
    }
    let head = buf.len() - r.rest().len();
    let len = len as usize;
    if r.rest().len() < len {
        return Ok(None);
    }
    let body = &buf[head..head + len];
    let msg = if class == CLASS_TABLE {
        table_message(kind, body)?
    } else {
        Message::Other
    };
    Ok(Some((msg, head + len)))
}

fn table_message(kind: u8, body: &[u8]) -> Result<Message<'_>, Error> {
    let mut r = Reader::new(body);
    Ok(match kind {
        DEFINE => Message::Define(read_define(&mut r)?),
        SWITCH => Message::Switch { table: r.varint()? },
        ACK => Message::Ack {
            table: r.varint()?,
            update: r.u32()?,
        },
        UPDATE | INC_UPDATE | UPDATE_TIMED | INC_UPDATE_TIMED => {
            let id = matches!(kind, UPDATE | UPDATE_TIMED)
                .then(|| r.u32())
                .transpose()?;
            let expire = matches!(kind, UPDATE_TIMED | INC_UPDATE_TIMED)
                .then(|| r.u32())
                .transpose()?;
            Message::Update {
                id,
                expire,
                body: r.rest(),
            }
        }
        _ => Message::Other,
    })
}

fn read_define(r: &mut Reader<'_>) -> Result<Define, Error> {
    let id = r.varint()?;
    let name_len = r.varint()?;
    if name_len == 0 || name_len as usize >= r.rest().len() {
        return Err(Error::Protocol("bad table name length"));
    }
    let name = r.bytes(name_len as usize)?.to_vec();
    let key_type = r.varint()?;
    let key_len = r.varint()?;
    let data = r.varint()?;
    let mut d = Define {
        id,
        name,
        key_type,
        key_len,
        data,
        expire: None,
        params: Vec::new(),
    };
    if r.is_empty() {
        return Ok(d);
    }
    d.expire = Some(r.varint()?);
    // Parameters follow for each rate and array, in type order, each
    // behind its type's number.
    for t in 0..64u8 {
        if data & (1 << t) == 0 {
            continue;
        }
        let Some((kind, array)) = data_kind(t) else {
            continue;
        };
        if !array && kind != WireKind::Freq {
            continue;
        }
        if r.varint()? != t as u64 {
            return Err(Error::Protocol("table definition out of order"));
        }
        let elems = array.then(|| r.varint()).transpose()?;
        let period = (kind == WireKind::Freq).then(|| r.varint()).transpose()?;
        d.params.push((t, elems, period));
    }
    Ok(d)
}

/// Appends a message with a body.
fn put_message(out: &mut Vec<u8>, class: u8, kind: u8, body: &[u8]) {
    out.push(class);
    out.push(kind);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

pub(crate) fn put_control(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&[CLASS_CONTROL, kind]);
}

pub(crate) fn put_error(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&[CLASS_ERROR, kind]);
}

pub(crate) fn put_define(out: &mut Vec<u8>, d: &Define) {
    let mut b = Vec::with_capacity(32 + d.name.len());
    put_varint(&mut b, d.id);
    put_varint(&mut b, d.name.len() as u64);
    b.extend_from_slice(&d.name);
    put_varint(&mut b, d.key_type);
    put_varint(&mut b, d.key_len);
    put_varint(&mut b, d.data);
    put_varint(&mut b, d.expire.unwrap_or(0));
    for (t, elems, period) in &d.params {
        put_varint(&mut b, *t as u64);
        if let Some(n) = elems {
            put_varint(&mut b, *n);
        }
        if let Some(p) = period {
            put_varint(&mut b, *p);
        }
    }
    put_message(out, CLASS_TABLE, DEFINE, &b);
}

pub(crate) fn put_switch(out: &mut Vec<u8>, table: u64) {
    let mut b = Vec::with_capacity(5);
    put_varint(&mut b, table);
    put_message(out, CLASS_TABLE, SWITCH, &b);
}

pub(crate) fn put_ack(out: &mut Vec<u8>, table: u64, update: u32) {
    let mut b = Vec::with_capacity(9);
    put_varint(&mut b, table);
    b.extend_from_slice(&update.to_be_bytes());
    put_message(out, CLASS_TABLE, ACK, &b);
}

/// How a table's keys travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// A varint length and the bytes (at most `max` kept).
    Str { max: usize },
    /// A 32-bit integer, network order.
    Int,
    /// Exactly this many bytes.
    Fixed(usize),
}

/// One stored data type of an update, as its definition announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub id: u8,
    pub kind: WireKind,
    /// Elements: 1 for a scalar.
    pub elems: usize,
}

/// An entry update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    pub key: Vec<u8>,
    /// Per data type: its values (several for an array).
    pub values: Vec<(u8, Vec<WireValue>)>,
}

/// The dictionary a connection keeps for `server_key` values: what each
/// id stood for the last time its value was sent.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dict {
    entries: Vec<Option<Vec<u8>>>,
}

/// Entries of a connection's dictionary (HAProxy's cache size).
pub(crate) const DICT_ENTRIES: usize = 128;

impl Dict {
    /// An id to send `value` under, and whether the value must go with
    /// it (the peer does not know it yet).
    pub(crate) fn id_for(&mut self, value: &[u8]) -> (u64, bool) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.as_deref() == Some(value))
        {
            return (i as u64 + 1, false);
        }
        if self.entries.len() < DICT_ENTRIES {
            self.entries.push(Some(value.to_vec()));
            return (self.entries.len() as u64, true);
        }
        // Full: the slot of the value's hash is replaced.
        let i = value
            .iter()
            .fold(0usize, |h, b| h.wrapping_mul(31) + *b as usize)
            % DICT_ENTRIES;
        self.entries[i] = Some(value.to_vec());
        (i as u64 + 1, true)
    }

    fn learn(&mut self, id: u64, value: Vec<u8>) -> Result<(), Error> {
        let i = dict_index(id)?;
        if self.entries.len() <= i {
            self.entries.resize(i + 1, None);
        }
        self.entries[i] = Some(value);
        Ok(())
    }

    fn known(&self, id: u64) -> Result<Option<Vec<u8>>, Error> {
        let i = dict_index(id)?;
        Ok(self.entries.get(i).cloned().flatten())
    }
}

fn dict_index(id: u64) -> Result<usize, Error> {
    if id == 0 || id > DICT_ENTRIES as u64 {
        return Err(Error::Protocol("bad dictionary id"));
    }
    Ok(id as usize - 1)
}

/// Reads an update's key and values with its table's definition.
pub(crate) fn read_update(
    body: &[u8],
    key: KeyFormat,
    fields: &[Field],
    dict: &mut Dict,
) -> Result<Update, Error> {
    let mut r = Reader::new(body);
    let key = match key {
        KeyFormat::Str { max } => {
            let n = r.varint()?;
            let n = usize::try_from(n).map_err(|_| Error::Protocol("bad key length"))?;
            let b = r.bytes(n)?;
            b[..n.min(max)].to_vec()
        }
        KeyFormat::Int => r.bytes(4)?.to_vec(),
        KeyFormat::Fixed(n) => r.bytes(n)?.to_vec(),
    };
    let mut values = Vec::with_capacity(fields.len());
    for f in fields {
        let mut vals = Vec::with_capacity(f.elems.min(64));
        for _ in 0..f.elems {
            vals.push(read_value(&mut r, f.kind, dict)?);
        }
        values.push((f.id, vals));
    }
    Ok(Update { key, values })
}

fn read_value(r: &mut Reader<'_>, kind: WireKind, dict: &mut Dict) -> Result<WireValue, Error> {
    Ok(match kind {
        WireKind::Int => WireValue::Int(r.varint()?),
        WireKind::Freq => WireValue::Freq {
            elapsed: r.varint()?,
            curr: r.varint()?,
            prev: r.varint()?,
        },
        WireKind::Dict => {
            let len = r.varint()?;
            if len == 0 {
                return Ok(WireValue::Dict(None));
            }
            let len = usize::try_from(len).map_err(|_| Error::Protocol("bad dictionary length"))?;
            let mut d = Reader::new(r.bytes(len)?);
            let id = d.varint()?;
            if d.is_empty() {
                WireValue::Dict(dict.known(id)?)
            } else {
                let n = d.varint()?;
                let n = usize::try_from(n).map_err(|_| Error::Protocol("bad dictionary value"))?;
                let value = d.bytes(n)?.to_vec();
                dict.learn(id, value.clone())?;
                WireValue::Dict(Some(value))
            }
        }
    })
}

/// Appends an update message: with `id` unless it follows the previous
/// one (`incremental`), with the expiry when `timed` (2.1 peers).
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_update(
    out: &mut Vec<u8>,
    id: u32,
    incremental: bool,
    expire: Option<u32>,
    key: &[u8],
    format: KeyFormat,
    values: &[WireValue],
    dict: &mut Dict,
) {
    let mut b = Vec::with_capacity(16 + key.len() + values.len() * 4);
    if !incremental {
        b.extend_from_slice(&id.to_be_bytes());
    }
    if let Some(e) = expire {
        b.extend_from_slice(&e.to_be_bytes());
    }
    match format {
        KeyFormat::Str { .. } => {
            put_varint(&mut b, key.len() as u64);
            b.extend_from_slice(key);
        }
        KeyFormat::Int | KeyFormat::Fixed(_) => b.extend_from_slice(key),
    }
    for v in values {
        match v {
            WireValue::Int(n) => put_varint(&mut b, *n),
            WireValue::Freq {
                elapsed,
                curr,
                prev,
            } => {
                put_varint(&mut b, *elapsed);
                put_varint(&mut b, *curr);
                put_varint(&mut b, *prev);
            }
            WireValue::Dict(None) => put_varint(&mut b, 0),
            WireValue::Dict(Some(value)) => {
                let (id, with_value) = dict.id_for(value);
                let mut d = Vec::with_capacity(value.len() + 8);
                put_varint(&mut d, id);
                if with_value {
                    put_varint(&mut d, value.len() as u64);
                    d.extend_from_slice(value);
                }
                put_varint(&mut b, d.len() as u64);
                b.extend_from_slice(&d);
            }
        }
    }
    let kind = match (incremental, expire.is_some()) {
        (false, false) => UPDATE,
        (true, false) => INC_UPDATE,
        (false, true) => UPDATE_TIMED,
        (true, true) => INC_UPDATE_TIMED,
    };
    put_message(out, CLASS_TABLE, kind, &b);
}

/// The first handshake line's version: `HAProxyS MAJ.MIN`.
pub(crate) fn read_version(line: &str) -> Result<(u32, u32), u16> {
    let v = line
        .strip_prefix(PROTOCOL)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(STATUS_PROTOCOL)?;
    let (maj, min) = v.split_once('.').ok_or(STATUS_VERSION)?;
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match (num(maj), num(min)) {
        (Some(MAJOR), Some(m)) if m <= MINOR => Ok((MAJOR, m)),
        _ => Err(STATUS_VERSION),
    }
}

/// Takes one `\n`-ended line (a `\r` before it dropped) off `buf`.
pub(crate) fn take_line(buf: &mut Vec<u8>) -> Result<Option<String>, Error> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(Error::Protocol("handshake line too long"));
        }
        return Ok(None);
    };
    if end > MAX_LINE {
        return Err(Error::Protocol("handshake line too long"));
    }
    let mut line: Vec<u8> = buf.drain(..=end).collect();
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| Error::Protocol("handshake line is not text"))
}
