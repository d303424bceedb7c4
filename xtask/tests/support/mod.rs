//! What the stack tests share: running the xtask binary on a stack of the test's own.
#![allow(dead_code)] // each test binary uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use xtask::local::{process, services};

/// `cargo xtask <args>` on the stack whose state is in `state`.
pub fn xtask(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("LOCALSTACK_PORT")
        .env_remove("DYNAMODB_PORT")
        .env_remove("FUNCTIONS_PORT")
        .env_remove("API_PORT")
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

pub use testkit::blocking;

/// A server a test started itself (a second cargo lambda watch, `sam local start-api`):
/// stopped, with its process group, when dropped, even when an assertion failed.
pub struct Served(pub process::ServiceRecord);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = process::stop(&self.0, Duration::from_secs(10));
    }
}

/// Starts `cmd` as the service `name` on `port`, output in `log`, and waits (up to 120 s)
/// until it answers HTTP; `what` names it in a failure.
pub fn serve(name: &str, cmd: Command, port: u16, log: &Path, what: &str) -> Served {
    let server = process::spawn_service(name, cmd, port, log).unwrap();
    let served = Served(server.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !blocking(services::answers_http(port)) {
        assert!(server.is_running(), "{what} exited:\n{}", process::log_tail(log, 20));
        assert!(Instant::now() < deadline, "{what} did not answer within 120 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    served
}

/// How many emails to `to` LocalStack's SES (on `localstack_port`) has accepted, waiting up to
/// `wait` for the first.
pub fn emails_to(localstack_port: u16, to: &str, wait: Duration) -> usize {
    let outbox = local_stack::ses::Outbox::at(&local_stack::loopback_url(localstack_port));
    let deadline = Instant::now() + wait;
    blocking(async {
        loop {
            let count = outbox.emails_to(to).await.unwrap().len();
            if count > 0 || Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}
