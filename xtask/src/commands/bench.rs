//! `cargo xtask bench`: measures the functions on a stack of its own (release builds, its own
//! state dir and ports, so a running developer stack is untouched), side by side with the
//! Python peer in `bench/peers/python`, and writes `bench/results.md` and `bench/results.svg`.
//! Figures, not thresholds: this machine is shared and noisy.
//!
//! What is measured, and how, is `crate::bench`'s; this runs it in order and writes the report.

use crate::bench::events::Events;
use crate::bench::functions::{self, Function, Language, Launcher};
use crate::bench::report::{self, PeakRss, PerLanguage, Report};
use crate::bench::{artifacts, curves, instructions, load, one_answer, pipeline, profiles, throughput};
use crate::layout::Layout;
use crate::local::template::{SqsEventSource, Template};
use crate::local::{down, install, process, up};
use crate::{random, ui};
use anyhow::{Result, bail};
use local_stack::StackEnv;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

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
}

impl BenchArgs {
    /// Everything: the Python peer, the pipeline, the throughput run and the deployment zips.
    fn full(&self) -> bool {
        !self.quick && !self.functions_only
    }

    fn sized(&self) -> Self {
        let mut args = self.clone();
        if self.quick {
            (args.cold_starts, args.invocations, args.events) = (3, 20, 50);
            (args.users, args.load_signups, args.curve_requests) = (3, 40, 8);
        }
        args
    }
}

/// The warm runs' workloads: create-user at the benchmark's bcrypt cost and at production's,
/// and send-email.
const WARM_RUNS: [(Function, u32); 3] = [
    (Function::CreateUser, 4),
    (Function::CreateUser, 12),
    (Function::SendEmail, 4),
];

pub async fn run(layout: &Layout, args: &BenchArgs) -> Result<()> {
    let args = args.sized();
    let bench = Layout::new(layout.root.clone(), Some(layout.installs.join("bench")));
    let template = Template::load(&layout.template())?;
    let python = install::python_peer(layout).await?;
    if args.profiles {
        return profile_study(layout, &bench, &template, python, &args).await;
    }
    if args.instructions {
        return instruction_counts(layout, &bench, &template, python, &args).await;
    }
    let functions = template.function_binaries();
    let mut python_zips = None;
    if args.full() {
        artifacts::build_rust_zips(layout, &functions).await?;
        let out = bench.logs_dir().join("python-zips");
        python_zips = Some(artifacts::python_zips(&python, &layout.python_peer(), &out)?);
    }
    let launcher = start(layout, &bench, python, &args).await?;
    let result = measure(&bench, &launcher, &template, &args).await.and_then(|report| {
        // Everything above went through the functions: their logs must hold no secret.
        crate::secret_scan::no_secrets_in_logs(&bench)?;
        let function_logs = std::fs::read_dir(&launcher.logs)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        crate::secret_scan::no_secrets_in(&function_logs)?;
        Ok(report)
    });
    down::run(&bench).await?;
    let mut report = result?;
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

/// The per-client limit of the benchmark's stack: more sign-ups than any run sends.
const BENCH_SIGNUP_LIMIT: u32 = 10_000_000;

/// Starts the benchmark's stack (release builds, BCRYPT_COST=4 for the pipeline figures).
async fn start(layout: &Layout, bench: &Layout, python: PathBuf, args: &BenchArgs) -> Result<Launcher> {
    let launcher = start_stack(layout, bench, python, args).await;
    if launcher.is_err() {
        // Half a stack helps nobody here: the benchmark's stack is its own, not for inspection.
        let _ = down::run(bench).await;
    }
    launcher
}

async fn start_stack(layout: &Layout, bench: &Layout, python: PathBuf, args: &BenchArgs) -> Result<Launcher> {
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
            email_from: crate::local::provision::DEFAULT_EMAIL_FROM.into(),
            // Every sign-up of the benchmark comes from one client address: the limit's counter
            // is still written on every one of them (it is part of the work measured), but it
            // never refuses one.
            signup_limit_per_ip: Some(BENCH_SIGNUP_LIMIT),
            emails_per_address_per_hour: None,
        },
    )
    .await?;
    Ok(Launcher {
        rust_bin_dir: args.rust_bin_dir.clone().unwrap_or_else(|| {
            layout
                .root
                .join(if args.quick { "target/debug" } else { "target/release" })
        }),
        python,
        peer_dir: layout.python_peer(),
        env: StackEnv::read(&bench.stack_env())?.entries().to_vec(),
        logs: bench.logs_dir().join("functions"),
        pause: Duration::from_millis(args.pause_ms),
        localstack: process::ServiceRecord::load(&bench.run_dir(), crate::local::services::LOCALSTACK)
            .and_then(|record| u32::try_from(record.pid).ok()),
    })
}

async fn profile_study(
    layout: &Layout,
    bench: &Layout,
    template: &Template,
    python: PathBuf,
    args: &BenchArgs,
) -> Result<()> {
    let built = profiles::build_all(layout).await?;
    let launcher = start(layout, bench, python, args).await?;
    let (cold_starts, invocations) = (args.cold_starts, args.invocations.min(200));
    let mut events = events(template)?;
    let table = profiles::measure(&built, &launcher, &mut events, cold_starts, invocations).await;
    down::run(bench).await?;
    let text = profiles::study(&table?, cold_starts, invocations);
    std::fs::write(layout.root.join("bench/profile-study.md"), &text)?;
    println!("{text}\nwritten to bench/profile-study.md");
    Ok(())
}

async fn instruction_counts(
    layout: &Layout,
    bench: &Layout,
    template: &Template,
    python: PathBuf,
    args: &BenchArgs,
) -> Result<()> {
    instructions::available()?;
    let target = layout.root.join("target/instructions");
    ui::step(
        "Building create-user with its symbols (release, strip = false)",
        async |p| {
            let mut cargo = crate::cargo();
            cargo
                .args(["build", "--release", "-p", Function::CreateUser.name()])
                .args(["--config", "profile.release.strip=false"])
                .arg("--target-dir")
                .arg(&target)
                .current_dir(&layout.root);
            process::run_logged(cargo, &target.join("build.log"), p).await
        },
    )
    .await?;
    let mut launcher = start(layout, bench, python, args).await?;
    launcher.rust_bin_dir = target.join("release");
    let mut events = events(template)?;
    let out = bench.logs_dir().join("callgrind");
    let counted = per_language(args, async |language| {
        let label = format!("{} create-user under callgrind", language.name());
        ui::step(&label, async |_| {
            instructions::count(&launcher, language, &mut events, &out).await
        })
        .await
    })
    .await;
    down::run(bench).await?;
    let section = report::instructions_section(&counted?, &revision(layout));
    let path = layout.root.join("bench/results.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, report::splice(&doc, report::INSTRUCTIONS_HEADING, &section))?;
    println!("{section}\nwritten to bench/results.md");
    Ok(())
}

/// The commit measured, and whether the measured code (not the docs, not the results the
/// benchmark itself writes) had changes on top of it.
fn revision(layout: &Layout) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&layout.root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "an unknown commit".into());
    let code = ["functions", "crates", "bench/peers", "Cargo.toml", "Cargo.lock"];
    let status = [&["status", "--porcelain", "--untracked-files=no", "--"][..], &code[..]].concat();
    let dirty = git(&status).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} with local changes")
    } else {
        commit
    }
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

async fn measure(bench: &Layout, launcher: &Launcher, template: &Template, args: &BenchArgs) -> Result<Report> {
    let mut report = Report::default();
    if !args.functions_only {
        pipeline_figures(bench, args, &mut report).await?;
    }
    let mut events = events(template)?;
    cold_starts(bench, launcher, args, &mut events, &mut report).await?;
    let source = email_source(template)?;
    let mut rss = warm_runs(launcher, args, source.batch_size, &mut events, &mut report).await?;
    one_answer(bench, launcher, args, &mut report).await?;
    if !args.functions_only {
        throughput(bench, launcher, template, args, &mut rss, &mut report).await?;
        sign_up_curves(launcher, args, &mut events, &mut report).await?;
    }
    for function in Function::ALL {
        report.peak_rss(function, &rss);
    }
    Ok(report)
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

/// `--cold-starts` fresh processes of each function, per language, each started once the
/// emulators are done with the previous one's events.
async fn cold_starts(
    bench: &Layout,
    launcher: &Launcher,
    args: &BenchArgs,
    events: &mut Events,
    report: &mut Report,
) -> Result<()> {
    let env = StackEnv::read(&bench.stack_env())?;
    let (endpoints, stack_queue) = (env.endpoints()?, env.var("EMAIL_QUEUE_URL")?);
    for function in Function::ALL {
        let cold = per_language(args, async |language| {
            let label = format!(
                "{} cold starts of {} {}",
                args.cold_starts,
                language.name(),
                function.name()
            );
            ui::step(&label, async |_| {
                let mut starts = Vec::with_capacity(args.cold_starts);
                for _ in 0..args.cold_starts {
                    throughput::wait_until_quiet(&endpoints, &stack_queue).await?;
                    starts.push(functions::cold_start(launcher, language, function, events).await?);
                }
                Ok(starts)
            })
            .await
        })
        .await?;
        report.cold_starts(function, &cold);
    }
    Ok(())
}

/// The [`WARM_RUNS`], each in one process per language; the processes' peak memory.
async fn warm_runs(
    launcher: &Launcher,
    args: &BenchArgs,
    batch_size: i32,
    events: &mut Events,
    report: &mut Report,
) -> Result<PerLanguage<PeakRss>> {
    let mut rss = PerLanguage {
        rust: PeakRss::default(),
        python: (!args.functions_only).then(PeakRss::default),
    };
    for (function, cost) in WARM_RUNS {
        let what = report::label(function, cost, batch_size);
        let runs = per_language(args, async |language| {
            let label = format!("{} warm invocations of {} {what}", args.invocations, language.name());
            ui::step(&label, async |_| {
                functions::warm_run(launcher, language, function, cost, args.invocations, events).await
            })
            .await
        })
        .await?;
        for (peak, run) in rss.zip(&runs) {
            peak.note(function, run.peak_rss);
        }
        report.warm_runs(&what, function, cost, &runs);
    }
    Ok(rss)
}

/// Whether an answer's time tells who is registered, at production's bcrypt cost (Rust: the
/// figures are about the functions' promise, not the language): create-user's sign-up for a
/// new, a pending and a verified address; sign-in's refusals of a wrong password, an unknown
/// address and a pending one.
async fn one_answer(bench: &Layout, launcher: &Launcher, args: &BenchArgs, report: &mut Report) -> Result<()> {
    const COST: u32 = 12;
    let n = (args.invocations / 5).max(3);
    let env = StackEnv::read(&bench.stack_env())?;
    let tag = format!("bench.states.{}", random::hex(4)?);
    let label = format!("{n} sign-ups each for a new, a pending and a verified address (Rust, BCRYPT_COST={COST})");
    let times = ui::step(&label, async |_| {
        one_answer::measure(launcher, &env, &tag, COST, n).await
    })
    .await?;
    let cases: Vec<(&str, &[Duration])> = one_answer::State::ALL
        .iter()
        .map(|s| (s.name(), &times[*s as usize][..]))
        .collect();
    report.one_time(
        &format!("One answer, one time: a sign-up by its address's state (Rust, BCRYPT_COST={COST})"),
        "The states take turns in one warm create-user process: a new address each time, one address left \
         pending (each sign-up replaces its credential), one verified (each sign-up stores its owner's notice).",
        &cases,
        0,
        &[1, 2],
    );
    let label = format!(
        "{n} sign-ins each refused for a wrong password, an unknown and a pending address (Rust, BCRYPT_COST={COST})"
    );
    let times = ui::step(&label, async |_| {
        one_answer::measure_sign_in(launcher, &env, &tag, COST, n).await
    })
    .await?;
    let cases: Vec<(&str, &[Duration])> = one_answer::SIGN_IN_CASES
        .iter()
        .zip(&times)
        .map(|(name, t)| (*name, &t[..]))
        .collect();
    report.one_time(
        &format!("One refusal, one time: sign-in's 401 by what was wrong (Rust, BCRYPT_COST={COST})"),
        "The cases take turns in one warm sign-in process, the users' hashes made at the same cost; a success \
         beside them for scale (it answers a session, so it may differ).",
        &cases,
        0,
        &[1, 2],
    );
    Ok(())
}

/// send-email draining a queue through the bridge at each number of pollers, per language.
async fn throughput(
    bench: &Layout,
    launcher: &Launcher,
    template: &Template,
    args: &BenchArgs,
    rss: &mut PerLanguage<PeakRss>,
    report: &mut Report,
) -> Result<()> {
    let source = email_source(template)?;
    let env = StackEnv::read(&bench.stack_env())?;
    let (endpoints, stack_queue) = (env.endpoints()?, env.var("EMAIL_QUEUE_URL")?);
    let template_pollers = source.max_concurrency.max(1) as usize;
    let mut pollers: Vec<usize> = if args.quick {
        vec![1, 2]
    } else {
        curves::POLLERS.to_vec()
    };
    if !pollers.contains(&template_pollers) {
        pollers.push(template_pollers);
        pollers.sort();
    }
    let drained = per_language(args, async |language| {
        let mut points = Vec::with_capacity(pollers.len());
        for &n in &pollers {
            let label = format!(
                "{} events through the bridge to {} send-email, {n} pollers",
                args.events,
                language.name()
            );
            points.push(
                ui::step(&label, async |_| {
                    throughput::wait_until_quiet(&endpoints, &stack_queue).await?;
                    throughput::drain(launcher, language, &endpoints, template, args.events, n).await
                })
                .await?,
            );
        }
        Ok(points)
    })
    .await?;
    report.throughput_curve(args.events, source.batch_size, template_pollers, &drained);
    for (peak, points) in rss.zip(&drained) {
        for d in points {
            peak.note(Function::SendEmail, d.peak_rss);
        }
    }
    Ok(())
}

/// create-user's latency with more sign-ups at once, at each bcrypt cost, per language.
async fn sign_up_curves(launcher: &Launcher, args: &BenchArgs, events: &mut Events, report: &mut Report) -> Result<()> {
    let (levels, costs): (&[usize], &[u32]) = if args.quick {
        (&[1, 2], &[4])
    } else {
        (&curves::AT_ONCE, &curves::COSTS)
    };
    for &cost in costs {
        let runs = per_language(args, async |language| {
            let label = format!(
                "{} create-user (BCRYPT_COST={cost}) at {levels:?} sign-ups at once",
                language.name()
            );
            ui::step(&label, async |_| {
                curves::sign_ups(launcher, language, cost, levels, args.curve_requests, events).await
            })
            .await
        })
        .await?;
        report.sign_up_curve(cost, &runs);
    }
    Ok(())
}

/// The whole pipeline on the benchmark's stack: sign-up to email, and the load runs.
async fn pipeline_figures(bench: &Layout, args: &BenchArgs, report: &mut Report) -> Result<()> {
    let env = StackEnv::read(&bench.stack_env())?;
    let label = format!("{} sign-ups, each to its verification email", args.users);
    let to_email = ui::step(&label, async |_| pipeline::signup_to_email(&env, args.users).await).await?;
    report.pipeline("sign-up request to verification email in SES", &to_email);
    for (signups, concurrency, distinct) in [(args.load_signups, args.load_concurrency, None), (100, 100, Some(10))] {
        let label = format!("load: {signups} sign-ups, {concurrency} at once");
        let outcome = ui::step(&label, async |_| load::run(&env, signups, concurrency, distinct).await).await?;
        let problems = outcome.problems();
        if !problems.is_empty() {
            bail!("load run of {signups} sign-ups broke a promise: {problems:?}");
        }
        let what = format!(
            "load: {signups} sign-ups, {} distinct addresses, {concurrency} at once ({:.0} sign-ups/s; {} users, {} emails to {} addresses (at most {} each), 0 5xx, DLQ empty)",
            outcome.distinct,
            signups as f64 / outcome.elapsed.as_secs_f64(),
            outcome.users_stored,
            outcome.emails.values().sum::<usize>(),
            outcome.emails.len(),
            outcome.cap,
        );
        report.pipeline(&what, &outcome.latencies);
    }
    Ok(())
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
