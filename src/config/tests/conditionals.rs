//! Conditional blocks, message directives and the environment keywords of
//! `global`. Expected behaviour and messages were checked with `haproxy -c`
//! 2.6 on the same text.

use super::HEAD;
use crate::config::cond_expr::evaluate;
use crate::config::{EnvOp, Loaded, parse_with_env};

fn env(name: &str) -> Option<String> {
    match name {
        "X" => Some("hello".into()),
        "EMPTY" => Some(String::new()),
        "ONE" => Some("1".into()),
        "ZERO" => Some("0".into()),
        "COMMA" => Some("a,b".into()),
        _ => None,
    }
}

fn ok(text: &str) -> Loaded {
    match parse_with_env("t.cfg", text, &env) {
        Ok(l) => l,
        Err(e) => panic!("unexpected errors: {:#?}", e.errors),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_with_env("t.cfg", text, &env) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn conditions_evaluate_like_haproxy() {
    // (description, condition as re-merged after `.if`, expected value)
    let cases: &[(&str, &str, bool)] = &[
        ("empty", "", false),
        ("zero", "0", false),
        ("one", "1", true),
        ("negative", "-1", true),
        ("hex", "0x10", true),
        ("hex zero", "0x0", false),
        ("octal", "010", true),
        ("not", "!1", false),
        ("double not with blanks", "! ! 1", true),
        ("and", "1 && 0", false),
        ("or", "0 || 2", true),
        ("and before or", "1 || 0 && 0", true),
        ("and before or, left", "0 && 1 || 1", true),
        ("parentheses", "(0 || 1) && !(0)", true),
        ("nested parentheses", "((1))", true),
        ("defined", "defined(X)", true),
        ("defined empty", "defined(EMPTY)", true),
        ("not defined", "defined(NOPE)", false),
        ("defined without parentheses", "defined", false),
        ("streq", "streq(hello,hello)", true),
        ("streq differs", "streq(hello,world)", false),
        ("streq keeps blanks", "streq( a , a )", true),
        ("streq blanks matter", "streq(a ,a)", false),
        ("streq quoted comma", "streq('a,b',\"a,b\")", true),
        ("streq escaped", r"streq(a\ b,a\ b)", true),
        ("streq empty", "streq(,)", true),
        ("strneq", "strneq(a,b)", true),
        ("strneq same", "strneq(a,a)", false),
        (
            "feature we have",
            "feature(LINUX_SPLICE) && feature(EPOLL)",
            true,
        ),
        ("feature we lack", "feature(OPENSSL) || feature(LUA)", false),
        // HAProxy 2.6 answers false (`haproxy -c` on `.if feature(SPLICER)`
        // skips the block): splicer's extensions can hide behind it.
        ("splicer's own", "feature(SPLICER)", true),
        ("feature is a whole name", "feature(SPLICE)", false),
        ("version same", "version_atleast(2.6)", true),
        ("version older", "version_atleast(1.9.16)", true),
        ("version dev of same", "version_atleast(2.6-dev3)", true),
        ("version newer", "version_atleast(2.7)", false),
        ("before newer", "version_before(2.7)", true),
        ("before same", "version_before(2.6)", false),
        ("before dev of same", "version_before(2.6-dev3)", false),
        ("junk version: atleast", "version_atleast(junk)", true),
        ("junk version: before", "version_before(junk)", false),
        // A false `&&` stops before the predicate splicer cannot answer.
        ("short circuit", "0 && openssl_version_atleast(1.1)", false),
        ("short circuit or", "1 || openssl_version_before(1.1)", true),
        ("no TLS library name", "ssllib_name_startswith(Open)", false),
    ];
    for (desc, cond, expected) in cases {
        assert_eq!(evaluate(cond, &env), Ok(*expected), "{desc}: {cond}");
    }
}

#[test]
fn condition_errors_point_like_haproxy() {
    // (description, condition, message, 1-based position)
    let cases: &[(&str, &str, &str, usize)] = &[
        (
            "unknown predicate",
            "foo(1)",
            "unparsable conditional expression 'foo(1)'",
            1,
        ),
        (
            "plain word",
            "yes",
            "unparsable conditional expression 'yes'",
            1,
        ),
        (
            "trailing junk",
            "1abc",
            "unexpected character 'a' at the end of conditional expression '1abc'",
            2,
        ),
        (
            "dangling and",
            "1 &&",
            "unparsable conditional expression '&&'",
            3,
        ),
        (
            "dangling or",
            "1 ||",
            "unparsable conditional expression '1 ||'",
            3,
        ),
        (
            "triple ampersand",
            "defined(X) &&& 1",
            "unparsable conditional expression '& 1'",
            14,
        ),
        (
            "empty parentheses",
            "( )",
            "unparsable conditional expression ')'",
            3,
        ),
        ("lone not", "!", "unparsable conditional expression '!'", 1),
        (
            "hex prefix only",
            "0x",
            "unexpected character 'x' at the end of conditional expression '0x'",
            2,
        ),
        (
            "not octal",
            "08",
            "unexpected character '8' at the end of conditional expression '08'",
            2,
        ),
        (
            "trailing backslash in argument",
            "streq(a\\",
            "failed to parse '\\' after 'a' as type 'string' at position 1 in argument 0 of predicate 'streq' used in conditional expression",
            8,
        ),
        (
            "unclosed parenthesis",
            "(1",
            "expected ')' after conditional expression '(1'",
            1,
        ),
        (
            "unclosed predicate",
            "defined(X",
            "expected ')' in argument 1 of predicate 'defined' used in conditional expression",
            10,
        ),
        (
            "missing argument",
            "streq(a)",
            "missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional expression",
            8,
        ),
        (
            "too many arguments",
            "streq(a,b,c)",
            "expected ')' before ',c)' in argument 1 of predicate 'streq' used in conditional expression",
            10,
        ),
        (
            "blank before parenthesis",
            "defined (X)",
            "unexpected character '(' at the end of conditional expression 'defined (X)'",
            9,
        ),
        (
            "no TLS library",
            "openssl_version_atleast(1.1)",
            "predicate 'openssl_version_atleast' needs an SSL library and splicer has none (it terminates no TLS); test feature(OPENSSL) first",
            1,
        ),
    ];
    for (desc, cond, message, position) in cases {
        let e = evaluate(cond, &env).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.at + 1),
            (*message, *position),
            "{desc}: {cond}"
        );
    }
}

/// The ports `listen l` binds after `lines` (line 7 on) are read.
fn ports(lines: &str) -> Vec<u16> {
    let l = ok(&format!(
        "{HEAD}listen l\n{lines}\n server s 127.0.0.1:81\n"
    ));
    l.config.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.tcp().unwrap().port())
        .collect()
}

#[test]
fn blocks_choose_the_lines() {
    // (description, lines inside `listen l`, ports bound)
    let cases: &[(&str, &str, &[u16])] = &[
        ("true", ".if 1\n bind :1\n.endif\n bind :9", &[1, 9]),
        ("false", ".if 0\n bind :1\n.endif\n bind :9", &[9]),
        ("else", ".if 0\n bind :1\n.else\n bind :2\n.endif", &[2]),
        (
            "first true elif",
            ".if 0\n bind :1\n.elif 1\n bind :2\n.elif 1\n bind :3\n.else\n bind :4\n.endif",
            &[2],
        ),
        (
            "taken if skips the rest",
            ".if 1\n bind :1\n.elif 1\n bind :2\n.else\n bind :3\n.endif",
            &[1],
        ),
        (
            "nested in true",
            ".if 1\n.if 0\n bind :1\n.else\n bind :2\n.endif\n bind :3\n.endif",
            &[2, 3],
        ),
        (
            "nested in false is skipped whole",
            ".if 0\n.if 1\n bind :1\n.else\n bind :2\n.endif\n.else\n bind :3\n.endif",
            &[3],
        ),
        (
            "environment in conditions",
            ".if streq(\"$X\",hello) && defined(EMPTY) && !\"${ZERO}\"\n bind :1\n.endif",
            &[1],
        ),
        (
            "unset variable is empty: false",
            ".if \"${NOPE}\"\n bind :1\n.endif\n bind :2",
            &[2],
        ),
        (
            "comment after condition",
            ".if 1 # yes\n bind :1\n.endif",
            &[1],
        ),
        (
            "false lines are not parsed",
            ".if 0\n frobnicate\n .nonsense\n .alert \"not here\"\n.endif\n bind :5",
            &[5],
        ),
        (
            "skipped conditions are not evaluated",
            ".if 0\n.if foo(\n.endif\n.else\n bind :6\n.endif",
            &[6],
        ),
    ];
    for (desc, lines, expected) in cases {
        assert_eq!(ports(lines), *expected, "{desc}");
    }
    // 99 levels are allowed.
    let deep = format!("{}bind :7\n{}", ".if 1\n".repeat(99), ".endif\n".repeat(99));
    assert_eq!(ports(&deep), [7]);
}

#[test]
fn block_errors_like_haproxy() {
    // (description, text after HEAD (its first line is line 6), first error)
    let cases: &[(&str, &str, &str)] = &[
        (
            "unterminated",
            ".if 1\nlisten l\n bind :80\n",
            "t.cfg:8: non-terminated '.if' block",
        ),
        (
            "lone else",
            ".else\n",
            "t.cfg:6: lone '.else' with no matching '.if'",
        ),
        (
            "lone elif",
            ".elif 1\n",
            "t.cfg:6: lone '.elif' with no matching '.if'",
        ),
        (
            "lone endif",
            ".endif\n",
            "t.cfg:6: lone '.endif' with no matching '.if'",
        ),
        (
            "elif after else",
            ".if 0\n.else\n.elif 1\n.endif\n",
            "t.cfg:8: '.elif' after '.else' is not permitted",
        ),
        (
            "else after else",
            ".if 0\n.else\n.else\n.endif\n",
            "t.cfg:8: '.else' after '.else' is not permitted",
        ),
        (
            "bad condition",
            ".if foo(1)\n.endif\n",
            "t.cfg:6: unparsable conditional expression 'foo(1)' in '.if' at position 1",
        ),
        (
            "bad elif condition",
            ".if 0\n.elif bar\n.endif\n",
            "t.cfg:7: unparsable conditional expression 'bar' in '.elif' at position 1",
        ),
        (
            "argument to else",
            ".if 1\n.else 1\n.endif\n",
            "t.cfg:7: Unexpected argument '1' for '.else'",
        ),
        (
            "unknown directive",
            ".foo\n",
            "t.cfg:6: unknown directive '.foo'",
        ),
        (
            "alert",
            ".if 1\n.alert \"stop here\"\n.endif\n",
            "t.cfg:7: 'stop here'",
        ),
        (
            "message in two words",
            ".warning a b\n",
            "t.cfg:6: Unexpected argument 'b' for '.warning'. Use quotes if the message should contain spaces",
        ),
        (
            "quote error in a false block",
            ".if 0\n bind \"x\n.endif\nlisten l\n bind :80\n",
            "t.cfg:7: unmatched quote (\") at position 7",
        ),
        (
            "too deep",
            &format!("{}{}", ".if 1\n".repeat(100), ".endif\n".repeat(100)),
            "t.cfg:105: too many nested '.if', max is 100",
        ),
    ];
    for (desc, text, expected) in cases {
        let errs = errors(&format!("{HEAD}{text}"));
        assert_eq!(
            errs.first().map(String::as_str),
            Some(*expected),
            "{desc}: {errs:?}"
        );
    }
}

#[test]
fn errors_stop_reading_where_haproxy_does() {
    // (description, text after HEAD, every error expected)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "alert stops the load, nothing is validated",
            ".alert \"no\"\nlisten l\n frobnicate\n",
            &["t.cfg:6: 'no'"],
        ),
        (
            "argument to endif stops the file; then the open block",
            ".if 1\n.endif 1\nlisten l\n frobnicate\n",
            &[
                "t.cfg:7: Unexpected argument '1' for '.endif'",
                "t.cfg:7: non-terminated '.if' block",
            ],
        ),
        (
            "unknown directive stops the file",
            ".foo\nlisten l\n frobnicate\n",
            &["t.cfg:6: unknown directive '.foo'"],
        ),
        (
            "extra message argument: only that line",
            ".warning a b\nlisten l\n bind :80\n frobnicate\n",
            &[
                "t.cfg:6: Unexpected argument 'b' for '.warning'. Use quotes if the message should contain spaces",
                "t.cfg:9: unknown keyword 'frobnicate' in 'listen' section",
            ],
        ),
    ];
    for (desc, text, expected) in cases {
        let errs = errors(&format!("{HEAD}{text}"));
        let n = expected.len();
        let starts = errs.len() == n && errs.iter().zip(*expected).all(|(e, x)| e.starts_with(x));
        assert!(starts, "{desc}: {errs:?}");
    }
}

#[test]
fn message_directives() {
    let text = format!(
        "{HEAD}.warning \"careful\"\n.notice \"hello\"\n.diag \"diag\"\n.if 0\n.warning \"not this one\"\n.endif\nlisten l\n bind :80\n server s 127.0.0.1:81\n"
    );
    let w = ok(&text).warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].to_string(), "t.cfg:6: 'careful'");
}

#[test]
fn environment_keywords() {
    let text = format!(
        "global
    setenv P1 8001
    presetenv P2 8002
    presetenv X 8003
    setenv LIST \"1 2\"
    unsetenv LIST NOPE
    setenv GONE 1
    resetenv P1 P2 X
.if defined(GONE) || defined(ONE) || !streq(\"$X\",hello)
.alert \"the environment is wrong\"
.endif
{HEAD}listen l
    bind \":${{P1}}\"
    bind \":${{P2}}\"
    bind \":${{LIST-8004}}\"
    server s 127.0.0.1:${{P1}}
"
    );
    let l = ok(&text);
    let ports: Vec<u16> = l.config.frontends[0]
        .binds
        .iter()
        .map(|b| b.addr.tcp().unwrap().port())
        .collect();
    assert_eq!(ports, [8001, 8002, 8004]);
    assert_eq!(l.config.backends[0].servers[0].addr.port(), 8001);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let set = |n: &str, v: &str, overwrite| EnvOp::Set {
        name: n.into(),
        value: v.into(),
        overwrite,
    };
    assert_eq!(
        l.config.global.env,
        [
            set("P1", "8001", true),
            set("P2", "8002", false),
            set("X", "8003", false),
            set("LIST", "1 2", true),
            EnvOp::Unset(names(&["LIST", "NOPE"])),
            set("GONE", "1", true),
            EnvOp::Reset {
                keep: names(&["P1", "P2", "X"])
            },
        ]
    );
    // The process environment is not touched.
    assert!(std::env::var_os("P1").is_none());
}

#[test]
fn environment_keyword_errors() {
    // (description, global line (line 2), error)
    let cases: &[(&str, &str, &str)] = &[
        (
            "no name",
            "setenv",
            "t.cfg:2: 'setenv' expects a name and a value",
        ),
        (
            "no value",
            "presetenv A",
            "t.cfg:2: 'presetenv' expects a name and a value",
        ),
        (
            "fifth word",
            "setenv A B C D",
            "t.cfg:2: 'setenv' cannot handle unexpected argument 'D'",
        ),
        (
            "equals in name",
            "setenv A=B c",
            "t.cfg:2: 'setenv' failed on variable 'A=B' : Invalid argument",
        ),
        (
            "unsetenv nothing",
            "unsetenv",
            "t.cfg:2: 'unsetenv' expects at least one variable name",
        ),
    ];
    for (desc, line, expected) in cases {
        let errs = errors(&format!("global\n    {line}\n{HEAD}"));
        assert_eq!(
            errs.first().map(String::as_str),
            Some(*expected),
            "{desc}: {errs:?}"
        );
    }
    // A fourth word is ignored, as HAProxy does, with a warning.
    let text =
        format!("global\n    setenv A B C\n{HEAD}listen l\n bind :80\n server s 127.0.0.1:81\n");
    let w = parse_with_env("t.cfg", &text, &env).unwrap().warnings;
    assert!(
        w[0].to_string()
            .starts_with("t.cfg:2: 'setenv': argument 'C' ignored"),
        "{w:?}"
    );
}
