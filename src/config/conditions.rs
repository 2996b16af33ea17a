//! Conditional blocks (`.if`, `.elif`, `.else`, `.endif`) and the message
//! directives (`.diag`, `.notice`, `.warning`, `.alert`) of HAProxy 2.6
//! (configuration manual, section 2.4), with HAProxy's messages.
//!
//! The parser hands every lexed line of a file to one [`Blocks`] and is told
//! what to do with it ([`Step`]). As in HAProxy, a line in a false block is
//! still split into words (an unmatched quote there is an error) but not
//! parsed: an unknown keyword or directive there is no error. Errors stop
//! reading where HAProxy stops ([`Stop`]). Conditions are `cond_expr.rs`.

use super::cond_expr::evaluate;

/// HAProxy's `MAXNESTEDCONDS`: the 100th nested `.if` is an error.
pub(super) const MAX_NESTED_CONDS: usize = 100;

/// Where one level of `.if` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The current branch is read.
    Take,
    /// The current branch is false and a later `.elif`/`.else` may be taken.
    Drop,
    /// Nothing more at this level is read: an earlier branch was taken, or
    /// the whole `.if` is inside a false branch.
    Skip,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    state: State,
    after_else: bool,
}

/// The open `.if` levels of one file.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    levels: Vec<Level>,
}

/// How much HAProxy skips after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Nothing: the next line is read.
    Line,
    /// The rest of this file (HAProxy leaves its read loop).
    File,
    /// Everything: no later line nor file is read and the load fails
    /// (HAProxy's ERR_ABORT).
    Load,
}

/// What the parser does with a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// An ordinary line in a taken branch: parse it.
    Parse,
    /// A block directive, done; or a line in a false branch.
    Skip,
    /// `.warning`: a warning with the line's location.
    Warning(String),
    /// `.notice`: shown at notice level, not counted as a warning.
    Notice(String),
    /// `.diag`: only in HAProxy's diagnostic mode (`-dD`); splicer logs it
    /// at debug level.
    Diag(String),
    Error(String, Stop),
}

impl Blocks {
    /// Applies one line's words (`env` is for conditions).
    pub(super) fn step(&mut self, words: &[String], env: &dyn Fn(&str) -> Option<String>) -> Step {
        let Some(first) = words.first() else {
            return Step::Skip;
        };
        match first.as_str() {
            ".if" => return self.open(words, env),
            ".elif" => return self.elif(words, env),
            ".else" | ".endif" => return self.close(words),
            _ => {}
        }
        if self.levels.last().is_some_and(|l| l.state != State::Take) {
            return Step::Skip;
        }
        if first.starts_with('.') {
            message(words)
        } else {
            Step::Parse
        }
    }

    /// The error for a file that ends inside a block, if it does.
    pub(super) fn unterminated(&self) -> Option<String> {
        (!self.levels.is_empty()).then(|| "non-terminated '.if' block".to_string())
    }

    fn open(&mut self, words: &[String], env: &dyn Fn(&str) -> Option<String>) -> Step {
        if self.levels.len() + 1 >= MAX_NESTED_CONDS {
            return Step::Error(
                format!("too many nested '.if', max is {MAX_NESTED_CONDS}"),
                Stop::Load,
            );
        }
        let state = if self.levels.last().is_some_and(|l| l.state != State::Take) {
            State::Skip
        } else {
            match condition(".if", words, env) {
                Ok(true) => State::Take,
                Ok(false) => State::Drop,
                Err(e) => return e,
            }
        };
        self.levels.push(Level {
            state,
            after_else: false,
        });
        Step::Skip
    }

    fn elif(&mut self, words: &[String], env: &dyn Fn(&str) -> Option<String>) -> Step {
        let Some(level) = self.levels.last_mut() else {
            return lone(".elif", Stop::Load);
        };
        if level.after_else {
            return Step::Error("'.elif' after '.else' is not permitted".into(), Stop::Load);
        }
        level.state = match level.state {
            State::Take | State::Skip => State::Skip,
            State::Drop => match condition(".elif", words, env) {
                Ok(true) => State::Take,
                Ok(false) => State::Drop,
                Err(e) => return e,
            },
        };
        Step::Skip
    }

    /// `.else` and `.endif`.
    fn close(&mut self, words: &[String]) -> Step {
        let word = words[0].as_str();
        if let Some(arg) = words.get(1).filter(|a| !a.is_empty()) {
            return Step::Error(
                format!("Unexpected argument '{arg}' for '{word}'"),
                Stop::File,
            );
        }
        if word == ".endif" {
            return match self.levels.pop() {
                Some(_) => Step::Skip,
                None => lone(word, Stop::File),
            };
        }
        let Some(level) = self.levels.last_mut() else {
            return lone(word, Stop::Load);
        };
        if level.after_else {
            return Step::Error("'.else' after '.else' is not permitted".into(), Stop::Load);
        }
        level.after_else = true;
        level.state = match level.state {
            State::Take | State::Skip => State::Skip,
            State::Drop => State::Take,
        };
        Step::Skip
    }
}

fn lone(word: &str, stop: Stop) -> Step {
    Step::Error(format!("lone '{word}' with no matching '.if'"), stop)
}

/// Evaluates the words after `.if`/`.elif`, re-merged with one blank as
/// HAProxy does (so `streq( a , b )` compares " a " with " b ").
fn condition(
    word: &str,
    words: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, Step> {
    let text = words[1..].join(" ");
    evaluate(&text, env).map_err(|e| {
        Step::Error(
            format!("{} in '{word}' at position {}", e.message, e.at + 1),
            Stop::Load,
        )
    })
}

/// `.diag`, `.notice`, `.warning`, `.alert` (one argument: the message)
/// and unknown directives, in a taken branch.
fn message(words: &[String]) -> Step {
    let word = words[0].as_str();
    if !matches!(word, ".diag" | ".notice" | ".warning" | ".alert") {
        return Step::Error(format!("unknown directive '{word}'"), Stop::File);
    }
    if let Some(extra) = words.get(2).filter(|a| !a.is_empty()) {
        return Step::Error(
            format!(
                "Unexpected argument '{extra}' for '{word}'. Use quotes if the message should contain spaces"
            ),
            Stop::Line,
        );
    }
    let text = format!("'{}'", words.get(1).map_or("", String::as_str));
    match word {
        ".alert" => Step::Error(text, Stop::Load),
        ".warning" => Step::Warning(text),
        ".notice" => Step::Notice(text),
        _ => Step::Diag(text),
    }
}
