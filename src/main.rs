//! The `splicer` command: arguments, logging, config loading, then the
//! library's `run`. Everything testable lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

/// splicer: a Layer-4 TCP load balancer that reads HAProxy's TCP-mode configuration.
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
    /// debug logging (same as RUST_LOG=debug)
    #[argh(switch, short = 'd')]
    debug: bool,
    /// quiet: only warnings and errors
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
}

fn init_logging(args: &Args) {
    let default = if args.debug {
        "debug"
    } else if args.quiet {
        "warn"
    } else {
        "info"
    };
    let mut b =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    if args.debug {
        b.filter_level(log::LevelFilter::Debug);
    }
    b.format_timestamp_millis().init();
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    if args.version {
        println!("splicer {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging(&args);
    if args.file.is_empty() {
        eprintln!("splicer: no configuration file; use -f FILE (see --help)");
        return ExitCode::from(2);
    }
    let loaded = match splicer::config::load(&args.file) {
        Ok(l) => l,
        Err(e) => {
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
    for w in &loaded.warnings {
        if args.check {
            eprintln!("[WARNING] {w}");
        } else {
            log::warn!("{w}");
        }
    }
    if args.check {
        println!("Configuration file is valid");
        return ExitCode::SUCCESS;
    }
    let pidfile = args
        .pidfile
        .or_else(|| loaded.config.global.pidfile.clone());
    if let Some(p) = &pidfile
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        log::error!("cannot write pidfile {}: {e}", p.display());
        return ExitCode::from(1);
    }
    let result = splicer::run(loaded.config, args.file);
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}
