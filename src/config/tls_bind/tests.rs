//! crt-list files: what each line becomes, and its problems named
//! `LISTFILE:LINE`. Judgements checked against `haproxy -c` (2.6.12) with
//! real certificate files where a case says so.

use crate::config::*;
use std::path::{Path, PathBuf};

/// A directory of its own for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("splicer-crtlist-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config whose bind is `bind` (line 10 when `global` is two lines).
fn config(global: &str, bind: &str) -> String {
    format!(
        "global\n{global}\ndefaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         listen l\n {bind}\n server s 127.0.0.1:1\n"
    )
}

fn load(text: &str) -> Result<Loaded, LoadError> {
    parse_str("t.cfg", text)
}

fn messages(d: &[Diagnostic]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

#[test]
fn crt_list_lines_become_certificates() {
    let dir = Dir::new("lines");
    let list = dir.file(
        "list.txt",
        "# a comment\n\n\
         /abs/www.pem [alpn h2 ssl-min-ver TLSv1.3 verify optional ca-file clients.pem] www.Example.com *.example.org !bad.example.org\n\
         plain.pem\n\
         filtered.pem api.example.com\r\n",
    );
    let bind = format!(
        "bind :443 ssl crt first.pem crt-list {} alpn http/1.1",
        list.display()
    );
    let l = load(&config(" crt-base /etc/certs\n ca-base /etc/ca", &bind))
        .unwrap_or_else(|e| panic!("{:#?}", e.errors));
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    let certs: Vec<(PathBuf, usize)> = t
        .certs
        .iter()
        .map(|c| (c.path.clone(), c.location.line))
        .collect();
    assert_eq!(
        certs,
        vec![
            (PathBuf::from("/etc/certs/first.pem"), 10),
            (PathBuf::from("/abs/www.pem"), 3),
            (PathBuf::from("/etc/certs/plain.pem"), 4),
            (PathBuf::from("/etc/certs/filtered.pem"), 5),
        ]
    );
    assert!(t.certs[0].list.is_none());
    assert_eq!(t.certs[1].location.file, list);
    let www = t.certs[1].list.as_ref().unwrap();
    assert_eq!(www.file, list);
    // Lower case, as HAProxy matches them; `!` kept.
    assert_eq!(
        www.filters,
        vec!["www.example.com", "*.example.org", "!bad.example.org"]
    );
    // The line's options over the bind's (its `alpn` came after
    // `crt-list` on the bind line and still is under the line's).
    let s = &www.settings;
    assert_eq!(s.alpn, vec![b"h2".to_vec()]);
    assert_eq!(
        (s.min_version, s.max_version),
        (TlsVersion::Tls13, TlsVersion::Tls13)
    );
    assert_eq!(s.verify, Verify::Optional);
    assert_eq!(s.ca_file, Some(PathBuf::from("/etc/ca/clients.pem")));
    let plain = t.certs[2].list.as_ref().unwrap();
    assert!(plain.filters.is_empty());
    assert_eq!(plain.settings.alpn, vec![b"http/1.1".to_vec()]);
    assert_eq!(plain.settings, t.settings);
    let filtered = t.certs[3].list.as_ref().unwrap();
    assert_eq!(filtered.filters, vec!["api.example.com"]);
}

#[test]
fn crt_list_problems_name_the_list_line() {
    let dir = Dir::new("problems");
    // (description, list text, message; `LIST` is the list's path)
    let cases: &[(&str, &str, &str)] = &[
        (
            "haproxy -c: the same words",
            "a.pem [foo]\n",
            "LIST:1: 'bind :443': unknown ssl keyword foo",
        ),
        (
            "haproxy -c: the same words",
            "# ok\na.pem [alpn]\n",
            "LIST:2: 'bind :443': ssl args out of '[]' for alpn",
        ),
        (
            "haproxy -c: the same words",
            "a.pem",
            "LIST:1: 'bind :443': Missing LF on last line, file might have been truncated at position 6.",
        ),
        (
            "haproxy -c: the same words",
            "a.pem [alpn h2]]\n",
            "LIST:1: 'bind :443': too many ']'",
        ),
        (
            "haproxy -c: the same words",
            "a.pem [[alpn h2]\n",
            "LIST:1: 'bind :443': too many '['",
        ),
        (
            "haproxy -c: the same words",
            "a.pem alpn h2]\n",
            "LIST:1: 'bind :443': missing '['",
        ),
        (
            "haproxy -c: the same words",
            "[alpn h2] a.pem\n",
            "LIST:1: 'bind :443': file must start with a cert",
        ),
        (
            "haproxy -c takes the options as SNI filters; splicer refuses",
            "a.pem [alpn h2 x.org\n",
            "LIST:1: 'bind :443': missing ']'",
        ),
        (
            "haproxy -c: verify is enabled but no CA file specified",
            "a.pem [verify required]\n",
            "LIST:1: Proxy 'l': verify is enabled but no CA file specified for bind ':443'.",
        ),
        (
            "no-tlsv1x is no crt-list option",
            "a.pem [no-tlsv12]\n",
            "LIST:1: 'bind :443': unknown ssl keyword no-tlsv12",
        ),
        (
            "a value refused",
            "a.pem [ssl-min-ver TLSv9]\n",
            "LIST:1: 'bind :443': 'ssl-min-ver' : 'TLSv9' : unknown ssl/tls version",
        ),
    ];
    for (i, (what, text, want)) in cases.iter().enumerate() {
        let list = dir.file(&format!("l{i}.txt"), text);
        let e = load(&config(
            "",
            &format!("bind :443 ssl crt-list {}", list.display()),
        ))
        .expect_err(what);
        let want = want.replace("LIST", &list.display().to_string());
        assert_eq!(
            messages(&e.errors).first(),
            Some(&want),
            "{what}: {:#?}",
            e.errors
        );
    }
}

#[test]
fn crt_list_warnings() {
    let dir = Dir::new("warnings");
    // haproxy -c: "malformated line, filters can't be between filename and
    // options!", and it drops `x.org`.
    let list = dir.file(
        "l.txt",
        "a.pem x.org [alpn h2] y.org\nb.pem [npn h2 ciphers HIGH:AES128-SHA]\n",
    );
    let l = load(&config(
        "",
        &format!("bind :443 ssl crt-list {}", list.display()),
    ))
    .unwrap_or_else(|e| panic!("{:#?}", e.errors));
    let w = messages(&l.warnings);
    let at = |n: usize| format!("{}:{n}: 'bind :443': ", list.display());
    assert!(
        w.contains(&format!(
            "{}malformated line, filters can't be between filename and options! ('x.org' ignored)",
            at(1)
        )),
        "{w:#?}"
    );
    assert!(
        w.contains(&format!(
            "{}'npn' ignored: rustls has no NPN (use 'alpn')",
            at(2)
        )),
        "{w:#?}"
    );
    assert!(
        w.contains(&format!(
            "{}'ciphers': 'AES128-SHA' has no equivalent in rustls; ignored",
            at(2)
        )),
        "{w:#?}"
    );
    let t = l.config.frontends[0].binds[0].tls.clone().unwrap();
    assert_eq!(t.certs[0].list.as_ref().unwrap().filters, vec!["y.org"]);
    // Every problem of the list is reported, not only the first.
    let list = dir.file("bad.txt", "a.pem [foo]\nb.pem [bar]\n");
    let e = load(&config(
        "",
        &format!("bind :443 ssl crt-list {}", list.display()),
    ))
    .unwrap_err();
    let lines: Vec<usize> = e.errors.iter().map(|e| e.location.line).collect();
    assert_eq!(&lines[..2], [1, 2], "{:#?}", e.errors);
    assert!(Path::new(&e.errors[1].location.file).ends_with("bad.txt"));
}
