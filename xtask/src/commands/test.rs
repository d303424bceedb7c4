//! `cargo xtask test`: the project's test command. Brings the local stack up (unless it
//! already runs), runs the whole workspace's tests against it, and brings down what it started.

use super::{down, up};
use crate::layout::Layout;
use crate::{env_file, services};
use anyhow::{Result, bail};
use std::process::Command;

pub fn run(layout: &Layout, up_args: &up::UpArgs, cargo_test_args: &[String]) -> Result<()> {
    let already_up = services::all_running(layout);
    // Cost 4 keeps bcrypt out of the tests' way; the benchmark measures the real cost.
    let mut up_args = up_args.clone();
    up_args.bcrypt_cost.get_or_insert(4);
    up::run(layout, &up_args)?;
    let result = cargo_test(layout, cargo_test_args).and_then(|()| no_secrets_in_logs(layout));
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
    cmd.env("PATH", layout.path_with_tools());
    eprintln!("==> cargo test --workspace {}", args.join(" "));
    if !cmd.status()?.success() {
        bail!("tests failed");
    }
    Ok(())
}

/// The tests sign users up with the password "correct horse..." through the functions; their
/// logs (cargo lambda watch's, with every function's output, and the bridge's) must show no
/// password, no bcrypt hash and no JWT.
pub fn no_secrets_in_logs(layout: &Layout) -> Result<()> {
    let logs: Vec<_> = [services::WATCH, services::BRIDGE]
        .iter()
        .map(|log| layout.logs_dir().join(format!("{log}.log")))
        .collect();
    no_secrets_in(&logs)
}

/// Fails naming every line of `logs` that holds a test password, a bcrypt hash or a JWT.
pub fn no_secrets_in(logs: &[std::path::PathBuf]) -> Result<()> {
    let mut leaks = Vec::new();
    for path in logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if let Some(what) = secret_in(line) {
                leaks.push(format!("{}:{}: {what}", path.display(), n + 1));
            }
        }
    }
    if !leaks.is_empty() {
        bail!("secrets in the functions' logs:\n{}", leaks.join("\n"));
    }
    eprintln!("==> no password, hash or token in the functions' logs");
    Ok(())
}

fn secret_in(line: &str) -> Option<&'static str> {
    let bcrypt = ["$2a$", "$2b$", "$2y$"].iter().any(|p| line.contains(p));
    // A JWT is base64url JSON: header and claims both start with `eyJ` (`{"`).
    let jwt = line
        .match_indices("eyJ")
        .any(|(i, _)| line[i..].split('.').take(2).all(|part| part.starts_with("eyJ")));
    if line.contains("correct horse") {
        Some("a test password")
    } else if bcrypt {
        Some("a bcrypt hash")
    } else if jwt {
        Some("a JWT")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognises_passwords_hashes_and_tokens() {
        assert!(super::secret_in("password=correct horse battery").is_some());
        assert!(super::secret_in("hash $2b$12$abcdefghijklmnopqrstuv").is_some());
        assert!(super::secret_in("token eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.sig").is_some());
        assert!(super::secret_in("create-user status=201 latency_ms=3.1 request_id=\"abc\"").is_none());
    }
}
