//! Reads lexed lines into section drafts: tracks the current section, the
//! defaults that apply to the next proxy, and the global settings. Keywords
//! are in `global.rs`, `proxy.rs` and `vrrp.rs`; turning drafts into the
//! model is `validate.rs`.
//!
//! As in HAProxy, a section never continues into the next file (`-f a -f b`),
//! while the last `defaults` section keeps applying to proxies of later files.
//! Conditional blocks (`conditions.rs`) decide which lines are parsed, and
//! `"${NAME}"` sees the environment changes of `global` lines already read
//! (`environment.rs`).

use super::conditions::{Blocks, Step, Stop};
use super::environment::lookup;
use super::keywords::{SECTIONS, UNSUPPORTED_SECTIONS, did_you_mean};
use super::lexer::{Lexed, expand_address, split_line};
use super::model::*;
use super::proxy::{Kind, ProxyDraft};
use std::path::Path;

/// Errors and warnings collected while loading.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            location: location.clone(),
            message: message.into(),
        });
    }
    pub(crate) fn warn(&mut self, location: &Location, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            location: location.clone(),
            message: message.into(),
        });
    }
}

enum Section {
    /// Before any section header in this file.
    None,
    Global,
    /// Index into `Parser::defaults`.
    Defaults(usize),
    /// Index into `Parser::proxies`.
    Proxy(usize),
    /// Index into `Parser::vrrp`.
    Vrrp(usize),
    /// Index into `Parser::resolvers`.
    Resolvers(usize),
    /// A `peers` section of `Parser::peers`.
    Peers(usize),
    /// Index into `Parser::mysql`.
    Mysql(usize),
    /// Index into `Parser::announce`.
    Announce(usize),
}

/// The state of a load across all files.
pub(super) struct Parser<'e> {
    pub global: Global,
    pub global_location: Option<Location>,
    /// The global TLS lines binds and servers read (`tls_global.rs`).
    pub tls: super::tls::TlsGlobal,
    /// Every defaults section in order; named ones can be found with `from`.
    pub defaults: Vec<ProxyDraft>,
    /// frontend, backend and listen sections in order.
    pub proxies: Vec<ProxyDraft>,
    /// `vrrp NAME` sections in order.
    pub vrrp: Vec<super::vrrp::VrrpDraft>,
    /// `announce NAME` sections in order.
    pub announce: Vec<super::announce::AnnounceDraft>,
    /// `resolvers NAME` sections in order.
    pub resolvers: Vec<super::resolvers::Resolvers>,
    /// `peers NAME` sections, their tables, and the local peer name.
    pub peers: super::peers::Peers,
    /// `mysql-cluster NAME` sections in order.
    pub mysql: Vec<super::mysql::Draft>,
    /// The defaults that apply to proxies without `from` (the last seen).
    implicit_defaults: Option<usize>,
    section: Section,
    pub diags: Diags,
    /// An error after which HAProxy reads nothing more (`.alert`, a bad
    /// condition, an unterminated `.if`...): later files are not read and
    /// the drafts are not validated.
    pub aborted: bool,
    /// The environment before `setenv` and friends (`lookup` applies them).
    env: &'e dyn Fn(&str) -> Option<String>,
    /// Every pattern list (`acl` values and files, map files).
    pub patterns: super::acl::Patterns,
    /// The runtime API's changes, applied once the files are read.
    pub overlay: super::Overlay,
}

impl<'e> Parser<'e> {
    pub(super) fn new(
        env: &'e dyn Fn(&str) -> Option<String>,
        options: &super::LoadOptions,
    ) -> Self {
        Parser {
            global: Global::default(),
            global_location: None,
            tls: Default::default(),
            defaults: Vec::new(),
            proxies: Vec::new(),
            vrrp: Vec::new(),
            announce: Vec::new(),
            resolvers: Vec::new(),
            peers: super::peers::Peers::new(options.localpeer.as_deref()),
            mysql: Vec::new(),
            implicit_defaults: None,
            section: Section::None,
            diags: Diags::default(),
            aborted: false,
            env,
            patterns: Default::default(),
            overlay: options.overlay.clone(),
        }
    }

    /// Parses one file's text; `file` names it in locations.
    pub(super) fn feed(&mut self, file: &Path, text: &str) {
        if self.aborted {
            return;
        }
        self.section = Section::None;
        let mut blocks = Blocks::default();
        let mut location = Location {
            file: file.to_path_buf(),
            line: 0,
        };
        for (n, raw) in text.lines().enumerate() {
            location.line = n + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let (lexed, step) = {
                let base = |name: &str| self.base_env(name);
                let env = |name: &str| lookup(&self.global.env, &base, name);
                match split_line(line, &env) {
                    Ok(lexed) => {
                        let step = blocks.step(&lexed.words, &env);
                        (lexed, step)
                    }
                    Err(e) => {
                        self.diags.error(&location, e.0);
                        continue;
                    }
                }
            };
            match step {
                Step::Parse => self.parse_line(lexed, &location),
                Step::Skip => {}
                Step::Warning(msg) => self.diags.warn(&location, msg),
                Step::Notice(msg) => log::info!("{location}: {msg}"),
                Step::Diag(msg) => log::debug!("{location}: {msg}"),
                Step::Error(msg, stop) => {
                    self.diags.error(&location, msg);
                    match stop {
                        Stop::Line => {}
                        Stop::File => break,
                        Stop::Load => {
                            self.aborted = true;
                            return;
                        }
                    }
                }
            }
        }
        // HAProxy names the line where it stopped reading.
        if let Some(msg) = blocks.unterminated() {
            self.diags.error(&location, msg);
            self.aborted = true;
        }
    }

    /// A line of a taken branch, split into words.
    fn parse_line(&mut self, mut lexed: Lexed, location: &Location) {
        // Addresses get HAProxy's second expansion, so no note.
        let address_at = match lexed.words.first().map(String::as_str) {
            Some("bind") => Some(1),
            Some("server" | "peer") => Some(2),
            _ => None,
        };
        if let Some(word) = address_at.and_then(|i| lexed.words.get_mut(i)) {
            let base = |name: &str| self.base_env(name);
            let env = |name: &str| lookup(&self.global.env, &base, name);
            *word = expand_address(word, &env);
            lexed.notes.clear();
        }
        for note in lexed.notes {
            self.diags.warn(location, note);
        }
        self.line(lexed.words, location);
    }

    fn line(&mut self, mut words: Vec<String>, location: &Location) {
        // HAProxy ends the argument list at the first empty word; trailing
        // empty words (an unset variable at the end) are harmless.
        while words.last().is_some_and(|w| w.is_empty()) {
            words.pop();
        }
        let Some(first) = words.first() else { return };
        if first.is_empty() {
            return;
        }
        if let Some(pos) = words.iter().position(|w| w.is_empty()) {
            self.diags.error(
                location,
                format!("'{first}': argument {pos} is empty (an unset environment variable?)"),
            );
            return;
        }
        if SECTIONS.contains(&first.as_str()) {
            self.section_header(&words, location);
            return;
        }
        if first == "vrrp" {
            let draft = super::vrrp::header(&words, location, &mut self.diags);
            self.vrrp.push(draft);
            self.section = Section::Vrrp(self.vrrp.len() - 1);
            return;
        }
        if first == "announce" {
            let draft = super::announce::header(&words, location, &mut self.diags);
            self.announce.push(draft);
            self.section = Section::Announce(self.announce.len() - 1);
            return;
        }
        if first == "resolvers" {
            let draft =
                super::resolvers::header(&words, location, &self.resolvers, &mut self.diags);
            self.section = match draft {
                Some(r) => {
                    self.resolvers.push(r);
                    Section::Resolvers(self.resolvers.len() - 1)
                }
                None => Section::None,
            };
            return;
        }
        if first == "peers" {
            let i = self.peers.header(&words, location, &mut self.diags);
            self.section = Section::Peers(i);
            return;
        }
        if first == "mysql-cluster" {
            let draft = super::mysql::header(&words, location, &self.mysql, &mut self.diags);
            self.mysql.push(draft);
            self.section = Section::Mysql(self.mysql.len() - 1);
            return;
        }
        if first == "vrrp_instance" {
            self.diags.error(location, "'vrrp_instance' is keepalived's syntax: splicer's section is 'vrrp NAME', one keyword per line, no braces");
            self.section = Section::None;
            return;
        }
        if UNSUPPORTED_SECTIONS.contains(&first.as_str()) {
            self.diags
                .error(location, format!("'{first}' section is not supported yet"));
            self.section = Section::None;
            return;
        }
        match self.section {
            Section::None => {
                let hint = did_you_mean(
                    first,
                    SECTIONS.iter().copied().chain([
                        "vrrp",
                        "announce",
                        "resolvers",
                        "peers",
                        "mysql-cluster",
                    ]),
                );
                self.diags.error(
                    location,
                    format!("unknown keyword '{first}' out of section{hint}"),
                );
            }
            Section::Global if super::peers::GLOBAL_KEYWORDS.contains(&first.as_str()) => {
                self.peers.localpeer_line(&words, location, &mut self.diags)
            }
            Section::Global if super::tls_global::is_keyword(first) => {
                super::tls_global::keyword(&mut self.tls, &words, location, &mut self.diags)
            }
            Section::Global => {
                super::global::keyword(&mut self.global, &words, location, &mut self.diags)
            }
            Section::Defaults(i) | Section::Proxy(i) => {
                // HAProxy checks a proxy's table name (its own) first: a
                // second `stick-table` line, or a same-named proxy's.
                let conflict = match self.section {
                    Section::Proxy(_) if first == "stick-table" => {
                        let name = &self.proxies[i].name;
                        super::peers::table_conflict(name, name, self.proxies.iter(), &self.peers)
                    }
                    _ => None,
                };
                let drafts = match self.section {
                    Section::Defaults(_) => &mut self.defaults,
                    _ => &mut self.proxies,
                };
                let mut draft = std::mem::take(&mut drafts[i]);
                if let Some(e) = conflict {
                    self.diags.error(location, e);
                } else if super::tcp_rules::RULE_KEYWORDS.contains(&first.as_str()) {
                    super::tcp_rules::keyword(
                        &mut draft,
                        &mut self.patterns,
                        &words,
                        location,
                        &mut self.diags,
                    );
                } else {
                    draft.keyword(&words, location, &mut self.diags);
                }
                drafts[i] = draft;
            }
            Section::Vrrp(i) => {
                super::vrrp::keyword(&mut self.vrrp[i], &words, location, &mut self.diags)
            }
            Section::Announce(i) => {
                super::announce::keyword(&mut self.announce[i], &words, location, &mut self.diags)
            }
            Section::Resolvers(i) => {
                super::resolvers::keyword(&mut self.resolvers[i], &words, location, &mut self.diags)
            }
            Section::Mysql(i) => {
                super::mysql::keyword(&mut self.mysql[i], &words, location, &mut self.diags)
            }
            Section::Peers(i) => super::peers::keyword(
                &mut self.peers,
                i,
                &self.proxies,
                &words,
                location,
                &mut self.diags,
            ),
        }
    }

    /// The environment before `global` lines change it: the process's,
    /// and `HAPROXY_LOCALPEER`, which HAProxy sets to the local peer name.
    fn base_env(&self, name: &str) -> Option<String> {
        if name == "HAPROXY_LOCALPEER" {
            return Some(self.peers.localpeer.clone());
        }
        (self.env)(name)
    }

    fn section_header(&mut self, words: &[String], location: &Location) {
        let kind = match words[0].as_str() {
            "global" => {
                if words.len() > 1 {
                    self.diags.error(
                        location,
                        format!("'global' cannot handle unexpected argument '{}'", words[1]),
                    );
                }
                self.global_location.get_or_insert_with(|| location.clone());
                self.section = Section::Global;
                return;
            }
            "defaults" => Kind::Defaults,
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        // `defaults [NAME] [from NAME]`, `frontend NAME [from NAME]`.
        let mut args = &words[1..];
        let mut name = String::new();
        if args.first().is_some_and(|a| a != "from") {
            name = args[0].clone();
            args = &args[1..];
        }
        if name.is_empty() && kind != Kind::Defaults {
            self.diags.error(
                location,
                format!("'{}' expects an <id> argument", kind.word()),
            );
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            self.diags.error(
                location,
                format!(
                    "character '{c}' is not permitted in '{}' name '{name}'",
                    kind.word()
                ),
            );
        }
        // A proxy without `from` takes the last defaults section; a defaults
        // section without `from` starts from scratch (HAProxy resets).
        let mut base = if kind == Kind::Defaults {
            None
        } else {
            self.implicit_defaults
        };
        match args {
            [] => {}
            [from, parent] if from == "from" => {
                match self.defaults.iter().rposition(|d| d.name == *parent) {
                    Some(i) if !parent.is_empty() => base = Some(i),
                    _ => {
                        self.diags.error(
                            location,
                            format!(
                                "{} '{name}': defaults section '{parent}' not found",
                                kind.word()
                            ),
                        );
                    }
                }
            }
            [from] if from == "from" => {
                self.diags.error(
                    location,
                    format!("'{}': 'from' expects a defaults section name", kind.word()),
                );
            }
            [extra, ..] => {
                self.diags.error(
                    location,
                    format!(
                        "'{}' cannot handle unexpected argument '{extra}'",
                        kind.word()
                    ),
                );
            }
        }
        let mut draft = ProxyDraft::start(
            kind,
            name,
            location.clone(),
            base.map(|i| &self.defaults[i]),
        );
        draft.unix_bind = self.global.unix_bind.clone();
        draft.tls = self.tls.clone();
        if kind == Kind::Defaults {
            self.defaults.push(draft);
            let i = self.defaults.len() - 1;
            self.implicit_defaults = Some(i);
            self.section = Section::Defaults(i);
        } else {
            self.proxies.push(draft);
            self.section = Section::Proxy(self.proxies.len() - 1);
        }
    }
}
