//! A smaller load run than `cargo xtask bench`'s, on a stack of the test's own: many sign-ups at
//! once, then many at once for a few emails. No 5xx, one user and one email per distinct
//! address, a 409 for every repeat, an empty DLQ, no secret in the functions' logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use xtask::env_file::StackEnv;
use xtask::layout::Layout;

fn xtask(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("xtask runs")
}

struct StackGuard(PathBuf);
impl Drop for StackGuard {
    fn drop(&mut self) {
        xtask(&self.0, &["down"]);
    }
}

#[test]
fn concurrent_sign_ups_keep_every_promise() {
    let state = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let _guard = StackGuard(state.clone());
    let out = xtask(&state, &["up", "--bcrypt-cost", "4"]);
    assert!(
        out.status.success(),
        "up failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layout = Layout::new(Layout::workspace_root(), Some(state.clone()));
    let env = StackEnv::load(&layout).unwrap();

    for (signups, concurrency, distinct) in [(200, 20, None), (100, 100, Some(10))] {
        let report = xtask::load::run(&env, signups, concurrency, distinct).unwrap();
        assert!(
            report.problems().is_empty(),
            "{signups} sign-ups: {:?}",
            report.problems()
        );
    }
    xtask::commands::test::no_secrets_in_logs(&layout).unwrap();
}
