//! splicer: a Layer-4 TCP load balancer that reads HAProxy's TCP-mode
//! configuration and forwards with splice(2).
//!
//! The main thread loads the config ([`config`]), opens every listener
//! (`net`), starts one worker per core (`worker`) and then waits for
//! signals ([`run`]). Workers own their sessions (`session`), which move
//! bytes through `forward` and pick servers with [`balance`]; shared state
//! lives in `runtime` (a `Process` and one `Runtime` per config). The
//! health checker (`health`), the runtime API (`admin`), the VRRP speaker
//! (`vrrp`) and the loggers (`logging`) run on threads of their own. The
//! modules form layers, bottom to top: `sys`, [`base`], [`config`], the
//! building blocks, `runtime`, `control`, `session`, the threads, start-up;
//! docs/lifecycle.md follows one connection through them.

// Every `unsafe` block lives in `sys`, each with its SAFETY note.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
// Items are crate-private unless the binary, the tests or the benches use
// them: what the crate exports is what it promises.
#![warn(unreachable_pub)]

mod admin;
mod announce;
pub mod balance;
pub mod base;
pub mod config;
mod control;
mod dns;
mod forward;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
mod health;
mod host;
mod logging;
mod mysql;
mod net;
mod peers;
mod proxy_proto;
mod reload;
mod rules;
mod runtime;
mod session;
#[allow(unsafe_code)]
mod sys;
mod tls;
mod vrrp;
mod worker;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base::service::Service;
use config::Config;
use control::{Control, ControlLink};
use net::BindError;
use reload::{Listeners, Supervisor};
use runtime::Runtime;
use worker::Worker;

/// What can stop start-up.
#[derive(Debug)]
pub enum StartError {
    Bind(BindError),
    Poll(io::Error),
    Spawn(io::Error),
    Signals(io::Error),
    Health(io::Error),
    Dns(io::Error),
    Peers(io::Error),
    Mysql(io::Error),
    Admin(admin::AdminError),
    AdminThread(io::Error),
    Vrrp(vrrp::VrrpError),
    Announce(announce::AnnounceError),
    /// Giving up root (`user`, `group`, `chroot`) failed.
    Identity(String),
    Split(io::Error),
    /// The privileged parent's serving process did not end well.
    Serving(String),
    Pidfile(PathBuf, io::Error),
    /// `ulimit-n` could not be had.
    Limit(String),
    /// A certificate, key or CA file of the config is missing or bad.
    Tls(Vec<String>),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(e) => write!(f, "{e}"),
            StartError::Poll(e) => write!(f, "cannot create an event loop: {e}"),
            StartError::Spawn(e) => write!(f, "cannot start a worker thread: {e}"),
            StartError::Signals(e) => write!(f, "cannot set up signal handling: {e}"),
            StartError::Health(e) => write!(f, "cannot start the health checker: {e}"),
            StartError::Dns(e) => write!(f, "cannot start the DNS resolver: {e}"),
            StartError::Peers(e) => write!(f, "cannot start the peers thread: {e}"),
            StartError::Mysql(e) => write!(f, "cannot start the mysql monitor: {e}"),
            StartError::Admin(e) => write!(f, "{e}"),
            StartError::AdminThread(e) => write!(f, "cannot start the runtime API: {e}"),
            StartError::Vrrp(e) => write!(f, "{e}"),
            StartError::Announce(e) => write!(f, "{e}"),
            StartError::Identity(e) => write!(f, "{e}"),
            StartError::Split(e) => write!(f, "cannot start the serving process: {e}"),
            StartError::Serving(e) => write!(f, "the serving process {e}"),
            StartError::Limit(e) => write!(f, "{e}"),
            StartError::Tls(e) => write!(f, "{}", e.join("\n")),
            StartError::Pidfile(p, e) => write!(f, "cannot write pidfile {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for StartError {}

struct WorkerHandle {
    thread: JoinHandle<io::Result<()>>,
    link: ControlLink,
}

impl WorkerHandle {
    fn send(&self, msg: Control) {
        self.link.send(msg);
    }
}

/// How the command line asks the process to start, beyond the config
/// (HAProxy's flags of the same meaning in brackets).
#[derive(Debug, Default)]
pub struct Options {
    /// The config files (`-f`), read again on reload (SIGHUP, SIGUSR2).
    pub files: Vec<PathBuf>,
    /// Where to write the pid the operator signals (`-p`, or `pidfile`).
    pub pidfile: Option<PathBuf>,
    /// Go to the background once listening (`-D`, or `daemon`).
    pub daemon: bool,
    /// Old processes to soft-stop (SIGUSR1) once listening (`-sf`).
    pub soft_stop: Vec<i32>,
    /// Old processes to stop at once (SIGTERM) once listening (`-st`).
    pub hard_stop: Vec<i32>,
    /// A runtime API socket at level admin, root's only (`-S`).
    pub master_socket: Option<config::StatsSocket>,
    /// What the command line tells the parser (`-L`), again on reload.
    pub load: config::LoadOptions,
}

/// What the process that ran the command should exit with.
pub enum Ended {
    /// Stopped by a signal, as asked.
    Stopped,
    /// The command that started a daemon (`-D`): the daemon is ready (0)
    /// or failed to start (1).
    Detached(u8),
}

/// Runs the load balancer until a stop signal, then returns. `files` are
/// read again on reload (SIGHUP, SIGUSR2).
pub fn run(config: Config, files: Vec<PathBuf>) -> Result<(), StartError> {
    run_with(
        config,
        Options {
            files,
            ..Options::default()
        },
    )
    .map(drop)
}

/// Runs the load balancer as `options` say until a stop signal. Call from
/// the main thread of a process that has no other thread yet: it may fork
/// (`-D`; `user`/`chroot`, see `host::privsep`).
pub fn run_with(config: Config, options: Options) -> Result<Ended, StartError> {
    // Blocked before any thread starts, so every thread inherits the mask
    // and the signals are only taken by the main loop below.
    sys::block_signals().map_err(StartError::Signals)?;
    apply_env(&config.global.env);
    // Keys are read here: as root, before any fork or identity change.
    let tls = tls::Contexts::load(&config).map_err(StartError::Tls)?;
    if options.daemon {
        match host::daemon::detach().map_err(StartError::Split)? {
            host::daemon::Detached::Foreground(code) => return Ok(Ended::Detached(code)),
            host::daemon::Detached::Daemon => {}
        }
    }
    let pidfile = options.pidfile.clone();
    if let Some(p) = &pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| StartError::Pidfile(p.clone(), e))?;
    }
    let result = serve(config, tls, options);
    // The serving half of a split process leaves the pidfile to its parent.
    if let Some(p) = &pidfile
        && !host::privsep::is_child()
    {
        let _ = std::fs::remove_file(p);
    }
    result.map(|()| Ended::Stopped)
}

fn serve(config: Config, tls: tls::Contexts, options: Options) -> Result<(), StartError> {
    let files = options.files;
    match config.global.ulimit_n {
        // As HAProxy: a limit asked for and not given stops start-up.
        Some(n) => sys::raise_nofile_limit_to(n).map_err(|e| {
            let now = sys::nofile_limit().unwrap_or(0);
            StartError::Limit(format!(
                "cannot raise the open files limit to {n} (ulimit-n), limit is {now}: {e}"
            ))
        })?,
        None => match sys::raise_nofile_limit() {
            Ok(n) => log::debug!("open files limit: {n}"),
            Err(e) => log::warn!("cannot raise the open files limit: {e}"),
        },
    }
    // As HAProxy: maxconn's descriptors must fit the limit now in force.
    config.enforce_fd_limit().map_err(StartError::Limit)?;
    let identity = identity_of(&config);
    identity
        .check()
        .map_err(|e| StartError::Identity(e.to_string()))?;
    if identity.needs_split() {
        let scripts: Vec<PathBuf> = config
            .vrrp
            .iter()
            .filter_map(|v| v.notify.clone())
            .collect();
        // The parent opens the config files, the server state files, the
        // ACL and map files, and the resolver's configuration
        // (`parse-resolv-conf`).
        let readable: Vec<PathBuf> = files
            .iter()
            .cloned()
            .chain(config.server_state_files())
            .chain(
                config
                    .patterns
                    .iter()
                    .filter_map(|r| r.file.as_ref().map(PathBuf::from)),
            )
            .chain([PathBuf::from(config::RESOLV_CONF)])
            .collect();
        // The parent makes the `bind` socket files, outside the jail.
        let sockets: Vec<PathBuf> = config
            .frontends
            .iter()
            .flat_map(|f| &f.binds)
            .filter_map(|b| match &b.addr {
                config::BindAddr::Unix(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        match host::privsep::split(&readable, &scripts, &sockets).map_err(StartError::Split)? {
            host::privsep::Role::Parent(sys::process::Exit::Code(0)) => return Ok(()),
            host::privsep::Role::Parent(sys::process::Exit::Code(c)) => {
                return Err(StartError::Serving(format!("exited with status {c}")));
            }
            host::privsep::Role::Parent(sys::process::Exit::Signal(s)) => {
                return Err(StartError::Serving(format!("was killed by signal {s}")));
            }
            host::privsep::Role::Child => {}
        }
    }
    let nworkers = config.global.workers();
    let listeners = Listeners::open(&config, nworkers, &[], false).map_err(StartError::Bind)?;
    // Stats sockets are opened with the listeners: one that cannot be
    // bound stops start-up before any thread runs.
    let stats_sockets =
        admin::bind(&config, options.master_socket.as_ref()).map_err(StartError::Admin)?;
    // The announce devices need root to be made; their carriers only
    // need the descriptors afterwards.
    let devices = announce::open(&config).map_err(StartError::Announce)?;
    // Root is given up here: after the first binds, before any thread.
    identity
        .take()
        .map_err(|e| StartError::Identity(e.to_string()))?;
    let rt = Arc::new(Runtime::first(config).with_tls(tls));
    runtime::state_file::load(&rt);
    let logger = reload::start_logger(&rt).map_err(StartError::Spawn)?;
    let mut workers = Vec::with_capacity(nworkers);
    for (id, ls) in listeners.opened.into_iter().enumerate() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (w, waker) =
            Worker::new(id, rt.clone(), ls, rx, logger.sender.clone()).map_err(StartError::Poll)?;
        let cpus = config::cpumap::cpus_of(&rt.global.cpu_map, id).map(<[usize]>::to_vec);
        let thread = std::thread::Builder::new()
            .name(control::worker_thread_name(id))
            .spawn(move || {
                if let Some(cpus) = cpus
                    && let Err(e) = sys::pin_thread(&cpus)
                {
                    log::warn!("worker {id}: cannot bind to CPUs {cpus:?} (cpu-map): {e}");
                }
                w.run()
            })
            .map_err(StartError::Spawn)?;
        workers.push(WorkerHandle {
            thread,
            link: ControlLink::new(tx, waker),
        });
    }
    log::info!(
        "splicer {} started: {} workers, maxconn {}, maxpipes {}",
        env!("CARGO_PKG_VERSION"),
        nworkers,
        rt.global.maxconn,
        rt.process.maxpipes
    );
    let links: Vec<ControlLink> = workers.iter().map(|w| w.link.clone()).collect();
    let checker = health::start(rt.clone(), links.clone()).map_err(StartError::Health)?;
    let resolver = dns::start(rt.clone()).map_err(StartError::Dns)?;
    let peers = peers::start(rt.clone()).map_err(StartError::Peers)?;
    let mysql = mysql::start(rt.clone(), links.clone()).map_err(StartError::Mysql)?;
    let current = runtime::Current::new(rt.clone());
    let api = admin::start(current.clone(), stats_sockets, links.clone())
        .map_err(StartError::AdminThread)?;
    let vrrp = vrrp::start(current.clone()).map_err(StartError::Vrrp)?;
    let announcer = announce::start(current.clone(), devices).map_err(StartError::Announce)?;
    host::notify(&format!("READY=1\nMAINPID={}", host::main_pid()));
    host::daemon::ready();
    stop_old(&options.soft_stop, libc::SIGUSR1);
    stop_old(&options.hard_stop, libc::SIGTERM);
    let edits = rt.process.edits.open();
    let mut supervisor = Supervisor {
        // Read again for the runtime API's changes, which parse the files
        // as they were at start.
        sources: config::Sources::read(&files),
        overlay: config::Overlay::default(),
        edits,
        files,
        load: options.load,
        rt,
        current,
        links,
        checker,
        resolver,
        peers,
        mysql,
        logger,
        retired_loggers: Vec::new(),
        bound: listeners.bound,
        reloads: 0,
    };
    supervise(&workers, &mut supervisor, vrrp.as_ref(), announcer.as_ref());
    host::notify("STOPPING=1");
    if let Some(a) = announcer {
        a.stop();
    }
    if let Some(v) = vrrp {
        v.stop();
    }
    if let Some(a) = api {
        a.stop();
    }
    if let Some(c) = supervisor.checker.take() {
        c.stop();
    }
    for w in workers {
        match w.thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("worker failed: {e}"),
            Err(_) => log::error!("worker panicked"),
        }
    }
    supervisor.finish();
    log::info!("splicer stopped");
    Ok(())
}

/// `-sf`/`-st`: the old processes this one replaces stop once it listens.
fn stop_old(pids: &[i32], sig: libc::c_int) {
    for &pid in pids {
        match sys::process::kill(pid, sig) {
            Ok(()) => log::info!("asked the old process {pid} to stop (signal {sig})"),
            Err(e) => log::warn!("cannot signal the old process {pid}: {e}"),
        }
    }
}

/// `setenv`, `presetenv`, `unsetenv`, `resetenv`: the process's own
/// environment follows the config (what notify scripts inherit), as the
/// parser already did. `NOTIFY_SOCKET` survives a `resetenv`: systemd's
/// readiness protocol needs it after start.
fn apply_env(ops: &[config::EnvOp]) {
    if ops.is_empty() {
        return;
    }
    let ops: Vec<config::EnvOp> = ops
        .iter()
        .cloned()
        .map(|op| match op {
            config::EnvOp::Reset { mut keep } => {
                keep.push("NOTIFY_SOCKET".into());
                config::EnvOp::Reset { keep }
            }
            other => other,
        })
        .collect();
    // Every variable that is there or that a line sets, worked out as the
    // parser saw it (`config::env_after`), then made so.
    let real = |name: &str| std::env::var(name).ok();
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    for op in &ops {
        if let config::EnvOp::Set { name, .. } = op {
            names.push(name.clone());
        }
    }
    names.sort();
    names.dedup();
    for name in names {
        match (config::env_after(&ops, &real, &name), real(&name)) {
            (Some(v), now) if now.as_deref() != Some(v.as_str()) => sys::set_env(&name, &v),
            (None, Some(_)) => sys::remove_env(&name),
            _ => {}
        }
    }
}

/// The identity `global` asks the serving process to take.
fn identity_of(config: &Config) -> host::identity::Identity {
    host::identity::Identity {
        uid: config.global.uid,
        gid: config.global.gid,
        chroot: config.global.chroot.clone(),
        vrrp: !config.vrrp.is_empty(),
    }
}

/// What `show stat` and `enable|disable frontend` see after SIGTTOU/SIGTTIN.
fn set_paused(rt: &Runtime, paused: bool) {
    for f in &rt.frontends {
        f.paused.store(paused, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How often the main thread checks that workers are alive while waiting for signals.
const SUPERVISE_TICK: Duration = Duration::from_millis(200);

/// The main thread's loop: signals in, control messages out.
/// A stop signal first hands the virtual IPs over (`vrrp`) and withdraws
/// the routes (`announce`, then its `withdraw-delay`), then stops the
/// workers.
fn supervise(
    workers: &[WorkerHandle],
    supervisor: &mut Supervisor,
    vrrp: Option<&Service>,
    announcer: Option<&announce::Announcer>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    // A stop begins: marked for `show info` (and for the reloads and
    // runtime API changes this loop then refuses), the VIPs handed over,
    // then the routes withdrawn while the listeners stay open.
    let begin_stop = |supervisor: &Supervisor| {
        supervisor.rt.process.stopping.store(true, Relaxed);
        if let Some(v) = vrrp {
            v.shutdown();
        }
        if let Some(a) = announcer {
            let delay = a.withdraw(&supervisor.current);
            if !delay.is_zero() {
                log::info!(
                    "announce: routes withdrawn; listeners stay open {}ms (withdraw-delay)",
                    delay.as_millis()
                );
                std::thread::sleep(delay);
            }
        }
    };
    let mut hard_stop_at: Option<Instant> = None;
    loop {
        let stopping = supervisor.rt.process.stopping.load(Relaxed);
        if workers.iter().all(|w| w.thread.is_finished()) {
            return;
        }
        if hard_stop_at.is_some_and(|t| Instant::now() >= t) {
            log::warn!("hard-stop-after reached: closing the remaining sessions");
            workers.iter().for_each(|w| w.send(Control::Stop));
            hard_stop_at = None;
        }
        match sys::wait_signal(SUPERVISE_TICK) {
            Some(libc::SIGTERM) | Some(libc::SIGINT) => {
                log::info!("stopping now (signal)");
                begin_stop(supervisor);
                workers.iter().for_each(|w| w.send(Control::Stop));
            }
            Some(libc::SIGUSR1) => {
                log::info!("soft stop: no new connections, waiting for sessions to finish");
                begin_stop(supervisor);
                workers.iter().for_each(|w| w.send(Control::SoftStop));
                if let Some(d) = supervisor.rt.global.hard_stop_after {
                    hard_stop_at.get_or_insert(Instant::now() + d);
                }
            }
            Some(libc::SIGTTOU) => {
                log::info!("pausing listeners (SIGTTOU): no new connections until SIGTTIN");
                set_paused(&supervisor.rt, true);
                workers.iter().for_each(|w| w.send(Control::PauseListeners));
            }
            Some(libc::SIGTTIN) => {
                log::info!("resuming listeners (SIGTTIN)");
                set_paused(&supervisor.rt, false);
                workers
                    .iter()
                    .for_each(|w| w.send(Control::ResumeListeners));
            }
            Some(libc::SIGHUP) | Some(libc::SIGUSR2) if stopping => {
                log::warn!("reload ignored: stopping");
            }
            Some(libc::SIGHUP) | Some(libc::SIGUSR2) => supervisor.reload(),
            _ => {}
        }
        // SIGURG says a change is waiting; looked at every tick anyway.
        supervisor.run_edits(supervisor.rt.process.stopping.load(Relaxed));
    }
}

#[cfg(test)]
mod tests;

/// The TLS files of `config` (certificates, keys, CA and CRL files), read
/// as start-up reads them: what `-c` reports besides the config's own
/// errors, each naming the line that named the file.
pub fn check_tls_files(config: &Config) -> Vec<String> {
    tls::Contexts::load(config).err().unwrap_or_default()
}
