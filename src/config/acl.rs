//! `acl` lines and `if`/`unless` conditions (HAProxy 2.6 configuration
//! manual, sections 7.1 and 7.2), and the pattern lists they fill
//! ([`Patterns`]: files read once and shared by name, inline values one list
//! per line, numbered as HAProxy numbers them for the runtime API).

use super::model::*;
use super::parser::Diags;
use super::pattern::{self, IntOp, MatchMethod};
use super::sample::{self, MapFiles, Stage};

/// The number of a list the runtime API does not show (a predefined
/// ACL's).
const HIDDEN_UID: u32 = u32::MAX;

/// Every pattern list of the config, in the order HAProxy numbers them.
#[derive(Debug, Default)]
pub(super) struct Patterns {
    pub refs: Vec<PatternRef>,
    next_uid: u32,
}

impl Patterns {
    fn uid(&mut self, forced: Option<u32>) -> u32 {
        match forced {
            Some(u) => u,
            None => {
                while self.refs.iter().any(|r| r.uid == self.next_uid) {
                    self.next_uid += 1;
                }
                self.next_uid
            }
        }
    }

    /// The list read from `file` (read now, once per file).
    fn file(
        &mut self,
        file: &str,
        map: bool,
        forced: Option<u32>,
        used_by: &str,
        loc: &Location,
    ) -> Result<PatternRefId, String> {
        if let Some(i) = self
            .refs
            .iter()
            .position(|r| r.file.as_deref() == Some(file))
        {
            let r = &mut self.refs[i];
            r.description.push_str(&format!(
                ", by {used_by} at file '{}' line {}",
                loc.file.display(),
                loc.line
            ));
            r.used.acl |= !map || used_by == "acl";
            r.used.map |= map && used_by == "map";
            return Ok(PatternRefId(i));
        }
        let text = crate::host::read_file(std::path::Path::new(file))
            .map_err(|e| format!("failed to open pattern file '{file}': {e}"))?;
        let entries = if map {
            pattern::parse_map_file(&text)
                .into_iter()
                .map(|(_, key, value)| PatternEntry {
                    key,
                    value: Some(value),
                })
                .collect()
        } else {
            pattern::parse_pattern_file(&text)
                .into_iter()
                .map(|(_, key)| PatternEntry { key, value: None })
                .collect()
        };
        let uid = self.uid(forced);
        self.refs.push(PatternRef {
            uid,
            file: Some(file.to_string()),
            description: format!(
                "pattern loaded from file '{file}' used by {used_by} at file '{}' line {}",
                loc.file.display(),
                loc.line
            ),
            used: PatternUse {
                acl: used_by == "acl",
                map: used_by == "map",
            },
            entries,
            ways: Vec::new(),
        });
        Ok(PatternRefId(self.refs.len() - 1))
    }

    /// A new list for the inline values of one `acl` line.
    fn inline(&mut self, fetch: &str, forced: Option<u32>, loc: &Location) -> PatternRefId {
        let uid = self.uid(forced);
        self.refs.push(PatternRef {
            uid,
            file: None,
            description: format!(
                "acl '{fetch}' file '{}' line {}",
                loc.file.display(),
                loc.line
            ),
            used: PatternUse {
                acl: true,
                map: false,
            },
            entries: Vec::new(),
            ways: Vec::new(),
        });
        PatternRefId(self.refs.len() - 1)
    }

    /// Registers a way of matching `id`, checking every entry with it.
    fn way(&mut self, id: PatternRefId, method: MatchMethod, icase: bool) -> Result<usize, String> {
        let r = &mut self.refs[id.0];
        for e in &r.entries {
            pattern::parse_pattern(method, None, icase, &e.key)
                .map_err(|mut err| {
                    if method == MatchMethod::Ip && pattern::looks_like_host_name(&e.key) {
                        err.push_str(" (host names are not resolved here: write the address)");
                    }
                    err
                })
                .map_err(|err| match &r.file {
                    Some(f) => format!("file '{f}': '{}': {err}", e.key),
                    None => err,
                })?;
        }
        if let Some(w) = r.ways.iter().position(|w| *w == (method, icase)) {
            return Ok(w);
        }
        r.ways.push((method, icase));
        Ok(r.ways.len() - 1)
    }
}

/// A value as the lists keep it, checked for the method with HAProxy's
/// message: with an operator (`lt 1024`) an integer becomes the range it
/// means (`:1023`); a `req.ssl_ver` value written as a version (`3.1`)
/// becomes the integer the fetch returns. Lists keep text (the runtime API
/// shows and edits it) that parses again without the operator.
fn int_pattern(
    method: MatchMethod,
    op: Option<IntOp>,
    version: bool,
    key: &str,
) -> Result<String, String> {
    if !matches!(method, MatchMethod::Int | MatchMethod::Len) {
        return Ok(key.to_string());
    }
    let key = if version {
        ver_pattern(key)
    } else {
        key.to_string()
    };
    let parsed = pattern::parse_pattern(method, op, false, &key)?;
    let (Some(op), pattern::Pattern::Int { lo, hi }) = (op, parsed) else {
        return Ok(key);
    };
    let text = match (lo, hi) {
        (Some(l), Some(h)) if l == h => l.to_string(),
        (Some(l), h) if l >= 0 => format!("{l}:{}", h.map_or(String::new(), |h| h.to_string())),
        (None, Some(h)) if h >= 0 => format!(":{h}"),
        _ => {
            return Err(format!(
                "'{key}' with operator {op:?}: a negative bound cannot be kept in a list"
            ));
        }
    };
    Ok(text)
}

fn ver_pattern(key: &str) -> String {
    match key.split_once('.') {
        Some((maj, min))
            if !maj.is_empty()
                && !min.is_empty()
                && maj.bytes().all(|b| b.is_ascii_digit())
                && min.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let v = maj.parse::<i64>().unwrap_or(0) * 65536 + min.parse::<i64>().unwrap_or(0);
            v.to_string()
        }
        _ => key.to_string(),
    }
}

/// Map converters read their file into a list shared by name.
struct Maps<'a> {
    patterns: &'a mut Patterns,
    loc: &'a Location,
}

impl MapFiles for Maps<'_> {
    fn map_file(&mut self, file: &str, method: MatchMethod) -> Result<PatternRefId, String> {
        let id = self.patterns.file(file, true, None, "map", self.loc)?;
        self.patterns.way(id, method, false)?;
        Ok(id)
    }
}

/// Parses a sample expression, map files included.
pub(super) fn sample_expr(
    text: &str,
    patterns: &mut Patterns,
    loc: &Location,
) -> Result<sample::Parsed, String> {
    sample::parse(text, &mut Maps { patterns, loc })
}

/// Parses a `%[...]` template.
pub(super) fn template(
    text: &str,
    patterns: &mut Patterns,
    loc: &Location,
) -> Result<Vec<TemplatePart>, String> {
    sample::template(text, &mut Maps { patterns, loc })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

/// The stage an ACL needs: the latest of its expressions'.
fn stage_of(stages: &[Stage]) -> Stage {
    stages.iter().copied().max().unwrap_or(Stage::Connection)
}

/// The ACLs of a section being read, with the stage each needs.
#[derive(Debug, Clone, Default)]
pub(super) struct AclTable {
    pub acls: Vec<Acl>,
    stages: Vec<Vec<Stage>>,
    /// ACLs whose line was refused, with the reason: a condition naming
    /// one repeats it instead of "no such ACL".
    refused: Vec<(String, String)>,
}

impl AclTable {
    fn push(&mut self, acl: Acl, stage: Stage) -> AclId {
        self.acls.push(acl);
        self.stages.push(vec![stage]);
        AclId(self.acls.len() - 1)
    }

    pub(super) fn stage(&self, id: AclId) -> Stage {
        stage_of(&self.stages[id.0])
    }
}

/// HAProxy's message for a fetch without a default method and no `-m`.
fn need_method(keyword: &str) -> String {
    format!(
        "matching method must be specified first (using '-m') when using a sample fetch of this type ('{keyword}')"
    )
}

/// Reads `EXPR [flags] [op] values...` (an `acl` line after its name, or
/// the inside of `{ }`) into one expression or more (`-f` files and inline
/// values are separate lists).
fn acl_body(
    words: &[String],
    patterns: &mut Patterns,
    loc: &Location,
) -> Result<(Vec<AclExpr>, Stage), String> {
    let Some(text) = words.first() else {
        return Err("missing ACL criterion".into());
    };
    let parsed = sample_expr(text, patterns, loc)?;
    let mut method = parsed.method;
    let keyword = text.split(['(', ',']).next().unwrap_or(text);
    let mut icase = false;
    let mut forced_uid = None;
    let mut map_file = false;
    let mut files: Vec<(String, bool)> = Vec::new();
    let mut i = 1;
    while let Some(w) = words.get(i) {
        if !w.starts_with('-') || w.len() < 2 {
            break;
        }
        i += 1;
        match w.as_str() {
            "-i" => icase = true,
            "-I" => icase = false,
            "-n" => {}
            "-M" => map_file = true,
            "--" => break,
            "-m" | "-f" | "-u" => {
                let Some(arg) = words.get(i) else {
                    return Err(format!("missing argument after '{w}'"));
                };
                i += 1;
                match w.as_str() {
                    "-m" => {
                        if !files.is_empty() {
                            return Err("'-m' must only be specified before patterns and files in parsing ACL expression.".into());
                        }
                        method = Some(MatchMethod::from_name(arg).ok_or_else(|| {
                            format!("unknown matching method '{arg}' when parsing ACL expression")
                        })?);
                    }
                    "-f" if method.is_none() => return Err(need_method(keyword)),
                    "-f" => files.push((arg.clone(), icase)),
                    _ => {
                        forced_uid = Some(
                            arg.parse::<u32>()
                                .map_err(|_| format!("'-u' expects an integer (got '{arg}')"))?,
                        )
                    }
                }
            }
            _ => {
                // Not a flag: a value that starts with a dash (a negative
                // integer). HAProxy reads these as values too.
                i -= 1;
                break;
            }
        }
    }
    let Some(method) = method else {
        return Err(need_method(keyword));
    };
    let mut op = None;
    if matches!(method, MatchMethod::Int | MatchMethod::Len) {
        op = match words.get(i).map(String::as_str) {
            Some("eq") => Some(IntOp::Eq),
            Some("ge") => Some(IntOp::Ge),
            Some("gt") => Some(IntOp::Gt),
            Some("le") => Some(IntOp::Le),
            Some("lt") => Some(IntOp::Lt),
            _ => None,
        };
        if op.is_some() {
            i += 1;
        }
    }
    let values = &words[i..];
    if matches!(method, MatchMethod::Found | MatchMethod::Bool)
        && (!values.is_empty() || !files.is_empty())
    {
        return Err(format!(
            "'{}' matching method doesn't expect any pattern",
            method.name()
        ));
    }
    let mut exprs = Vec::new();
    let expr =
        |patterns: &mut Patterns, id: PatternRefId, icase: bool| -> Result<AclExpr, String> {
            let way = patterns.way(id, method, icase)?;
            Ok(AclExpr {
                sample: parsed.expr.clone(),
                method,
                icase,
                patterns: id,
                way,
            })
        };
    for (file, icase) in &files {
        let id = patterns.file(file, map_file, forced_uid.take(), "acl", loc)?;
        exprs.push(expr(patterns, id, *icase)?);
    }
    // HAProxy gives every line a list of its own for its inline values,
    // even an empty one (after the files' lists).
    {
        // Shown as the fetch's keyword (`acl 'req.payload' ...`).
        let id = patterns.inline(keyword, forced_uid, loc);
        let version = matches!(parsed.expr.fetch, Fetch::Payload(_, PayloadFetch::SslVer));
        patterns.refs[id.0].entries = values
            .iter()
            .map(|v| {
                Ok(PatternEntry {
                    key: int_pattern(method, op, version, v)?,
                    value: None,
                })
            })
            .collect::<Result<_, String>>()?;
        exprs.push(expr(patterns, id, icase)?);
    }
    Ok((exprs, parsed.stage))
}

/// `acl NAME EXPR [flags] [op] values...`
pub(super) fn acl_line(
    table: &mut AclTable,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
    d: &mut Diags,
) {
    let Some(name) = words.get(1) else {
        return d.error(loc, "'acl' expects an ACL name.");
    };
    if !valid_name(name) {
        return d.error(loc, format!("invalid character in ACL name '{name}'."));
    }
    match acl_body(&words[2..], patterns, loc) {
        Err(e) => {
            d.error(
                loc,
                format!("error detected while parsing ACL '{name}' : {e}."),
            );
            table.refused.push((name.clone(), e));
        }
        Ok((exprs, stage)) => match table.acls.iter().position(|a| &a.name == name) {
            Some(i) => {
                table.acls[i].exprs.extend(exprs);
                table.stages[i].push(stage);
            }
            None => {
                table.push(
                    Acl {
                        name: name.clone(),
                        exprs,
                    },
                    stage,
                );
            }
        },
    }
}

/// The predefined ACLs, as the expressions they stand for.
fn predefined(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "TRUE" => &["always_true"],
        "FALSE" => &["always_false"],
        "LOCALHOST" => &["src", "127.0.0.1/8", "::1"],
        "WAIT_END" => &["wait_end"],
        "REQ_CONTENT" => &["req.len", "gt", "0"],
        "RDP_COOKIE" => &["req.rdp_cookie_cnt", "gt", "0"],
        "HTTP" => &["req.proto_http"],
        _ => return None,
    })
}

/// Looks a name up in the section, then among the predefined ACLs (added
/// to the section's table on first use).
fn find_acl(
    table: &mut AclTable,
    patterns: &mut Patterns,
    name: &str,
    loc: &Location,
) -> Result<AclId, String> {
    if let Some(i) = table.acls.iter().position(|a| a.name == name) {
        return Ok(AclId(i));
    }
    if let Some((_, why)) = table.refused.iter().find(|(n, _)| n == name) {
        return Err(format!("ACL '{name}' was refused: {why}"));
    }
    let Some(words) = predefined(name) else {
        if name.starts_with("HTTP") || name.starts_with("METH_") {
            return Err(format!(
                "predefined ACL '{name}' needs mode http; splicer is a TCP load balancer"
            ));
        }
        return Err(format!("no such ACL : '{name}'"));
    };
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let (exprs, stage) = acl_body(&words, patterns, loc)?;
    // HAProxy's predefined ACLs have no list of their own in `show acl`
    // and take no number there.
    for e in &exprs {
        let r = &mut patterns.refs[e.patterns.0];
        r.uid = HIDDEN_UID;
        r.used.acl = false;
    }
    Ok(table.push(
        Acl {
            name: name.to_string(),
            exprs,
        },
        stage,
    ))
}

/// A parsed condition and the latest stage its ACLs need.
pub(super) struct ParsedCond {
    pub cond: Condition,
    pub stage: Stage,
}

/// `if|unless TERMS`: `words[0]` is `if` or `unless`.
pub(super) fn condition(
    table: &mut AclTable,
    patterns: &mut Patterns,
    words: &[String],
    loc: &Location,
) -> Result<ParsedCond, String> {
    let unless = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        _ => return Err("expects 'if' or 'unless' followed by a condition".into()),
    };
    if words.len() == 1 {
        return Err(format!("missing condition after '{}'", words[0]));
    }
    let mut any_of = vec![Vec::new()];
    let mut stages = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let mut w = words[i].as_str();
        i += 1;
        if w == "or" || w == "||" {
            if any_of.last().is_some_and(Vec::is_empty) {
                return Err(format!("missing ACL before '{w}'"));
            }
            any_of.push(Vec::new());
            continue;
        }
        let mut negate = false;
        while let Some(rest) = w.strip_prefix('!') {
            negate = !negate;
            w = rest;
            if w.is_empty() {
                w = match words.get(i) {
                    Some(next) => {
                        i += 1;
                        next.as_str()
                    }
                    None => return Err("missing ACL after '!'".into()),
                };
            }
        }
        let acl = if w == "{" {
            let close = words[i..]
                .iter()
                .position(|x| x == "}")
                .ok_or_else(|| "missing closing '}' in condition".to_string())?;
            let inner = &words[i..i + close];
            i += close + 1;
            let (exprs, stage) = acl_body(inner, patterns, loc)
                .map_err(|e| format!("error detected while parsing anonymous ACL : {e}"))?;
            table.push(
                Acl {
                    name: String::new(),
                    exprs,
                },
                stage,
            )
        } else {
            find_acl(table, patterns, w, loc)?
        };
        stages.push(table.stage(acl));
        any_of
            .last_mut()
            .expect("one group")
            .push(CondTerm { negate, acl });
    }
    if any_of.last().is_some_and(Vec::is_empty) {
        return Err("missing ACL at the end of the condition".into());
    }
    Ok(ParsedCond {
        cond: Condition { unless, any_of },
        stage: stage_of(&stages),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn conditions_group_and_or() {
        let mut t = AclTable::default();
        let mut p = Patterns::default();
        let loc = Location::default();
        let mut d = Diags::default();
        acl_line(&mut t, &mut p, &words("acl a src 10.0.0.1"), &loc, &mut d);
        acl_line(&mut t, &mut p, &words("acl b dst_port 80"), &loc, &mut d);
        acl_line(&mut t, &mut p, &words("acl a src 10.0.0.2"), &loc, &mut d);
        assert_eq!(t.acls.len(), 2);
        assert_eq!(t.acls[0].exprs.len(), 2, "lines of one name are OR-ed");
        let c = condition(
            &mut t,
            &mut p,
            &words("if a !b or { req.len gt 0 } || TRUE"),
            &loc,
        )
        .unwrap();
        assert!(!c.cond.unless);
        assert_eq!(c.cond.any_of.len(), 3);
        assert_eq!(c.cond.any_of[0].len(), 2);
        assert!(c.cond.any_of[0][1].negate);
        assert_eq!(c.stage, Stage::Request);
        assert_eq!(p.refs.len(), 5, "one list per acl line or anonymous acl");
        assert_eq!(p.refs[2].entries[0].key, "10.0.0.2");
        for bad in ["if", "if nosuch", "if a or", "if { src", "when a"] {
            assert!(
                condition(&mut t, &mut p, &words(bad), &loc).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn integer_patterns() {
        // (method, operator, req.ssl_ver, value, kept as)
        let cases: &[(MatchMethod, Option<IntOp>, bool, &str, &str)] = &[
            (MatchMethod::Int, None, true, "3.1", "196609"),
            (MatchMethod::Int, None, false, "10", "10"),
            (MatchMethod::Str, None, false, "3.1", "3.1"),
            (MatchMethod::Int, Some(IntOp::Lt), false, "1024", ":1023"),
            (MatchMethod::Int, Some(IntOp::Le), false, "1024", ":1024"),
            (MatchMethod::Int, Some(IntOp::Gt), false, "0", "1:"),
            (MatchMethod::Len, Some(IntOp::Ge), false, "5", "5:"),
            (MatchMethod::Int, Some(IntOp::Eq), false, "7", "7"),
        ];
        for (m, op, ver, key, want) in cases {
            assert_eq!(
                int_pattern(*m, *op, *ver, key).as_deref(),
                Ok(*want),
                "{key}"
            );
        }
        // Only req.ssl_ver reads versions (HAProxy: '1.5' is not a number).
        assert!(int_pattern(MatchMethod::Int, None, false, "1.5").is_err());
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Any words, from the grammar's vocabulary or not, give a
        /// condition or an error: never a panic.
        #[test]
        fn arbitrary_conditions_never_panic(
            ws in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "if", "unless", "{", "}", "!", "or", "||", "a", "TRUE", "LOCALHOST",
                        "src", "req.len", "gt", "-m", "-i", "-f", "-u", "--", "str", "reg",
                        "req.payload(0,4)", "src,ipmask(24)", "map(x)", "10.0.0.0/8", "lt",
                    ]).prop_map(String::from),
                    ".{0,12}",
                ],
                0..12,
            )
        ) {
            let mut t = AclTable::default();
            let mut p = Patterns::default();
            let loc = Location::default();
            let mut d = Diags::default();
            acl_line(&mut t, &mut p, &words("acl a src 10.0.0.1"), &loc, &mut d);
            let mut line = vec!["acl".to_string(), "b".to_string()];
            line.extend(ws.iter().cloned());
            acl_line(&mut t, &mut p, &line, &loc, &mut d);
            let mut cond = vec!["if".to_string()];
            cond.extend(ws);
            let _ = condition(&mut t, &mut p, &cond, &loc);
        }
    }
}
