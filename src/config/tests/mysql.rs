//! `mysql-cluster` sections and the backend line binding a backend to one
//! (`mysql-role`; splicer's extension: `haproxy -c` refuses both, so there is no oracle;
//! the errors follow HAProxy's style and name FILE:LINE).

use super::{HEAD, errors, ok, warnings};
use crate::config::*;
use std::time::Duration;

/// A cluster (lines 6..) and two backends bound to it.
fn cluster(extra: &str, write: &str, read: &str) -> String {
    format!(
        "{HEAD}mysql-cluster db
    user mon
    password \"s3cret\"
    server db1 127.0.0.1:3306
    server db2 127.0.0.1:3307
{extra}
frontend w
    bind :3306
    default_backend write
backend write
{write}
    server db1 127.0.0.1:3306
    server db2 127.0.0.1:3307
backend read
{read}
    server db2 127.0.0.1:3307
    server db1 127.0.0.1:3306
"
    )
}

#[test]
fn a_cluster_and_its_backends() {
    let l = ok(&cluster(
        "    interval 200ms\n    failover auto\n    max-lag 5s\n    replication-user repl\n    replication-password rp",
        "    mysql-role writer cluster db",
        "    mysql-role reader cluster db max-lag 2s",
    ));
    let c = &l.config.mysql_clusters[0];
    assert_eq!(c.name, "db");
    assert_eq!(c.user, "mon");
    assert_eq!(c.password, Secret("s3cret".into()));
    assert_eq!(c.replication_user.as_deref(), Some("repl"));
    assert_eq!(c.interval, Duration::from_millis(200));
    assert_eq!(c.timeout, mysql::DEFAULT_TIMEOUT);
    assert!(c.failover);
    let names: Vec<_> = c
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.addr.port()))
        .collect();
    assert_eq!(names, [("db1", 3306), ("db2", 3307)]);
    let write = l.config.backends[0].mysql.clone().unwrap();
    assert_eq!((write.cluster, write.role), (0, Role::Writer));
    assert_eq!(write.servers, [0, 1]);
    let read = l.config.backends[1].mysql.clone().unwrap();
    let lag = Duration::from_secs(2);
    assert_eq!(read.role, Role::Reader { max_lag: lag });
    assert_eq!(read.servers, [1, 0], "by name, in the backend's order");
}

#[test]
fn defaults_of_a_cluster() {
    let l = ok(&cluster("", "", "    mysql-role reader cluster db"));
    let c = &l.config.mysql_clusters[0];
    assert_eq!(c.interval, mysql::DEFAULT_INTERVAL);
    assert!(!c.failover, "failover is opt-in");
    assert_eq!(c.failover_after, mysql::DEFAULT_FAILOVER_AFTER);
    assert_eq!(l.config.backends[0].mysql, None);
    let read = l.config.backends[1].mysql.clone().unwrap();
    let max_lag = mysql::DEFAULT_MAX_LAG;
    assert_eq!(read.role, Role::Reader { max_lag }, "the cluster's bound");
}

#[test]
fn a_password_from_a_file_takes_its_first_line() {
    let dir = std::env::temp_dir().join(format!("splicer-cfg-mysql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pass");
    std::fs::write(&file, "from-file\nignored\n").unwrap();
    let text = cluster(&format!("    password-file {}", file.display()), "", "");
    let l = ok(&text);
    assert_eq!(
        l.config.mysql_clusters[0].password,
        Secret("from-file".into())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_line() {
    let cases = [
        (
            "an unknown cluster",
            cluster("", "    mysql-role writer cluster nosuch", ""),
            "t.cfg:16: backend 'write': unable to find mysql-cluster 'nosuch'.",
        ),
        (
            "a backend server not in the cluster",
            cluster(
                "",
                "    mysql-role writer cluster db\n    server db3 127.0.0.1:3308",
                "",
            ),
            "t.cfg:17: backend 'write', server 'db3': mysql-cluster 'db' has no server of that name",
        ),
        (
            "an unknown role",
            cluster("", "    mysql-role primary cluster db", ""),
            "t.cfg:16: 'mysql-role': unknown role 'primary' (expected 'writer' or 'reader').",
        ),
        (
            "max-lag on a writer",
            cluster("", "    mysql-role writer cluster db max-lag 2s", ""),
            "t.cfg:16: 'mysql-role' expects 'writer cluster NAME' or 'reader cluster NAME [max-lag TIME]'; unexpected argument 'max-lag'.",
        ),
        (
            "a typo in the section",
            cluster("    intervall 1s", "", ""),
            "t.cfg:11: unknown keyword 'intervall' in 'mysql-cluster' section; did you mean 'interval'?",
        ),
        (
            "a bad time",
            cluster("    timeout 0", "", ""),
            "t.cfg:11: 'timeout': must be greater than 0",
        ),
        (
            "a bad failover word",
            cluster("    failover yes", "", ""),
            "t.cfg:11: 'failover' expects 'auto' or 'off', not 'yes'.",
        ),
        (
            "a server without a port",
            cluster("    server db3 127.0.0.1", "", ""),
            "t.cfg:11: server 'db3': '127.0.0.1' is not an IP address with a port.",
        ),
        (
            "a server twice",
            cluster("    server db1 127.0.0.1:3310", "", ""),
            "t.cfg:11: server 'db1' is already declared at t.cfg:9.",
        ),
        (
            "a missing password file",
            cluster("    password-file /nonexistent/splicer-pass", "", ""),
            "t.cfg:11: 'password-file': cannot read '/nonexistent/splicer-pass'",
        ),
    ];
    for (what, text, want) in cases {
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "{what}: want {want:?}, got {errs:#?}"
        );
    }
}

#[test]
fn a_cluster_needs_an_account_and_servers() {
    let text = format!(
        "{HEAD}mysql-cluster db\n    password x\nfrontend f\n    bind :1\n    default_backend b\nbackend b\n    server s 127.0.0.1:2\n"
    );
    let errs = errors(&text);
    assert!(
        errs.contains(
            &"t.cfg:6: mysql-cluster 'db' has no 'user': the monitor needs an account to log in."
                .to_string()
        ),
        "{errs:#?}"
    );
    assert!(
        errs.contains(&"t.cfg:6: mysql-cluster 'db' has no server.".to_string()),
        "{errs:#?}"
    );
}

#[test]
fn the_backend_line_is_for_backends() {
    let errs = errors(&format!("{HEAD}    mysql-role writer cluster db\n"));
    assert!(
        errs.iter()
            .any(|e| e.contains("not allowed in 'defaults' section")),
        "{errs:#?}"
    );
    // A frontend has no servers to choose from: ignored with a warning,
    // as HAProxy does with every backend-only keyword.
    let text = cluster("", "", "").replace(
        "    bind :3306\n",
        "    bind :3306\n    mysql-role writer cluster db\n",
    );
    let w = warnings(&text);
    assert!(w.iter().any(|w| w.contains("'mysql-role'")), "{w:#?}");
}

#[test]
fn failover_with_one_server_warns() {
    let text = format!(
        "{HEAD}mysql-cluster db\n    user u\n    failover auto\n    server db1 127.0.0.1:3306\nfrontend f\n    bind :1\n    default_backend b\nbackend b\n    server s 127.0.0.1:2\n"
    );
    let w = warnings(&text);
    assert!(
        w.iter()
            .any(|w| w.contains("'failover auto' with one server")),
        "{w:#?}"
    );
}

#[test]
fn an_empty_password_is_allowed_and_said() {
    // `password "${UNSET}"`: the lexer leaves no argument.
    let text = cluster("    password \"${NOPE_NOT_SET}\"", "", "");
    let l = ok(&text);
    assert_eq!(l.config.mysql_clusters[0].password, Secret::default());
    let w = warnings(&text);
    assert!(
        w.iter()
            .any(|w| w.starts_with("t.cfg:11: 'password' is empty")),
        "{w:#?}"
    );
}
