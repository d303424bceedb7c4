//! What the stack tests share: running the xtask binary on a stack of the test's own.
#![allow(dead_code)] // each test binary uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cargo xtask <args>` on the stack whose state is in `state`.
pub fn xtask(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("LOCALSTACK_PORT")
        .env_remove("DYNAMODB_PORT")
        .env_remove("FUNCTIONS_PORT")
        .output()
        .expect("xtask runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh state dir for a stack of the test's own.
pub fn state_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Brings the stack down even when an assertion fails half-way.
pub struct StackGuard(pub PathBuf);

impl Drop for StackGuard {
    fn drop(&mut self) {
        xtask(&self.0, &["down"]);
    }
}

/// `up` with a cheap bcrypt cost; panics with the log excerpt `up` printed if it fails.
pub fn up(state: &Path) {
    up_with(state, &[]);
}

pub fn up_with(state: &Path, extra: &[&str]) {
    let mut args = vec!["up", "--bcrypt-cost", "4"];
    args.extend_from_slice(extra);
    let out = xtask(state, &args);
    assert!(out.status.success(), "up failed:\n{}", stderr(&out));
}
