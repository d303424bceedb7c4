//! Logs as Lambda's advanced logging controls ask for them (`AWS_LAMBDA_LOG_FORMAT=JSON`,
//! the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), with one difference
//! from `lambda_runtime::tracing::init_default_subscriber`: only this project's own crates
//! may log below INFO.
//!
//! At TRACE, lambda_runtime logs every raw event (a sign-up's password) and the AWS SDK logs
//! request and response bodies (the bcrypt hash on its way to DynamoDB). A level or a
//! `RUST_LOG=aws_smithy_runtime=trace` directive set while debugging must not turn that on,
//! so the cap is a second filter that the environment cannot reach.

use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Crates whose logs we wrote and know to be free of secrets at every level: the functions
/// and the crates of ours they link.
pub const OWN_CRATES: [&str; 6] = [
    "create_user",
    "send_email",
    "publish_outbox",
    "user_events",
    "user_store",
    "lambda_support",
];

/// The most any other crate (the runtime, the SDK, hyper, rustls, ...) may log.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::INFO;

/// The cap as a filter: TRACE for our crates, [`DEPENDENCY_CAP`] for everything else.
pub fn cap() -> Targets {
    OWN_CRATES
        .iter()
        .fold(Targets::new().with_default(DEPENDENCY_CAP), |targets, krate| {
            targets.with_target(*krate, LevelFilter::TRACE)
        })
}

/// The level the environment asks for, and any `RUST_LOG` directives.
fn requested() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
}

/// Installs the global subscriber: stdout, which Lambda sends to CloudWatch Logs (it adds the
/// timestamp, so the lines carry none).
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colour only for a person at a terminal: CloudWatch shows escape codes as they are.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let lines = fmt::layer().with_target(false).without_time().with_ansi(ansi);
    let lines = if json { lines.json().boxed() } else { lines.boxed() };
    tracing_subscriber::registry()
        .with(lines.with_filter(requested()).with_filter(cap()))
        .init();
    // Shows in the logs that TRACE is in effect: the secret scan of `cargo xtask test`, which
    // runs the functions at TRACE, requires it.
    tracing::trace!("{TRACE_MARKER}");
}

/// The line [`init`] logs at TRACE.
pub const TRACE_MARKER: &str = "logging at TRACE: dependencies capped at INFO";

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn dependencies_are_capped_at_info_and_our_crates_are_not() {
        let cap = cap();
        for target in [
            "lambda_runtime::layers::api_response",
            "aws_smithy_runtime::client",
            "hyper",
            "h2::codec",
        ] {
            assert!(!cap.would_enable(target, &Level::DEBUG), "{target} at DEBUG");
            assert!(!cap.would_enable(target, &Level::TRACE), "{target} at TRACE");
            assert!(cap.would_enable(target, &Level::INFO), "{target} at INFO");
        }
        for target in [
            "create_user::handler",
            "send_email",
            "publish_outbox",
            "user_store::outbox",
        ] {
            assert!(cap.would_enable(target, &Level::TRACE), "{target}");
        }
    }

    /// The list is the workspace's functions and the crates of ours they link, read from the
    /// manifests: a crate left out would have its DEBUG and TRACE lines dropped unnoticed.
    #[test]
    fn own_crates_are_the_functions_and_the_workspace_crates_they_link() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read =
            |path: std::path::PathBuf| std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        // `name = { path = "crates/..." }` in [workspace.dependencies].
        let ours: Vec<String> = read(root.join("Cargo.toml"))
            .lines()
            .filter(|l| l.contains("path = \"crates/"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        let mut linked = std::collections::BTreeSet::new();
        for function in std::fs::read_dir(root.join("functions")).unwrap() {
            let manifest = read(function.unwrap().path().join("Cargo.toml"));
            let name = manifest.lines().find_map(|l| l.strip_prefix("name = ")).unwrap();
            linked.insert(name.trim_matches('"').to_owned());
            let dependencies = manifest.split("\n[dependencies]\n").nth(1).unwrap();
            let dependencies = dependencies.split("\n[").next().unwrap();
            for line in dependencies.lines() {
                let dependency = line.split(['.', ' ', '=']).next().unwrap_or_default();
                if ours.iter().any(|c| c == dependency) {
                    linked.insert(dependency.to_owned());
                }
            }
        }
        let linked: std::collections::BTreeSet<String> = linked.into_iter().map(|c| c.replace('-', "_")).collect();
        let listed: std::collections::BTreeSet<String> = OWN_CRATES.iter().map(|c| c.to_string()).collect();
        assert_eq!(listed, linked);
    }
}
