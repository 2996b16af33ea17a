//! `show ssl cert`, `set/commit/abort ssl cert` and `show ssl crt-list`:
//! the certificates of the config in effect, listed, described, and
//! replaced without a reload (what an ACME client does after a renewal),
//! in HAProxy 2.6's words. The certificates are the runtime's
//! ([`crate::tls::Store`], shared by every worker): a commit is seen by the
//! next handshake on every worker; sessions already up keep their
//! certificate. A reload reads the files again and drops a transaction not
//! committed, as HAProxy's does.

use std::fmt::Write;

use crate::config::Level;
use crate::tls::{
    AbortError, CertInfo, CommitError, CrtList, Opened, Part, PemError, SetError, chain_names,
    describe, read_ocsp,
};

use super::cli::{Command, Ctx, cmd};

/// The commands of this file.
pub(super) const COMMANDS: &[Command] = &[
    // HAProxy checks the operator level itself, with an odd message.
    cmd(
        &["show", "ssl", "cert"],
        Level::User,
        "show ssl cert [<certfile>]",
        "display the SSL certificates used in memory, or the details of a file",
        show_cert,
    ),
    cmd(
        &["set", "ssl", "cert"],
        Level::Admin,
        "set ssl cert <certfile> <payload>",
        "replace a certificate file",
        set_cert,
    ),
    cmd(
        &["commit", "ssl", "cert"],
        Level::Admin,
        "commit ssl cert <certfile>",
        "commit a certificate file",
        commit_cert,
    ),
    cmd(
        &["abort", "ssl", "cert"],
        Level::Admin,
        "abort ssl cert <certfile>",
        "abort a transaction for a certificate file",
        abort_cert,
    ),
    cmd(
        &["show", "ssl", "crt-list"],
        Level::Admin,
        "show ssl crt-list [-n] [<list>]",
        "show the list of crt-lists or the content of a crt-list file <list>",
        show_crt_list,
    ),
];

/// `show ssl cert`: the transaction, then every file by name; `show ssl
/// cert [*]FILE[.ocsp]`: one of them in detail.
fn show_cert(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    if ctx.session.level < Level::Operator {
        // HAProxy 2.6's answer to a user-level session, word for word.
        return out.push_str("Can't allocate memory!\n");
    }
    let store = &ctx.rt.tls.store;
    let Some(name) = args.get(3).filter(|a| !a.is_empty()) else {
        if let Some(p) = store.pending() {
            let _ = writeln!(out, "# transaction\n*{}", p.path.display());
        }
        out.push_str("# filename\n");
        let mut names: Vec<String> = store
            .all()
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            out.push_str(&n);
            out.push('\n');
        }
        return;
    };
    const NOT_FOUND: &str =
        "Can't display the certificate: Not found or the certificate is a bundle!\n";
    let (name, ocsp_only) = match name.rsplit_once('.') {
        Some((base, "ocsp")) => (base, true),
        _ => (name.as_str(), false),
    };
    let cert = match name.strip_prefix('*') {
        Some(file) => store
            .pending()
            .filter(|p| p.path.as_os_str() == file)
            .map(|p| {
                let info = p.parts.chain.first().and_then(|c| describe(c).ok());
                Shown {
                    name: format!("*{file}"),
                    used: false,
                    info,
                    chain: chain_names(p.parts.chain.get(1..).unwrap_or_default()),
                    ocsp: p.parts.ocsp.clone(),
                }
            }),
        None => store.named(name).map(|slot| {
            let l = slot.current();
            Shown {
                name: name.to_string(),
                used: ctx.rt.tls.uses(&slot) > 0,
                info: Some(l.info.clone()),
                chain: chain_names(l.key.cert.get(1..).unwrap_or_default()),
                ocsp: l.ocsp.clone(),
            }
        }),
    };
    match cert {
        None => out.push_str(NOT_FOUND),
        // HAProxy prints OpenSSL's text of the response (nothing when
        // there is none); splicer has no such printer and prints nothing.
        Some(_) if ocsp_only => {}
        Some(c) => c.write(out),
    }
}

/// One certificate as `show ssl cert FILE` describes it.
struct Shown {
    /// `*FILE` for the transaction.
    name: String,
    used: bool,
    info: Option<CertInfo>,
    /// Subject and issuer of each certificate after the first.
    chain: Vec<(String, String)>,
    ocsp: Option<Vec<u8>>,
}

impl Shown {
    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "Filename: {}", self.name);
        let status = if self.used { "Used" } else { "Unused" };
        let _ = writeln!(out, "Status: {status}");
        if let Some(i) = &self.info {
            self.details(i, out);
        }
        let key: String = self
            .ocsp
            .as_ref()
            .and_then(|der| read_ocsp(der).ok())
            .map(|r| r.cert_id.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "OCSP Response Key: {key}");
    }

    fn details(&self, i: &CertInfo, out: &mut String) {
        let _ = writeln!(out, "Serial: {}", i.serial);
        let _ = writeln!(out, "notBefore: {}", i.not_before);
        let _ = writeln!(out, "notAfter: {}", i.not_after);
        let names: Vec<String> = i
            .alt_names
            .iter()
            .map(|n| n.as_ref().map(|d| format!("DNS:{d}")).unwrap_or_default())
            .collect();
        let _ = writeln!(out, "Subject Alternative Name: {}", names.join(", "));
        out.push_str("Algorithm: ");
        let Some(algorithm) = &i.algorithm else {
            // HAProxy stops here for a key that is neither RSA, EC nor DSA.
            return;
        };
        let _ = writeln!(out, "{algorithm}");
        let _ = writeln!(out, "SHA1 FingerPrint: {}", i.sha1);
        let _ = writeln!(out, "Subject: {}", i.subject);
        let _ = writeln!(out, "Issuer: {}", i.issuer);
        for (subject, issuer) in &self.chain {
            let _ = writeln!(out, "Chain Subject: {subject}\nChain Issuer: {issuer}");
        }
    }
}

/// `set ssl cert FILE <<` and the PEM (or `FILE.key`, `FILE.ocsp`,
/// `FILE.issuer` and their part).
fn set_cert(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let (Some(name), Some(payload)) = (args.get(3).filter(|a| !a.is_empty()), ctx.payload) else {
        return out.push_str("'set ssl cert expects a filename and a certificate as a payload\n");
    };
    let base = Part::of(name).0;
    match ctx.rt.tls.store.set(name, payload.as_bytes()) {
        Ok((opened, path)) => {
            let how = match opened {
                Opened::Created => "created",
                Opened::Updated => "updated",
            };
            let _ = writeln!(out, "Transaction {how} for certificate {}!", path.display());
        }
        Err(e) => {
            match e {
                SetError::Busy(open) => {
                    let _ = writeln!(
                        out,
                        "The ongoing transaction is about '{}' but you are trying to set '{base}'",
                        open.display()
                    );
                }
                SetError::Unknown => out.push_str(
                    "Can't replace a certificate which is not referenced by the configuration!\n",
                ),
                load => {
                    let why = match load {
                        SetError::Pem(PemError::Certificate) => {
                            format!("unable to load certificate from file '{base}'.\n")
                        }
                        SetError::Pem(PemError::Chain) => {
                            format!("unable to load certificate chain from file '{base}'.\n")
                        }
                        SetError::Key => {
                            format!("unable to load private key from file '{base}'.\n")
                        }
                        // No line end: HAProxy's message runs into the next.
                        SetError::Ocsp => "Error reading OCSP response in base64 format".into(),
                        SetError::Issuer => format!("'{base}' cannot be read or parsed'.\n"),
                        _ => String::new(),
                    };
                    let _ = writeln!(out, "{why}Can't load the payload");
                }
            }
            let _ = writeln!(out, "Can't update {name}!");
        }
    }
}

/// `commit ssl cert FILE`.
fn commit_cert(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(3).filter(|a| !a.is_empty()) else {
        return out.push_str("'commit ssl cert expects a filename\n");
    };
    let tls = &ctx.rt.tls;
    let why = match tls.commit(name) {
        Ok((done, uses)) => {
            // One dot per `crt`, crt-list line or server rebuilt, as HAProxy.
            let dots = ".".repeat(uses);
            let _ = write!(out, "Committing {name}{dots}\nSuccess!\n");
            if let Some(why) = done.ocsp_ignored {
                log::warn!("Loading: {why}. Content will be ignored");
            }
            log::info!("TLS: certificate {name} committed over the runtime API");
            return;
        }
        Err(CommitError::Failed(why)) => {
            let _ = write!(out, "Committing {name}\n{why}Failed!\n");
            return;
        }
        Err(CommitError::NoTransaction) => "No ongoing transaction! !\n".to_string(),
        Err(CommitError::Other(open)) => format!(
            "The ongoing transaction is about '{}' but you are trying to set '{name}'\n",
            open.display()
        ),
        Err(CommitError::NoKey) => {
            "The transaction must contain at least a certificate and a private key!\n".to_string()
        }
        Err(CommitError::Mismatch) => {
            format!("inconsistencies between private key and certificate loaded '{name}'.\n")
        }
    };
    let _ = writeln!(out, "{why}Can't commit {name}!");
}

/// `abort ssl cert FILE`.
fn abort_cert(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let Some(name) = args.get(3).filter(|a| !a.is_empty()) else {
        return out.push_str("'abort ssl cert' expects a filename\n");
    };
    match ctx.rt.tls.store.abort(name) {
        Ok(()) => {
            let _ = writeln!(out, "Transaction aborted for certificate '{name}'!");
        }
        Err(AbortError::NoTransaction) => out.push_str("No ongoing transaction!\n"),
        Err(AbortError::Other(open)) => {
            let _ = writeln!(
                out,
                "The ongoing transaction is about '{}' but you are trying to abort a transaction for '{name}'",
                open.display()
            );
        }
    }
}

/// `show ssl crt-list [-n] [FILE]`: the crt-list files and `crt`
/// directories, or one's lines (`-n`: with their numbers).
fn show_crt_list(ctx: &mut Ctx<'_>, args: &[String], out: &mut String) {
    let numbered = args.get(3).is_some_and(|a| a == "-n");
    let name = args.get(if numbered { 4 } else { 3 });
    if numbered && name.is_none_or(|n| n.is_empty()) {
        return out.push_str("'show ssl crt-list -n' expects a filename or a directory\n");
    }
    let lists = ctx.rt.tls.crt_lists();
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        for l in &lists {
            out.push_str(&l.path);
            out.push('\n');
        }
        return;
    };
    let name = name.trim_end_matches('/');
    match lists.iter().find(|l| l.path == name) {
        None => out.push_str("didn't find the specified filename\n"),
        Some(list) => write_list(list, numbered, out),
    }
}

/// A crt-list's lines as HAProxy dumps them: usable as a crt-list file,
/// but for the line numbers of `-n`.
fn write_list(list: &CrtList, numbered: bool, out: &mut String) {
    /// The crt-list options in the order HAProxy prints them.
    const ORDER: &[&str] = &[
        "npn",
        "alpn",
        "verify",
        "no-ca-names",
        "allow-0rtt",
        "ca-file",
        "crl-file",
        "ciphers",
        "ciphersuites",
        "curves",
        "ecdhe",
        "ssl-min-ver",
        "ssl-max-ver",
    ];
    let _ = writeln!(out, "# {}", list.path);
    for line in &list.lines {
        out.push_str(&line.cert.display().to_string());
        if numbered {
            let _ = write!(out, ":{}", line.line);
        }
        if let Some(options) = &line.text.options {
            let shown: Vec<String> = ORDER
                .iter()
                .filter_map(|key| {
                    // The last one written wins, as in HAProxy's settings.
                    let (_, value) = options.iter().rev().find(|(k, _)| k == key)?;
                    Some(match *key {
                        // HAProxy ends these with the NUL of its protocol
                        // list, and prints it.
                        "npn" | "alpn" => format!("{key} {value}\0"),
                        _ if value.is_empty() => key.to_string(),
                        _ => format!("{key} {value}"),
                    })
                })
                .collect();
            let _ = write!(out, " [{}]", shown.join(" "));
        }
        for f in &line.text.filters {
            out.push(' ');
            out.push_str(f);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests;
