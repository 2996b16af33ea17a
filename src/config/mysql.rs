//! `mysql-cluster NAME` sections (splicer's extension; HAProxy has no words
//! for a database's roles) and the backend line that binds a backend to one
//! of them: `mysql-role writer|reader cluster NAME [max-lag TIME]`.
//!
//! A section holds the servers of one replicated MariaDB/MySQL set and the
//! monitor's account; each server is monitored once, however many backends
//! route to it. Backends keep their own `server` lines (weights, limits,
//! `send-proxy` as usual), named as the cluster's servers; the monitor
//! decides which of them each backend may use. Lines become a
//! [`MysqlCluster`] in `Config::mysql_clusters` and a [`MysqlRole`] on the
//! backend (`link`, once every file is read).

use std::net::SocketAddr;
use std::time::Duration;

use super::model::{Config, Location};
use super::parser::Diags;
use super::proxy::ProxyDraft;
use super::values::parse_time;

/// `interval` when not set: one monitor round per server.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
/// `timeout` when not set: connect, login and each query.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// `max-lag` when not set: readers further behind take no reads.
pub(crate) const DEFAULT_MAX_LAG: Duration = Duration::from_secs(10);
/// `failover-after` when not set: failed rounds before the primary is dead.
pub(crate) const DEFAULT_FAILOVER_AFTER: u32 = 3;
/// `failover-block` when not set: no second failover within this.
pub(crate) const DEFAULT_FAILOVER_BLOCK: Duration = Duration::from_secs(60);
/// `failover-confirm` when not set: a replica whose link to the primary
/// saw nothing (no event, no heartbeat) for this long has lost it.
pub(crate) const DEFAULT_FAILOVER_CONFIRM: Duration = Duration::from_secs(2);

/// A password from the config or a file. Never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One `server NAME ADDR:PORT` of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterServer {
    pub name: String,
    /// Where the monitor connects, and where replicas are pointed when
    /// this server becomes the primary.
    pub addr: SocketAddr,
    pub location: Location,
}

/// One `mysql-cluster NAME` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlCluster {
    pub name: String,
    pub location: Location,
    /// The monitor's account.
    pub user: String,
    pub password: Secret,
    /// The account replicas use to reach a new primary (failover, rejoin);
    /// `None`: replicas keep the account they have.
    pub replication_user: Option<String>,
    pub replication_password: Secret,
    pub interval: Duration,
    pub timeout: Duration,
    /// Readers' bound when the backend gives none.
    pub max_lag: Duration,
    /// `failover auto`: promote a replica when the primary is dead.
    pub failover: bool,
    pub failover_after: u32,
    pub failover_block: Duration,
    pub failover_confirm: Duration,
    pub servers: Vec<ClusterServer>,
}

/// What a backend bound to a cluster routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The one writable server that replicates from no cluster member.
    Writer,
    /// Replicas at most `max_lag` behind; the primary when there is none.
    Reader { max_lag: Duration },
}

/// `mysql-role ... cluster NAME` on a backend, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlRole {
    /// Index into `Config::mysql_clusters`.
    pub cluster: usize,
    pub role: Role,
    /// For each of the backend's servers, its index in the cluster.
    pub servers: Vec<usize>,
}

/// The backend line as read, before the cluster is known.
#[derive(Debug, Clone, Default)]
pub(super) struct RoleDraft {
    pub cluster: String,
    pub writer: bool,
    pub max_lag: Option<Duration>,
    pub location: Option<Location>,
}

/// Section keywords, for typo hints.
const KEYWORDS: &[&str] = &[
    "user",
    "password",
    "password-file",
    "replication-user",
    "replication-password",
    "replication-password-file",
    "interval",
    "timeout",
    "max-lag",
    "failover",
    "failover-after",
    "failover-block",
    "failover-confirm",
    "server",
];

/// A section as read so far.
#[derive(Debug)]
pub(super) struct Draft {
    cluster: MysqlCluster,
    user_set: bool,
}

/// `mysql-cluster NAME`: a new section.
pub(super) fn header(words: &[String], loc: &Location, known: &[Draft], d: &mut Diags) -> Draft {
    let name = words.get(1).cloned().unwrap_or_default();
    if name.is_empty() {
        d.error(loc, "'mysql-cluster' expects a name.");
    } else if let Some(extra) = words.get(2) {
        d.error(
            loc,
            format!("'mysql-cluster' cannot handle unexpected argument '{extra}'."),
        );
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        d.error(
            loc,
            format!("character '{c}' is not permitted in 'mysql-cluster' name '{name}'"),
        );
    } else if let Some(other) = known.iter().find(|k| k.cluster.name == name) {
        d.error(
            loc,
            format!(
                "mysql-cluster '{name}' has the same name as the one declared at {}",
                other.cluster.location
            ),
        );
    }
    Draft {
        cluster: MysqlCluster {
            name,
            location: loc.clone(),
            user: String::new(),
            password: Secret::default(),
            replication_user: None,
            replication_password: Secret::default(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            max_lag: DEFAULT_MAX_LAG,
            failover: false,
            failover_after: DEFAULT_FAILOVER_AFTER,
            failover_block: DEFAULT_FAILOVER_BLOCK,
            failover_confirm: DEFAULT_FAILOVER_CONFIRM,
            servers: Vec::new(),
        },
        user_set: false,
    }
}

/// One line inside a `mysql-cluster` section.
pub(super) fn keyword(draft: &mut Draft, words: &[String], loc: &Location, d: &mut Diags) {
    let key = words[0].as_str();
    let c = &mut draft.cluster;
    let result = match key {
        "server" => server_line(c, words, loc),
        _ if !KEYWORDS.contains(&key) => {
            let hint = super::keywords::did_you_mean(key, KEYWORDS.iter().copied());
            Err(format!(
                "unknown keyword '{key}' in 'mysql-cluster' section{hint}"
            ))
        }
        // `password "${PASS}"` with PASS unset or empty: the empty
        // password, which MySQL allows; said, since it is rarely meant.
        "password" | "replication-password" if words.len() == 1 => {
            d.warn(
                loc,
                format!("'{key}' is empty (an unset environment variable?): the account logs in without a password"),
            );
            let empty = Secret::default();
            if key == "password" {
                c.password = empty;
            } else {
                c.replication_password = empty;
            }
            Ok(())
        }
        _ => match &words[1..] {
            [] => Err(format!("'{key}' expects an argument.")),
            [_, extra, ..] => Err(format!(
                "'{key}' cannot handle unexpected argument '{extra}'."
            )),
            [v] => {
                let v = v.as_str();
                match key {
                    "user" => {
                        draft.user_set = true;
                        c.user = v.to_string();
                        Ok(())
                    }
                    "password" => {
                        c.password = Secret(v.to_string());
                        Ok(())
                    }
                    "password-file" => read_secret(v).map(|s| c.password = s),
                    "replication-user" => {
                        c.replication_user = Some(v.to_string());
                        Ok(())
                    }
                    "replication-password" => {
                        c.replication_password = Secret(v.to_string());
                        Ok(())
                    }
                    "replication-password-file" => {
                        read_secret(v).map(|s| c.replication_password = s)
                    }
                    "interval" => positive_time(v).map(|t| c.interval = t),
                    "timeout" => positive_time(v).map(|t| c.timeout = t),
                    "max-lag" => parse_time(v, 1_000_000).map(|t| c.max_lag = t),
                    "failover-block" => parse_time(v, 1_000).map(|t| c.failover_block = t),
                    "failover-confirm" => positive_time(v).map(|t| c.failover_confirm = t),
                    "failover" => match v {
                        "auto" => {
                            c.failover = true;
                            Ok(())
                        }
                        "off" => {
                            c.failover = false;
                            Ok(())
                        }
                        _ => Err(format!("'failover' expects 'auto' or 'off', not '{v}'.")),
                    },
                    "failover-after" => match v.parse::<u32>() {
                        Ok(n) if n >= 1 => {
                            c.failover_after = n;
                            Ok(())
                        }
                        _ => Err(format!(
                            "'failover-after' expects a number of rounds of at least 1, not '{v}'."
                        )),
                    },
                    _ => unreachable!("every keyword of KEYWORDS is handled"),
                }
                .map_err(|e| {
                    if e.starts_with('\'') {
                        e
                    } else {
                        format!("'{key}': {e}")
                    }
                })
            }
        },
    };
    if let Err(e) = result {
        d.error(loc, e);
    }
}

fn server_line(c: &mut MysqlCluster, words: &[String], loc: &Location) -> Result<(), String> {
    let (name, addr) = match &words[1..] {
        [name, addr] => (name, addr),
        [_, _, extra, ..] => {
            return Err(format!(
                "'server' in a mysql-cluster takes a name and an address, not '{extra}' (server options go on the backends' server lines)."
            ));
        }
        _ => return Err("'server' expects a name and an address:port.".to_string()),
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("server '{name}': '{addr}' is not an IP address with a port."))?;
    if let Some(other) = c.servers.iter().find(|s| s.name == *name) {
        return Err(format!(
            "server '{name}' is already declared at {}.",
            other.location
        ));
    }
    c.servers.push(ClusterServer {
        name: name.clone(),
        addr,
        location: loc.clone(),
    });
    Ok(())
}

fn positive_time(v: &str) -> Result<Duration, String> {
    match parse_time(v, 1_000)? {
        t if t.is_zero() => Err("must be greater than 0".to_string()),
        t => Ok(t),
    }
}

/// The first line of a file, without its line end.
fn read_secret(path: &str) -> Result<Secret, String> {
    let text = crate::host::read_file(std::path::Path::new(path))
        .map_err(|e| format!("cannot read '{path}': {e}"))?;
    let line = text.lines().next().unwrap_or("");
    Ok(Secret(line.to_string()))
}

/// The backend line `mysql-role writer|reader cluster NAME [max-lag TIME]`.
pub(super) fn backend_line(p: &mut ProxyDraft, words: &[String], loc: &Location, d: &mut Diags) {
    let usage =
        "'mysql-role' expects 'writer cluster NAME' or 'reader cluster NAME [max-lag TIME]'";
    let mut draft = RoleDraft {
        location: Some(loc.clone()),
        ..RoleDraft::default()
    };
    let rest = match &words[1..] {
        [which, kw, name, rest @ ..] if kw == "cluster" => {
            draft.cluster = name.clone();
            match which.as_str() {
                "writer" => draft.writer = true,
                "reader" => {}
                other => {
                    return d.error(
                        loc,
                        format!(
                            "'mysql-role': unknown role '{other}' (expected 'writer' or 'reader')."
                        ),
                    );
                }
            }
            rest
        }
        _ => return d.error(loc, format!("{usage}.")),
    };
    match rest {
        [] => {}
        [k, v] if k == "max-lag" && !draft.writer => match parse_time(v, 1_000_000) {
            Ok(t) => draft.max_lag = Some(t),
            Err(e) => return d.error(loc, format!("'mysql-role': 'max-lag': {e}")),
        },
        [extra, ..] => {
            return d.error(loc, format!("{usage}; unexpected argument '{extra}'."));
        }
    }
    p.mysql = Some(draft);
}

/// Every section's finished model, with the errors a whole section has.
pub(super) fn finish(drafts: Vec<Draft>, d: &mut Diags) -> Vec<MysqlCluster> {
    drafts
        .into_iter()
        .map(|draft| {
            let c = draft.cluster;
            if !draft.user_set || c.user.is_empty() {
                d.error(
                    &c.location,
                    format!(
                        "mysql-cluster '{}' has no 'user': the monitor needs an account to log in.",
                        c.name
                    ),
                );
            }
            if c.servers.is_empty() {
                d.error(
                    &c.location,
                    format!("mysql-cluster '{}' has no server.", c.name),
                );
            }
            if c.failover && c.servers.len() < 2 {
                d.warn(
                    &c.location,
                    format!(
                        "mysql-cluster '{}': 'failover auto' with one server can never promote anyone.",
                        c.name
                    ),
                );
            }
            c
        })
        .collect()
}

/// Binds each backend's `mysql-role` line to its section, and its
/// servers to the section's servers by name.
pub(super) fn link(config: &mut Config, proxies: &[ProxyDraft], d: &mut Diags) {
    let drafts = proxies
        .iter()
        .filter(|p| p.kind.back() && !super::validate::stats_only(p));
    for (be, p) in config.backends.iter_mut().zip(drafts) {
        let Some(draft) = &p.mysql else { continue };
        let loc = draft.location.clone().unwrap_or_else(|| p.location.clone());
        let Some(ci) = config
            .mysql_clusters
            .iter()
            .position(|c| c.name == draft.cluster)
        else {
            d.error(
                &loc,
                format!(
                    "backend '{}': unable to find mysql-cluster '{}'.",
                    be.name, draft.cluster
                ),
            );
            continue;
        };
        let cluster = &config.mysql_clusters[ci];
        let mut servers = Vec::with_capacity(be.servers.len());
        for s in &be.servers {
            match cluster.servers.iter().position(|c| c.name == s.name) {
                Some(i) => servers.push(i),
                None => d.error(
                    &s.location,
                    format!(
                        "backend '{}', server '{}': mysql-cluster '{}' has no server of that name (each server of a backend bound to a cluster must be one of its servers).",
                        be.name, s.name, cluster.name
                    ),
                ),
            }
        }
        let role = if draft.writer {
            Role::Writer
        } else {
            Role::Reader {
                max_lag: draft.max_lag.unwrap_or(cluster.max_lag),
            }
        };
        be.mysql = Some(MysqlRole {
            cluster: ci,
            role,
            servers,
        });
    }
}
