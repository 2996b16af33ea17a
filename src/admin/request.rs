//! How the runtime API cuts a client's bytes into commands, as HAProxy
//! 2.6's CLI does: a command ends at a newline or at a `;`, either not
//! escaped by `\`, and loses one `\r` before it. A command that ends with
//! a ` <<` word takes the lines after it, as they are (no `;`, no escapes),
//! up to an empty line: its payload (`set ssl cert FILE <<`, then the PEM).
//!
//! [`Reader`] knows nothing of sockets: bytes go in with [`Reader::push`]
//! in any split, [`Item`]s come out of [`Reader::next`], the same whatever
//! the split (a property test checks it).

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A command to run; `payload` when it ended with a ` <<` word (that
    /// word left out of `text`): the lines after it joined by `\n`.
    Command {
        text: Vec<u8>,
        payload: Option<Vec<u8>>,
    },
    /// A line went into a payload still open: prompt mode answers `+ `.
    More,
}

/// Input the reader refuses to hold; the client is dropped, as HAProxy
/// closes a CLI connection whose request fills its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// A command (or a payload line) longer than the line limit.
    Line,
    /// A payload over the payload limit.
    Payload,
}

/// A command waiting for the empty line that ends its payload.
#[derive(Debug)]
struct Gathering {
    command: Vec<u8>,
    payload: Vec<u8>,
}

/// Bytes received and not yet cut into items.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    gathering: Option<Gathering>,
    max_line: usize,
    max_payload: usize,
    /// The client will send no more ([`Reader::close`]).
    closed: bool,
}

/// The pattern that opens a payload.
const PAYLOAD_PATTERN: &[u8] = b"<<";

impl Reader {
    pub(crate) fn new(max_line: usize, max_payload: usize) -> Self {
        Reader {
            buf: Vec::new(),
            gathering: None,
            max_line,
            max_payload,
            closed: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not part of a finished line yet.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// [`Reader::next`] has something to give without more input.
    pub(crate) fn has_item(&self) -> bool {
        match self.gathering {
            Some(_) => self.buf.contains(&b'\n'),
            None => self.command_end().is_some(),
        }
    }

    /// The client sent its last bytes: a command they leave ending with an
    /// escaped newline is complete, as HAProxy takes it at the end of the
    /// input (anything else unfinished is dropped by [`Reader::clear`]).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Where the command at the start of the buffer ends.
    fn command_end(&self) -> Option<usize> {
        command_end(&self.buf).or_else(|| {
            (self.closed && self.buf.last() == Some(&b'\n')).then(|| self.buf.len() - 1)
        })
    }

    /// Forgets everything held (the client closed: a command without its
    /// end, or a payload without its empty line, is not run).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.gathering = None;
    }

    /// The next item, `None` until more input comes.
    pub(crate) fn next(&mut self) -> Result<Option<Item>, Overflow> {
        if self.gathering.is_some() {
            return self.next_payload_line();
        }
        let end = self.command_end();
        let Some(text) = self.take_line(end)? else {
            return Ok(None);
        };
        if !text.ends_with(PAYLOAD_PATTERN) {
            return Ok(Some(Item::Command {
                text,
                payload: None,
            }));
        }
        self.gathering = Some(Gathering {
            command: text,
            payload: Vec::new(),
        });
        Ok(Some(Item::More))
    }

    /// The line ending at `end` (its terminator and one `\r` dropped),
    /// `None` while it is incomplete; too long a line is an overflow.
    fn take_line(&mut self, end: Option<usize>) -> Result<Option<Vec<u8>>, Overflow> {
        let Some(end) = end else {
            return if self.buf.len() > self.max_line {
                Err(Overflow::Line)
            } else {
                Ok(None)
            };
        };
        if end > self.max_line {
            return Err(Overflow::Line);
        }
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn next_payload_line(&mut self) -> Result<Option<Item>, Overflow> {
        let end = self.buf.iter().position(|&b| b == b'\n');
        let Some(line) = self.take_line(end)? else {
            return Ok(None);
        };
        let Some(g) = self.gathering.as_mut() else {
            return Ok(None);
        };
        if !line.is_empty() {
            if !g.payload.is_empty() {
                g.payload.push(b'\n');
            }
            g.payload.extend_from_slice(&line);
            if g.payload.len() > self.max_payload {
                return Err(Overflow::Payload);
            }
            return Ok(Some(Item::More));
        }
        let Some(Gathering {
            mut command,
            payload,
        }) = self.gathering.take()
        else {
            return Ok(None);
        };
        // `<<` is the payload's mark only as a word of its own; glued to
        // the last word (`FILE<<`), HAProxy takes the lines in and drops
        // them, and the command runs without a payload.
        let before = command.len() - PAYLOAD_PATTERN.len();
        let own_word = before == 0
            || (matches!(command[before - 1], b' ' | b'\t') && !escaped(&command[..before - 1]));
        let payload = own_word.then(|| {
            command.truncate(before);
            payload
        });
        Ok(Some(Item::Command {
            text: command,
            payload,
        }))
    }
}

/// Where the command at the start of `buf` ends: its first `\n` or `;`
/// not escaped by a `\`.
fn command_end(buf: &[u8]) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in buf.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'\n' || b == b';' {
            return Some(i);
        }
    }
    None
}

/// Whether the byte after `text` is escaped: `text` ends with an odd run
/// of backslashes.
fn escaped(text: &[u8]) -> bool {
    text.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn command(text: &str, payload: Option<&str>) -> Item {
        Item::Command {
            text: text.as_bytes().to_vec(),
            payload: payload.map(|p| p.as_bytes().to_vec()),
        }
    }

    /// Everything `bytes` gives at once, up to the first overflow.
    fn items(bytes: &[u8], max_line: usize, max_payload: usize) -> Vec<Result<Item, Overflow>> {
        let mut r = Reader::new(max_line, max_payload);
        r.push(bytes);
        drain(&mut r, &mut Vec::new())
    }

    fn drain(r: &mut Reader, out: &mut Vec<Result<Item, Overflow>>) -> Vec<Result<Item, Overflow>> {
        loop {
            match r.next() {
                Ok(Some(i)) => out.push(Ok(i)),
                Ok(None) => return out.clone(),
                Err(e) => {
                    out.push(Err(e));
                    return out.clone();
                }
            }
        }
    }

    #[test]
    fn commands_and_payloads_cut_as_haproxy() {
        use Item::More;
        // (description, input, items)
        let cases: &[(&str, &str, Vec<Item>)] = &[
            (
                "lines and semicolons end commands",
                "show info;show stat\r\nhelp\n",
                vec![
                    command("show info", None),
                    command("show stat", None),
                    command("help", None),
                ],
            ),
            (
                "an escaped ';' or newline does not",
                "a\\;b;c\\\nd\n",
                vec![command("a\\;b", None), command("c\\\nd", None)],
            ),
            ("no end yet: nothing", "show info", vec![]),
            (
                "a payload: lines as they are, up to an empty line",
                "set ssl cert f <<\nA;b\\\r\nC\n\nhelp\n",
                vec![
                    More,
                    More,
                    More,
                    command("set ssl cert f ", Some("A;b\\\nC")),
                    command("help", None),
                ],
            ),
            (
                "an empty payload",
                "add map m <<\n\n",
                vec![More, command("add map m ", Some(""))],
            ),
            (
                "'<<' glued to a word: lines taken, no payload",
                "set ssl cert f<<\nA\n\n",
                vec![More, More, command("set ssl cert f<<", None)],
            ),
            (
                "an escaped blank before '<<' glues it too",
                "x\\ <<\nA\n\n",
                vec![More, More, command("x\\ <<", None)],
            ),
            (
                "after ';' the rest of the line is the payload's",
                "show ssl cert <<; show x\nY\n\nhelp\n",
                vec![
                    More,
                    More,
                    More,
                    command("show ssl cert ", Some(" show x\nY")),
                    command("help", None),
                ],
            ),
            (
                "a '<<' word alone",
                "<<\nz\n\n",
                vec![More, More, command("", Some("z"))],
            ),
            (
                "a payload without its empty line waits",
                "x <<\nA\nB\n",
                vec![More, More, More],
            ),
        ];
        for (what, input, want) in cases {
            let got: Vec<Item> = items(input.as_bytes(), 100, 100)
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(&got, want, "{what}");
        }
    }

    #[test]
    fn an_escaped_newline_ends_a_command_at_the_end_of_input() {
        let mut r = Reader::new(100, 100);
        r.push(b"a\\\nb\\\n");
        assert_eq!(r.next(), Ok(None), "more may come");
        r.close();
        assert!(r.has_item());
        assert_eq!(r.next(), Ok(Some(command("a\\\nb\\", None))));
        let mut r = Reader::new(100, 100);
        r.push(b"unfinished");
        r.close();
        assert_eq!(r.next(), Ok(None), "no newline: never run");
    }

    #[test]
    fn limits_drop_the_client() {
        assert_eq!(items(&[b'x'; 11], 10, 100), vec![Err(Overflow::Line)]);
        assert_eq!(
            items(b"0123456789abc\n", 10, 100),
            vec![Err(Overflow::Line)],
            "an ended command over the limit too"
        );
        assert_eq!(items(&[b'x'; 10], 10, 100), vec![], "at the limit: waits");
        let got = items(b"x <<\n0123456789\n0123456789\n", 100, 15);
        assert_eq!(got.last(), Some(&Err(Overflow::Payload)));
    }

    #[test]
    fn state_says_what_is_waiting() {
        let mut r = Reader::new(100, 100);
        r.push(b"x <<\nA");
        assert!(r.has_item());
        assert_eq!(r.next(), Ok(Some(Item::More)));
        assert!(!r.has_item(), "a payload line without its end");
        assert_eq!(r.next(), Ok(None));
        assert_eq!(r.buffered(), 1);
        r.clear();
        r.push(b"B\n\n");
        assert_eq!(
            r.next(),
            Ok(Some(command("B", None))),
            "cleared: no payload open any more"
        );
    }

    proptest! {
        /// Arbitrary bytes never panic, and the items do not depend on how
        /// the bytes were split across reads.
        #[test]
        fn any_split_gives_the_same_items(
            bytes in proptest::collection::vec(
                prop_oneof![
                    Just(b'\n'), Just(b';'), Just(b'\\'), Just(b'<'), Just(b' '),
                    Just(b'\r'), any::<u8>()
                ],
                0..400,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            max_line in 1usize..64,
            max_payload in 0usize..128,
        ) {
            let whole = items(&bytes, max_line, max_payload);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut r = Reader::new(max_line, max_payload);
            let mut got = Vec::new();
            let mut from = 0;
            for c in cuts {
                r.push(&bytes[from..c]);
                from = c;
                drain(&mut r, &mut got);
                if matches!(got.last(), Some(Err(_))) {
                    break;
                }
            }
            prop_assert_eq!(got, whole);
        }
    }
}
