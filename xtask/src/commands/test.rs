//! `cargo xtask test`: the project's test command. Brings the local stack up (unless it
//! already runs), runs the whole workspace's tests against it, and brings down what it started.

use super::{down, up};
use crate::layout::Layout;
use crate::process::ServiceRecord;
use crate::{env_file, services};
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(layout: &Layout, up_args: &up::UpArgs, cargo_test_args: &[String]) -> Result<()> {
    let already_up = layout.stack_env().exists()
        && services::ALL
            .iter()
            .all(|n| ServiceRecord::load(&layout.run_dir(), n).is_some_and(|r| r.is_running()));
    // Cost 4 keeps bcrypt out of the tests' way; the benchmark measures the real cost.
    let mut up_args = up_args.clone();
    up_args.bcrypt_cost.get_or_insert(4);
    up::run(layout, &up_args)?;
    let result = cargo_test(layout, cargo_test_args);
    if !already_up {
        down::run(layout)?;
    }
    result
}

fn cargo_test(layout: &Layout, args: &[String]) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--workspace"]).args(args).current_dir(&layout.root);
    cmd.envs(env_file::read(&layout.stack_env())?);
    // cargo lambda, sam and aws come from the tools venv.
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", layout.tools_bin().display()));
    eprintln!("==> cargo test --workspace {}", args.join(" "));
    if !cmd.status()?.success() {
        bail!("tests failed");
    }
    Ok(())
}
