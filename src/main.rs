//! The `splicer` command: arguments, logging, config loading, then the
//! library's `run`. Everything testable lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

/// splicer: a Layer-4 TCP load balancer that reads HAProxy's TCP-mode configuration.
///
/// HAProxy's flags are accepted with their meaning: -Ws (systemd),
/// -W, -D, -db, -sf PID..., -st PID..., -S SOCKET, -v/-vv, -V.
#[derive(FromArgs)]
struct Args {
    /// configuration file (HAProxy format); repeat to read several in order
    #[argh(option, short = 'f')]
    file: Vec<PathBuf>,
    /// check the configuration and exit: 0 when valid, else every error as FILE:LINE: message
    #[argh(switch, short = 'c')]
    check: bool,
    /// write the process id to this file (overrides `pidfile` in global)
    #[argh(option, short = 'p')]
    pidfile: Option<PathBuf>,
    /// debug: foreground, debug logging (same as RUST_LOG=debug)
    #[argh(switch, short = 'd')]
    debug: bool,
    /// quiet: only warnings and errors
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// verbose: info logging even with -q or `quiet`
    #[argh(switch, short = 'V')]
    verbose: bool,
    /// print the version and exit (also -vv)
    #[argh(switch, short = 'v')]
    version: bool,
    /// daemon: go to the background once listening (as `daemon` in global)
    #[argh(switch, short = 'D')]
    daemon: bool,
    /// master-worker mode (accepted: splicer always reloads in place, keeping its pid)
    #[argh(switch, short = 'W')]
    master_worker: bool,
    /// master-worker under systemd, as -Ws: foreground, sd_notify READY/RELOADING
    #[argh(switch)]
    systemd: bool,
    /// as -db: stay in the foreground even with `daemon` in global
    #[argh(switch)]
    foreground: bool,
    /// as -sf PID...: soft-stop these old processes (SIGUSR1) once listening
    #[argh(option)]
    sf: Vec<i32>,
    /// as -st PID...: stop these old processes (SIGTERM) once listening
    #[argh(option)]
    st: Vec<i32>,
    /// a runtime API socket at level admin, PATH[,mode M] (HAProxy's master CLI path)
    #[argh(option, short = 'S')]
    master_socket: Option<String>,
    /// change to this directory before loading the configuration
    #[argh(option, short = 'C')]
    chdir: Option<PathBuf>,
    /// the local peer name: which peer of a `peers` section this process is (over `localpeer`; default: the host name)
    #[argh(option, short = 'L')]
    localpeer: Option<String>,
}

/// Rewrites HAProxy's multi-letter flags (`-Ws`, `-db`, `-vv`, `-sf`,
/// `-st`) into the long ones argh reads; `-sf`/`-st` take every pid that
/// follows (none is fine: `-sf $(cat pidfile)` with no old process).
fn haproxy_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pids_for: Option<&str> = None;
    for a in args {
        if let Some(flag) = pids_for {
            if a.parse::<i32>().is_ok() {
                out.push(flag.to_string());
                out.push(a);
                continue;
            }
            pids_for = None;
        }
        match a.as_str() {
            "-Ws" => out.push("--systemd".into()),
            "-db" => out.push("--foreground".into()),
            "-vv" => out.push("--version".into()),
            "-sf" => pids_for = Some("--sf"),
            "-st" => pids_for = Some("--st"),
            _ => out.push(a),
        }
    }
    out
}

fn init_logging(args: &Args, quiet: bool) {
    let default = if args.debug {
        "debug"
    } else if quiet && !args.verbose {
        "warn"
    } else {
        "info"
    };
    // rustls warns of every peer's protocol error; the session's own
    // log line says what failed.
    let default = format!("{default},rustls=error");
    let mut b =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    if args.debug {
        b.filter_level(log::LevelFilter::Debug);
    }
    b.format_timestamp_millis().init();
}

/// `-S PATH[,mode M][,level L]...`: HAProxy's master CLI socket, served
/// here as a runtime API socket at level admin, mode 0600 unless told.
fn master_socket(spec: &str) -> Result<splicer::config::StatsSocket, String> {
    let mut parts = spec.split(',');
    let path = parts.next().unwrap_or_default();
    let path = path.strip_prefix("unix@").unwrap_or(path);
    if path.is_empty() || path.contains(':') {
        return Err(format!(
            "-S '{spec}': splicer serves the master socket on a UNIX socket path only"
        ));
    }
    let mut mode = 0o600;
    let mut words = parts.flat_map(|p| p.split_whitespace());
    while let Some(w) = words.next() {
        match (w, words.next()) {
            ("mode", Some(m)) => {
                mode = u32::from_str_radix(m, 8).map_err(|_| format!("-S: invalid mode '{m}'"))?
            }
            (other, _) => return Err(format!("-S: unsupported socket option '{other}'")),
        }
    }
    Ok(splicer::config::StatsSocket {
        addr: splicer::config::StatsAddr::Unix(path.into()),
        mode: Some(mode),
        uid: None,
        gid: None,
        level: splicer::config::Level::Admin,
        location: splicer::config::Location {
            file: "-S".into(),
            line: 0,
        },
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cmd = argv.first().cloned().unwrap_or_else(|| "splicer".into());
    let rest = haproxy_flags(argv.into_iter().skip(1));
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let args: Args = match Args::from_args(&[&cmd], &rest) {
        Ok(a) => a,
        Err(e) if e.status.is_ok() => {
            println!("{}", e.output);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", e.output);
            return ExitCode::from(2);
        }
    };
    if args.version {
        println!("splicer {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &args.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!("splicer: cannot change to directory {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    if args.file.is_empty() {
        eprintln!("splicer: no configuration file; use -f FILE (see --help)");
        return ExitCode::from(2);
    }
    let load = splicer::config::LoadOptions {
        localpeer: args.localpeer.clone(),
        ..Default::default()
    };
    let loaded = match splicer::config::load_with(&args.file, &load) {
        Ok(l) => l,
        Err(e) => {
            init_logging(&args, args.quiet);
            for w in &e.warnings {
                eprintln!("[WARNING] {w}");
            }
            for err in &e.errors {
                eprintln!("{err}");
            }
            eprintln!("splicer: {} error(s) in the configuration", e.errors.len());
            return ExitCode::from(1);
        }
    };
    init_logging(&args, args.quiet || loaded.config.global.quiet);
    for w in &loaded.warnings {
        if args.check {
            eprintln!("[WARNING] {w}");
        } else {
            log::warn!("{w}");
        }
    }
    let master = match args.master_socket.as_deref().map(master_socket).transpose() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("splicer: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let errors = splicer::check_tls_files(&loaded.config);
        if !errors.is_empty() {
            for err in &errors {
                eprintln!("{err}");
            }
            eprintln!("splicer: {} error(s) in the configuration", errors.len());
            return ExitCode::from(1);
        }
        if !args.quiet {
            println!("Configuration file is valid");
        }
        return ExitCode::SUCCESS;
    }
    let global = &loaded.config.global;
    if args.master_worker || args.systemd || global.master_worker {
        // Nothing to change: splicer reloads in place and keeps its pid, as
        // HAProxy's master process does.
        log::debug!("master-worker mode asked: reloads keep this process");
    }
    // HAProxy: -Ws, -db and -d keep the foreground whatever asks for a daemon.
    let foreground = args.systemd || args.foreground || args.debug;
    let options = splicer::Options {
        pidfile: args.pidfile.clone().or_else(|| global.pidfile.clone()),
        daemon: (args.daemon || global.daemon) && !foreground,
        soft_stop: args.sf.clone(),
        hard_stop: args.st.clone(),
        master_socket: master,
        files: args.file.clone(),
        load,
    };
    match splicer::run_with(loaded.config, options) {
        Ok(splicer::Ended::Stopped) => ExitCode::SUCCESS,
        Ok(splicer::Ended::Detached(code)) => ExitCode::from(code),
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_flags_become_long_ones() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "debian unit",
                &[
                    "-Ws",
                    "-f",
                    "a.cfg",
                    "-p",
                    "/run/h.pid",
                    "-S",
                    "/run/m.sock",
                ],
                &[
                    "--systemd",
                    "-f",
                    "a.cfg",
                    "-p",
                    "/run/h.pid",
                    "-S",
                    "/run/m.sock",
                ],
            ),
            (
                "pids until the next flag",
                &["-f", "a", "-sf", "12", "34", "-q"],
                &["-f", "a", "--sf", "12", "--sf", "34", "-q"],
            ),
            ("no pid at all", &["-f", "a", "-st"], &["-f", "a"]),
            ("pids at the end", &["-st", "7"], &["--st", "7"]),
            (
                "-db and -vv",
                &["-db", "-vv"],
                &["--foreground", "--version"],
            ),
        ];
        for (what, input, expected) in cases {
            let out = haproxy_flags(input.iter().map(|s| s.to_string()));
            assert_eq!(out, *expected, "{what}");
        }
    }

    #[test]
    fn master_socket_specs() {
        let s = master_socket("/run/haproxy-master.sock").unwrap();
        assert_eq!(s.mode, Some(0o600));
        assert_eq!(s.level, splicer::config::Level::Admin);
        assert_eq!(
            master_socket("/tmp/m.sock,mode 660").unwrap().mode,
            Some(0o660)
        );
        assert!(master_socket("127.0.0.1:9999").is_err());
        assert!(master_socket("/tmp/m.sock,expose-fd listeners").is_err());
    }
}
