//! The test suite `cargo xtask test` runs: the whole workspace's tests, against real emulators
//! and under `sam local`, on a fresh machine as on a developer's.
//!
//! Before any test runs, it sets up what the tests need besides the stack, saying what it does:
//! a Docker engine that runs arm64 containers ([`docker`]: packages installed, the engine
//! started, where xtask can; else it stops with the command to run), `sam build`'s output
//! when it is missing or stale ([`sam_build`]), and `sam local`'s base image ([`sam`]). Then
//! the stack (unless it already runs), `cargo test`, and the secret scan of the functions'
//! logs. What it started, it stops: the stack, then the Docker engine.

use crate::layout::Layout;
use crate::local::{docker, down, sam, sam_build, services, up};
use crate::secret_scan::no_secrets_in_logs;
use anyhow::{Result, bail};
use local_stack::StackEnv;

pub async fn run(layout: &Layout, up_args: &up::UpArgs, cargo_test_args: &[String]) -> Result<()> {
    // Dropped last, after the stack is down: it stops the engine if it started one.
    let _engine = docker::ensure(layout).await?;
    sam_build::ensure(layout).await?;
    let image = sam::ensure_base_image(layout).await?;
    eprintln!("    sam local's base image: {}", sam::describe(image));

    let already_up = services::all_running(layout);
    // Cost 4 keeps bcrypt out of the tests' way; the benchmark measures the real cost.
    let mut up_args = up_args.clone();
    up_args.bcrypt_cost.get_or_insert(4);
    // Every request through cargo lambda watch comes from 127.0.0.1, so the whole suite is one
    // client to the per-client limit: a limit of the suite's own (the limit's own tests lower
    // it for the use case they run).
    up_args.signup_limit_per_ip.get_or_insert(SUITE_SIGNUP_LIMIT);
    // Sign-ins likewise: the API fuzzer (xtask/tests/api_fuzz.rs) alone makes hundreds, which
    // would leave the tests after it 429s for the window's 5 minutes. sign-in's own tests test
    // its limits in-process, with limits of their own. First, so that a --function-env wins.
    up_args
        .function_env
        .insert(0, format!("SIGNIN_LIMIT_PER_IP={SUITE_SIGNUP_LIMIT}"));
    // Every function at its most verbose: the scan below then proves that no level, not even
    // TRACE, writes a password, a hash or a token (lambda_support::logging caps the SDK's and
    // the runtime's logs, which would otherwise print request bodies and raw events).
    up_args.function_env.push(format!("{LOG_LEVEL_VARIABLE}=TRACE"));
    up::run(layout, &up_args).await?;
    let result = cargo_test(layout, cargo_test_args)
        .await
        .and_then(|()| no_secrets_in_logs(layout))
        .and_then(|()| if already_up { Ok(()) } else { traced(layout) });
    if !already_up {
        down::run(layout).await?;
    }
    result
}

/// The scan proves something only if the functions did run at TRACE: their init says so (the
/// marker of `lambda_support::logging`). A stack that was already up runs at the level it was
/// started with, and is not checked.
fn traced(layout: &Layout) -> Result<()> {
    let log = layout.service_log(services::WATCH);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let marker = lambda_support::logging::TRACE_MARKER;
    if !text.contains(marker) {
        bail!(
            "the functions did not log at TRACE (no {marker:?} in {})",
            log.display()
        );
    }
    eprintln!("==> the functions ran at TRACE");
    Ok(())
}

/// The per-client limits of the test suite's stack: far more sign-ups (and sign-ins) than the
/// suite sends.
const SUITE_SIGNUP_LIMIT: u32 = 100_000;

/// Lambda's own variable for the functions' log level; it takes precedence over RUST_LOG.
pub const LOG_LEVEL_VARIABLE: &str = "AWS_LAMBDA_LOG_LEVEL";

async fn cargo_test(layout: &Layout, args: &[String]) -> Result<()> {
    let mut cmd = crate::cargo();
    // Every test binary runs even after one fails: one run (CI's is long) shows every failure.
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .args(args)
        .current_dir(&layout.root);
    cmd.envs(StackEnv::read(&layout.stack_env())?.entries().iter().cloned());
    // Where testkit finds that stack's stack.env, whatever --state-dir chose.
    cmd.env("XTASK_STATE_DIR", &layout.state);
    // cargo lambda, sam and aws come from the tools venv.
    cmd.env("PATH", layout.path_with_tools());
    eprintln!("==> cargo test --workspace --no-fail-fast {}", args.join(" "));
    if !tokio::process::Command::from(cmd).status().await?.success() {
        bail!("tests failed");
    }
    Ok(())
}
