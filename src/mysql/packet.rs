//! MySQL packets on the wire: the 4-byte header (3-byte little-endian
//! payload length, sequence id) that frames every message in both
//! directions, and the field encodings inside payloads (fixed integers,
//! length-encoded integers and strings, NUL-terminated strings).
//!
//! [`Inbound`] cuts the server's byte stream into packets; [`Reader`]
//! reads the fields of one payload; [`put_packet`] frames what the client
//! sends. Nothing here knows what a packet means or which sequence id is
//! due: `proto` does.

use super::proto::ProtoError;

/// The largest payload the monitor accepts, and the largest answer to one
/// query. Its queries answer in a few kilobytes; a server sending more is
/// not one to trust with an unbounded buffer.
pub(crate) const MAX_PAYLOAD: usize = 4 << 20;

const HEADER: usize = 4;
/// A payload of exactly this length continues in the next packet.
const MAX_FRAME: usize = 0xFF_FFFF;

/// The server's bytes, buffered until they make whole packets.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    buf: Vec<u8>,
    /// Where the first packet not yet handed out starts.
    start: usize,
}

impl Inbound {
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet: its sequence id and payload. A packet of
    /// [`MAX_FRAME`] bytes would continue in the next one, and so would be
    /// at least 16 MiB in all: refused as [`ProtoError::TooLarge`] like
    /// any payload over [`MAX_PAYLOAD`], before it is buffered.
    pub(crate) fn next_packet(&mut self) -> Result<Option<(u8, &[u8])>, ProtoError> {
        let rest = &self.buf[self.start..];
        let Some(header) = rest.get(..HEADER) else {
            return Ok(None);
        };
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if len > MAX_PAYLOAD || len == MAX_FRAME {
            return Err(ProtoError::TooLarge);
        }
        let seq = header[3];
        if rest.len() < HEADER + len {
            return Ok(None);
        }
        let from = self.start + HEADER;
        self.start = from + len;
        Ok(Some((seq, &self.buf[from..from + len])))
    }

    /// Forgets the packets handed out, keeping a partial one.
    pub(crate) fn compact(&mut self) {
        self.buf.drain(..self.start);
        self.start = 0;
    }
}

/// Appends `payload` framed as packets, the first with sequence id `seq`;
/// returns the sequence id that follows. A payload of 16 MiB or more goes
/// out in full-size pieces, then a shorter one (empty if need be) to end it.
pub(crate) fn put_packet(out: &mut Vec<u8>, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_FRAME);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_FRAME {
            return seq;
        }
    }
}

/// A reader over one payload. Every failure is [`ProtoError::Malformed`]
/// naming the packet being read, which is all an operator can act on.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the packet in errors: "greeting", "column definition".
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, what }
    }

    pub(crate) fn malformed(&self) -> ProtoError {
        ProtoError::Malformed(self.what)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.buf.len() < n {
            return Err(self.malformed());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ProtoError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-encoded integer. 0xFB (NULL in a row) and 0xFF are not
    /// integers; a row reads NULL with [`Reader::lenenc_str`].
    pub(crate) fn lenenc(&mut self) -> Result<u64, ProtoError> {
        let width = match self.u8()? {
            b @ 0..=0xFA => return Ok(u64::from(b)),
            0xFC => 2,
            0xFD => 3,
            0xFE => 8,
            _ => return Err(self.malformed()),
        };
        let mut v = [0u8; 8];
        v[..width].copy_from_slice(self.bytes(width)?);
        Ok(u64::from_le_bytes(v))
    }

    /// A length-encoded string; `None` for 0xFB, a row's NULL.
    pub(crate) fn lenenc_str(&mut self) -> Result<Option<&'a [u8]>, ProtoError> {
        if self.buf.first() == Some(&0xFB) {
            self.buf = &self.buf[1..];
            return Ok(None);
        }
        let len = self.lenenc()?;
        let len = usize::try_from(len).map_err(|_| self.malformed())?;
        self.bytes(len).map(Some)
    }

    /// A string ended by NUL (the NUL is read and not returned).
    pub(crate) fn nul_str(&mut self) -> Result<&'a [u8], ProtoError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or(self.malformed())?;
        let s = &self.buf[..end];
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
}
