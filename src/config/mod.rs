//! Configuration: HAProxy's file format (TCP mode) read into the typed model.
//!
//! Text enters through [`load`] (files) or [`parse_str`] (tests); the lexer
//! splits lines into words (quotes, escapes, `${ENV}`), the parser applies
//! sections and keywords, validation resolves names. Every error carries its
//! `FILE:LINE`; all of them are collected before giving up.

pub mod model;

pub use model::*;
