//! `cargo xtask bench`: measures the functions on a stack of its own (release builds, its own
//! state dir and ports, so a running developer stack is untouched) and writes
//! `bench/results.md`. Figures, not thresholds: this machine is shared and noisy.

use super::{down, up};
use crate::env_file::StackEnv;
use crate::layout::Layout;
use crate::provision::{Endpoints, random_hex, sdk_config};
use crate::{load, probe};
use anyhow::{Result, bail};
use serde_json::json;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Warm create-user requests per bcrypt cost.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Sign-ups timed from request to welcome email.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Events queued at once for the throughput run.
    #[arg(long, default_value_t = 500)]
    pub events: usize,
    /// Sign-ups of the load run, and how many clients send them at once.
    #[arg(long, default_value_t = 1000)]
    pub load_signups: usize,
    #[arg(long, default_value_t = 20)]
    pub load_concurrency: usize,
    /// A few iterations of each, to prove the benchmark works (CI).
    #[arg(long)]
    pub quick: bool,
}

/// Requests before measuring: the first invocation pays for connection set-up.
const WARM_UP: usize = 5;

pub fn run(layout: &Layout, args: &BenchArgs) -> Result<()> {
    let (requests, users, events, load_signups) = if args.quick {
        (10, 3, 30, 40)
    } else {
        (args.requests, args.users, args.events, args.load_signups)
    };
    let bench = Layout::new(layout.root.clone(), Some(layout.installs.join("bench")));
    let mut report = String::from("# Benchmark results\n\n");
    writeln!(
        report,
        "Written by `cargo xtask bench{}` on {}.",
        if args.quick { " --quick" } else { "" },
        machine()
    )?;
    writeln!(
        report,
        "Local stack: LocalStack (host mode) + DynamoDB Local; functions built with --release and"
    )?;
    writeln!(
        report,
        "served by `cargo lambda watch`; latencies are client-side over HTTP on loopback.\n"
    )?;
    writeln!(
        report,
        "| measurement | n | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|"
    )?;

    let mut pipeline = String::new();
    for cost in [4, 12] {
        let result = (|| -> Result<()> {
            let stack = start(&bench, cost)?;
            let latencies = create_user_latency(&stack, requests)?;
            writeln!(
                report,
                "{}",
                row(&format!("create-user, warm, BCRYPT_COST={cost}"), &latencies)
            )?;
            if cost == 4 {
                let to_email = signup_to_email(&stack, users)?;
                writeln!(
                    pipeline,
                    "{}",
                    row("sign-up request to welcome email in SES", &to_email)
                )?;
                let (count, elapsed) = drain_rate(&stack, events)?;
                writeln!(
                    pipeline,
                    "\nsend-email throughput: {count} events queued at once, all emailed in {:.2} s: **{:.0} emails/s** \
                     (the bridge's ScalingConfig.MaximumConcurrency pollers, batches of up to 10).",
                    elapsed.as_secs_f64(),
                    count as f64 / elapsed.as_secs_f64()
                )?;
                let env = StackEnv::load(&bench)?;
                for (signups, concurrency, distinct) in
                    [(load_signups, args.load_concurrency, None), (100, 100, Some(10))]
                {
                    let report = load::run(&env, signups, concurrency, distinct)?;
                    let problems = report.problems();
                    if !problems.is_empty() {
                        bail!("load run of {signups} sign-ups broke a promise: {problems:?}");
                    }
                    let what = format!(
                        "load at BCRYPT_COST=4: {signups} sign-ups, {} distinct emails, {concurrency} at once ({:.0} sign-ups/s; {} users, {} emails, 0 duplicates, 0 5xx, DLQ empty)",
                        report.distinct,
                        signups as f64 / report.elapsed.as_secs_f64(),
                        report.users_stored,
                        report.emails.len(),
                    );
                    writeln!(
                        pipeline,
                        "\n| measurement | n | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|\n{}",
                        row(&what, &report.latencies)
                    )?;
                }
            }
            Ok(())
        })();
        // The sign-ups above went through the functions: their logs must hold no secret.
        let result = result.and_then(|()| super::test::no_secrets_in_logs(&bench));
        down::run(&bench)?;
        result?;
    }
    report.push_str(&pipeline);
    let sizes = artifact_sizes(layout);
    if !sizes.is_empty() {
        writeln!(
            report,
            "\n| arm64 artifact (cargo lambda build --release --arm64) | bootstrap | zip |\n|---|---|---|"
        )?;
        for (function, binary, zip) in sizes {
            writeln!(report, "| {function} | {:.2} MB | {:.2} MB |", mb(binary), mb(zip))?;
        }
    }
    let path = layout.root.join("bench/results.md");
    std::fs::create_dir_all(path.parent().unwrap())?;
    std::fs::write(&path, &report)?;
    println!("{report}\nwritten to {}", path.display());
    Ok(())
}

struct Stack {
    functions_port: u16,
    localstack_port: u16,
    endpoints: Endpoints,
    queue_url: String,
}

fn start(bench: &Layout, cost: u32) -> Result<Stack> {
    let args = up::UpArgs {
        localstack_port: None,
        dynamodb_port: None,
        functions_port: None,
        bcrypt_cost: Some(cost),
        release: true,
        function_env: Vec::new(),
        email_from: crate::provision::DEFAULT_EMAIL_FROM.into(),
    };
    up::run(bench, &args)?;
    let env = StackEnv::load(bench)?;
    Ok(Stack {
        functions_port: env.port("FUNCTIONS_URL")?,
        localstack_port: env.port("AWS_ENDPOINT_URL")?,
        endpoints: env.endpoints()?,
        queue_url: env.var("EMAIL_QUEUE_URL")?,
    })
}

fn sign_up(stack: &Stack, email: &str) -> Result<()> {
    let body = json!({"name": "Bench User", "email": email, "password": "correct horse battery"}).to_string();
    let (status, reply) = probe::http(
        stack.functions_port,
        "POST",
        "/lambda-url/create-user/users",
        Some(&body),
        Duration::from_secs(60),
    )?;
    if status != 201 {
        bail!("sign-up answered {status}: {reply}");
    }
    Ok(())
}

fn create_user_latency(stack: &Stack, n: usize) -> Result<Vec<Duration>> {
    let run = random_hex(4)?;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n + WARM_UP {
        let started = Instant::now();
        sign_up(stack, &format!("lat.{run}.{i}@example.com"))?;
        if i >= WARM_UP {
            latencies.push(started.elapsed());
        }
    }
    Ok(latencies)
}

/// Emails SES has accepted whose recipient contains `tag`.
fn emails_tagged(stack: &Stack, tag: &str) -> Result<usize> {
    let outbox = probe::ses_outbox(stack.localstack_port)?;
    Ok(outbox
        .iter()
        .filter(|m| probe::recipient(m).is_some_and(|to| to.contains(tag)))
        .count())
}

fn wait_for_emails(stack: &Stack, tag: &str, count: usize, poll: Duration) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while emails_tagged(stack, tag)? < count {
        if Instant::now() > deadline {
            bail!(
                "only {} of {count} emails for {tag} after 300 s",
                emails_tagged(stack, tag)?
            );
        }
        std::thread::sleep(poll);
    }
    Ok(())
}

fn signup_to_email(stack: &Stack, users: usize) -> Result<Vec<Duration>> {
    let run = random_hex(4)?;
    (0..users)
        .map(|i| {
            let email = format!("e2e.{run}.{i}@example.com");
            let started = Instant::now();
            sign_up(stack, &email)?;
            wait_for_emails(stack, &email, 1, Duration::from_millis(10))?;
            Ok(started.elapsed())
        })
        .collect()
}

/// Queues `n` events directly and times until all are emailed.
fn drain_rate(stack: &Stack, n: usize) -> Result<(usize, Duration)> {
    let tag = format!("drain.{}", random_hex(4)?);
    let started = Instant::now();
    tokio::runtime::Runtime::new()?.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(&stack.endpoints).await);
        for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
            let mut batch = sqs.send_message_batch().queue_url(&stack.queue_url);
            for &i in chunk {
                let body = json!({
                    "event_id": uuid_from(&random_hex(16)?), "event_type": "user.created", "version": 1,
                    "occurred_at": "2026-11-27T10:00:00Z",
                    "user": {"id": uuid_from(&random_hex(16)?), "name": "Drain", "email": format!("{tag}.{i}@example.com"),
                             "created_at": "2026-11-27T10:00:00Z"}
                });
                batch = batch.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body.to_string())
                        .build()?,
                );
            }
            batch.send().await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    wait_for_emails(stack, &tag, n, Duration::from_millis(250))?;
    Ok((n, started.elapsed()))
}

fn uuid_from(hex: &str) -> String {
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn row(what: &str, samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let pct = |p: f64| {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied().unwrap_or_default()
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let max = sorted.last().copied().unwrap_or_default();
    format!(
        "| {what} | {} | {} | {} | {} | {} |",
        sorted.len(),
        ms(pct(50.0)),
        ms(pct(95.0)),
        ms(pct(99.0)),
        ms(max)
    )
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Sizes of the arm64 artifacts `cargo lambda build --release --arm64 --output-format zip`
/// left: the zip, and the bootstrap inside it (from the zip's central directory).
fn artifact_sizes(layout: &Layout) -> Vec<(String, u64, u64)> {
    ["create-user", "send-email", "publish-outbox"]
        .iter()
        .filter_map(|f| {
            let zip = std::fs::read(layout.root.join("target/lambda").join(f).join("bootstrap.zip")).ok()?;
            // Central directory file header: signature PK\x01\x02, uncompressed size at +24.
            let header = zip.windows(4).position(|w| w == b"PK\x01\x02")?;
            let size = zip.get(header + 24..header + 28)?;
            let binary = u32::from_le_bytes(size.try_into().ok()?) as u64;
            Some((f.to_string(), binary, zip.len() as u64))
        })
        .collect()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores ({cpu})")
}
