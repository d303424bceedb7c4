//! Schemathesis against the local HTTP API: openapi.yaml's every operation, generated requests
//! valid and invalid, through the stack's `API_URL` (`cargo xtask up`; `cargo xtask test` runs
//! one), with every check: no server error, status codes, content types, headers and bodies
//! as documented, invalid requests refused and valid ones accepted where the document says so.
//! The few exceptions are in schemathesis.toml (which `st run` reads from the repository's
//! root), each with its reason.
//!
//! Reproducible and bounded: a fixed seed, a bounded number of examples per operation, no
//! example database carried from one run to the next. Schemathesis is installed (pinned, in a
//! venv of its own under `.local/`) by the first run of this test, not by `up`.

use std::path::PathBuf;
use std::time::Instant;
use xtask::layout::Layout;
use xtask::local::install;

/// Generated examples per operation in the fuzzing phase (the examples and coverage phases
/// send their own fixed sets): about 1,700 requests in all, under a minute on two cores with
/// the functions at INFO. Enough to reach past the document's examples into its schemas'
/// corners; few enough for CI's budget.
const MAX_EXAMPLES: &str = "300";

/// Any fixed seed: the same requests every run, so a failure is one to reproduce, not luck.
const SEED: &str = "28";

#[tokio::test]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    let stack = testkit::stack();
    let api = stack
        .get("API_URL")
        .expect("API_URL in stack.env: `cargo xtask up` again");
    let layout = Layout::new(Layout::workspace_root(), None);
    let st = install::schemathesis(&layout).await.expect("Schemathesis installs");
    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("api-fuzz-{}", std::process::id()));
    let mut command = tokio::process::Command::new(&st);
    command
        .current_dir(&layout.root)
        .args(["--no-color", "run", "openapi.yaml", "--url", api])
        .args(["--mode", "all"])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
        .args(["--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports);
    // Loopback only: never through a proxy the environment names.
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(proxy);
    }
    let started = Instant::now();
    let out = command.output().await.expect("st runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "st run took {:.0} s; JUnit report in {}",
        started.elapsed().as_secs_f64(),
        reports.display()
    );
    assert!(
        out.status.success(),
        "Schemathesis found what openapi.yaml does not say (fix the code or the document, or \
         exclude it in schemathesis.toml with the reason):\n{report}"
    );
    eprintln!("{report}");
}
