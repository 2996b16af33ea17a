//! HAProxy's agent protocol: the agent answers one ASCII line of words
//! separated by spaces, tabs or commas, optionally followed by `#` and a
//! message. A word sets the operational state (`up`, `down`, `fail`,
//! `stopped`), the administrative state (`ready`, `drain`, `maint`) or the
//! weight (`75%`, a percentage of the configured weight).

/// An administrative state the agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAdmin {
    /// Leave drain or maintenance set by the agent.
    Ready,
    Drain,
    Maint,
}

/// An operational state the agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentOper {
    Up,
    /// `down`, `fail` or `stopped`: the word is kept for the log.
    Down(&'static str),
}

/// What one agent line says; every part is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentReply {
    pub oper: Option<AgentOper>,
    pub admin: Option<AgentAdmin>,
    /// Percentage of the configured weight.
    pub weight_pct: Option<u32>,
    /// The text after `#`, trimmed.
    pub message: Option<String>,
}

/// Reads one agent line (without its newline). Unknown words are ignored,
/// as HAProxy does.
pub fn parse_agent(_line: &str) -> AgentReply {
    todo!()
}
