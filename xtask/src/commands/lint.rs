//! `cargo xtask lint`: formatting, clippy, and the template's validators.

use crate::install;
use crate::layout::Layout;
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(layout: &Layout) -> Result<()> {
    install::ensure_tools(layout)?;
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
    ];
    let mut failed = Vec::new();
    for (name, mut cmd) in checks {
        eprintln!("==> {name}");
        if !cmd.current_dir(&layout.root).status()?.success() {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}
