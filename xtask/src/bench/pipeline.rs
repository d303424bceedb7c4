//! End-to-end figures on the running stack, the way users run it: sign-ups over the function
//! URL of `cargo lambda watch`, emails read back from LocalStack's SES outbox.

use crate::env_file::StackEnv;
use crate::layout::Layout;
use crate::probe;
use crate::provision::random_hex;
use anyhow::{Result, bail};
use serde_json::json;
use std::time::{Duration, Instant};

pub struct Stack {
    pub functions_port: u16,
    pub localstack_port: u16,
}

impl Stack {
    pub fn of(env: &StackEnv) -> Result<Self> {
        Ok(Self {
            functions_port: env.port("FUNCTIONS_URL")?,
            localstack_port: env.port("AWS_ENDPOINT_URL")?,
        })
    }
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

/// Emails SES has accepted whose recipient contains `tag`.
fn emails_tagged(stack: &Stack, tag: &str) -> Result<usize> {
    let outbox = probe::ses_outbox(stack.localstack_port)?;
    Ok(outbox
        .iter()
        .filter(|m| probe::recipient(m).is_some_and(|to| to.contains(tag)))
        .count())
}

fn wait_for_email(stack: &Stack, tag: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while emails_tagged(stack, tag)? < 1 {
        if Instant::now() > deadline {
            bail!("no email for {tag} after 300 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// From each sign-up request to its welcome email in SES, one user at a time.
pub fn signup_to_email(stack: &Stack, users: usize) -> Result<Vec<Duration>> {
    let run = random_hex(4)?;
    (0..users)
        .map(|i| {
            let email = format!("e2e.{run}.{i}@example.com");
            let started = Instant::now();
            sign_up(stack, &email)?;
            wait_for_email(stack, &email)?;
            Ok(started.elapsed())
        })
        .collect()
}

/// Sizes of the arm64 artifacts `cargo lambda build --release --arm64 --output-format zip`
/// left: the zip, and the bootstrap inside it (from the zip's central directory).
pub fn artifact_sizes(layout: &Layout) -> Vec<(String, u64, u64)> {
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

pub fn machine() -> String {
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
