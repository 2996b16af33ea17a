//! The runtime API's text protocol, apart from any socket: a request line
//! becomes commands (split on `;`) made of words (split on blanks, `\`
//! escaping the next character), each command is looked up in the tables
//! that each handler file exports ([`TABLES`]), checked against the
//! client's level and run; its output is followed by an empty line and, in
//! interactive mode, by the `> ` prompt. Unknown commands get HAProxy's
//! help answer, with its fuzzy matching of the words typed against the
//! tables.

use crate::config::Level;
use crate::control::ControlLink;
use crate::runtime::Runtime;

use super::{
    about, checks, commands, dynamic, info, mysql, patterns, servers_state, sessions, ssl, stat,
    tables, typed, vrrp, workers,
};

/// Words kept per command (HAProxy's MAX_CLI_ARGS); the rest are dropped.
pub(crate) const MAX_WORDS: usize = 64;
/// Leading words of a command that the help matches against (HAProxy's
/// CLI_PREFIX_KW_NB).
const PREFIX_WORDS: usize = 5;
/// Suggestions kept by the fuzzy matching (HAProxy's CLI_MAX_MATCHES).
const MAX_MATCHES: usize = 5;

pub(crate) const PERMISSION_DENIED: &str = "Permission denied\n";

/// Every command, by the file that handles it. The walk order is the
/// matching order: on a tie in the help's fuzzy matching the earlier one
/// wins (`command_order_is_pinned` keeps it).
const TABLES: &[&[Command]] = &[
    COMMANDS,
    info::COMMANDS,
    about::COMMANDS,
    stat::COMMANDS,
    typed::COMMANDS,
    servers_state::COMMANDS,
    vrrp::COMMANDS,
    commands::COMMANDS,
    sessions::COMMANDS,
    workers::COMMANDS,
    checks::COMMANDS,
    dynamic::COMMANDS,
    patterns::COMMANDS,
    tables::COMMANDS,
    mysql::COMMANDS,
    ssl::COMMANDS,
];

fn all() -> impl Iterator<Item = &'static Command> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// One entry of a command table.
pub(crate) struct Command {
    /// The words that select the command (`show stat`).
    pub words: &'static [&'static str],
    /// Lowest level allowed to run it.
    pub level: Level,
    /// `usage: help` as the help lists it; `None` for the commands the help
    /// always prints at its end (help, prompt, quit).
    pub help: Option<(&'static str, &'static str)>,
    pub run: fn(&mut Ctx<'_>, &[String], &mut String),
}

/// What one client connection carries from command to command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Session {
    pub level: Level,
    /// `prompt` mode: keep the connection and print `> ` after each output.
    pub interactive: bool,
    /// `quit` was typed.
    pub quit: bool,
    /// Idle timeout set by `set timeout cli` (else `stats timeout`).
    pub timeout: Option<std::time::Duration>,
    /// On the `-S` socket: HAProxy's master CLI words are understood too.
    pub master: bool,
}

impl Session {
    pub(crate) fn new(level: Level) -> Self {
        Session {
            level,
            interactive: false,
            quit: false,
            timeout: None,
            master: false,
        }
    }
}

/// What a command handler gets.
pub(crate) struct Ctx<'a> {
    pub rt: &'a Runtime,
    /// The workers, for the commands about sessions and listeners.
    pub workers: &'a [ControlLink],
    pub session: &'a mut Session,
    /// The lines after a command's ` <<` ([`super::request`]).
    pub payload: Option<&'a str>,
}

/// A table entry with its help line.
pub(super) const fn cmd(
    words: &'static [&'static str],
    level: Level,
    usage: &'static str,
    help: &'static str,
    run: fn(&mut Ctx<'_>, &[String], &mut String),
) -> Command {
    Command {
        words,
        level,
        help: Some((usage, help)),
        run,
    }
}

/// `help`, `prompt` and `quit`: the commands the help lists at its end.
const COMMANDS: &[Command] = &[
    Command {
        words: &["help"],
        level: Level::User,
        help: None,
        run: |_, args, out| usage(&args[1..], true, out),
    },
    Command {
        words: &["prompt"],
        level: Level::User,
        help: None,
        run: |ctx, _, _| ctx.session.interactive = !ctx.session.interactive,
    },
    Command {
        words: &["quit"],
        level: Level::User,
        help: None,
        run: |ctx, _, _| ctx.session.quit = true,
    },
];

/// Runs every command of one request line (without its line ending),
/// appending their output. Stops at `quit`.
pub(crate) fn run_line(
    line: &[u8],
    rt: &Runtime,
    workers: &[ControlLink],
    session: &mut Session,
    out: &mut String,
) {
    for words in split_commands(line) {
        run_command(&words, None, rt, workers, session, out);
        if session.quit {
            return;
        }
        end_output(session, out);
    }
}

/// Runs one command as [`super::request::Reader`] cut it, with its
/// payload, appending its output.
pub(crate) fn run_request(
    text: &[u8],
    payload: Option<&[u8]>,
    rt: &Runtime,
    workers: &[ControlLink],
    session: &mut Session,
    out: &mut String,
) {
    let payload = payload.map(String::from_utf8_lossy);
    for words in split_commands(text) {
        run_command(&words, payload.as_deref(), rt, workers, session, out);
        if session.quit {
            return;
        }
        end_output(session, out);
    }
}

/// The empty line that ends every answer, and the prompt in prompt mode.
fn end_output(session: &Session, out: &mut String) {
    out.push('\n');
    if session.interactive {
        out.push_str("> ");
    }
}

fn run_command(
    words: &[String],
    payload: Option<&str>,
    rt: &Runtime,
    workers: &[ControlLink],
    session: &mut Session,
    out: &mut String,
) {
    let words = if session.master {
        match super::master::run(words, rt, out) {
            super::master::Routed::Done => return,
            super::master::Routed::Worker(w) => w,
        }
    } else {
        words
    };
    let Some(cmd) = find(words) else {
        return usage(words, false, out);
    };
    if session.level < cmd.level {
        out.push_str(PERMISSION_DENIED);
        return;
    }
    let mut ctx = Ctx {
        rt,
        workers,
        session,
        payload,
    };
    (cmd.run)(&mut ctx, words, out);
}

/// The command whose words start `words`.
fn find(words: &[String]) -> Option<&'static Command> {
    all().find(|c| {
        c.words.len() <= words.len() && c.words.iter().zip(words).all(|(a, b)| *a == b.as_str())
    })
}

/// Splits a request line into commands and words. Text is taken as bytes
/// and read as lossy UTF-8 so that no input can fail the split.
pub(crate) fn split_commands(line: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(line);
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    let push_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word && words.len() < MAX_WORDS {
            words.push(std::mem::take(word));
        }
        word.clear();
        *in_word = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            ';' => {
                push_word(&mut words, &mut word, &mut in_word);
                commands.push(std::mem::take(&mut words));
            }
            ' ' | '\t' => push_word(&mut words, &mut word, &mut in_word),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    push_word(&mut words, &mut word, &mut in_word);
    commands.push(words);
    commands
}

/// HAProxy's answer to `help [words]` and to an unknown command: the
/// commands matching the words typed (exactly for the leading ones, by
/// similarity for the rest), or all of them, then help, prompt and quit.
pub(crate) fn usage(args: &[String], is_help: bool, out: &mut String) {
    let args: Vec<&str> = args.iter().map(String::as_str).take(PREFIX_WORDS).collect();
    // How many leading words some command matches exactly.
    let exact = |cmd: &Command, upto: usize| {
        let mut n = 0;
        while n < upto && n < cmd.words.len() && n < args.len() && cmd.words[n] == args[n] {
            n += 1;
        }
        n
    };
    let length = all().map(|c| exact(c, PREFIX_WORDS)).max().unwrap_or(0);
    out.push_str(if is_help {
        "The following commands are valid at this level:\n"
    } else if length == 0 && args.first().is_none_or(|a| a.is_empty()) {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    // The best few by distance; on a tie the earlier table entry wins.
    let mut matches: Vec<(u32, &Command)> = Vec::new();
    if args.len() > length {
        let typed = fingerprint(&args[length..]);
        let typed_len: usize = args[length..].iter().map(|a| a.len()).sum();
        for cmd in all().filter(|c| c.help.is_some() && exact(c, length) == length) {
            let rest = &cmd.words[length.min(cmd.words.len())..];
            let total = typed_len + rest.iter().map(|w| w.len()).sum::<usize>();
            let dist = distance(&typed, &fingerprint(rest));
            let worst = if matches.len() == MAX_MATCHES {
                matches[MAX_MATCHES - 1].0
            } else {
                u32::MAX
            };
            if (dist as usize) < 5 * total / 2 && dist < worst {
                let at = matches.partition_point(|(d, _)| *d <= dist);
                matches.insert(at, (dist, cmd));
                matches.truncate(MAX_MATCHES);
            }
        }
    }
    let mut entries: Vec<(&str, &str)> = match matches.first() {
        // Close matches only: stop at those far worse than the best.
        Some(&(best, _)) => matches
            .iter()
            .take_while(|(d, _)| *d <= 5 * best / 2)
            .filter_map(|(_, c)| c.help)
            .collect(),
        None => all()
            .filter(|c| exact(c, length) == length)
            .filter_map(|c| c.help)
            .collect(),
    };
    entries.sort();
    for (words, help) in entries {
        out.push_str(&format!("  {words:<40}: {help}\n"));
    }
    out.push_str(
        "  help [<command>]                        : list matching or all commands\n\
         \x20 prompt                                  : toggle interactive mode with prompt\n\
         \x20 quit                                    : disconnect\n",
    );
}

/// Counts of character pairs (letters, digits as one class, anything else
/// as another, plus word start and end) over `words`, and which classes
/// occur at all: close spellings get close fingerprints. Bytes, as
/// HAProxy 2.6's `update_word_fingerprint` reads them, whose marks of
/// presence (row 0) and class of "other" (the start/end one) it keeps.
fn fingerprint(words: &[&str]) -> Vec<u8> {
    const START_END: usize = 28;
    let class = |c: u8| match c.to_ascii_lowercase() {
        c @ b'a'..=b'z' => usize::from(c - b'a') + 1,
        b'0'..=b'9' => 27,
        _ => START_END,
    };
    let mut fp = vec![0u8; 32 * 32];
    for w in words {
        let mut from = START_END;
        for c in w.bytes() {
            let to = class(c);
            fp[to] = 1;
            fp[32 * from + to] = fp[32 * from + to].wrapping_add(1);
            from = to;
        }
        fp[32 * from + START_END] = fp[32 * from + START_END].wrapping_add(1);
    }
    fp
}

fn distance(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| u32::from(x.abs_diff(*y)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_commands_and_words() {
        let cases: &[(&str, &str, &[&[&str]])] = &[
            ("one command", "show stat", &[&["show", "stat"]]),
            (
                "several, blanks squeezed",
                "  show\tinfo ;get  weight b/s ",
                &[&["show", "info"], &["get", "weight", "b/s"]],
            ),
            ("empty line is one empty command", "", &[&[]]),
            (
                "trailing ';' adds an empty command",
                "help;",
                &[&["help"], &[]],
            ),
            (
                "backslash escapes ';' and blanks",
                "get weight a\\;b\\ c",
                &[&["get", "weight", "a;b c"]],
            ),
            ("backslash before a letter drops", "s\\2", &[&["s2"]]),
            ("quotes are plain characters", "\"a b\"", &[&["\"a", "b\""]]),
        ];
        for (what, line, want) in cases {
            let got = split_commands(line.as_bytes());
            let want: Vec<Vec<String>> = want
                .iter()
                .map(|c| c.iter().map(|w| w.to_string()).collect())
                .collect();
            assert_eq!(got, want, "{what}");
        }
        let many = "w ".repeat(200);
        assert_eq!(split_commands(many.as_bytes())[0].len(), MAX_WORDS);
        let bad = split_commands(b"show \xff\xfe stat");
        assert_eq!(bad[0].len(), 3, "invalid UTF-8 is kept, lossy");
    }

    fn help_for(line: &str, is_help: bool) -> Vec<String> {
        let words: Vec<String> = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        let mut out = String::new();
        usage(&words, is_help, &mut out);
        out.lines().map(String::from).collect()
    }

    #[test]
    fn unknown_commands_get_haproxys_help() {
        // (line, first line of the answer, commands listed before the
        // fixed help/prompt/quit lines)
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "sho stat",
                "Unknown command, but maybe one of the following ones is a better match:",
                &["show stat"],
            ),
            (
                "set maxconn",
                "Unknown command, but maybe one of the following ones is a better match:",
                &[
                    "set maxconn frontend",
                    "set maxconn global",
                    "set maxconn server",
                ],
            ),
            (
                "get",
                "Unknown command, but maybe one of the following ones is a better match:",
                &["get acl", "get map", "get weight"],
            ),
            (
                "set maxconn frontnd x 1",
                "Unknown command, but maybe one of the following ones is a better match:",
                &["set maxconn frontend"],
            ),
        ];
        for (line, head, listed) in cases {
            let out = help_for(line, false);
            assert_eq!(out[0], *head, "{line}");
            assert_eq!(out.len(), 1 + listed.len() + 3, "{line}: {out:#?}");
            for (l, cmd) in out[1..].iter().zip(listed.iter()) {
                assert!(l.starts_with(&format!("  {cmd}")), "{line}: {l}");
            }
            assert!(out[out.len() - 1].starts_with("  quit "));
        }
        let empty = help_for("", false);
        assert_eq!(
            empty[0],
            "Unknown command. Please enter one of the following commands only:"
        );
        let all = all().filter(|c| c.help.is_some()).count();
        assert_eq!(empty.len(), 1 + all + 3, "the whole table");
        let help = help_for("", true);
        assert_eq!(help[0], "The following commands are valid at this level:");
        assert_eq!(help.len(), empty.len());
        let mut sorted = help[1..=all].to_vec();
        sorted.sort();
        assert_eq!(sorted, help[1..=all], "listed in order");
        assert_eq!(
            help_for("help", true).len(),
            4,
            "'help help': the fixed lines only"
        );
    }

    #[test]
    fn help_lines_line_up_as_haproxys() {
        let out = help_for("", true);
        let line = out.iter().find(|l| l.starts_with("  get weight")).unwrap();
        assert_eq!(
            line,
            "  get weight <bk>/<srv>                   : report a server's current weight"
        );
        assert_eq!(
            out[out.len() - 3],
            "  help [<command>]                        : list matching or all commands"
        );
    }

    #[test]
    fn command_order_is_pinned() {
        // The help's fuzzy matching breaks ties by this order: a file's
        // table moved in `TABLES`, or an entry moved in a table, would
        // change which suggestions an operator sees.
        let order: Vec<String> = all().map(|c| c.words.join(" ")).collect();
        let want = [
            "help",
            "prompt",
            "quit",
            "show info",
            "show version",
            "show env",
            "show errors",
            "show activity",
            "show threads",
            "show stat",
            "show schema json",
            "show servers state",
            "show vrrp",
            "show announce",
            "show backend",
            "show cli level",
            "user",
            "operator",
            "clear counters",
            "get weight",
            "set weight",
            "set server",
            "set maxconn server",
            "set maxconn frontend",
            "set maxconn global",
            "disable server",
            "enable server",
            "set timeout",
            "show sess",
            "shutdown session",
            "shutdown sessions server",
            "disable frontend",
            "enable frontend",
            "disable health",
            "enable health",
            "disable agent",
            "enable agent",
            "add server",
            "del server",
            "add acl",
            "add map",
            "clear acl",
            "clear map",
            "del acl",
            "del map",
            "get acl",
            "get map",
            "set map",
            "show acl",
            "show map",
            "show table",
            "clear table",
            "set table",
            "show mysql",
            "mysql switchover",
            "show ssl cert",
            "set ssl cert",
            "commit ssl cert",
            "abort ssl cert",
            "show ssl crt-list",
        ];
        assert_eq!(order, want);
    }

    #[test]
    fn fingerprints_tell_close_spellings() {
        let fp = |w: &str| fingerprint(&[w]);
        assert_eq!(distance(&fp("state"), &fp("state")), 0);
        assert!(distance(&fp("stat"), &fp("state")) < distance(&fp("stat"), &fp("weight")));
        assert_eq!(distance(&fp("a1"), &fp("a9")), 0, "digits are one class");
        assert_eq!(distance(&fp("AB"), &fp("ab")), 0, "case does not count");
        // Two pairs differ (b-c, c-end against b-d, d-end), and so do the
        // classes present (c, d), as HAProxy 2.6 counts them.
        assert_eq!(distance(&fp("abc"), &fp("abd")), 6);
        assert_eq!(distance(&fp("a-b"), &fp("a/b")), 0, "one 'other' class");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A word as a script would send it: any text, with `\`, `;`,
        /// space and tab escaped by a backslash.
        fn escape(word: &str) -> String {
            let mut out = String::new();
            for c in word.chars() {
                if matches!(c, '\\' | ';' | ' ' | '\t') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }

        proptest! {
            /// No request line makes the reader panic, and none yields a
            /// command of more than MAX_WORDS words.
            #[test]
            fn any_line_splits(line in proptest::collection::vec(any::<u8>(), 0..512)) {
                for command in split_commands(&line) {
                    prop_assert!(command.len() <= MAX_WORDS);
                }
            }

            /// Commands of escaped words, separated by any run of blanks
            /// and by `;`, come back word for word.
            #[test]
            fn escaped_words_come_back(
                commands in proptest::collection::vec(
                    proptest::collection::vec("[^\\x00]{1,12}", 1..6), 1..4),
                gaps in proptest::collection::vec("[ \t]{1,3}", 24),
            ) {
                let mut line = String::new();
                let mut g = gaps.iter().cycle();
                for (i, words) in commands.iter().enumerate() {
                    if i > 0 {
                        line.push(';');
                    }
                    for w in words {
                        line.push_str(g.next().unwrap());
                        line.push_str(&escape(w));
                    }
                }
                prop_assert_eq!(split_commands(line.as_bytes()), commands);
            }
        }
    }
}
