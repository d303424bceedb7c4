//! `cargo xtask bench`: measures the functions on a stack of its own (release builds, its own
//! state dir and ports, so a running developer stack is untouched), side by side with the
//! Python peer in `bench/peers/python`, and writes `bench/results.md` and `bench/results.svg`.
//! Figures, not thresholds: this machine is shared and noisy.

use super::{down, up};
use crate::bench::chart::{self, Panel};
use crate::bench::functions::{self, ColdStart, Events, Function, Launcher, Runtime, WarmRun};
use crate::bench::stats::{ROW_HEADER, ms, p50, percentile, row};
use crate::bench::{pipeline, profiles, throughput};
use crate::env_file::StackEnv;
use crate::layout::Layout;
use crate::template::Template;
use crate::{install, load, ui};
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Cold starts per function and runtime.
    #[arg(long, default_value_t = 20)]
    pub cold_starts: usize,
    /// Warm invocations per function, bcrypt cost and runtime.
    #[arg(long, default_value_t = 500)]
    pub invocations: usize,
    /// Events queued at once for the throughput run, per runtime.
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
}

impl BenchArgs {
    fn sized(&self) -> Self {
        let mut args = self.clone();
        if self.quick {
            (args.cold_starts, args.invocations, args.events) = (3, 20, 50);
            (args.users, args.load_signups) = (3, 40);
        }
        args
    }
}

/// One line of the comparison table (and, when `chart`, one panel of the chart).
struct Figure {
    what: String,
    unit: &'static str,
    rust: f64,
    python: Option<f64>,
    lower_is_better: bool,
    /// The target, and whether it was met.
    target: Option<(String, bool)>,
    /// The chart panel's title, when it gets one.
    chart: Option<String>,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
    /// Distribution tables (n, p50, p95, p99, max) of every timed sample.
    details: Vec<String>,
    pipeline: Vec<String>,
    /// The Python peer's deployment zips (`bench/peers/python/package.py`), bytes by function.
    python_zips: Option<serde_json::Map<String, serde_json::Value>>,
}

pub fn run(layout: &Layout, args: &BenchArgs) -> Result<()> {
    let args = args.sized();
    let bench = Layout::new(layout.root.clone(), Some(layout.installs.join("bench")));
    let python = install::ensure_python_peer(layout)?;
    if args.profiles {
        return profile_study(layout, &bench, python, &args);
    }
    if !args.quick && !args.functions_only {
        build_arm64(layout)?;
    }
    let launcher = start(layout, &bench, python, &args)?;
    let mut report = Report::default();
    if !args.quick && !args.functions_only {
        report.python_zips = Some(python_zips(&launcher, &bench)?);
    }
    let result = measure(&bench, &launcher, &args, &mut report).and_then(|()| {
        // Everything above went through the functions: their logs must hold no secret.
        super::test::no_secrets_in_logs(&bench)?;
        let function_logs = std::fs::read_dir(&launcher.logs)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        super::test::no_secrets_in(&function_logs)
    });
    down::run(&bench)?;
    result?;

    let text = render(layout, &args, &report)?;
    if args.quick || args.functions_only {
        println!("{text}\n(--quick/--functions-only: bench/results.md left as it was)");
        return Ok(());
    }
    let dir = layout.root.join("bench");
    std::fs::write(dir.join("results.md"), &text)?;
    std::fs::write(dir.join("results.svg"), svg(&report))?;
    println!("{text}\nwritten to bench/results.md and bench/results.svg");
    Ok(())
}

/// Starts the benchmark's stack (release builds, BCRYPT_COST=4 for the pipeline figures).
fn start(layout: &Layout, bench: &Layout, python: PathBuf, args: &BenchArgs) -> Result<Launcher> {
    let launcher = start_stack(layout, bench, python, args);
    if launcher.is_err() {
        // Half a stack helps nobody here: the benchmark's stack is its own, not for inspection.
        let _ = down::run(bench);
    }
    launcher
}

fn start_stack(layout: &Layout, bench: &Layout, python: PathBuf, args: &BenchArgs) -> Result<Launcher> {
    up::run(
        bench,
        &up::UpArgs {
            localstack_port: None,
            dynamodb_port: None,
            functions_port: None,
            bcrypt_cost: Some(4),
            // --quick proves the benchmark works; it reuses the tests' debug build (CI).
            release: !args.quick,
            function_env: Vec::new(),
            email_from: crate::provision::DEFAULT_EMAIL_FROM.into(),
        },
    )?;
    Ok(Launcher {
        rust_bin_dir: args.rust_bin_dir.clone().unwrap_or_else(|| {
            layout
                .root
                .join(if args.quick { "target/debug" } else { "target/release" })
        }),
        python,
        peer_dir: layout.python_peer(),
        env: StackEnv::load(bench)?.entries().to_vec(),
        logs: bench.logs_dir().join("functions"),
        pause: Duration::from_millis(args.pause_ms),
    })
}

fn profile_study(layout: &Layout, bench: &Layout, python: PathBuf, args: &BenchArgs) -> Result<()> {
    let built = profiles::build_all(layout)?;
    let launcher = start(layout, bench, python, args)?;
    let (cold_starts, invocations) = (args.cold_starts, args.invocations.min(200));
    let table = profiles::measure(&built, &launcher, cold_starts, invocations);
    down::run(bench)?;
    let mut text = format!(
        "# Release profile study\n\nWritten by `cargo xtask bench --profiles` on {}: each profile's build of \
         the functions (x86_64, this machine), measured against the same stack in one run ({cold_starts} \
         cold starts, {invocations} warm invocations per figure; times at the runtime API, p50). \
         A build time is a clean build's only when that profile had not been built before.\n\n",
        pipeline::machine()
    );
    for variant in profiles::VARIANTS {
        writeln!(
            text,
            "- **{}**: {} (`{}`)",
            variant.name,
            variant.why,
            variant.config.join("`, `")
        )?;
    }
    writeln!(text, "\n{}", table?)?;
    std::fs::write(layout.root.join("bench/profile-study.md"), &text)?;
    println!("{text}\nwritten to bench/profile-study.md");
    Ok(())
}

fn measure(bench: &Layout, launcher: &Launcher, args: &BenchArgs, report: &mut Report) -> Result<()> {
    let runtimes: &[Runtime] = if args.functions_only {
        &[Runtime::Rust]
    } else {
        &[Runtime::Rust, Runtime::Python]
    };
    if !args.functions_only {
        pipeline_figures(bench, args, report)?;
    }
    let mut events = Events::new(format!("bench.{}", crate::provision::random_hex(4)?));
    for function in [Function::CreateUser, Function::SendEmail] {
        let mut cold: Vec<Vec<ColdStart>> = Vec::new();
        for &runtime in runtimes {
            cold.push(ui::step(
                &format!(
                    "{} cold starts of {} {}",
                    args.cold_starts,
                    runtime.name(),
                    function.name()
                ),
                |_| {
                    (0..args.cold_starts)
                        .map(|_| functions::cold_start(launcher, runtime, function, &mut events))
                        .collect::<Result<Vec<_>>>()
                },
            )?);
        }
        cold_figures(function, &cold, report);
    }
    let mut rss = vec![(0u64, 0u64); runtimes.len()];
    for (function, cost) in [
        (Function::CreateUser, 4),
        (Function::CreateUser, 12),
        (Function::SendEmail, 4),
    ] {
        let mut runs: Vec<WarmRun> = Vec::new();
        for (i, &runtime) in runtimes.iter().enumerate() {
            let run = ui::step(
                &format!(
                    "{} warm invocations of {} {}",
                    args.invocations,
                    runtime.name(),
                    label(function, cost)
                ),
                |_| functions::warm_run(launcher, runtime, function, cost, args.invocations, &mut events),
            )?;
            let peak = if function == Function::CreateUser {
                &mut rss[i].0
            } else {
                &mut rss[i].1
            };
            *peak = (*peak).max(run.peak_rss);
            runs.push(run);
        }
        warm_figures(function, cost, &runs, report);
    }
    if !args.functions_only {
        let source = Template::load(&bench.template())?.sqs_event_source(Function::SendEmail.name())?;
        let endpoints = StackEnv::load(bench)?.endpoints()?;
        let mut drained = Vec::new();
        for &runtime in runtimes {
            drained.push(ui::step(
                &format!(
                    "{} events through the bridge to {} send-email",
                    args.events,
                    runtime.name()
                ),
                |_| throughput::drain(launcher, runtime, &endpoints, &source, args.events),
            )?);
        }
        report.figures.push(Figure {
            what: format!(
                "send-email throughput, {} events queued, {} pollers x batches of {} (emails/s)",
                args.events, source.max_concurrency, source.batch_size
            ),
            unit: "emails/s",
            rust: drained[0].per_second(),
            python: drained.get(1).map(throughput::Drained::per_second),
            lower_is_better: false,
            target: None,
            chart: Some("send-email throughput".into()),
        });
        for (i, d) in drained.iter().enumerate() {
            let peak = &mut rss[i].1;
            *peak = (*peak).max(d.peak_rss);
        }
    }
    for (function, pick) in [
        (Function::CreateUser, (|r: (u64, u64)| r.0) as fn((u64, u64)) -> u64),
        (Function::SendEmail, |r| r.1),
    ] {
        let rust = pick(rss[0]) as f64 / 1e6;
        report.figures.push(Figure {
            what: format!("{} peak RSS (MB)", function.name()),
            unit: "MB",
            rust,
            python: rss.get(1).map(|&r| pick(r) as f64 / 1e6),
            lower_is_better: true,
            target: Some(("≤ 32 MB".into(), rust <= 32.0)),
            chart: Some(format!("{} peak RSS", function.name())),
        });
    }
    Ok(())
}

fn label(function: Function, cost: u32) -> String {
    match function {
        Function::CreateUser => format!("create-user (BCRYPT_COST={cost})"),
        Function::SendEmail => format!("send-email (batches of {})", functions::BATCH),
    }
}

fn cold_figures(function: Function, cold: &[Vec<ColdStart>], report: &mut Report) {
    let series = |runtime: usize, pick: fn(&ColdStart) -> Duration| -> Vec<Duration> {
        cold.get(runtime)
            .map(|c| c.iter().map(pick).collect())
            .unwrap_or_default()
    };
    let f = function.name();
    for runtime in 0..cold.len() {
        let name = [Runtime::Rust, Runtime::Python][runtime].name();
        for (what, pick) in [
            (
                "init (exec to first `next`)",
                (|c: &ColdStart| c.init) as fn(&ColdStart) -> Duration,
            ),
            ("exec to first answer", |c| c.first_answer),
            ("first invocation", |c| c.first),
            ("warm invocations after it (median of 5)", |c| c.warm),
        ] {
            report
                .details
                .push(row(&format!("{name} {f}: {what}"), &series(runtime, pick)));
        }
    }
    let init = |r| ms(p50(&series(r, |c| c.init)));
    let (rust_init, python_init) = (init(0), (cold.len() > 1).then(|| init(1)));
    report.figures.push(Figure {
        what: format!("{f} init, exec to first `next` (ms, p50)"),
        unit: "ms",
        rust: rust_init,
        python: python_init,
        lower_is_better: true,
        target: python_init.map(|p| ("≤ 1/10 of Python".into(), rust_init <= p / 10.0)),
        chart: Some(format!("{f} init")),
    });
    let answer = |r| ms(p50(&series(r, |c| c.first_answer)));
    report.figures.push(Figure {
        what: format!("{f} exec to first answer (ms, p50)"),
        unit: "ms",
        rust: answer(0),
        python: (cold.len() > 1).then(|| answer(1)),
        lower_is_better: true,
        target: None,
        chart: Some(format!("{f} exec to first answer")),
    });
    // Per cold start: its first invocation over the warm ones that followed it.
    let ratio = |r: usize| {
        let ratios: Vec<Duration> = cold[r]
            .iter()
            .map(|c| Duration::from_secs_f64(c.first.as_secs_f64() / c.warm.as_secs_f64().max(1e-9)))
            .collect();
        p50(&ratios).as_secs_f64()
    };
    let rust_ratio = ratio(0);
    report.figures.push(Figure {
        what: format!("{f} first invocation / warm (x, p50)"),
        unit: "x",
        rust: rust_ratio,
        python: (cold.len() > 1).then(|| ratio(1)),
        lower_is_better: true,
        target: Some(("≤ 3x".into(), rust_ratio <= 3.0)),
        chart: None,
    });
}

fn warm_figures(function: Function, cost: u32, runs: &[WarmRun], report: &mut Report) {
    let what = label(function, cost);
    for (runtime, run) in runs.iter().enumerate() {
        let name = [Runtime::Rust, Runtime::Python][runtime].name();
        report
            .details
            .push(row(&format!("{name} {what}, warm"), &run.durations));
        if !run.overhead.is_empty() {
            report.details.push(row(
                &format!("{name} {what}, own overhead (minus DynamoDB and SNS time)"),
                &run.overhead,
            ));
        }
    }
    let pick = |p: f64| -> (f64, Option<f64>) {
        let at = |r: &WarmRun| ms(percentile(&r.durations, p));
        (at(&runs[0]), runs.get(1).map(at))
    };
    for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
        let (rust, python) = pick(p);
        report.figures.push(Figure {
            what: format!("{what}, warm (ms, {name})"),
            unit: "ms",
            rust,
            python,
            lower_is_better: true,
            target: None,
            chart: (p == 50.0).then(|| format!("{what}, warm p50")),
        });
    }
    if function == Function::CreateUser && cost == 4 {
        let overhead = |r: &WarmRun| ms(p50(&r.overhead));
        let rust = overhead(&runs[0]);
        report.figures.push(Figure {
            what: format!("{what}, own overhead: warm minus DynamoDB/SNS time (ms, p50)"),
            unit: "ms",
            rust,
            python: runs.get(1).map(overhead),
            lower_is_better: true,
            target: Some(("≤ 3 ms".into(), rust <= 3.0)),
            chart: Some(format!("{what}, own overhead")),
        });
    }
}

fn pipeline_figures(bench: &Layout, args: &BenchArgs, report: &mut Report) -> Result<()> {
    let env = StackEnv::load(bench)?;
    let stack = pipeline::Stack::of(&env)?;
    let to_email = ui::step(&format!("{} sign-ups, each to its welcome email", args.users), |_| {
        pipeline::signup_to_email(&stack, args.users)
    })?;
    report
        .pipeline
        .push(row("sign-up request to welcome email in SES", &to_email));
    for (signups, concurrency, distinct) in [(args.load_signups, args.load_concurrency, None), (100, 100, Some(10))] {
        let outcome = ui::step(&format!("load: {signups} sign-ups, {concurrency} at once"), |_| {
            load::run(&env, signups, concurrency, distinct)
        })?;
        let problems = outcome.problems();
        if !problems.is_empty() {
            bail!("load run of {signups} sign-ups broke a promise: {problems:?}");
        }
        let what = format!(
            "load: {signups} sign-ups, {} distinct emails, {concurrency} at once ({:.0} sign-ups/s; {} users, {} emails, 0 duplicates, 0 5xx, DLQ empty)",
            outcome.distinct,
            signups as f64 / outcome.elapsed.as_secs_f64(),
            outcome.users_stored,
            outcome.emails.len(),
        );
        report.pipeline.push(row(&what, &outcome.latencies));
    }
    Ok(())
}

/// `cargo lambda build --release --arm64 --output-format zip`: what a deployment uploads.
fn build_arm64(layout: &Layout) -> Result<()> {
    install::ensure_tools(layout)?;
    ui::step("Building the arm64 release zips (cargo lambda build --arm64)", |p| {
        let mut cmd = std::process::Command::new(layout.tools_bin().join("cargo-lambda"));
        cmd.args(["lambda", "build", "--release", "--arm64", "--output-format", "zip"])
            .args(["-p", "create-user", "-p", "send-email", "-p", "publish-outbox"])
            .env("PATH", layout.path_with_tools())
            .current_dir(&layout.root);
        install::run_logged(cmd, &layout.logs_dir().join("build-arm64.log"), p)
    })
}

/// Packages the Python peer as one would for Lambda (python3.13, arm64; boto3 from the runtime).
fn python_zips(launcher: &Launcher, bench: &Layout) -> Result<serde_json::Map<String, serde_json::Value>> {
    let out = std::process::Command::new(&launcher.python)
        .arg(launcher.peer_dir.join("package.py"))
        .arg(bench.logs_dir().join("python-zips"))
        .output()?;
    if !out.status.success() {
        bail!(
            "packaging the Python peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn render(layout: &Layout, args: &BenchArgs, report: &Report) -> Result<String> {
    let mut out = String::from("# Benchmark results\n\n");
    writeln!(
        out,
        "Written by `cargo xtask bench{}` on {}, all in one run.\n",
        if args.quick { " --quick" } else { "" },
        pipeline::machine()
    )?;
    writeln!(
        out,
        "Both runtimes are exec'd by the benchmark against its own Lambda runtime API and run \
         against the same emulators (LocalStack in host mode, DynamoDB Local, on the same 2 cores): \
         Rust = the release binaries, Python = `bench/peers/python` (comparison only) under \
         `awslambdaric`. Times are taken at the runtime API's socket. The emulators' own time is \
         most of every warm figure; the overhead row subtracts it using each function's logged \
         `store_ms` and `publish_ms`. Warm invocations are {} ms apart (`--pause-ms`).\n",
        args.pause_ms
    )?;
    writeln!(out, "![Rust vs Python](results.svg)\n")?;
    writeln!(
        out,
        "| figure | Rust | Python | Rust/Python | target |\n|---|---|---|---|---|"
    )?;
    for f in &report.figures {
        let python = f.python.map(chart::figure).unwrap_or_else(|| "-".into());
        let ratio = f
            .python
            .map(|p| format!("{:.3}", f.rust / p.max(f64::MIN_POSITIVE)))
            .unwrap_or_else(|| "-".into());
        let target = match &f.target {
            Some((target, true)) => format!("{target}: met"),
            Some((target, false)) => format!("{target}: **missed**"),
            None => String::new(),
        };
        writeln!(
            out,
            "| {} | {} | {python} | {ratio} | {target} |",
            f.what,
            chart::figure(f.rust)
        )?;
    }
    let sizes = pipeline::artifact_sizes(layout);
    if !sizes.is_empty() {
        writeln!(
            out,
            "\n| arm64 deployment zip | Rust bootstrap | Rust zip | Python zip | target |\n|---|---|---|---|---|"
        )?;
        for (function, binary, zip) in sizes {
            let python = report
                .python_zips
                .as_ref()
                .and_then(|z| z.get(&function))
                .and_then(serde_json::Value::as_u64)
                .map(|bytes| format!("{:.3} MB", bytes as f64 / 1e6))
                .unwrap_or_else(|| "-".into());
            let (binary, zip) = (binary as f64 / 1e6, zip as f64 / 1e6);
            let met = if zip <= 5.0 { "met" } else { "**missed**" };
            writeln!(
                out,
                "| {function} | {binary:.2} MB | {zip:.2} MB | {python} | ≤ 5 MB: {met} |"
            )?;
        }
        writeln!(
            out,
            "\nRust: `cargo lambda build --release --arm64 --output-format zip`, the whole program. \
             Python: `bench/peers/python/package.py`, the handler and its aarch64 wheels only: the \
             python3.13 runtime brings CPython and boto3 (tens of MB) that Lambda loads on every \
             cold start, which the init figures above include."
        )?;
    }
    writeln!(out, "\n## Distributions\n\n{ROW_HEADER}")?;
    for line in &report.details {
        writeln!(out, "{line}")?;
    }
    if !report.pipeline.is_empty() {
        writeln!(
            out,
            "\n## The whole pipeline (Rust, through `cargo lambda watch` and the bridge, BCRYPT_COST=4)\n\n{ROW_HEADER}"
        )?;
        for line in &report.pipeline {
            writeln!(out, "{line}")?;
        }
    }
    Ok(out)
}

fn svg(report: &Report) -> String {
    let panels: Vec<Panel> = report
        .figures
        .iter()
        .filter_map(|f| {
            Some(Panel {
                title: f.chart.clone()?,
                unit: f.unit,
                rust: f.rust,
                python: f.python?,
                lower_is_better: f.lower_is_better,
            })
        })
        .collect();
    chart::svg(
        "Rust vs the Python peer, same machine, same run (cargo xtask bench)",
        &panels,
    )
}
