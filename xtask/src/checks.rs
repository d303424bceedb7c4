//! The project's static checks, which `cargo xtask lint` runs: formatting, clippy, the
//! template's validators, the dependency policy (`deny.toml`), and that the declared
//! `rust-version` is what the locked dependencies really need.

use crate::layout::Layout;
use crate::local::install;
use anyhow::{Result, bail};
use std::process::Command;

pub async fn run(layout: &Layout) -> Result<()> {
    install::tools(layout).await?;
    let bin = layout.tools_bin();
    let template = layout.template();
    let checks: Vec<(&str, Command)> = vec![
        ("cargo fmt --check", cargo(&["fmt", "--all", "--check"])),
        (
            "cargo clippy -D warnings",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        ("sam validate --lint", {
            let mut c = Command::new(bin.join("sam"));
            c.args(["validate", "--lint", "--region", "us-east-1", "--template"])
                .arg(&template);
            c.env("SAM_CLI_TELEMETRY", "0");
            c
        }),
        ("cfn-lint", {
            let mut c = Command::new(bin.join("cfn-lint"));
            c.arg(&template);
            c
        }),
        // cargo deny reads every platform's dependencies (`cargo metadata`); offline, it fails
        // on a machine whose cache holds only this platform's (a fresh CI machine's does).
        ("cargo fetch --locked (every platform's crates, for cargo deny)", {
            let mut c = crate::cargo();
            c.args(["fetch", "--locked"]);
            c
        }),
        ("cargo deny check bans licenses sources", {
            let mut c = Command::new(bin.join("cargo-deny"));
            c.args(["--offline", "check", "bans", "licenses", "sources"]);
            c
        }),
    ];
    let mut failed = Vec::new();
    for (name, mut cmd) in checks {
        eprintln!("==> {name}");
        if !cmd.current_dir(&layout.root).status()?.success() {
            failed.push(name);
        }
    }
    eprintln!("==> cargo deny check advisories");
    if let Err(e) = advisories(layout) {
        eprintln!("{e:#}");
        failed.push("advisories");
    }
    eprintln!("==> rust-version covers the locked dependencies");
    if let Err(e) = rust_version_is_honest(layout) {
        eprintln!("{e:#}");
        failed.push("rust-version");
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// RustSec's advisories, where its database (a git repository on GitHub) can be fetched. Where
/// it cannot (no route to GitHub, as on machines that reach only the package registries), the
/// check is skipped with a message that says so: it is not a pass.
fn advisories(layout: &Layout) -> Result<()> {
    let out = Command::new(layout.tools_bin().join("cargo-deny"))
        .args(["check", "advisories"])
        .current_dir(&layout.root)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Ok(());
    }
    // cargo-deny 0.20's wording (install.rs pins it): re-check it when that pin moves.
    if stderr.contains("failed to fetch advisory database") {
        eprintln!(
            "SKIPPED: the RustSec advisory database (https://github.com/RustSec/advisory-db) cannot be \
             fetched from this machine, so no advisory was checked. Run `cargo xtask lint` where GitHub \
             is reachable."
        );
        return Ok(());
    }
    bail!("{stderr}")
}

fn cargo(args: &[&str]) -> Command {
    let mut c = crate::cargo();
    c.args(args);
    c
}

/// A user on an older toolchain than a locked dependency needs gets cargo's refusal instead of
/// the README's promise: the workspace must declare at least the highest `rust-version` of
/// everything in Cargo.lock.
fn rust_version_is_honest(layout: &Layout) -> Result<()> {
    let out = cargo(&["metadata", "--format-version", "1", "--locked"])
        .current_dir(&layout.root)
        .output()?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    let version_of = |p: &serde_json::Value| p["rust_version"].as_str().map(parse_version);
    let declared = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(version_of)
        .min()
        .unwrap_or_default();
    let needed = packages
        .iter()
        .filter_map(|p| Some((version_of(p)?, p["name"].as_str()?.to_owned())))
        .max();
    match needed {
        Some((version, name)) if version > declared => bail!(
            "{name} needs Rust {} but the workspace declares rust-version {}: raise it in Cargo.toml",
            show(version),
            show(declared)
        ),
        _ => Ok(()),
    }
}

fn parse_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text.split('.').map(|p| p.parse().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn show((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_as_numbers() {
        assert!(super::parse_version("1.94.1") > super::parse_version("1.88"));
        assert!(super::parse_version("1.100") > super::parse_version("1.94.1"));
        assert_eq!(super::parse_version("1.88"), (1, 88, 0));
    }
}
