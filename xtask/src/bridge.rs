//! The local event source mapping. Without Docker, LocalStack cannot run Lambda, so this does
//! the SQS event source mapping's job for send-email: long-poll the queue, batch like
//! template.yaml says (batch size, batching window), invoke the function through cargo lambda's
//! invoke endpoint with a real SQS event, delete exactly the messages that succeeded, and leave
//! the failed ones for SQS to redeliver and, after maxReceiveCount, move to the DLQ. A function
//! error deletes nothing.
//!
//! It also stands in for EventBridge schedules: every function with a Schedule event in the
//! template is invoked every `schedule_every`.
//!
//! Deliberate differences from AWS, so that retries, the DLQ and the outbox can be watched
//! locally in seconds: a failed message becomes visible again after `retry_delay` instead of
//! the queue's visibility timeout (3 minutes), messages received by a bridge that dies come
//! back after `IN_FLIGHT_VISIBILITY` (35 s) rather than 3 minutes, and
//! schedules run every few seconds instead of at their rate.

use crate::probe;
use crate::template::SqsEventSource;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long a received message stays hidden: longer than send-email's 30 s timeout and its
/// 30 s claim lease, so that a message whose consumer died comes back to an expired lease
/// (and is sent) rather than to a live one (and fails its way to the DLQ).
const IN_FLIGHT_VISIBILITY: i32 = 35;

pub struct Bridge {
    pub sqs: Client,
    pub queue_url: String,
    pub function: String,
    pub functions_port: u16,
    pub region: String,
    pub source: SqsEventSource,
    pub retry_delay: Duration,
    pub scheduled: Vec<String>,
    pub schedule_every: Duration,
}

/// What happened to one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl Bridge {
    /// Polls with `max_concurrency` pollers, like the event source mapping's concurrent
    /// batches, until the process is stopped.
    pub async fn run_forever(self: std::sync::Arc<Self>) -> Result<()> {
        let queue_arn = self.queue_arn().await?;
        eprintln!(
            "bridge: {} -> {} (batch {}, window {} s, {} poller(s)), polling",
            self.queue_url,
            self.function,
            self.source.batch_size,
            self.source.batching_window_seconds,
            self.source.max_concurrency
        );
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(run_schedules(
            self.functions_port,
            self.scheduled.clone(),
            self.schedule_every,
        ));
        for _ in 0..self.source.max_concurrency.max(1) {
            let (bridge, queue_arn) = (self.clone(), queue_arn.clone());
            tasks.spawn(async move { bridge.poll_forever(&queue_arn).await });
        }
        tasks.join_next().await;
        bail!("a bridge task ended")
    }

    async fn poll_forever(&self, queue_arn: &str) {
        loop {
            match self.run_once(queue_arn, Duration::from_secs(20)).await {
                Ok(outcome) if outcome.received > 0 => eprintln!("bridge: {outcome:?}"),
                Ok(_) => {}
                Err(e) => {
                    // Emulator restarting, function rebuilding: keep going, like the real mapping.
                    eprintln!("bridge: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    pub async fn queue_arn(&self) -> Result<String> {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .context("reading the queue ARN")?;
        attrs
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .context("queue has no ARN")
    }

    /// Collects one batch (waiting up to `wait` for its first message), invokes, settles.
    pub async fn run_once(&self, queue_arn: &str, wait: Duration) -> Result<BatchOutcome> {
        let batch = self.collect(wait).await?;
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let event = sqs_event(&batch, queue_arn, &self.region);
        let failed_ids = match self.invoke(&event).await {
            Ok(failed) => failed,
            Err(e) => {
                // Like Lambda after a crash: the batch comes back when its visibility ends
                // (IN_FLIGHT_VISIBILITY, longer than the claim lease), not after retry_delay:
                // a function killed mid-send holds live claims, and quick retries would only
                // fail against them until maxReceiveCount sent the messages to the DLQ.
                eprintln!(
                    "bridge: invoking {} failed, the batch comes back in {IN_FLIGHT_VISIBILITY} s: {e:#}",
                    self.function
                );
                return Ok(BatchOutcome {
                    received: batch.len(),
                    deleted: 0,
                    failed: batch.len(),
                });
            }
        };
        let (failed, succeeded): (Vec<&Message>, Vec<&Message>) = batch
            .iter()
            .partition(|m| m.message_id.as_ref().is_some_and(|id| failed_ids.contains(id)));
        self.delete(&succeeded).await?;
        for message in &failed {
            if let Some(handle) = &message.receipt_handle {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(self.retry_delay.as_secs() as i32)
                    .send()
                    .await
                    .context("ChangeMessageVisibility")?;
            }
        }
        Ok(BatchOutcome {
            received: batch.len(),
            deleted: succeeded.len(),
            failed: failed.len(),
        })
    }

    /// Up to `batch_size` messages: long-polls for the first, then keeps filling until the
    /// batch is full or the batching window has passed.
    async fn collect(&self, wait: Duration) -> Result<Vec<Message>> {
        let mut batch: Vec<Message> = Vec::new();
        let mut window_ends: Option<Instant> = None;
        loop {
            let room = self.source.batch_size - batch.len() as i32;
            let wait_seconds = match window_ends {
                None => wait.as_secs() as i32,
                Some(end) => end.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as i32,
            };
            if room <= 0 || (window_ends.is_some() && wait_seconds <= 0) {
                return Ok(batch);
            }
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(room.min(10))
                .visibility_timeout(IN_FLIGHT_VISIBILITY)
                .wait_time_seconds(wait_seconds.min(20))
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .context("ReceiveMessage")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() && (window_ends.is_none() || self.source.batching_window_seconds == 0) {
                return Ok(batch);
            }
            if !messages.is_empty() && window_ends.is_none() {
                window_ends = Some(Instant::now() + Duration::from_secs(self.source.batching_window_seconds));
            }
            batch.extend(messages);
        }
    }

    /// Invokes the function; returns the ids it reported as failed.
    async fn invoke(&self, event: &Value) -> Result<HashSet<String>> {
        let reply = invoke(self.functions_port, &self.function, event).await?;
        if !self.source.report_batch_item_failures {
            return Ok(HashSet::new());
        }
        let batch_ids: HashSet<&str> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["messageId"].as_str())
            .collect();
        let mut failed = HashSet::new();
        for failure in reply["batchItemFailures"].as_array().into_iter().flatten() {
            match failure["itemIdentifier"].as_str() {
                // Like Lambda: an identifier that is not in the batch fails the whole batch.
                Some(id) if batch_ids.contains(id) => failed.insert(id.to_owned()),
                _ => bail!("invalid batchItemFailures entry {failure}"),
            };
        }
        Ok(failed)
    }

    async fn delete(&self, messages: &[&Message]) -> Result<()> {
        for chunk in messages.chunks(10) {
            let mut request = self.sqs.delete_message_batch().queue_url(&self.queue_url);
            for (i, m) in chunk.iter().enumerate() {
                request = request.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                        .build()?,
                );
            }
            let out = request.send().await.context("DeleteMessageBatch")?;
            if !out.failed.is_empty() {
                bail!(
                    "could not delete {} processed messages: {:?}",
                    out.failed.len(),
                    out.failed
                );
            }
        }
        Ok(())
    }
}

/// Invokes `function` through cargo lambda's invoke endpoint; a function error is an error.
async fn invoke(port: u16, function: &str, event: &Value) -> Result<Value> {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let body = event.to_string();
    let (status, reply) =
        tokio::task::spawn_blocking(move || probe::http(port, "POST", &path, Some(&body), Duration::from_secs(900)))
            .await??;
    let reply: Value = serde_json::from_str(&reply).with_context(|| format!("HTTP {status}: {reply}"))?;
    if status != 200 || reply.get("errorType").is_some() || reply.get("errorMessage").is_some() {
        bail!("{function}: function error (HTTP {status}): {reply}");
    }
    Ok(reply)
}

/// EventBridge's part: invokes each scheduled function with a scheduled event, forever.
async fn run_schedules(port: u16, functions: Vec<String>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for function in &functions {
            let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
            match invoke(port, function, &event).await {
                Ok(reply) if reply.get("published").and_then(Value::as_u64).unwrap_or(0) > 0 => {
                    eprintln!("bridge: schedule {function}: {reply}")
                }
                Ok(_) => {}
                Err(e) => eprintln!("bridge: schedule {function}: {e:#}"),
            }
        }
    }
}

/// The SQS event Lambda's event source mapping would send for these messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, a)| {
                    let binary = a
                        .binary_value
                        .as_ref()
                        .map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
                    let value = json!({
                        "stringValue": a.string_value,
                        "binaryValue": binary,
                        "stringListValues": a.string_list_values.clone().unwrap_or_default(),
                        "binaryListValues": [],
                        "dataType": a.data_type,
                    });
                    (name.clone(), value)
                })
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body,
                "md5OfMessageAttributes": m.md5_of_message_attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}
