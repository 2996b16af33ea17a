//! The server's answer to one COM_QUERY, packet by packet: an OK, an ERR,
//! or a text result set (column count, column definitions, an EOF unless
//! CLIENT_DEPRECATE_EOF was agreed, rows, then an EOF or an OK with the
//! 0xFE header). A statement that yields several results (the
//! SERVER_MORE_RESULTS_EXISTS flag) is read to its end and still makes one
//! [`Event`]: the first result, or an error if any result is one.
//!
//! Also the OK, ERR and EOF packets the login reads.

use super::packet::{MAX_PAYLOAD, Reader};
use super::proto::{Event, ProtoError};

/// SERVER_MORE_RESULTS_EXISTS: another result follows this one.
const MORE_RESULTS: u16 = 0x0008;
/// MySQL's and MariaDB's limit on the columns of a table; a column count
/// above it is not one to allocate for.
const MAX_COLUMNS: u64 = 4096;

/// A text result set. Values are as the server printed them; NULL is
/// `None`. Column names are looked up ignoring ASCII case, as SQL does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResultSet {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// The index of the column called `name`, ignoring ASCII case.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// Row `row`'s value in column `name`; `None` for NULL too.
    pub(crate) fn get(&self, row: usize, name: &str) -> Option<&str> {
        let col = self.column(name)?;
        self.rows.get(row)?.get(col)?.as_deref()
    }
}

/// An OK packet's fields the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OkPacket {
    pub(crate) affected_rows: u64,
    pub(crate) status: u16,
}

/// Reads an OK packet: header 0x00 (or 0xFE where it ends a result set),
/// affected rows, last insert id, status flags, warnings, then text the
/// client does not need.
pub(crate) fn read_ok(payload: &[u8]) -> Result<OkPacket, ProtoError> {
    let mut r = Reader::new(payload, "OK packet");
    r.u8()?;
    let affected_rows = r.lenenc()?;
    r.lenenc()?;
    let status = r.u16()?;
    Ok(OkPacket {
        affected_rows,
        status,
    })
}

/// Reads an EOF packet's status flags: header 0xFE, warnings, status.
fn read_eof(payload: &[u8]) -> Result<u16, ProtoError> {
    let mut r = Reader::new(payload, "EOF packet");
    r.u8()?;
    r.u16()?;
    r.u16()
}

/// An EOF packet is 0xFE and shorter than 9 bytes, which tells it from a
/// row whose first value is 16 MiB or longer (an 8-byte length after 0xFE).
fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xFE) && payload.len() < 9
}

/// An ERR packet's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrPacket {
    pub(crate) code: u16,
    /// The 5-character SQL state; empty when the server sent none (an ERR
    /// before the greeting, which precedes any agreed capability).
    pub(crate) state: String,
    pub(crate) message: String,
}

/// Reads an ERR packet: header 0xFF, code, then '#' and a 5-byte SQL
/// state if the server sent one, then the message.
pub(crate) fn read_err(payload: &[u8]) -> Result<ErrPacket, ProtoError> {
    let mut r = Reader::new(payload, "ERR packet");
    r.u8()?;
    let code = r.u16()?;
    let mut state = String::new();
    if r.rest().first() == Some(&b'#') && r.rest().len() >= 6 {
        state = String::from_utf8_lossy(&r.bytes(6)?[1..]).into_owned();
    }
    let message = String::from_utf8_lossy(r.rest()).into_owned();
    Ok(ErrPacket {
        code,
        state,
        message,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first packet of a result: OK, ERR or a column count.
    Head,
    Columns {
        left: u64,
    },
    /// The EOF after the column definitions (without DEPRECATE_EOF).
    ColumnsEnd,
    Rows,
}

/// The answer to the query in flight, read so far.
#[derive(Debug)]
pub(crate) struct Answer {
    deprecate_eof: bool,
    phase: Phase,
    /// The result set being read.
    set: ResultSet,
    /// The first result, once read, while further results follow.
    first: Option<Event>,
    /// Payload bytes of this answer, bounded by [`MAX_PAYLOAD`].
    bytes: usize,
}

impl Answer {
    /// `deprecate_eof`: whether CLIENT_DEPRECATE_EOF was agreed at login.
    pub(crate) fn new(deprecate_eof: bool) -> Answer {
        Answer {
            deprecate_eof,
            phase: Phase::Head,
            set: ResultSet::default(),
            first: None,
            bytes: 0,
        }
    }

    /// Reads the next packet; the event once the answer is complete.
    pub(crate) fn packet(&mut self, payload: &[u8]) -> Result<Option<Event>, ProtoError> {
        self.bytes += payload.len();
        if self.bytes > MAX_PAYLOAD {
            return Err(ProtoError::TooLarge);
        }
        if payload.first() == Some(&0xFF) {
            // An ERR may come in any phase (a query killed mid-rows) and
            // always ends the answer: it carries no more-results flag.
            let err = read_err(payload)?;
            return Ok(Some(Event::QueryError {
                code: err.code,
                state: err.state,
                message: err.message,
            }));
        }
        match self.phase {
            Phase::Head => self.head(payload),
            Phase::Columns { left } => {
                let mut r = Reader::new(payload, "column definition");
                // catalog, schema, table, original table, then the name.
                for _ in 0..4 {
                    r.lenenc_str()?;
                }
                let name = r.lenenc_str()?.ok_or(r.malformed())?;
                self.set
                    .columns
                    .push(String::from_utf8_lossy(name).into_owned());
                self.phase = match left - 1 {
                    0 if self.deprecate_eof => Phase::Rows,
                    0 => Phase::ColumnsEnd,
                    left => Phase::Columns { left },
                };
                Ok(None)
            }
            Phase::ColumnsEnd => {
                if !is_eof(payload) {
                    return Err(ProtoError::Malformed(
                        "EOF packet after the column definitions",
                    ));
                }
                self.phase = Phase::Rows;
                Ok(None)
            }
            Phase::Rows => self.row(payload),
        }
    }

    fn head(&mut self, payload: &[u8]) -> Result<Option<Event>, ProtoError> {
        match payload.first() {
            Some(0x00) => {
                let ok = read_ok(payload)?;
                let done = Event::Done {
                    affected_rows: ok.affected_rows,
                };
                Ok(self.result(done, ok.status))
            }
            Some(0xFB) => Err(ProtoError::Unexpected("a LOCAL INFILE request")),
            _ => {
                let mut r = Reader::new(payload, "column count");
                let count = r.lenenc()?;
                if count == 0 || count > MAX_COLUMNS || !r.is_empty() {
                    return Err(r.malformed());
                }
                self.set = ResultSet {
                    columns: Vec::with_capacity(count as usize),
                    rows: Vec::new(),
                };
                self.phase = Phase::Columns { left: count };
                Ok(None)
            }
        }
    }

    fn row(&mut self, payload: &[u8]) -> Result<Option<Event>, ProtoError> {
        // With DEPRECATE_EOF the set ends with an OK whose header is 0xFE;
        // a row starting with 0xFE would be over 16 MiB, past MAX_PAYLOAD.
        if payload.first() == Some(&0xFE) && (self.deprecate_eof || is_eof(payload)) {
            let status = if self.deprecate_eof {
                read_ok(payload)?.status
            } else {
                read_eof(payload)?
            };
            let set = std::mem::take(&mut self.set);
            return Ok(self.result(Event::Rows(set), status));
        }
        let mut r = Reader::new(payload, "row");
        let mut row = Vec::with_capacity(self.set.columns.len());
        for _ in 0..self.set.columns.len() {
            let value = r.lenenc_str()?;
            row.push(value.map(|v| String::from_utf8_lossy(v).into_owned()));
        }
        if !r.is_empty() {
            return Err(r.malformed());
        }
        // The rows of results after the first are read and dropped.
        if self.first.is_none() {
            self.set.rows.push(row);
        }
        Ok(None)
    }

    /// One result is complete: the answer too, unless more follow.
    fn result(&mut self, event: Event, status: u16) -> Option<Event> {
        if self.first.is_none() {
            self.first = Some(event);
        }
        if status & MORE_RESULTS != 0 {
            self.phase = Phase::Head;
            return None;
        }
        self.first.take()
    }
}
