//! Load on a running stack: many sign-ups at once through create-user's function URL, then an
//! account of what came out the other end (users stored, emails per address, the DLQ).

use crate::env_file::StackEnv;
use crate::probe;
use crate::provision::{dynamodb_client, random_hex, sdk_config};
use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LoadReport {
    pub signups: usize,
    /// Distinct emails among them (each sign-up has its own unless the run reuses them).
    pub distinct: usize,
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

    /// Everything the pipeline promises: no 5xx, one user and one email per distinct address,
    /// a 409 for every repeat, an empty DLQ.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut expect = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        expect(self.server_errors() == 0, format!("5xx answers: {:?}", self.statuses));
        expect(
            self.count(201) == self.distinct,
            format!("{} x 201 for {} distinct emails", self.count(201), self.distinct),
        );
        expect(
            self.count(409) == self.signups - self.distinct,
            format!("{} x 409", self.count(409)),
        );
        expect(
            self.users_stored == self.distinct,
            format!("{} users stored for {}", self.users_stored, self.distinct),
        );
        let wrong: Vec<_> = self.emails.iter().filter(|(_, n)| **n != 1).collect();
        expect(
            self.emails.len() == self.distinct && wrong.is_empty(),
            format!(
                "emails per address off: {wrong:?}, {} addresses emailed",
                self.emails.len()
            ),
        );
        expect(
            self.dlq_messages == 0,
            format!("{} messages in the DLQ", self.dlq_messages),
        );
        problems
    }
}

/// `signups` sign-ups from `concurrency` clients; with `distinct`, they share that many emails.
pub fn run(env: &StackEnv, signups: usize, concurrency: usize, distinct: Option<usize>) -> Result<LoadReport> {
    let tag = format!("load.{}", random_hex(4)?);
    let distinct = distinct.unwrap_or(signups).min(signups);
    let address = |i: usize| format!("{tag}.{}@example.com", i % distinct);
    let port = env.port("FUNCTIONS_URL")?;

    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(signups));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= signups {
                        return;
                    }
                    let body =
                        json!({"name": format!("Load {i}"), "email": address(i), "password": "correct horse battery"});
                    let at = Instant::now();
                    let status = probe::http(
                        port,
                        "POST",
                        "/lambda-url/create-user/users",
                        Some(&body.to_string()),
                        Duration::from_secs(120),
                    )
                    .map(|(status, _)| status)
                    .unwrap_or(599);
                    results.lock().unwrap().push((status, at.elapsed()));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let results = results.into_inner().unwrap();
    let mut statuses = BTreeMap::new();
    for (status, _) in &results {
        *statuses.entry(*status).or_insert(0) += 1;
    }

    // The emails trail the sign-ups; wait until every address has one, then a little more
    // so that a duplicate would show.
    let localstack = env.port("AWS_ENDPOINT_URL")?;
    let emails_of_run = || -> Result<BTreeMap<String, usize>> {
        let mut counts = BTreeMap::new();
        for to in probe::ses_outbox(localstack)?
            .iter()
            .filter_map(probe::recipient)
            .filter(|to| to.starts_with(&tag))
        {
            *counts.entry(to.to_owned()).or_insert(0) += 1;
        }
        Ok(counts)
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while emails_of_run()?.len() < statuses.get(&201).copied().unwrap_or(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let emails = emails_of_run()?;

    let (users_stored, dlq_messages) = tokio::runtime::Runtime::new()?.block_on(async {
        let endpoints = env.endpoints()?;
        let config = sdk_config(&endpoints).await;
        let guards = count_items(
            &dynamodb_client(&config, &endpoints),
            &env.var("USERS_TABLE")?,
            &format!("EMAIL#{tag}"),
        )
        .await?;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(env.var("EMAIL_DLQ_URL")?)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await?;
        let dlq = attrs
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .cloned()
            })
            .and_then(|n| n.parse().ok())
            .context("DLQ depth")?;
        Ok::<_, anyhow::Error>((guards, dlq))
    })?;

    Ok(LoadReport {
        signups,
        distinct,
        elapsed,
        statuses,
        latencies: results.into_iter().map(|(_, latency)| latency).collect(),
        emails,
        users_stored,
        dlq_messages,
    })
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
