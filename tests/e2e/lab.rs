//! The www.foobar.com lab (scripts/lab) as a user runs it: `up` builds the
//! hosts in network namespaces, the client gets pages and database rows
//! through the VIP, `down` leaves nothing behind. And conf/foobar.cfg, the
//! file both lab load balancers run, stays valid for splicer and HAProxy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{netns, require_tools, scratch_dir, splicer_bin, wait_for};

const VIP: &str = "198.51.100.100";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn foobar_cfg_is_valid_for_splicer_and_haproxy() {
    let cfg = repo().join("conf/foobar.cfg");
    let out = Command::new(splicer_bin())
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "splicer -c:\n{}", text(&out));
    assert!(text(&out).contains("Configuration file is valid"));
    let Some(tools) = require_tools("foobar_cfg_is_valid_for_splicer_and_haproxy", &["haproxy"])
    else {
        return;
    };
    let out = Command::new(&tools[0])
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "haproxy -c:\n{}", text(&out));
}

/// One lab, its own namespace prefix and state directory; `down` on drop,
/// also after a failed assertion.
struct Lab {
    name: String,
    dir: PathBuf,
}

impl Lab {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(repo().join("scripts/lab"))
            .args(args)
            .env("LAB_NAME", &self.name)
            .env("LAB_DIR", &self.dir)
            .env("LAB_LB", "splicer")
            .env("SPLICER_BIN", splicer_bin())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/lab")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "scripts/lab {}:\n{}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `mariadb` on the client host, through the VIP, as the application.
    fn sql(&self, port: &str, sql: &str) -> Output {
        self.run(&[
            "exec",
            "client",
            "mariadb",
            "--no-defaults",
            "-h",
            VIP,
            "-P",
            port,
            "-ufoobar",
            "-pfoobar",
            "-N",
            "-B",
            "foobar",
            "-e",
            sql,
        ])
    }

    fn namespaces(&self) -> Vec<String> {
        let list = netns::ip(&["netns", "list"]);
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{}-", self.name)))
            .map(String::from)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

#[test]
fn lab_up_serves_through_the_vip_and_down_removes_everything() {
    let test = "lab_up_serves_through_the_vip_and_down_removes_everything";
    if !netns::can_run(test) {
        return;
    }
    let tools = ["nginx", "mariadbd", "mariadb-install-db", "mariadb", "curl"];
    if require_tools(test, &tools).is_none() {
        return;
    }
    let lab = Lab {
        name: format!("fbt{}", std::process::id()),
        dir: scratch_dir("lab").join("state"),
    };
    let started = Instant::now();
    let up = lab.ok(&["up"]);
    eprintln!("scripts/lab up took {:?}:\n{up}", started.elapsed());
    assert!(up.contains(&format!("VIP {VIP} held by lb1")), "{up}");
    assert_eq!(lab.namespaces().len(), 9, "{:?}", lab.namespaces());

    // The web tier through the VIP: every web server answers in turn.
    let mut served = BTreeSet::new();
    for _ in 0..9 {
        let page = lab.ok(&[
            "exec",
            "client",
            "curl",
            "-fsS",
            "--max-time",
            "2",
            &format!("http://{VIP}/"),
        ]);
        let who = page
            .split("served by ")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap_or_else(|| panic!("the page names no server:\n{page}"));
        served.insert(who.to_string());
    }
    assert_eq!(
        served,
        BTreeSet::from(["web1".into(), "web2".into(), "web3".into()])
    );

    // Databases: a row written through :3306 (db1) is read through :3307
    // from db2, by replication.
    let w = lab.sql(
        "3306",
        "INSERT INTO visits (note) VALUES ('tests/lab.rs'); SELECT @@server_id",
    );
    assert!(
        w.status.success(),
        "write through {VIP}:3306:\n{}",
        text(&w)
    );
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), "1");
    let mut last = String::new();
    wait_for(
        "the row read from db2 through :3307",
        Duration::from_secs(10),
        || {
            let r = lab.sql(
                "3307",
                "SELECT @@server_id, COUNT(*) FROM visits WHERE note = 'tests/lab.rs'",
            );
            last = text(&r);
            r.status.success() && String::from_utf8_lossy(&r.stdout).trim() == "2\t1"
        },
    );

    let status = lab.ok(&["status"]);
    assert!(status.contains(&format!("VIP {VIP}: lb1")), "{status}");

    let down = lab.ok(&["down"]);
    assert!(
        down.contains("down (9 namespaces"),
        "{down}\n(last read: {last})"
    );
    assert!(lab.namespaces().is_empty(), "left: {:?}", lab.namespaces());
    assert!(!lab.dir.exists(), "{} is still there", lab.dir.display());
    // Twice is fine.
    lab.ok(&["down"]);
}
