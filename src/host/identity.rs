//! Giving up root, as HAProxy does after binding: `chroot`, then the
//! group (`group`/`gid`), then the user (`user`/`uid`). The serving process
//! keeps only the capabilities its VRRP speaker needs (CAP_NET_RAW for its
//! raw and packet sockets, CAP_NET_ADMIN to add and remove the virtual
//! addresses), and none at all without a `vrrp` section.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::sys::process;

/// CAP_NET_ADMIN (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
/// CAP_NET_RAW (linux/capability.h).
const CAP_NET_RAW: u32 = 13;

/// The identity `global` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chroot: Option<PathBuf>,
    /// Keep what the VRRP speaker needs (a `vrrp` section is configured).
    pub vrrp: bool,
}

/// Why the identity cannot be taken.
#[derive(Debug)]
pub(crate) enum IdentityError {
    /// Not started as root, and asked for another identity or a jail.
    NotRoot(String),
    Chroot(PathBuf, io::Error),
    Groups(io::Error),
    Gid(u32, io::Error),
    Uid(u32, io::Error),
    Caps(io::Error),
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::NotRoot(what) => {
                write!(f, "cannot {what}: splicer was not started as root")
            }
            IdentityError::Chroot(dir, e) => write!(f, "cannot chroot({}): {e}", dir.display()),
            IdentityError::Groups(e) => write!(f, "cannot drop the supplementary groups: {e}"),
            IdentityError::Gid(gid, e) => write!(f, "cannot set gid {gid}: {e}"),
            IdentityError::Uid(uid, e) => write!(f, "cannot set uid {uid}: {e}"),
            IdentityError::Caps(e) => write!(f, "cannot set the capabilities kept: {e}"),
        }
    }
}

impl Identity {
    /// Whether taking this identity changes anything for this process.
    fn changes(&self) -> bool {
        self.chroot.is_some()
            || self.uid.is_some_and(|u| u != process::uid())
            || self.gid.is_some_and(|g| g != process::gid())
    }

    /// Whether the process must split (`privsep`) before binding: it runs
    /// as root and gives root up. Without root, [`Identity::take`] either
    /// has nothing to do or fails with a clear error.
    pub(crate) fn needs_split(&self) -> bool {
        process::euid() == 0 && self.changes()
    }

    /// The capabilities the serving process keeps, as a bit set.
    fn kept_caps(&self) -> u64 {
        if self.vrrp {
            (1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN)
        } else {
            0
        }
    }

    /// Checks, before anything is bound, that a process that is not root
    /// is asked for nothing it cannot do.
    pub(crate) fn check(&self) -> Result<(), IdentityError> {
        if !self.changes() || process::euid() == 0 {
            return Ok(());
        }
        if let Some(dir) = &self.chroot {
            return Err(IdentityError::NotRoot(format!(
                "chroot to {}",
                dir.display()
            )));
        }
        if let Some(gid) = self.gid.filter(|g| *g != process::gid()) {
            return Err(IdentityError::NotRoot(format!("set gid {gid}")));
        }
        match self.uid.filter(|u| *u != process::uid()) {
            Some(uid) => Err(IdentityError::NotRoot(format!("set uid {uid}"))),
            None => Ok(()),
        }
    }

    /// Takes the identity: jail, groups, user, capabilities. Call after the
    /// first sockets are bound and before any other thread starts (they
    /// inherit the result).
    pub(crate) fn take(&self) -> Result<(), IdentityError> {
        self.check()?;
        if !self.changes() {
            return Ok(());
        }
        if let Some(dir) = &self.chroot {
            // The C library reads the time zone (/etc/localtime) once, on
            // first use: before the jail hides it, as HAProxy does.
            let _ = crate::sys::localtime(0);
            std::os::unix::fs::chroot(dir)
                .and_then(|()| std::env::set_current_dir("/"))
                .map_err(|e| IdentityError::Chroot(dir.clone(), e))?;
        }
        // Root's supplementary groups must not follow the process (HAProxy
        // drops them when a group is set; splicer always does).
        process::set_groups(&[]).map_err(IdentityError::Groups)?;
        if let Some(gid) = self.gid {
            process::set_gid(gid).map_err(|e| IdentityError::Gid(gid, e))?;
        }
        let caps = self.kept_caps();
        if let Some(uid) = self.uid.filter(|u| *u != 0) {
            process::keep_caps(caps != 0).map_err(IdentityError::Caps)?;
            process::set_uid(uid).map_err(|e| IdentityError::Uid(uid, e))?;
            process::set_caps(caps).map_err(IdentityError::Caps)?;
            process::keep_caps(false).map_err(IdentityError::Caps)?;
            // Nothing run from here on may gain privileges back.
            process::no_new_privs().map_err(IdentityError::Caps)?;
        }
        // The new credentials cleared the parent-death signal: without it, a
        // serving process would outlive its privileged parent.
        super::privsep::rearm_parent_death().map_err(IdentityError::Caps)?;
        log::info!(
            "serving as uid {} gid {}{}{}",
            process::uid(),
            process::gid(),
            self.chroot
                .as_ref()
                .map(|d| format!(", chrooted in {}", d.display()))
                .unwrap_or_default(),
            if caps != 0 {
                ", keeping CAP_NET_RAW and CAP_NET_ADMIN for VRRP"
            } else {
                ""
            }
        );
        Ok(())
    }
}
