//! The benchmark (`cargo xtask bench`): the Rust functions beside their Python peer, on a
//! stack of its own (release builds, its own state dir and ports, so a running developer stack
//! is untouched); it writes `bench/results.md` and `bench/results.svg`. Figures, not
//! thresholds: this machine is shared and noisy.
//!
//! [`run`] brings its stack up, runs the parts in order (`measure`: the figures;
//! `studies`: `--profiles` and `--instructions`), and writes the report:
//!
//! - [`functions`]: function processes under the benchmark's own [`runtime_api`], fed
//!   [`events`](mod@events): cold starts, warm latency, peak memory; [`function_logs`]: what their logs
//!   say of their init and of each sign-up's phases;
//! - [`one_answer`]: whether a sign-up's time tells a new address from a taken one;
//! - [`throughput`]: send-email draining a queue through the bridge's event source mapping;
//! - [`curves`]: how cost grows with load (sign-ups at once, pollers), and how busy the cores
//!   were at each step;
//! - [`pipeline`] and [`load`]: the whole stack from sign-up to its email, one at a time
//!   and many at once;
//! - [`artifacts`]: the deployment zips of both;
//! - [`report`] (with [`stats`] and [`chart`]): what it all says, as `bench/results.md` and
//!   `bench/results.svg`;
//! - [`profiles`]: the release-profile study (`--profiles`);
//! - [`instructions`]: instructions per warm invocation under callgrind (`--instructions`);
//! - [`lambda_shape`]: every function process in Lambda's CPU share and memory limit at its
//!   memory size (cgroups), unless `--unshaped`;
//! - [`tls_terminator`]: HTTPS in front of DynamoDB Local, so that every AWS call a function
//!   makes is TLS as on AWS (LocalStack answers HTTPS itself), unless `--plain-http`;
//! - [`sweep`]: the memory-size sweep (`--sweep`), cost against latency at each size, and the
//!   cheapest size that meets each function's objective (`bench/sweep.md`, `bench/sweep.svg`).

pub mod artifacts;
pub mod chart;
pub mod curves;
pub mod events;
pub mod function_logs;
pub mod functions;
pub mod instructions;
pub mod lambda_shape;
pub mod load;
mod measure;
pub mod one_answer;
pub mod pipeline;
pub mod profiles;
pub mod report;
pub mod runtime_api;
pub mod stats;
mod studies;
pub mod sweep;
pub mod throughput;
pub mod tls_terminator;

use crate::layout::Layout;
use crate::local::template::{SqsEventSource, Template};
use crate::local::tls::LocalCa;
use crate::local::{down, install, process, up};
use crate::random;
use anyhow::Result;
use events::Events;
use functions::{Function, Language, Launcher};
use lambda_shape::Shape;
use local_stack::StackEnv;
use report::PerLanguage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls_terminator::TlsTerminator;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Cold starts per function and language.
    #[arg(long, default_value_t = 20)]
    pub cold_starts: usize,
    /// Warm invocations per function, bcrypt cost and language.
    #[arg(long, default_value_t = 500)]
    pub invocations: usize,
    /// Events queued at once for the throughput run, per language.
    #[arg(long, default_value_t = 1000)]
    pub events: usize,
    /// Sign-ups timed from request to welcome email.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Sign-ups of the load run, and how many clients send them at once.
    #[arg(long, default_value_t = 1000)]
    pub load_signups: usize,
    #[arg(long, default_value_t = 20)]
    pub load_concurrency: usize,
    /// Sign-ups per step of create-user's curves (at least 4 per client).
    #[arg(long, default_value_t = 100)]
    pub curve_requests: usize,
    /// Pause between warm invocations, so that the emulators' leftover work (LocalStack
    /// fanning an event out to SQS) is not counted as the next invocation's.
    #[arg(long, default_value_t = 20)]
    pub pause_ms: u64,
    /// A few iterations of each, on debug builds, to prove the benchmark works (CI). Writes
    /// nothing.
    #[arg(long)]
    pub quick: bool,
    /// Only the Rust functions' own figures (cold start, warm latency, memory), printed rather
    /// than written: what comparing build profiles needs.
    #[arg(long)]
    pub functions_only: bool,
    /// Measure the Rust binaries in this directory instead of `target/release`.
    #[arg(long)]
    pub rust_bin_dir: Option<PathBuf>,
    /// The release-profile study: build the functions with each candidate profile and measure
    /// each build (writes bench/profile-study.md; a clean run builds 5 times, ~45 min here).
    #[arg(long)]
    pub profiles: bool,
    /// Instructions per warm create-user invocation under valgrind's callgrind, Rust vs Python,
    /// by what executes them: builds create-user with its symbols kept (target/instructions),
    /// and writes its section of bench/results.md (needs valgrind: apt-get install valgrind).
    #[arg(long)]
    pub instructions: bool,
    /// Every function at this memory size (MB, 128-10240) rather than the template's
    /// `MemorySize`: its memory limit and, shaped, its CPU share (`memory / 1769` of a CPU).
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// The plain run: function processes not shaped like Lambda (no cgroups; all the cores and
    /// memory there are). Shaping needs root and writable cgroups; without them, this.
    #[arg(long)]
    pub unshaped: bool,
    /// The functions call the emulators over plain HTTP, as before, rather than HTTPS (every
    /// call verified against the stack's own CA, as on AWS, where every call is TLS).
    #[arg(long)]
    pub plain_http: bool,
    /// The memory-size sweep: create-user and send-email, Rust and Python, shaped at each of
    /// `--sizes`; cost per million invocations against latency, and the cheapest size meeting
    /// each objective (writes bench/sweep.md and bench/sweep.svg; ~10 min here, builds aside).
    #[arg(long, conflicts_with_all = ["memory_mb", "unshaped", "profiles", "instructions"])]
    pub sweep: bool,
    /// The sweep's memory sizes in MB, comma-separated [default: 128,256,512,1024,1769].
    #[arg(long, requires = "sweep", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(128..=10_240))]
    pub sizes: Vec<u64>,
}

impl BenchArgs {
    /// Everything: the Python peer, the pipeline, the throughput run and the deployment zips.
    fn full(&self) -> bool {
        !self.quick && !self.functions_only
    }

    fn sized(&self) -> Self {
        let mut args = self.clone();
        if self.quick {
            // Shaped at 128 MB, the Python peer's send-email takes ~5 s a batch (0.072 of a
            // CPU): so few that CI's quick run stays a few minutes, yet every step runs.
            (args.cold_starts, args.invocations, args.events) = (1, 5, 20);
            (args.users, args.load_signups, args.curve_requests) = (2, 20, 8);
        }
        args
    }
}

/// One `cargo xtask bench`: a study if asked for one; else the figures, the secret scan of
/// what the functions logged, and (on a full run) the report written to `bench/`.
pub async fn run(layout: &Layout, args: &BenchArgs) -> Result<()> {
    let args = args.sized();
    let bench = Layout::new(layout.root.clone(), Some(layout.installs.join("bench")));
    let template = Template::load(&layout.template())?;
    // Before anything is built or started: no cgroups, no run (unless --unshaped).
    let shape = Shape::new(&template, &template.function_binaries(), args.memory_mb, args.unshaped)?;
    let python = install::python_peer(layout).await?;
    if args.profiles {
        return studies::profile_study(layout, &bench, &template, python, shape, &args).await;
    }
    if args.instructions {
        return studies::instruction_counts(layout, &bench, &template, python, shape, &args).await;
    }
    if args.sweep {
        return sweep::run(layout, &bench, &template, python, shape, &args).await;
    }
    let functions = template.function_binaries();
    let mut python_zips = None;
    if args.full() {
        artifacts::build_rust_zips(layout, &functions).await?;
        let out = bench.logs_dir().join("python-zips");
        python_zips = Some(artifacts::python_zips(&python, &layout.python_peer(), &out)?);
    }
    let launcher = start(layout, &bench, python, shape, &args).await?;
    let result = measure::measure(&bench, &launcher, &template, &args)
        .await
        .and_then(|report| no_secrets_logged(&bench, &launcher).map(|()| report));
    down::run(&bench).await?;
    let mut report = result?;
    report.conditions = format!(
        "{} {}",
        launcher.shape.describe(&Function::ALL.map(Function::name)),
        transport(&launcher)
    );
    report.rust_zips = artifacts::rust_zips(layout, &functions);
    report.python_zips = python_zips;

    let text = report.markdown(args.quick, args.pause_ms);
    if !args.full() {
        println!("{text}\n(--quick/--functions-only: bench/results.md left as it was)");
        return Ok(());
    }
    let dir = layout.root.join("bench");
    // The instruction counts come from `--instructions`, not from this run: kept as they are
    // (their section names the commit they were counted on).
    let previous = std::fs::read_to_string(dir.join("results.md")).unwrap_or_default();
    let text = match report::section(&previous, report::INSTRUCTIONS_HEADING) {
        Some(counts) => report::splice(&text, report::INSTRUCTIONS_HEADING, counts),
        None => text,
    };
    std::fs::write(dir.join("results.md"), &text)?;
    std::fs::write(dir.join("results.svg"), report.svg())?;
    if let Some(svg) = report.curves_svg() {
        std::fs::write(dir.join("curves.svg"), svg)?;
    }
    println!("{text}\nwritten to bench/results.md and bench/results.svg");
    Ok(())
}

/// Everything a run sent went through the functions: the stack's logs and theirs must hold no
/// secret.
fn no_secrets_logged(bench: &Layout, launcher: &Launcher) -> Result<()> {
    crate::secret_scan::no_secrets_in_logs(bench)?;
    let function_logs = std::fs::read_dir(&launcher.logs)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    crate::secret_scan::no_secrets_in(&function_logs)
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR` (relative to the workspace) when set, else
/// the workspace's `target`.
fn target_dir(layout: &Layout) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => layout.root.join(dir),
        None => layout.root.join("target"),
    }
}

/// The per-client limit of the benchmark's stack: more sign-ups than any run sends.
const BENCH_SIGNUP_LIMIT: u32 = 10_000_000;

/// Starts the benchmark's stack (release builds, BCRYPT_COST=4 for the pipeline figures).
async fn start(layout: &Layout, bench: &Layout, python: PathBuf, shape: Shape, args: &BenchArgs) -> Result<Launcher> {
    let launcher = start_stack(layout, bench, python, shape, args).await;
    if launcher.is_err() {
        // Half a stack helps nobody here: the benchmark's stack is its own, not for inspection.
        let _ = down::run(bench).await;
    }
    launcher
}

async fn start_stack(
    layout: &Layout,
    bench: &Layout,
    python: PathBuf,
    shape: Shape,
    args: &BenchArgs,
) -> Result<Launcher> {
    up::run(
        bench,
        &up::UpArgs {
            localstack_port: None,
            dynamodb_port: None,
            functions_port: None,
            api_port: None,
            bcrypt_cost: Some(4),
            // --quick proves the benchmark works; it reuses the tests' debug build (CI).
            release: !args.quick,
            function_env: Vec::new(),
            email_from: crate::local::provision::DEFAULT_EMAIL_FROM.into(),
            // Every sign-up of the benchmark comes from one client address: the limit's counter
            // is still written on every one of them (it is part of the work measured), but it
            // never refuses one.
            signup_limit_per_ip: Some(BENCH_SIGNUP_LIMIT),
            emails_per_address_per_hour: None,
        },
    )
    .await?;
    let (env, tls) = function_env(bench, args).await?;
    Ok(Launcher {
        rust_bin_dir: args
            .rust_bin_dir
            .clone()
            .unwrap_or_else(|| target_dir(layout).join(if args.quick { "debug" } else { "release" })),
        python,
        peer_dir: layout.python_peer(),
        env,
        logs: bench.logs_dir().join("functions"),
        pause: Duration::from_millis(args.pause_ms),
        localstack: process::ServiceRecord::load(&bench.run_dir(), crate::local::services::LOCALSTACK)
            .and_then(|record| u32::try_from(record.pid).ok()),
        shape,
        tls,
    })
}

/// The report's line on how the functions reach the emulators.
fn transport(launcher: &Launcher) -> &'static str {
    match launcher.tls {
        Some(_) => {
            "Every AWS call over TLS, verified against the stack's own CA (trusted through \
             `SSL_CERT_FILE` and `AWS_CA_BUNDLE`, with the system's CAs): LocalStack's HTTPS, and a \
             rustls terminator in front of DynamoDB Local; `--plain-http` gives the plain run."
        }
        None => "Plain HTTP to the emulators (`--plain-http`): no TLS handshake, unlike on AWS.",
    }
}

/// The functions' environment: the stack's, with every AWS endpoint HTTPS unless
/// `--plain-http` (LocalStack's own port; a terminator before DynamoDB Local) and the stack's
/// CA trusted the standard ways, as the system's CAs are: `SSL_CERT_FILE` (the Rust SDK's
/// rustls-native-certs), `AWS_CA_BUNDLE` (botocore). No code path exists for the benchmark.
async fn function_env(bench: &Layout, args: &BenchArgs) -> Result<(Vec<(String, String)>, Option<Arc<TlsTerminator>>)> {
    let stack = StackEnv::read(&bench.stack_env())?;
    let mut env = stack.entries().to_vec();
    if args.plain_http {
        return Ok((env, None));
    }
    let ca = LocalCa::ensure(&bench.state)?;
    let terminator = TlsTerminator::start(ca.server_config()?, stack.port("AWS_ENDPOINT_URL_DYNAMODB")?).await?;
    let localstack = stack.var("AWS_ENDPOINT_URL")?.replacen("http://", "https://", 1);
    let bundle = ca.write_trust_bundle()?;
    for (key, value) in &mut env {
        match key.as_str() {
            "AWS_ENDPOINT_URL" | "AWS_ENDPOINT_URL_SQS" => value.clone_from(&localstack),
            "AWS_ENDPOINT_URL_DYNAMODB" => *value = terminator.url(),
            _ => {}
        }
    }
    let bundle = bundle.display().to_string();
    env.push(("SSL_CERT_FILE".into(), bundle.clone()));
    env.push(("AWS_CA_BUNDLE".into(), bundle));
    Ok((env, Some(Arc::new(terminator))))
}

/// send-email's event source, as template.yaml declares it.
fn email_source(template: &Template) -> Result<SqsEventSource> {
    template.sqs_event_source(Function::SendEmail.name())
}

/// This run's events: its own addresses, send-email's batches of the template's size.
fn events(template: &Template) -> Result<Events> {
    let batch_size = usize::try_from(email_source(template)?.batch_size)?;
    Ok(Events::new(format!("bench.{}", random::hex(4)?), batch_size))
}

/// `measure` for Rust, then for the Python peer unless `--functions-only`.
async fn per_language<T>(
    args: &BenchArgs,
    mut measure: impl AsyncFnMut(Language) -> Result<T>,
) -> Result<PerLanguage<T>> {
    let rust = measure(Language::Rust).await?;
    let python = if args.functions_only {
        None
    } else {
        Some(measure(Language::Python).await?)
    };
    Ok(PerLanguage { rust, python })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the benchmark measures and builds is what template.yaml deploys.
    #[test]
    fn the_functions_and_batches_are_the_templates() {
        let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
        let binaries = template.function_binaries();
        for function in Function::ALL {
            assert!(
                binaries.iter().any(|b| b == function.name()),
                "{} is not a function of template.yaml",
                function.name()
            );
        }
        let batch_size = email_source(&template).unwrap().batch_size;
        assert!((1..=10).contains(&batch_size));
        events(&template).unwrap();
    }
}
