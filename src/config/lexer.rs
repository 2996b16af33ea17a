//! Splits one configuration line into words with HAProxy's rules (2.6
//! configuration manual, sections 2.2 and 2.3): `#` starts a comment outside
//! quotes; blanks separate words; a backslash escapes the next character;
//! double quotes keep blanks and expand environment variables; single quotes
//! keep everything literally.
//!
//! As in HAProxy, variables are expanded only inside double quotes: an
//! unquoted `${NAME}` stays literal, and the lexer reports a note so that the
//! caller can warn about it. An unset variable expands to nothing;
//! `${NAME-default}` gives `default` when NAME is unset (not when it is empty);
//! `"${NAME[*]}"` splits the value on blanks into several words.
//!
//! Words are text, but `\xHH` may name any byte: escapes above 0x7f are kept
//! as characters of a private-use block so that keywords taking bytes
//! (`tcp-check send`) get them back exactly with [`word_bytes`].

/// `\xHH` with HH above 0x7f becomes `char(RAW_BYTE_BASE + HH)`: the last
/// 128 code points of plane 16 (private use), which no config text uses.
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// The bytes a word stands for: its UTF-8, except that raw `\xHH` escapes
/// above 0x7f give the byte itself.
pub(super) fn word_bytes(word: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    for c in word.chars() {
        match u32::from(c).checked_sub(RAW_BYTE_BASE) {
            Some(b @ 0x80..=0xff) => out.push(b as u8),
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// A word as text for a field that holds a `String`: raw bytes that form
/// UTF-8 (`caf\xc3\xa9`) become those characters; any other raw byte
/// becomes the character of the same number (Latin-1).
pub(super) fn word_text(word: &str) -> String {
    let bytes = word_bytes(word);
    String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect())
}

/// The words of one line, plus notes worth a warning.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Lexed {
    pub words: Vec<String>,
    pub notes: Vec<String>,
}

/// Why a line cannot be split; the text names the column (1-based), like HAProxy.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LexError(pub String);

/// Splits `line` into words. `env` looks a variable up (`std::env::var` in
/// production, a table in tests).
pub(crate) fn split_line(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Lexed, LexError> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Lexed::default();
    // The word being built; `None` between words. A word exists as soon as
    // a quote opens, so `""` is an (empty) word.
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut quote_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => word.get_or_insert_with(String::new).push(c),
            (Some('"'), '"') => quote = None,
            (None, '"' | '\'') => {
                quote = Some(c);
                quote_start = i;
                word.get_or_insert_with(String::new);
            }
            (None, '#') => break,
            (None, ' ' | '\t') => {
                if let Some(w) = word.take() {
                    out.words.push(w);
                }
            }
            (_, '\\') => {
                i = escape(
                    &chars,
                    i,
                    quote == Some('"'),
                    word.get_or_insert_with(String::new),
                )?;
                continue;
            }
            (Some('"'), '$') => {
                i = expand(&chars, i, env, &mut word, &mut out.words)?;
                continue;
            }
            (None, '$') => {
                if let Some(name) = unquoted_variable(&chars, i) {
                    out.notes.push(format!(
                        "'${{{name}}}' is not expanded outside double quotes (HAProxy rule); write \"${{{name}}}\" to use the environment variable"
                    ));
                }
                word.get_or_insert_with(String::new).push(c);
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
        i += 1;
    }
    if let Some(q) = quote {
        return Err(LexError(format!(
            "unmatched quote ({q}) at position {}",
            quote_start + 1
        )));
    }
    if let Some(w) = word.take() {
        out.words.push(w);
    }
    Ok(out)
}

/// Handles the backslash at `chars[i]`; returns the index after the sequence.
/// Unknown escapes keep the backslash, as HAProxy does.
fn escape(chars: &[char], i: usize, in_double: bool, word: &mut String) -> Result<usize, LexError> {
    let Some(&next) = chars.get(i + 1) else {
        word.push('\\');
        return Ok(i + 1);
    };
    let simple = match next {
        ' ' | '\t' | '#' | '\\' | '\'' | '"' => Some(next),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        '$' if in_double => Some('$'),
        _ => None,
    };
    if let Some(c) = simple {
        word.push(c);
        return Ok(i + 2);
    }
    if next == 'x' {
        let hex: String = chars.iter().skip(i + 2).take(2).collect();
        return match u8::from_str_radix(&hex, 16) {
            Ok(b) if hex.len() == 2 => {
                let raw = if b < 0x80 {
                    char::from(b)
                } else {
                    char::from_u32(RAW_BYTE_BASE + u32::from(b)).expect("plane 16 code point")
                };
                word.push(raw);
                Ok(i + 4)
            }
            _ => Err(LexError(format!(
                "truncated or invalid hexadecimal sequence at position {}",
                i + 1
            ))),
        };
    }
    // `\$` only means `$` inside double quotes; elsewhere HAProxy keeps both.
    word.push('\\');
    Ok(i + 1)
}

/// Expands the variable whose `$` is at `chars[i]` inside double quotes;
/// returns the index after it. `[*]` variables may close the current word
/// and push several.
fn expand(
    chars: &[char],
    i: usize,
    env: &dyn Fn(&str) -> Option<String>,
    word: &mut Option<String>,
    words: &mut Vec<String>,
) -> Result<usize, LexError> {
    let braced = chars.get(i + 1) == Some(&'{');
    let start = if braced { i + 2 } else { i + 1 };
    let first_ok = chars
        .get(start)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_');
    if !first_ok {
        return Err(LexError(format!(
            "forbidden first char in environment variable name at position {}",
            i + 1
        )));
    }
    let mut end = start;
    while chars
        .get(end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        end += 1;
    }
    let name: String = chars[start..end].iter().collect();
    if !braced {
        word.get_or_insert_with(String::new)
            .push_str(&env(&name).unwrap_or_default());
        return Ok(end);
    }
    let mut split = false;
    if chars[end..].starts_with(&['[', '*', ']']) {
        split = true;
        end += 3;
    }
    let mut default = None;
    if chars.get(end) == Some(&'-') {
        let close = chars[end..].iter().position(|c| *c == '}').map(|p| p + end);
        let Some(close) = close else {
            return Err(LexError(format!(
                "unmatched brace in environment variable name at position {}",
                i + 1
            )));
        };
        default = Some(chars[end + 1..close].iter().collect::<String>());
        end = close;
    }
    if chars.get(end) != Some(&'}') {
        return Err(LexError(format!(
            "unmatched brace in environment variable name at position {}",
            i + 1
        )));
    }
    let value = env(&name).or(default).unwrap_or_default();
    if split {
        let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
        if let Some(first) = parts.next() {
            word.get_or_insert_with(String::new).push_str(first);
        }
        for p in parts {
            if let Some(w) = word.take() {
                words.push(w);
            }
            *word = Some(p.to_string());
        }
    } else {
        word.get_or_insert_with(String::new).push_str(&value);
    }
    Ok(end + 1)
}

/// HAProxy's address parser expands `$NAME` and `${NAME}` once more, even
/// unquoted, in `bind` and `server` addresses (checked with `haproxy -c`
/// 2.6); an unset variable gives nothing. This does the same for one word.
pub(super) fn expand_address(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let braced = chars[i] == '$' && chars.get(i + 1) == Some(&'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while chars
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            end += 1;
        }
        let closed = !braced || chars.get(end) == Some(&'}');
        if chars[i] != '$' || end == start || !closed {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let name: String = chars[start..end].iter().collect();
        out.push_str(&env(&name).unwrap_or_default());
        i = if braced { end + 1 } else { end };
    }
    out
}

/// `Some(NAME)` when an unquoted `$` at `chars[i]` starts a well-formed `${NAME...}`.
fn unquoted_variable(chars: &[char], i: usize) -> Option<String> {
    if chars.get(i + 1) != Some(&'{') {
        return None;
    }
    let name: String = chars[i + 2..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
        .collect();
    let after = chars.get(i + 2 + name.chars().count());
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (valid && matches!(after, Some('}' | '-' | '['))).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            "LIST" => Some("a b  c".into()),
            _ => None,
        }
    }

    fn words(line: &str) -> Result<Vec<String>, String> {
        split_line(line, &env).map(|l| l.words).map_err(|e| e.0)
    }

    #[test]
    fn splits_like_haproxy() {
        // Expected results checked against `haproxy -c` 2.6.
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "blanks separate",
                "  bind\t:80   v4v6 ",
                &["bind", ":80", "v4v6"],
            ),
            (
                "comment",
                "server s1 1.2.3.4:80 # web",
                &["server", "s1", "1.2.3.4:80"],
            ),
            ("comment glued", "a#b", &["a"]),
            ("only comment", "   # nothing", &[]),
            ("empty line", "", &[]),
            ("escaped space", r"a\ b c", &["a b", "c"]),
            ("escaped hash", r"a\#b", &["a#b"]),
            ("escaped backslash", r"a\\b", &[r"a\b"]),
            ("escaped quotes", r#"a\"b\'c"#, &["a\"b'c"]),
            ("control escapes", r"a\tb\nc\rd", &["a\tb\nc\rd"]),
            ("hex escape", r"a\x41b", &["aAb"]),
            ("unknown escape kept", r"a\qb", &[r"a\qb"]),
            ("dollar escape unquoted kept", r"a\$b", &[r"a\$b"]),
            ("dollar escape in double quotes", r#""a\$b""#, &["a$b"]),
            ("trailing backslash", r"abc\", &[r"abc\"]),
            (
                "double quotes keep blanks and hash",
                r#""a #b" c"#,
                &["a #b", "c"],
            ),
            ("quotes glue", r#"a"b c"d"#, &["ab cd"]),
            (
                "single quotes literal",
                r"a'b\c ${PORT}'d",
                &[r"ab\c ${PORT}d"],
            ),
            ("single quote in double", r#""it's""#, &["it's"]),
            ("empty quoted word", r#"a "" b"#, &["a", "", "b"]),
            ("env braced", r#""x${PORT}y""#, &["x8080y"]),
            ("env bare", r#""x$PORT-y""#, &["x8080-y"]),
            ("env unset is empty", r#""x${NOPE}y""#, &["xy"]),
            ("env unset bare", r#""$NOPE"x"#, &["x"]),
            ("env default", r#""x${NOPE-def}y""#, &["xdefy"]),
            ("env default not for empty", r#""x${EMPTY-def}y""#, &["xy"]),
            ("env default empty", r#""${NOPE-}"x"#, &["x"]),
            (
                "env default stops at first brace",
                r#""${NOPE-a}b}"x"#,
                &["ab}x"],
            ),
            ("env split", r#""${LIST[*]}" q"#, &["a", "b", "c", "q"]),
            ("env split glued", r#""x${LIST[*]}y""#, &["xa", "b", "cy"]),
            ("env unquoted literal", "x${PORT}y", &["x${PORT}y"]),
            ("env in single quotes literal", "'${PORT}'", &["${PORT}"]),
            ("crlf tolerated by caller; tab word", "a\tb", &["a", "b"]),
        ];
        for (desc, input, expected) in cases {
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(words(input), Ok(expected), "{desc}: {input}");
        }
    }

    #[test]
    fn reports_errors_with_position() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "unterminated double",
                r#"bind ":9000"#,
                "unmatched quote (\") at position 6",
            ),
            (
                "unterminated single",
                "a 'b",
                "unmatched quote (') at position 3",
            ),
            (
                "short hex",
                r"a\x4",
                "truncated or invalid hexadecimal sequence at position 2",
            ),
            (
                "bad hex",
                r"a\xzz",
                "truncated or invalid hexadecimal sequence at position 2",
            ),
            (
                "bad variable start",
                r#""$"x"#,
                "forbidden first char in environment variable name at position 2",
            ),
            (
                "digit variable start",
                r#""${1A}""#,
                "forbidden first char in environment variable name at position 2",
            ),
            (
                "unclosed brace",
                r#""${PO RT}""#,
                "unmatched brace in environment variable name at position 2",
            ),
        ];
        for (desc, input, expected) in cases {
            assert_eq!(words(input), Err(expected.to_string()), "{desc}: {input}");
        }
    }

    #[test]
    fn raw_bytes_survive() {
        // (description, line, bytes of the one word, text of it)
        let cases: &[(&str, &str, &[u8], &str)] = &[
            ("ascii", r"a\x41\r\n", b"aA\r\n", "aA\r\n"),
            ("high byte", r"\xff\x00", &[0xff, 0], "\u{ff}\0"),
            (
                "literal utf-8 kept",
                "caf\u{e9}",
                "caf\u{e9}".as_bytes(),
                "caf\u{e9}",
            ),
            (
                "escaped utf-8",
                r"caf\xc3\xa9",
                "caf\u{e9}".as_bytes(),
                "caf\u{e9}",
            ),
        ];
        for (desc, line, bytes, text) in cases {
            let w = words(line).unwrap();
            assert_eq!(word_bytes(&w[0]), *bytes, "{desc}");
            assert_eq!(word_text(&w[0]), *text, "{desc}");
        }
    }

    #[test]
    fn expands_addresses_like_haproxy() {
        let cases: &[(&str, &str, &str)] = &[
            ("braced", "127.0.0.1:${PORT}", "127.0.0.1:8080"),
            ("bare", "127.0.0.1:$PORT", "127.0.0.1:8080"),
            ("unset", "127.0.0.1:${NOPE}", "127.0.0.1:"),
            ("no variable", "[::1]:80", "[::1]:80"),
            ("lone dollar", "a$:1", "a$:1"),
            ("unclosed", "a${PORT", "a${PORT"),
        ];
        for (desc, input, expected) in cases {
            assert_eq!(expand_address(input, &env), *expected, "{desc}");
        }
    }

    #[test]
    fn notes_unquoted_variables() {
        let lexed = split_line("bind :${PORT}", &env).unwrap();
        assert_eq!(lexed.words, vec!["bind", ":${PORT}"]);
        assert_eq!(lexed.notes.len(), 1);
        assert!(
            lexed.notes[0].contains("write \"${PORT}\""),
            "{:?}",
            lexed.notes
        );
        assert!(split_line("cost $5", &env).unwrap().notes.is_empty());
    }
}
