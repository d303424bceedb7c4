//! The figures of one run, in order: the pipeline, cold starts, warm runs, one answer's time,
//! throughput and the sign-up curves, each into the [`Report`].

use super::events::Events;
use super::functions::{self, Function, Launcher};
use super::report::{self, PeakRss, PerLanguage, Report};
use super::{BenchArgs, curves, email_source, events, load, one_answer, per_language, pipeline, throughput};
use crate::layout::Layout;
use crate::local::template::Template;
use crate::{random, ui};
use anyhow::{Result, bail};
use local_stack::StackEnv;
use std::time::Duration;

/// The warm runs' workloads: create-user at the benchmark's bcrypt cost and at production's,
/// and send-email.
const WARM_RUNS: [(Function, u32); 3] = [
    (Function::CreateUser, 4),
    (Function::CreateUser, 12),
    (Function::SendEmail, 4),
];

pub(super) async fn measure(
    bench: &Layout,
    launcher: &Launcher,
    template: &Template,
    args: &BenchArgs,
) -> Result<Report> {
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
                    starts.push(
                        functions::cold_start(launcher, language, function, 4, functions::WARM_AFTER_FIRST, events)
                            .await?,
                    );
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
