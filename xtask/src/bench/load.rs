//! Load on a running stack: many sign-ups at once through create-user's function URL, then an
//! account of what came out the other end (users stored, emails per address within its cap,
//! the DLQ).

use super::pipeline::SignUps;
use crate::random;
use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::{StackEnv, dynamodb_client, sdk_config, ses};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LoadReport {
    pub signups: usize,
    /// Distinct emails among them (each sign-up has its own unless the run reuses them).
    pub distinct: usize,
    /// Emails one address may get in an hour (the stack's `EMAILS_PER_ADDRESS_PER_HOUR`).
    pub cap: usize,
    pub elapsed: Duration,
    pub statuses: BTreeMap<u16, usize>,
    pub latencies: Vec<Duration>,
    /// Emails SES accepted, per address of this run.
    pub emails: BTreeMap<String, usize>,
    /// Email guards stored for this run's addresses: one per user.
    pub users_stored: usize,
    pub dlq_messages: usize,
}

impl LoadReport {
    pub fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    pub fn server_errors(&self) -> usize {
        self.statuses.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()
    }

    /// Sign-ups of each distinct address (the run spreads them evenly).
    fn per_address(&self, address: usize) -> usize {
        self.signups / self.distinct + usize::from(address < self.signups % self.distinct)
    }

    /// The emails each address must get: one per sign-up, up to its cap.
    pub fn expected_emails(&self) -> usize {
        (0..self.distinct).map(|a| self.per_address(a).min(self.cap)).sum()
    }

    /// Everything the pipeline promises: no 5xx, the same 202 for every sign-up, one user per
    /// distinct address, one email per sign-up up to the address's cap and never more, an
    /// empty DLQ.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut expect = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        expect(self.server_errors() == 0, format!("5xx answers: {:?}", self.statuses));
        expect(
            self.count(202) == self.signups,
            format!(
                "{} x 202 for {} sign-ups: {:?}",
                self.count(202),
                self.signups,
                self.statuses
            ),
        );
        expect(
            self.users_stored == self.distinct,
            format!("{} users stored for {}", self.users_stored, self.distinct),
        );
        // Counts, not the addresses: what xtask prints is no place for an email address.
        let want = (self.signups / self.distinct).min(self.cap);
        let wrong: Vec<usize> = self
            .emails
            .values()
            .copied()
            .filter(|n| *n > self.cap || *n < want)
            .collect();
        let total: usize = self.emails.values().sum();
        expect(
            self.emails.len() == self.distinct && wrong.is_empty() && total == self.expected_emails(),
            format!(
                "emails per address off (cap {}): {} addresses got {wrong:?} emails, {} addresses emailed, {total} emails for {} expected",
                self.cap,
                wrong.len(),
                self.emails.len(),
                self.expected_emails()
            ),
        );
        expect(
            self.dlq_messages == 0,
            format!("{} messages in the DLQ", self.dlq_messages),
        );
        problems
    }
}

/// How long one sign-up may take before it counts as failed (599).
const SIGN_UP_WITHIN: Duration = Duration::from_secs(120);

/// `signups` sign-ups from `concurrency` clients; with `distinct`, they share that many emails.
pub async fn run(env: &StackEnv, signups: usize, concurrency: usize, distinct: Option<usize>) -> Result<LoadReport> {
    let tag = format!("load.{}", random::hex(4)?);
    let distinct = distinct.unwrap_or(signups).min(signups);
    let started = Instant::now();
    let results = send_all(SignUps::of(env)?, &tag, signups, concurrency, distinct).await?;
    let elapsed = started.elapsed();
    let mut statuses = BTreeMap::new();
    for (status, _) in &results {
        *statuses.entry(*status).or_insert(0) += 1;
    }
    let cap = env
        .get("EMAILS_PER_ADDRESS_PER_HOUR")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EMAILS_PER_ADDRESS_PER_HOUR);
    let mut report = LoadReport {
        signups,
        distinct,
        cap,
        elapsed,
        statuses,
        latencies: results.into_iter().map(|(_, latency)| latency).collect(),
        emails: BTreeMap::new(),
        users_stored: 0,
        dlq_messages: 0,
    };
    report.emails = emails_of_run(&env.var("AWS_ENDPOINT_URL")?, &tag, report.expected_emails()).await?;
    let endpoints = env.endpoints()?;
    let config = sdk_config(&endpoints).await;
    let ddb = dynamodb_client(&config, &endpoints);
    // The guards of this run's addresses: their keys all start with the tag's.
    report.users_stored = count_items(
        &ddb,
        &env.var("USERS_TABLE")?,
        &user_store::adapters::dynamodb::guard_key(&tag),
    )
    .await?;
    report.dlq_messages = queue_depth(&aws_sdk_sqs::Client::new(&config), &env.var("EMAIL_DLQ_URL")?).await?;
    Ok(report)
}

/// send-email's default cap (template parameter `EmailsPerAddressPerHour`), when the stack's
/// environment names none.
const DEFAULT_EMAILS_PER_ADDRESS_PER_HOUR: usize = 3;

/// The sign-ups, from `concurrency` clients at once that each take the next one when theirs is
/// answered: each one's status (599 for no answer) and latency.
async fn send_all(
    sign_ups: SignUps,
    tag: &str,
    signups: usize,
    concurrency: usize,
    distinct: usize,
) -> Result<Vec<(u16, Duration)>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (sign_ups, next, tag) = (sign_ups.clone(), next.clone(), tag.to_owned());
        clients.spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= signups {
                    return results;
                }
                let email = format!("{tag}.{}@example.com", i % distinct);
                let at = Instant::now();
                let status = match sign_ups.send(&format!("Load {i}"), &email, SIGN_UP_WITHIN).await {
                    Ok((status, _)) => status,
                    Err(_) => 599,
                };
                results.push((status, at.elapsed()));
            }
        });
    }
    let mut results = Vec::with_capacity(signups);
    while let Some(client) = clients.join_next().await {
        results.extend(client?);
    }
    Ok(results)
}

/// Emails SES accepted for this run's addresses, per address. The emails trail the sign-ups:
/// waits until `expected` have arrived, then a little more so that an extra one would show.
async fn emails_of_run(localstack: &str, tag: &str, expected: usize) -> Result<BTreeMap<String, usize>> {
    let outbox = ses::Outbox::at(localstack);
    let count = async || -> Result<BTreeMap<String, usize>> {
        let mut counts = BTreeMap::new();
        for email in outbox.emails().await? {
            for to in ses::recipients(&email).filter(|to| to.starts_with(tag)) {
                *counts.entry(to.to_owned()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while count().await?.values().sum::<usize>() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    count().await
}

/// Messages in a queue, waiting or in flight, as SQS counts them (approximately, which an idle
/// queue makes exact).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<usize> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    let count = |name: &QueueAttributeName| -> Result<usize> {
        let n = attrs.get(name).with_context(|| format!("no {name:?}"))?;
        Ok(n.parse()?)
    };
    Ok(count(&QueueAttributeName::ApproximateNumberOfMessages)?
        + count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?)
}

/// Items whose key starts with `prefix` (a scan: this is a test of a small local table).
async fn count_items(ddb: &aws_sdk_dynamodb::Client, table: &str, prefix: &str) -> Result<usize> {
    let mut count = 0;
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        count += out.count as usize;
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(count);
        }
    }
}
