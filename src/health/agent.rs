//! HAProxy's agent protocol: the agent answers one ASCII line of words
//! separated by spaces, tabs or commas, optionally followed by `#` and a
//! message. A word sets the operational state (`up`, `down`, `fail`,
//! `stopped`), the administrative state (`ready`, `drain`, `maint`) or the
//! weight (`75%`, a percentage of the configured weight).
//!
//! What HAProxy 2.6 does, observed with a test agent and `show servers
//! state`: words are case-insensitive (`UP` works, and is logged as sent);
//! a later word of the same kind wins (`up down` is down, `50% 75%` is 75%);
//! a weight is digits then `%` and nothing else (`75`, `+50%`, `50.5%`,
//! `50%up` are ignored; `0%` and `150%` are taken); `#` starts the message
//! only at the start of a word (`down#x` is one unknown word, so the whole
//! line does nothing). HAProxy also knows `maxconn:N`, which this model does
//! not carry; it is ignored like any unknown word.

/// An administrative state the agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentAdmin {
    /// Leave drain or maintenance set by the agent.
    Ready,
    Drain,
    Maint,
}

/// An operational state the agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentOper {
    Up,
    /// `down`, `fail` or `stopped`: the word is kept for the log.
    Down(&'static str),
}

/// What one agent line says; every part is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AgentReply {
    pub oper: Option<AgentOper>,
    pub admin: Option<AgentAdmin>,
    /// Percentage of the configured weight.
    pub weight_pct: Option<u32>,
    /// The text after `#` without its leading blanks; HAProxy keeps the
    /// trailing ones (`down # a b, c  ` logs `down (a b, c  )`).
    pub message: Option<String>,
}

/// Reads one agent line (without its newline). Unknown words are ignored,
/// as HAProxy does.
pub(crate) fn parse_agent(line: &str) -> AgentReply {
    let mut reply = AgentReply::default();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(is_separator);
        if rest.is_empty() {
            break;
        }
        if let Some(message) = rest.strip_prefix('#') {
            let message = message.trim_start_matches([' ', '\t']);
            if !message.is_empty() {
                reply.message = Some(message.to_string());
            }
            break;
        }
        let end = rest.find(is_separator).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail;
        apply_word(&mut reply, word);
    }
    reply
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | ',')
}

fn apply_word(reply: &mut AgentReply, word: &str) {
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "up" => reply.oper = Some(AgentOper::Up),
        "down" => reply.oper = Some(AgentOper::Down("down")),
        "fail" => reply.oper = Some(AgentOper::Down("fail")),
        "stopped" => reply.oper = Some(AgentOper::Down("stopped")),
        "ready" => reply.admin = Some(AgentAdmin::Ready),
        "drain" => reply.admin = Some(AgentAdmin::Drain),
        "maint" => reply.admin = Some(AgentAdmin::Maint),
        _ => {
            if let Some(digits) = word.strip_suffix('%')
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && let Ok(pct) = digits.parse()
            {
                reply.weight_pct = Some(pct);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(
        oper: Option<AgentOper>,
        admin: Option<AgentAdmin>,
        weight_pct: Option<u32>,
        message: Option<&str>,
    ) -> AgentReply {
        AgentReply {
            oper,
            admin,
            weight_pct,
            message: message.map(str::to_string),
        }
    }

    #[test]
    fn lines_read_like_haproxy() {
        use AgentAdmin::*;
        use AgentOper::*;
        // Each line was sent to HAProxy 2.6 by a test agent; the expected
        // value is what its logs and `show servers state` showed.
        let cases = [
            ("up", "up", reply(Some(Up), None, None, None)),
            ("upper case", "UP", reply(Some(Up), None, None, None)),
            ("down", "down", reply(Some(Down("down")), None, None, None)),
            ("fail", "Fail", reply(Some(Down("fail")), None, None, None)),
            (
                "stopped",
                "stopped",
                reply(Some(Down("stopped")), None, None, None),
            ),
            (
                "last state wins",
                "up down",
                reply(Some(Down("down")), None, None, None),
            ),
            (
                "last state wins (2)",
                "down up",
                reply(Some(Up), None, None, None),
            ),
            ("weight", "50%", reply(None, None, Some(50), None)),
            (
                "last weight wins",
                "50% 75%",
                reply(None, None, Some(75), None),
            ),
            ("zero weight", "0%", reply(None, None, Some(0), None)),
            ("above 100%", "150%", reply(None, None, Some(150), None)),
            ("no percent sign", "75", AgentReply::default()),
            ("sign", "+50%", AgentReply::default()),
            ("fraction", "50.5%", AgentReply::default()),
            ("not a number", "x%", AgentReply::default()),
            ("glued word", "50%up", AgentReply::default()),
            ("leading blank", " 50%", reply(None, None, Some(50), None)),
            (
                "drain and weight",
                "drain, 50%",
                reply(None, Some(Drain), Some(50), None),
            ),
            ("ready", "ready", reply(None, Some(Ready), None, None)),
            ("maint", "maint", reply(None, Some(Maint), None, None)),
            (
                "tab separated, message",
                "down\tmaint # m",
                reply(Some(Down("down")), Some(Maint), None, Some("m")),
            ),
            (
                "message keeps inner and trailing blanks",
                "down # a b, c  ",
                reply(Some(Down("down")), None, None, Some("a b, c  ")),
            ),
            (
                "message after a comma",
                "down,#x",
                reply(Some(Down("down")), None, None, Some("x")),
            ),
            (
                "message keeps later #",
                "down #   x#y",
                reply(Some(Down("down")), None, None, Some("x#y")),
            ),
            (
                "empty message",
                "down #",
                reply(Some(Down("down")), None, None, None),
            ),
            ("# inside a word", "down#x", AgentReply::default()),
            ("unknown words", "bogus maxconn:10", AgentReply::default()),
            ("empty line", "", AgentReply::default()),
        ];
        for (what, line, want) in cases {
            assert_eq!(parse_agent(line), want, "{what}: {line:?}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Agent words, known and not.
        fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "up",
                    "DOWN",
                    "fail",
                    "stopped",
                    "ready",
                    "drain",
                    "maint",
                    "50%",
                    "0%",
                    "150%",
                    "maxconn:10",
                    "75",
                    "+5%",
                ])
                .prop_map(str::to_string),
                "[a-z0-9%:.+]{1,8}",
            ]
        }

        proptest! {
            #[test]
            fn arbitrary_lines_never_panic(line in "\\PC{0,200}") {
                let _ = parse_agent(&line);
            }

            /// Spaces, tabs and commas separate words alike, in any number.
            #[test]
            fn separators_are_interchangeable(
                words in prop::collection::vec(word(), 0..8),
                seps in prop::collection::vec(prop::sample::select(vec![" ", "\t", ",", " ,\t"]), 8),
                message in proptest::option::of("[ -~]{0,20}"),
            ) {
                let mut spaced = words.join(" ");
                let mut mixed = String::new();
                for (i, w) in words.iter().enumerate() {
                    mixed.push_str(w);
                    mixed.push_str(seps[i % seps.len()]);
                }
                if let Some(m) = &message {
                    spaced.push_str(&format!(" #{m}"));
                    mixed.push_str(&format!("#{m}"));
                }
                prop_assert_eq!(parse_agent(&spaced), parse_agent(&mixed));
            }
        }
    }
}
