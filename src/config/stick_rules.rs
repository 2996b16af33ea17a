//! `stick match|on|store-request|store-response PATTERN [table NAME]
//! [{if|unless} COND]` (HAProxy 2.6 configuration manual, section 4.2):
//! source persistence through a stick table, read into the section's
//! [`RuleSet::stick`]. The table is resolved, and given the `server_id`
//! and `server_key` data it needs, when the rules are linked.

use super::acl::{self, Patterns};
use super::model::*;
use super::parser::Diags;
use super::proxy::{Kind, ProxyDraft};
use super::sample::Stage;

/// One `stick` line.
pub(super) fn stick(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    if p.kind == Kind::Defaults {
        return d.error(loc, "'stick' not allowed in 'defaults' section.");
    }
    if !p.kind.back() {
        return d.warn(
            loc,
            format!(
                "'stick' ignored because {} has no backend capability.",
                p.who()
            ),
        );
    }
    match parse(p, patterns, words, loc) {
        Ok(r) => p.rules.stick.push(r),
        Err(e) => d.error(loc, e),
    }
}

fn parse(
    p: &mut ProxyDraft,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
) -> Result<StickRule, String> {
    let kind = match words.get(1).map(String::as_str) {
        Some("store" | "store-request") => StickKind::StoreRequest,
        Some("store-response") => StickKind::StoreResponse,
        Some("match") => StickKind::Match,
        Some("on") => StickKind::On,
        _ => return Err("'stick' expects 'on', 'match', or 'store'.".into()),
    };
    let Some(text) = words.get(2).filter(|w| !w.is_empty()) else {
        return Err("'stick' expects a fetch method.".into());
    };
    let parsed = acl::sample_expr(text, patterns, loc).map_err(|e| format!("'stick': {e}"))?;
    let fetch = text.split(['(', ',']).next().unwrap_or(text);
    match kind {
        StickKind::StoreResponse if parsed.stage < Stage::Response && !is_session_wide(fetch) => {
            return Err(format!(
                "'stick': fetch method '{fetch}' extracts information from 'request', none of which is available for 'store-response'."
            ));
        }
        StickKind::StoreResponse => {}
        _ if parsed.stage > Stage::Request => {
            return Err(format!(
                "'stick': fetch method '{fetch}' extracts information from 'response', none of which is available during request."
            ));
        }
        _ => {}
    }
    let mut at = 3;
    let mut table = TableRef {
        name: String::new(),
        id: None,
    };
    if words.get(at).map(String::as_str) == Some("table") {
        table.name = words.get(at + 1).cloned().unwrap_or_default();
        at += 2;
    }
    let cond = match words.get(at).map(String::as_str) {
        None => None,
        Some("if" | "unless") => {
            let c = acl::condition(&mut p.acls, patterns, &words[at..], loc).map_err(|e| {
                format!("'stick': error detected while parsing sticking condition : {e}.")
            })?;
            Some(c.cond)
        }
        Some(other) => return Err(format!("'stick': unknown keyword '{other}'.")),
    };
    Ok(StickRule {
        kind,
        key: parsed.expr,
        table,
        cond,
        location: loc.clone(),
    })
}

/// Fetches about the connection itself (`src`, `dst`...): HAProxy lets
/// `store-response` read them, as they hold all along.
fn is_session_wide(fetch: &str) -> bool {
    matches!(
        fetch,
        "src" | "src_port" | "dst" | "dst_port" | "so_id" | "fe_id" | "be_id"
    ) || fetch.starts_with("var")
}

#[cfg(test)]
mod tests {
    use crate::config::model::StickKind;
    use crate::config::parse_str;

    const BASE: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
        frontend f\n bind 127.0.0.1:1\n default_backend b\n";

    fn load(backend: &str) -> Result<crate::config::Config, String> {
        let text =
            format!("{BASE}backend b\n{backend} server s1 127.0.0.1:2\n server s2 127.0.0.1:3\n");
        parse_str("t.cfg", &text).map(|l| l.config).map_err(|e| {
            e.errors
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn rules_read_and_their_table_stores_the_server() {
        let c = load(
            " stick-table type ip size 10 expire 30s\n stick on src\n stick match src table b if { src 127.0.0.0/8 }\n \
             stick store-request src\n stick store-response dst\n",
        )
        .unwrap();
        let rs = &c.backends[0].rules;
        let kinds: Vec<_> = rs.stick.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                StickKind::On,
                StickKind::Match,
                StickKind::StoreRequest,
                StickKind::StoreResponse
            ]
        );
        assert!(rs.stick.iter().all(|r| r.table.id.is_some()));
        assert!(rs.stick[1].cond.is_some());
        let names: Vec<_> = c.tables[0].store.iter().map(|(t, _)| t.name()).collect();
        assert_eq!(names, ["server_id", "server_key"]);
    }

    #[test]
    fn errors_in_haproxy_words() {
        let cases = [
            (
                " stick-table type ip size 10\n stick src\n",
                "'stick' expects 'on', 'match', or 'store'.",
            ),
            (
                " stick-table type ip size 10\n stick on\n",
                "'stick' expects a fetch method.",
            ),
            (
                " stick-table type ip size 10\n stick on src foo\n",
                "'stick': unknown keyword 'foo'.",
            ),
            (" stick on src\n", "no stick-table in 'b'"),
            (
                " stick on src table nope\n",
                "unable to find stick-table 'nope'",
            ),
        ];
        for (text, want) in cases {
            let err = load(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.starts_with("t.cfg:"), "{err}");
        }
    }

    #[test]
    fn defaults_refuse_it_and_frontends_ignore_it() {
        let text = "defaults\n mode tcp\n stick on src\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             frontend f\n bind 127.0.0.1:1\n default_backend b\nbackend b\n server s 127.0.0.1:2\n";
        let err = parse_str("t.cfg", text).unwrap_err();
        assert!(
            err.errors[0]
                .to_string()
                .contains("'stick' not allowed in 'defaults' section.")
        );
        let text = format!("{BASE}backend b\n server s 127.0.0.1:2\n").replace(
            " default_backend b\n",
            " default_backend b\n stick on src\n",
        );
        let ok = parse_str("t.cfg", &text).unwrap();
        assert!(ok.warnings.iter().any(|w| {
            w.to_string()
                .contains("'stick' ignored because frontend 'f' has no backend capability.")
        }));
    }
}
