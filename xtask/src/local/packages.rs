//! The machine's own packages that `sam local` needs (a Docker engine, arm64 emulation, and
//! `mmdebstrap` for the stand-in base image): unlike the tools under `.local/`, they are the
//! system's. Where xtask can install them (root, with apt-get: Debian, Ubuntu, CI) it does,
//! saying which; where it cannot, it stops with the command to run.

use super::install;
use super::process::run_logged;
use crate::layout::Layout;
use crate::ui;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// A program, and the Debian package that ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub program: &'static str,
    pub package: &'static str,
}

pub const DOCKER: Need = Need {
    program: "docker",
    package: "docker.io",
};
pub const DOCKERD: Need = Need {
    program: "dockerd",
    package: "docker.io",
};
pub const QEMU_AARCH64: Need = Need {
    program: "qemu-aarch64-static",
    package: "qemu-user-static",
};
pub const UPDATE_BINFMTS: Need = Need {
    program: "update-binfmts",
    package: "binfmt-support",
};
pub const MMDEBSTRAP: Need = Need {
    program: "mmdebstrap",
    package: "mmdebstrap",
};

/// `program` on `PATH`, or in the sbin directories a user's `PATH` may lack (`dockerd` and
/// `update-binfmts` live in /usr/sbin).
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The packages of `needs` whose program is missing, each once, in order.
pub fn missing(needs: &[Need]) -> Vec<&'static str> {
    let mut packages = Vec::new();
    for need in needs {
        if find(need.program).is_none() && !packages.contains(&need.package) {
            packages.push(need.package);
        }
    }
    packages
}

/// Whether xtask can install system packages itself: root, on a system with apt-get.
pub fn can_install() -> bool {
    cfg!(target_os = "linux") && super::process::is_root() && find("apt-get").is_some()
}

/// The command that installs `packages`, for a user to run: apt-get's where there is one
/// (`apt`), with sudo unless the user is root.
pub fn install_command(packages: &[&str], apt: bool, sudo: bool) -> String {
    if !apt {
        return format!(
            "(with your system's package manager; Debian's names) {}",
            packages.join(" ")
        );
    }
    let sudo = if sudo { "sudo " } else { "" };
    format!("{sudo}apt-get install -y {}", packages.join(" "))
}

/// Installs `packages` with apt-get (`why` says what needs them), one step the user sees.
/// The caller has checked [`can_install`].
pub async fn install(layout: &Layout, packages: &[&str], why: &str) -> Result<()> {
    // Another xtask run of this checkout may be installing the same: one at a time (apt-get
    // itself waits for dpkg's lock against every other user of it).
    let _lock = install::install_lock(layout).await?;
    let label = format!("Installing {} with apt-get, as root ({why})", packages.join(", "));
    let log = layout.logs_dir().join("apt-get.log");
    ui::step(&label, async |progress| {
        // The package lists of a fresh machine (a CI image) are empty: update them, once.
        static UPDATED: AtomicBool = AtomicBool::new(false);
        if !UPDATED.load(Ordering::Relaxed) {
            run_logged(apt_get(&["update", "-qq"]), &log, progress).await?;
            UPDATED.store(true, Ordering::Relaxed);
        }
        let install = [&["install", "-y", "-qq"][..], packages].concat();
        run_logged(apt_get(&install), &log, progress).await
    })
    .await
}

/// Makes sure the programs of `needs` are here: installs their packages where xtask can, else
/// fails with the command that does.
pub async fn ensure(layout: &Layout, needs: &[Need], why: &str) -> Result<()> {
    let packages = missing(needs);
    if packages.is_empty() {
        return Ok(());
    }
    if !can_install() {
        bail!(
            "{why}: {} missing. Install it, then run this again:\n    {}",
            packages.join(", "),
            install_command(&packages, find("apt-get").is_some(), !super::process::is_root())
        );
    }
    install(layout, &packages, why).await?;
    let left = missing(needs);
    if !left.is_empty() {
        bail!("apt-get installed {} but not {}", packages.join(", "), left.join(", "));
    }
    Ok(())
}

fn apt_get(args: &[&str]) -> Command {
    let mut cmd = Command::new("apt-get");
    // Waits for dpkg's lock (another apt-get, unattended-upgrades) rather than failing at once.
    cmd.args(["-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}
