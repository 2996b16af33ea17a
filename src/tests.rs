//! The crate's layering, checked: every `use crate::…` between top-level
//! modules goes down [`LAYERS`] (docs/lifecycle.md draws the same map), so
//! the module graph has no cycle and a thread's module is never imported
//! by what sits under it.

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules, bottom first; a module may import only those before it.
const LAYERS: &[&str] = &[
    "sys",
    "base",
    "host",
    "config",
    "tls",
    "proxy_proto",
    "balance",
    "forward",
    "net",
    "rules",
    "runtime",
    "control",
    "session",
    "logging",
    "health",
    "dns",
    "peers",
    "mysql",
    "admin",
    "vrrp",
    "announce",
    "worker",
    "reload",
    "fuzz",
];

/// `(from, to)` for every `crate::to` named in `from`'s non-test code.
fn edges() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    todo.push(path);
                }
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel.iter().next().unwrap().to_string_lossy();
            let from = top.trim_end_matches(".rs").to_string();
            if from == "lib" || from == "main" || rel.ends_with("tests.rs") {
                continue;
            }
            for to in imports(&std::fs::read_to_string(&path).unwrap()) {
                if to != from {
                    out.insert((from.clone(), to));
                }
            }
        }
    }
    out
}

/// The top-level modules a file's code names with `crate::`, before its
/// `#[cfg(test)]` part, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for n in names {
            let word: String = n
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if LAYERS.contains(&word.as_str()) {
                out.insert(word);
            }
        }
    }
    out
}

#[test]
fn every_import_goes_down_the_layers() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let edges = edges();
    assert!(
        edges.len() > 20,
        "the scan found too few imports: {edges:?}"
    );
    for (from, to) in &edges {
        let (f, t) = (rank(from), rank(to));
        assert!(f.is_some(), "module {from} is missing from LAYERS");
        assert!(
            t < f,
            "{from} imports {to}, which sits above it in LAYERS (a cycle in the making)"
        );
    }
}

#[test]
fn the_scan_sees_grouped_and_nested_imports() {
    let text = "use crate::{base::log::Term, config};\nuse crate::runtime::Runtime;\n\
                // use crate::worker;\nfn f() { crate::sys::pipe(); }\n#[cfg(test)]\nuse crate::admin;";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["base", "config", "runtime", "sys"]);
}
