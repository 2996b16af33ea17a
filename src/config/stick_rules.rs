//! `stick match|on|store-request|store-response PATTERN [table NAME]
//! [{if|unless} COND]` (HAProxy 2.6 configuration manual, section 4.2):
//! source persistence through a stick table, read into the section's
//! [`RuleSet::stick`]. The table is resolved ([`link`]), and given the
//! `server_id` and `server_key` data it needs, when the rules are linked.
//! What a rule may read is HAProxy's: `store-response` runs once the
//! server is known and may not read the request's bytes; the others run
//! before it is chosen and may read neither the response nor the server.

use super::acl::{self, AclTable, Patterns};
use super::model::*;
use super::parser::Diags;
use super::proxy::{Kind, ProxyDraft};

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
        Ok(r) => {
            if let Some(w) = r.cond.as_ref().and_then(|c| conflict(&p.acls, c, r.kind)) {
                d.warn(loc, w);
            }
            p.rules.stick.push(r);
        }
        Err(e) => d.error(loc, e),
    }
}

/// Where a fetch's data comes from, when that limits the `stick` rules
/// that may read it (HAProxy's `SMP_SRC_*`, named as `sample_src_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The client's bytes: gone from reach once the response is read.
    RequestBuffer,
    /// The server's bytes.
    ResponseBuffer,
    /// The server chosen (`srv_id`).
    Server,
    /// Anything else: addresses, proxies, constants, stick counters.
    Any,
}

impl Source {
    fn of(f: &Fetch) -> Source {
        match f {
            Fetch::Payload(Direction::Request, _) => Source::RequestBuffer,
            Fetch::Payload(Direction::Response, _) => Source::ResponseBuffer,
            Fetch::SrvId => Source::Server,
            _ => Source::Any,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Source::RequestBuffer => "request buffer",
            Source::ResponseBuffer => "response buffer",
            Source::Server => "server",
            Source::Any => "internal state",
        }
    }

    /// Whether a rule of `kind` may read it.
    fn usable(self, kind: StickKind) -> bool {
        match kind {
            StickKind::StoreResponse => self != Source::RequestBuffer,
            _ => !matches!(self, Source::ResponseBuffer | Source::Server),
        }
    }
}

/// HAProxy's name for where a rule of `kind` runs (`sample_ckp_names`).
fn checkpoint(kind: StickKind) -> &'static str {
    match kind {
        StickKind::StoreResponse => "backend stick-store rule",
        _ => "backend use-server, balance or stick-match rule",
    }
}

/// HAProxy's warning (`warnif_cond_conflicts`) for a condition with an
/// ACL that can never match where the rule runs (none of its keywords
/// has data there), or else with a keyword that cannot.
fn conflict(acls: &AclTable, cond: &Condition, kind: StickKind) -> Option<String> {
    let place = checkpoint(kind);
    let terms = || cond.any_of.iter().flatten().map(|t| &acls.acls[t.acl.0]);
    let keyword = |e: &AclExpr| {
        let t = &e.sample.text;
        t.split(['(', ',']).next().unwrap_or(t).to_string()
    };
    let usable = |e: &AclExpr| Source::of(&e.sample.fetch).usable(kind);
    if let Some(acl) = terms().find(|a| !a.exprs.iter().any(usable)) {
        return Some(if acl.name.is_empty() {
            format!(
                "anonymous acl will never match because it uses keyword '{}' which is incompatible with '{place}'",
                acl.exprs.first().map(keyword).unwrap_or_default()
            )
        } else {
            format!(
                "acl '{}' will never match because it only involves keywords that are incompatible with '{place}'",
                acl.name
            )
        });
    }
    let (acl, e) = terms().find_map(|a| a.exprs.iter().find(|e| !usable(e)).map(|e| (a, e)))?;
    Some(if acl.name.is_empty() {
        format!(
            "anonymous acl involves keyword '{}' which is incompatible with '{place}'",
            keyword(e)
        )
    } else {
        format!(
            "acl '{}' involves keywords '{}' which is incompatible with '{place}'",
            acl.name,
            keyword(e)
        )
    })
}

/// Points `r` at its table (the proxy's own unless `table NAME`), with
/// HAProxy's messages when there is none or when the key cannot become the
/// table's type (`stktable_compatible_sample`).
pub(super) fn link(
    r: &mut StickRule,
    proxy: &str,
    tables: &[StickTable],
) -> Result<TableId, String> {
    let name = if r.table.name.is_empty() {
        proxy
    } else {
        &r.table.name
    };
    let what = match r.kind {
        StickKind::StoreResponse => "store table",
        _ => "stick-table",
    };
    let Some(i) = tables.iter().position(|t| t.name == name) else {
        return Err(format!("Proxy '{proxy}': unable to find {what} '{name}'."));
    };
    if !castable(r.key_type, tables[i].key) {
        return Err(format!(
            "Proxy '{proxy}': type of fetch not usable with type of stick-table '{name}'."
        ));
    }
    r.table.id = Some(TableId(i));
    Ok(TableId(i))
}

/// Whether HAProxy casts a sample of type `from` to a key of type `to`
/// (its `sample_casts`, for the table types; an address is an IPv4 one,
/// as `src` is declared).
fn castable(from: SampleType, to: TableKey) -> bool {
    !matches!(
        (from, to),
        (
            SampleType::Bool | SampleType::Bin,
            TableKey::Ip | TableKey::Ipv6
        ) | (SampleType::Bin, TableKey::Integer)
    )
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
    let source = Source::of(&parsed.expr.fetch);
    if !source.usable(kind) {
        let when = match kind {
            StickKind::StoreResponse => "for 'store-response'",
            _ => "during request",
        };
        return Err(format!(
            "'stick': fetch method '{fetch}' extracts information from '{}', none of which is available {when}.",
            source.name()
        ));
    }
    let mut at = 3;
    let mut table = TableRef {
        name: String::new(),
        id: None,
    };
    if words.get(at).map(String::as_str) == Some("table") {
        table.name = words.get(at + 1).cloned().unwrap_or_default();
        if table.name.is_empty() {
            // HAProxy looks a table named "" up, and finds none.
            return Err(format!(
                "Proxy '{}': unable to find {} ''.",
                p.name,
                match kind {
                    StickKind::StoreResponse => "store table",
                    _ => "stick-table",
                }
            ));
        }
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
        key_type: parsed.output,
        table,
        cond,
        location: loc.clone(),
    })
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

    /// Errors as HAProxy 2.6 words them (each checked with `haproxy -c`),
    /// with the line: HAProxy gives none for those found when linking.
    #[test]
    fn errors_in_haproxy_words() {
        let cases = [
            (
                "no kind",
                " stick-table type ip size 10\n stick src\n",
                "t.cfg:11: 'stick' expects 'on', 'match', or 'store'.",
            ),
            (
                "no pattern",
                " stick-table type ip size 10\n stick on\n",
                "t.cfg:11: 'stick' expects a fetch method.",
            ),
            (
                "a word after the pattern",
                " stick-table type ip size 10\n stick on src foo\n",
                "t.cfg:11: 'stick': unknown keyword 'foo'.",
            ),
            (
                "an unknown fetch",
                " stick-table type ip size 10\n stick on src6\n",
                "t.cfg:11: 'stick': unknown fetch method 'src6'",
            ),
            (
                "the response in a request rule",
                " stick-table type ip size 10\n stick on res.payload(0,4)\n",
                "t.cfg:11: 'stick': fetch method 'res.payload' extracts information from 'response buffer', none of which is available during request.",
            ),
            (
                "the server in a request rule",
                " stick-table type integer size 10\n stick match srv_id\n",
                "t.cfg:11: 'stick': fetch method 'srv_id' extracts information from 'server', none of which is available during request.",
            ),
            (
                "the request in store-response",
                " stick-table type ip size 10\n stick store-response req.payload(0,4)\n",
                "t.cfg:11: 'stick': fetch method 'req.payload' extracts information from 'request buffer', none of which is available for 'store-response'.",
            ),
            (
                "no table in the backend",
                " stick on src\n",
                "t.cfg:10: Proxy 'b': unable to find stick-table 'b'.",
            ),
            (
                "no table of that name",
                " stick-table type ip size 10\n stick match src table nope\n",
                "t.cfg:11: Proxy 'b': unable to find stick-table 'nope'.",
            ),
            (
                "no table for store-response",
                " stick store-response src\n",
                "t.cfg:10: Proxy 'b': unable to find store table 'b'.",
            ),
            (
                "'table' without its name",
                " stick-table type ip size 10\n stick on src table\n",
                "t.cfg:11: Proxy 'b': unable to find stick-table ''.",
            ),
            (
                "binary into an address",
                " stick-table type ip size 10\n stick on req.payload(0,4)\n",
                "t.cfg:11: Proxy 'b': type of fetch not usable with type of stick-table 'b'.",
            ),
            (
                "a boolean into an address",
                " stick-table type ipv6 size 10\n stick on bool(1)\n",
                "t.cfg:11: Proxy 'b': type of fetch not usable with type of stick-table 'b'.",
            ),
            (
                "binary into an integer",
                " stick-table type integer size 10\n stick store-request req.payload(0,4)\n",
                "t.cfg:11: Proxy 'b': type of fetch not usable with type of stick-table 'b'.",
            ),
            (
                "a bad condition",
                " stick-table type ip size 10\n stick on src if nope\n",
                "t.cfg:11: 'stick': error detected while parsing sticking condition : no such ACL : 'nope'.",
            ),
            (
                "an unknown srvkey",
                " stick-table type ip size 10 srvkey foo\n",
                "t.cfg:10: stick-table: unknown server key type 'foo'.",
            ),
        ];
        for (what, text, want) in cases {
            let err = load(text).unwrap_err();
            assert_eq!(err, want, "{what}");
        }
    }

    /// Keys HAProxy casts to the table's type, and fetches each rule may
    /// read (`srv_id` once the server is known, `src` all along).
    #[test]
    fn keys_that_fit() {
        for text in [
            " stick-table type integer size 10\n stick on src\n",
            " stick-table type string size 10\n stick on bool(1)\n",
            " stick-table type binary size 10\n stick on src\n",
            " stick-table type ip size 10\n stick on req.len\n",
            " stick-table type string size 10\n stick on req.payload(0,4)\n",
            " stick-table type integer size 10\n stick store-response srv_id\n",
            " stick-table type ip size 10\n stick store-response src,ipmask(24)\n",
            " stick-table type ip size 10\n stick store-response var(txn.x)\n",
            " stick-table type string size 10\n stick match wait_end\n",
        ] {
            if let Err(e) = load(text) {
                panic!("{text:?}: {e}");
            }
        }
    }

    /// HAProxy's warnings for a condition that reads what the rule cannot
    /// see.
    #[test]
    fn conditions_on_data_out_of_reach_warn() {
        let cases = [
            (
                " stick on src if { res.len gt 0 }\n",
                "t.cfg:11: anonymous acl will never match because it uses keyword 'res.len' which is incompatible with 'backend use-server, balance or stick-match rule'",
            ),
            (
                " stick match src if { srv_id 1 }\n",
                "t.cfg:11: anonymous acl will never match because it uses keyword 'srv_id' which is incompatible with 'backend use-server, balance or stick-match rule'",
            ),
            (
                " stick store-response src if { src 1.2.3.4 } || { req.len gt 0 }\n",
                "t.cfg:11: anonymous acl will never match because it uses keyword 'req.len' which is incompatible with 'backend stick-store rule'",
            ),
            (
                " acl x res.len gt 0\n stick on src if x\n",
                "t.cfg:12: acl 'x' will never match because it only involves keywords that are incompatible with 'backend use-server, balance or stick-match rule'",
            ),
            (
                " acl x res.len gt 0\n acl x src 1.2.3.4\n stick on src if x\n",
                "t.cfg:13: acl 'x' involves keywords 'res.len' which is incompatible with 'backend use-server, balance or stick-match rule'",
            ),
            (
                " acl y req.len gt 0\n stick store-response src if y\n",
                "t.cfg:12: acl 'y' will never match because it only involves keywords that are incompatible with 'backend stick-store rule'",
            ),
        ];
        for (rules, want) in cases {
            let text = format!(
                "{BASE}backend b\n stick-table type ip size 10\n{rules} server s1 127.0.0.1:2\n"
            );
            let loaded = parse_str("t.cfg", &text).unwrap_or_else(|e| panic!("{rules:?}: {e:?}"));
            let got: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
            assert_eq!(got, [want], "{rules:?}");
        }
        let quiet = format!(
            "{BASE}backend b\n stick-table type ip size 10\n stick on src if {{ req.len gt 0 }}\n \
             stick store-response src if {{ res.len gt 0 }}\n server s1 127.0.0.1:2\n"
        );
        assert!(parse_str("t.cfg", &quiet).unwrap().warnings.is_empty());
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
