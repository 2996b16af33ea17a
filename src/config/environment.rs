//! The global keywords that change the environment (`setenv`, `presetenv`,
//! `unsetenv`, `resetenv`) and the view of the environment the parser reads
//! `"${NAME}"` and `defined(NAME)` through.
//!
//! HAProxy changes its own process environment while it parses, so the next
//! line sees the new value. splicer records each change in
//! [`Global::env`](super::Global) instead and [`lookup`] replays that list
//! over the real (or test) environment: the same answers, without touching
//! the environment of a process whose other threads may be reading it.

use super::model::*;
use super::parser::Diags;

/// The value of `name` after the changes in `ops`, over `base`.
pub(super) fn lookup(
    ops: &[EnvOp],
    base: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Option<String> {
    let mut value = base(name);
    for op in ops {
        match op {
            EnvOp::Set {
                name: n,
                value: v,
                overwrite,
            } if n == name && (*overwrite || value.is_none()) => value = Some(v.clone()),
            EnvOp::Unset(names) if names.iter().any(|n| n == name) => value = None,
            EnvOp::Reset { keep } if !keep.iter().any(|n| n == name) => value = None,
            _ => {}
        }
    }
    value
}

/// `setenv(3)` and `unsetenv(3)` refuse an empty name or one with `=`;
/// HAProxy reports their EINVAL with this text.
fn check_name(key: &str, name: &str, loc: &Location, d: &mut Diags) -> bool {
    let ok = !name.is_empty() && !name.contains('=');
    if !ok {
        d.error(
            loc,
            format!("'{key}' failed on variable '{name}' : Invalid argument"),
        );
    }
    ok
}

/// `setenv NAME VALUE` and `presetenv NAME VALUE`.
pub(super) fn setenv(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    // HAProxy checks for too many arguments one word late: a fourth word
    // is ignored without a message, a fifth is an error.
    if let Some(extra) = words.get(4) {
        return d.error(
            loc,
            format!("'{key}' cannot handle unexpected argument '{extra}'"),
        );
    }
    let (Some(name), Some(value)) = (words.get(1), words.get(2)) else {
        return d.error(loc, format!("'{key}' expects a name and a value"));
    };
    if let Some(extra) = words.get(3) {
        d.warn(
            loc,
            format!("'{key}': argument '{extra}' ignored (HAProxy 2.6 ignores it too); quote the value if it has blanks"),
        );
    }
    if check_name(key, name, loc, d) {
        g.env.push(EnvOp::Set {
            name: name.clone(),
            value: value.clone(),
            overwrite: key == "setenv",
        });
    }
}

/// `unsetenv NAME...`: names that were not set are ignored.
pub(super) fn unsetenv(g: &mut Global, words: &[String], loc: &Location, d: &mut Diags) {
    let names = &words[1..];
    if names.is_empty() {
        return d.error(loc, "'unsetenv' expects at least one variable name");
    }
    if names.iter().all(|n| check_name("unsetenv", n, loc, d)) {
        g.env.push(EnvOp::Unset(names.to_vec()));
    }
}

/// `resetenv [NAME...]`: keep only these.
pub(super) fn resetenv(g: &mut Global, words: &[String], _: &Location, _: &mut Diags) {
    g.env.push(EnvOp::Reset {
        keep: words[1..].to_vec(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "PORT" => Some("80".into()),
            _ => None,
        }
    }

    fn set(name: &str, value: &str, overwrite: bool) -> EnvOp {
        EnvOp::Set {
            name: name.into(),
            value: value.into(),
            overwrite,
        }
    }

    #[test]
    fn replays_changes_in_order() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (description, changes, name, value seen after them)
        let cases: Vec<(&str, Vec<EnvOp>, &str, Option<&str>)> = vec![
            ("untouched", vec![], "PORT", Some("80")),
            (
                "setenv overwrites",
                vec![set("PORT", "81", true)],
                "PORT",
                Some("81"),
            ),
            (
                "presetenv keeps",
                vec![set("PORT", "81", false)],
                "PORT",
                Some("80"),
            ),
            (
                "presetenv sets",
                vec![set("NEW", "1", false)],
                "NEW",
                Some("1"),
            ),
            (
                "presetenv after unsetenv",
                vec![EnvOp::Unset(names(&["PORT"])), set("PORT", "82", false)],
                "PORT",
                Some("82"),
            ),
            (
                "unsetenv",
                vec![set("A", "1", true), EnvOp::Unset(names(&["X", "A"]))],
                "A",
                None,
            ),
            (
                "resetenv drops",
                vec![EnvOp::Reset {
                    keep: names(&["PORT"]),
                }],
                "HOME",
                None,
            ),
            (
                "resetenv keeps",
                vec![EnvOp::Reset {
                    keep: names(&["PORT"]),
                }],
                "PORT",
                Some("80"),
            ),
            (
                "set after resetenv",
                vec![EnvOp::Reset { keep: vec![] }, set("HOME", "/x", true)],
                "HOME",
                Some("/x"),
            ),
        ];
        for (desc, ops, name, expected) in cases {
            assert_eq!(lookup(&ops, &base, name).as_deref(), expected, "{desc}");
        }
    }
}
