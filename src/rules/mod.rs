//! The rule engine: ACL conditions over samples fetched from a connection
//! (HAProxy 2.6 configuration manual, section 7), for `tcp-request`,
//! `tcp-response`, `use_backend` and `use-server` rules.
//!
//! The config layer parses every expression into the typed model
//! (`config::model::rules`); this module evaluates it. A condition answers
//! [`Verdict::Match`], [`Verdict::NoMatch`], or [`Verdict::Wait`] when a
//! fetch needs bytes that have not arrived yet (HAProxy's "undecided").
//! What only the session knows (addresses, the bytes peeked at, the
//! backends' state) reaches the engine through the [`Facts`] trait, so this
//! module sits below `runtime` and `session`.

pub(crate) mod eval;
pub(crate) mod freq;
pub(crate) mod hello;
pub(crate) mod iptree;
pub(crate) mod pattern;
pub(crate) mod payload;
pub(crate) mod refs;
pub(crate) mod sample;
mod stick;
pub(crate) mod sync;
pub(crate) mod table;
mod table_data;
#[cfg(test)]
mod table_expiry;
pub(crate) mod table_stick;

pub(crate) use eval::{Decision, Effects, Engine, Facts};
pub(crate) use sample::Sample;

/// What a parser of the first bytes of a stream can say about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed<T> {
    /// The value is there.
    Value(T),
    /// The bytes are complete enough to say there is no value (not TLS, no
    /// such extension, no such cookie...).
    Absent,
    /// More bytes may change the answer.
    Incomplete,
}

/// The answer of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Match,
    NoMatch,
    /// A fetch is waiting for data: ask again when more arrives, or at the
    /// end of the inspect delay.
    Wait,
}

#[cfg(test)]
mod tests;
