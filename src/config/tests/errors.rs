//! Error tables: each bad line or config, and the exact `FILE:LINE: message`
//! it must produce. Helpers are shared with `tests.rs`.

use super::{HEAD, errors, ok};

/// `lines` inside a listen section; line 8 is the first of them.
fn listen(lines: &str) -> String {
    format!("{HEAD}listen l\n bind :80\n{lines}\n server s 127.0.0.1:81 check\n")
}

#[test]
fn errors_name_file_and_line() {
    // (description, lines after HEAD + "listen l\n bind :80\n", expected first error)
    // Line numbers: HEAD is 5 lines, listen 6, bind 7, the case starts at 8.
    let cases: &[(&str, &str, &str)] = &[
        (
            "typo",
            "balanse roundrobin",
            "t.cfg:8: unknown keyword 'balanse' in 'listen' section; did you mean 'balance'?",
        ),
        (
            "no suggestion",
            "frobnicate",
            "t.cfg:8: unknown keyword 'frobnicate' in 'listen' section",
        ),
        (
            "option typo",
            "option redispach",
            "t.cfg:8: unknown option 'redispach'; did you mean 'redispatch'?",
        ),
        (
            "mode http",
            "mode http",
            "t.cfg:8: proxy 'l': mode http is not supported (splicer is a TCP load balancer; use 'mode tcp')",
        ),
        (
            "mode health",
            "mode health",
            "t.cfg:8: 'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.",
        ),
        (
            "balance uri",
            "balance uri",
            "t.cfg:8: 'balance uri' needs HTTP mode; splicer is a TCP load balancer",
        ),
        (
            "balance hdr",
            "balance hdr(host)",
            "t.cfg:8: 'balance hdr(host)' needs HTTP mode; splicer is a TCP load balancer",
        ),
        (
            "balance rdp",
            "balance rdp-cookie",
            "t.cfg:8: 'balance rdp-cookie' is not supported yet",
        ),
        (
            "balance random(0)",
            "balance random(0)",
            "t.cfg:8: balance random : number of draws must be at least 1.",
        ),
        (
            "hash function",
            "hash-type consistent djb2",
            "t.cfg:8: 'hash-type': hash function 'djb2' is not supported yet (only the default, sdbm)",
        ),
        (
            "hash-type",
            "hash-type foo",
            "t.cfg:8: 'hash-type' only supports 'consistent' and 'map-based'.",
        ),
        (
            "bad time",
            "timeout client 10q",
            "t.cfg:8: 'timeout client': invalid unit 'q' in time '10q' (expected us, ms, s, m, h or d)",
        ),
        (
            "bad timeout",
            "timeout clinet 5s",
            "t.cfg:8: 'timeout' does not know 'clinet'; did you mean 'client'?",
        ),
        (
            "contimeout",
            "contimeout 5s",
            "t.cfg:8: the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'.",
        ),
        (
            "log facility",
            "log stdout locl0",
            "t.cfg:8: log : unknown log facility 'locl0'",
        ),
        (
            "no option tcplog",
            "no option tcplog",
            "t.cfg:8: negation/default is not supported for option 'tcplog'.",
        ),
        (
            "log-format",
            "log-format %ci %cp",
            "t.cfg:8: log-format expects only one argument, don't forget to escape spaces!",
        ),
        (
            "log-format variable",
            "log-format %ci:%zz",
            "t.cfg:8: failed to parse log-format : no such format variable 'zz'.",
        ),
        (
            "use_backend",
            "use_backend x if y",
            "t.cfg:8: error detected while parsing switching rule : no such ACL : 'y'.",
        ),
        (
            "retries",
            "retries x",
            "t.cfg:8: 'retries': 'x' is not a number",
        ),
        (
            "maxconn args",
            "maxconn 1 2",
            "t.cfg:8: 'maxconn' cannot handle unexpected argument '2'.",
        ),
        (
            "weight",
            "server s 127.0.0.1:81 weight 257",
            "t.cfg:8: server 'l/s': 'weight': value '257' is out of range 0..256",
        ),
        (
            "no port and a check without its own port",
            "server s 127.0.0.1 check",
            "t.cfg:8: proxy 'l': server 's' has neither service port nor check port.",
        ),
        (
            "unresolvable",
            "server s no-such-host.invalid:80",
            "t.cfg:8: server 'l/s': could not resolve address 'no-such-host.invalid'",
        ),
        (
            "server ssl without a CA (haproxy -c: the same words)",
            "server s 127.0.0.1:443 ssl",
            "t.cfg:8: server 'l/s': verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.",
        ),
        (
            "bind ssl without a certificate (haproxy -c: the same words)",
            "bind :443 ssl",
            "t.cfg:8: Proxy 'l': no SSL certificate specified for bind ':443' (use 'crt').",
        ),
        (
            "bind typo",
            "bind :443 v6ony",
            "t.cfg:8: 'bind :443' in section 'listen': unknown keyword 'v6ony'; did you mean 'v6only'?",
        ),
        (
            "bind port",
            "bind 127.0.0.1",
            "t.cfg:8: 'bind' : missing port specification in '127.0.0.1'",
        ),
        (
            "bind sockpair",
            "bind sockpair@3",
            "t.cfg:8: 'bind' : address family 'sockpair@' in 'sockpair@3' is not supported yet (only ipv4@, ipv6@, unix@ and abns@)",
        ),
        (
            "source usesrc",
            "source 127.0.0.1 usesrc clientip",
            "t.cfg:8: 'source': 'usesrc' is not supported yet",
        ),
        (
            "no what",
            "no redispatch",
            "t.cfg:8: 'no' expects 'option' (as in 'no option redispatch')",
        ),
        (
            "quote",
            "description \"oops",
            "t.cfg:8: unmatched quote (\") at position 14",
        ),
        (
            "empty arg",
            "server \"${NOPE}\" 127.0.0.1:81",
            "t.cfg:8: 'server': argument 1 is empty (an unset environment variable?)",
        ),
        (
            "section",
            "userlist u",
            "t.cfg:8: 'userlist' section is not supported yet",
        ),
        (
            "default_backend",
            "default_backend nope",
            "t.cfg:8: proxy 'l': unable to find required default_backend: 'nope'.",
        ),
    ];
    for (desc, line, expected) in cases {
        let errs = errors(&format!("{HEAD}listen l\n bind :80\n {line}\n"));
        assert!(errs[0].starts_with(expected), "{desc}: got {errs:?}");
    }
}

#[test]
fn collects_every_error() {
    let errs = errors(&format!(
        "{HEAD}frontend f\n bind :80\n balanse x\n default_backend b\nbackend b\n server s 127.0.0.1:80-90\n timout connect 1s\nfoo bar\n"
    ));
    let lines: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        ["t.cfg:8", "t.cfg:11", "t.cfg:12", "t.cfg:13"],
        "{errs:?}"
    );
}

#[test]
fn errors_out_of_place() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "before any section",
            "maxconn 5\n",
            "t.cfg:1: unknown keyword 'maxconn' out of section",
        ),
        (
            "section typo",
            "frontnd f\n",
            "t.cfg:1: unknown keyword 'frontnd' out of section; did you mean 'frontend'?",
        ),
        (
            "bind in defaults",
            "defaults\n bind :80\n",
            "t.cfg:2: 'bind' not allowed in 'defaults' section.",
        ),
        (
            "server in defaults",
            "defaults\n server s 127.0.0.1:80\n",
            "t.cfg:2: 'server' not allowed in 'defaults' section.",
        ),
        (
            "server in frontend",
            "frontend f\n bind :80\n server s 127.0.0.1:80\n",
            "t.cfg:3: 'server' not allowed because frontend 'f' has no backend capability.",
        ),
        (
            "global typo",
            "global\n nbthreads 2\n",
            "t.cfg:2: unknown keyword 'nbthreads' in 'global' section; did you mean 'nbthread'?",
        ),
        (
            "global lua-load",
            "global\n lua-load /etc/haproxy/a.lua\n",
            "t.cfg:2: 'lua-load' is not supported yet",
        ),
        (
            "nbproc",
            "global\n nbproc 2\n",
            "t.cfg:2: nbproc is not supported any more since HAProxy 2.5.",
        ),
        (
            "nbthread",
            "global\n nbthread 0\n",
            "t.cfg:2: 'nbthread': value '0' is out of range 1..64",
        ),
        (
            "pipesize",
            "global\n tune.pipesize 1x\n",
            "t.cfg:2: 'tune.pipesize': invalid unit 'x' in size '1x' (expected k, m or g)",
        ),
        (
            "pidfile",
            "global\n pidfile\n",
            "t.cfg:2: 'pidfile' expects an argument",
        ),
        (
            "spread-checks",
            "global\n spread-checks 60\n",
            "t.cfg:2: 'spread-checks': value '60' is out of range 0..50",
        ),
        (
            "missing name",
            "backend\n",
            "t.cfg:1: 'backend' expects an <id> argument",
        ),
        (
            "bad name",
            "backend a/b\n",
            "t.cfg:1: character '/' is not permitted in 'backend' name 'a/b'",
        ),
        (
            "unknown from",
            "backend b from nope\n",
            "t.cfg:1: backend 'b': defaults section 'nope' not found",
        ),
        (
            "dup frontend",
            "frontend f\n bind :80\nfrontend f\n bind :81\n",
            "t.cfg:3: frontend 'f' has the same name as frontend 'f' declared at t.cfg:1.",
        ),
        (
            "dup listen/backend",
            "backend x\nlisten x\n bind :80\n",
            "t.cfg:2: listen 'x' has the same name as backend 'x' declared at t.cfg:1.",
        ),
        (
            "dup server",
            "listen l\n bind :80\n server a 127.0.0.1:1\n server a 127.0.0.1:2\n",
            "t.cfg:4: proxy 'l', another server named 'a' was already defined at line 3, please use distinct names.",
        ),
        (
            "no listener",
            "backend b\n server s 127.0.0.1:80\n",
            "t.cfg:1: no enabled frontend has a 'bind'",
        ),
    ];
    for (desc, text, expected) in cases {
        let errs = errors(text);
        assert!(errs[0].starts_with(expected), "{desc}: got {errs:?}");
    }
    // A frontend and a backend may share a name (HAProxy allows it).
    ok("frontend x\n bind :80\n default_backend x\nbackend x\n server s 127.0.0.1:81\n");
}

/// Health-check options and rules (`checks.rs`, `rules.rs`).
#[test]
fn check_errors() {
    // (description, lines of the listen section from line 8, expected error)
    let cases: &[(&str, &str, &str)] = &[
        (
            "httpchk arguments",
            " option httpchk GET / HTTP/1.1 x",
            "t.cfg:8: 'option httpchk' cannot handle unexpected argument 'x'.",
        ),
        (
            "hidden header without colon",
            r" option httpchk GET / HTTP/1.1\r\nfoo",
            "t.cfg:8: 'option httpchk' : cannot read the header 'foo' hidden in the version string",
        ),
        (
            "negated check option",
            " no option httpchk",
            "t.cfg:8: negation is not supported for option 'httpchk'.",
        ),
        (
            "mysql user",
            " option mysql-check user",
            "t.cfg:8: 'option mysql-check user' expects <username> as argument.",
        ),
        (
            "mysql version",
            " option mysql-check user u post-42",
            "t.cfg:8: 'option mysql-check': keyword 'user' only supports 'post-41' and 'pre-41' (got 'post-42').",
        ),
        (
            "pgsql user",
            " option pgsql-check",
            "t.cfg:8: 'option pgsql-check' expects 'user <username>' as argument.",
        ),
        (
            "redis argument",
            " option redis-check now",
            "t.cfg:8: 'option redis-check' cannot handle unexpected argument 'now'.",
        ),
        (
            "smtpchk",
            " option smtpchk",
            "t.cfg:8: 'option smtpchk' is not supported yet",
        ),
        (
            "external-check",
            " option external-check",
            "t.cfg:8: 'option external-check' is not supported yet",
        ),
        (
            "http-check typo",
            " http-check expct status 200",
            "t.cfg:8: 'http-check' does not know 'expct'; did you mean 'expect'?",
        ),
        (
            "http-check connect",
            " http-check connect port 80",
            "t.cfg:8: 'http-check connect' is not supported yet",
        ),
        (
            "http-check set-var",
            " http-check set-var(check.x) int(1)",
            "t.cfg:8: 'http-check set-var(check.x)' is not supported yet",
        ),
        (
            "expect without pattern",
            " http-check expect ! status",
            "t.cfg:8: 'http-check expect': 'status' expects a <pattern> as argument.",
        ),
        (
            "expect min-recv",
            " http-check expect min-recv 10 string ok",
            "t.cfg:8: 'http-check expect': option 'min-recv' is not supported yet",
        ),
        (
            "expect hdr",
            " http-check expect hdr name server",
            "t.cfg:8: 'http-check expect': 'hdr' is not supported yet",
        ),
        (
            "bad status",
            " http-check expect status 2xx",
            "t.cfg:8: 'http-check expect': invalid character 'x' in the list of status codes '2xx'.",
        ),
        (
            "bad range",
            " http-check expect status 399-200",
            "t.cfg:8: 'http-check expect': invalid range of status codes '399-200'.",
        ),
        (
            "bad regex",
            " http-check expect rstring ([a-z]",
            "t.cfg:8: 'http-check expect': regex '([a-z]' is invalid (unclosed group).",
        ),
        (
            "two matches",
            " http-check expect string ok string ko",
            "t.cfg:8: 'http-check expect': unexpected argument 'string' after the 'string' pattern",
        ),
        (
            "send keyword",
            " http-check send method GET",
            "t.cfg:8: 'http-check send': expects 'meth', 'uri', 'ver', 'hdr', 'body' or 'comment' but got 'method' as argument.",
        ),
        (
            "send log-format header",
            " http-check send hdr Host %[srv_name]",
            "t.cfg:8: 'http-check send': header value '%[srv_name]': log-format expressions are not supported yet",
        ),
        (
            "two requests",
            " option httpchk\n http-check send meth GET\n http-check send uri /x",
            "t.cfg:10: 'http-check send': a request after an 'http-check send' needs an 'http-check connect' before it",
        ),
        (
            "request after expect",
            " option httpchk\n http-check expect status 200\n http-check send meth GET",
            "t.cfg:10: 'http-check send': a request after an 'http-check expect' needs an 'http-check connect' before it",
        ),
        (
            "tcp-check typo",
            " tcp-check expct string x",
            "t.cfg:8: 'tcp-check' does not know 'expct'; did you mean 'expect'?",
        ),
        (
            "bad hex",
            " tcp-check send-binary 0g",
            "t.cfg:8: 'tcp-check send-binary': '0g' is not a hex string ('g' is not a hex digit).",
        ),
        (
            "odd hex",
            " tcp-check expect binary abc",
            "t.cfg:8: 'tcp-check expect': 'abc' is not a hex string (an even number of digits is expected).",
        ),
        (
            "bad tcp regex",
            " tcp-check expect rbinary (",
            "t.cfg:8: 'tcp-check expect': regex '(' is invalid (unclosed group).",
        ),
        (
            "send extra",
            " tcp-check send a b",
            "t.cfg:8: 'tcp-check send': expects 'comment' but got 'b' as argument.",
        ),
        (
            "connect port",
            " tcp-check connect port 0",
            "t.cfg:8: 'tcp-check connect': expects a valid TCP port (from range 1 to 65535), got 0.",
        ),
        (
            "connect ssl",
            " tcp-check connect port 443 ssl",
            "t.cfg:8: 'tcp-check connect': 'ssl' is not supported yet",
        ),
        (
            "late connect",
            " tcp-check send x\n tcp-check connect port 80",
            "t.cfg:9: 'tcp-check connect': when the rules hold a 'connect', the first rule must be a 'connect' too",
        ),
        (
            "send-lf",
            " tcp-check send-lf %[srv_name]",
            "t.cfg:8: 'tcp-check send-lf' is not supported yet",
        ),
        (
            "agent-send",
            " server a 127.0.0.1:1 agent-send",
            "t.cfg:8: server 'l/a': 'agent-send' expects an argument",
        ),
    ];
    for (desc, lines, expected) in cases {
        let errs = errors(&listen(lines));
        assert!(errs[0].starts_with(expected), "{desc}: got {errs:?}");
    }
}
