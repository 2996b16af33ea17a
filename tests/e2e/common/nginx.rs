//! Real Nginx servers for the health-check tests. Each instance has its own
//! prefix directory (config, pid file, error log, pages) and port on
//! 127.0.0.1, runs in the foreground as a single process (so `kill -9`
//! leaves nothing listening), and is killed on drop.
//!
//! Pages: `GET /` answers the instance's name; `GET /health` serves the file
//! `health.txt` ("healthy") and answers 503 while that file is absent;
//! `GET /app` is a directory, so nginx redirects it (301) to `/app/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, accepts, find_tool, free_port, require_tools, scratch_dir, wait_for};

pub struct Nginx {
    pub name: String,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    proc: ChildGuard,
}

/// False when nginx is missing and `test` should be skipped (printed); under
/// CI a missing nginx panics instead (see `require_tools`).
pub fn available(test: &str) -> bool {
    require_tools(test, &["nginx"]).is_some()
}

impl Nginx {
    /// Starts an instance serving `name`. Retries on another port if the
    /// chosen one was taken in between.
    pub fn start(name: &str) -> Nginx {
        let bin = find_tool("nginx").expect("nginx is not installed");
        let dir = scratch_dir(&format!("nginx-{name}"));
        let html = dir.join("html");
        // A directory: `GET /app` answers a 301 redirect to `/app/`.
        std::fs::create_dir_all(html.join("app")).unwrap();
        std::fs::write(html.join("app").join("index.html"), format!("{name}\n")).unwrap();
        // nginx runs as root in CI; its files must be readable either way.
        set_mode(&dir, 0o755);
        set_mode(&html, 0o755);
        set_mode(&html.join("app"), 0o755);
        set_mode(&html.join("app").join("index.html"), 0o644);
        let mut last_error = String::new();
        for _ in 0..5 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            std::fs::write(dir.join("nginx.conf"), conf(name, addr, &dir)).unwrap();
            let mut n = Nginx {
                name: name.to_string(),
                addr,
                dir: dir.clone(),
                proc: ChildGuard::spawn(
                    &format!("nginx {name}"),
                    Command::new(&bin)
                        .arg("-p")
                        .arg(&dir)
                        .arg("-c")
                        .arg(dir.join("nginx.conf"))
                        .arg("-e")
                        .arg(dir.join("error.log"))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null()),
                ),
            };
            n.set_healthy(true);
            let mut exited = false;
            wait_for(
                &format!("nginx {name} to listen on {addr}"),
                Duration::from_secs(10),
                || {
                    exited = n.proc.exited().is_some();
                    exited || accepts(addr)
                },
            );
            if !exited {
                return n;
            }
            last_error = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        }
        panic!("nginx {name} did not start:\n{last_error}");
    }

    /// Makes `/health` answer 200 (file present) or 503 (file absent).
    pub fn set_healthy(&self, healthy: bool) {
        self.set_health_text(if healthy { Some("healthy\n") } else { None });
    }

    /// Sets the body of `/health`; `None` removes the file (503).
    pub fn set_health_text(&self, text: Option<&str>) {
        let path = self.dir.join("html").join("health.txt");
        match text {
            Some(t) => {
                // Write then rename, so nginx never serves half a file.
                let tmp = self.dir.join("health.tmp");
                std::fs::write(&tmp, t).unwrap();
                set_mode(&tmp, 0o644);
                std::fs::rename(&tmp, &path).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// `kill -9`: the instance vanishes at once, mid-request or not.
    pub fn kill9(&mut self) {
        self.proc.kill();
    }

    /// How many `GET path` requests the access log holds.
    pub fn requests(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        let pat = format!("\"GET {path} ");
        log.lines().filter(|l| l.contains(&pat)).count()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn conf(name: &str, addr: SocketAddr, dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    default_type text/plain;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    server {{
        listen {addr};
        root {d}/html;
        location = / {{ return 200 \"{name}\\n\"; }}
        location = /health {{ try_files /health.txt =503; }}
    }}
}}
"
    )
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
