//! Lambda's SQS event source mapping, for send-email: long-poll the queue, batch like
//! template.yaml says (batch size, batching window), invoke the function through cargo lambda's
//! invoke endpoint with a real SQS event, delete exactly the messages that succeeded, and leave
//! the failed ones for SQS to redeliver and, after maxReceiveCount, move to the DLQ. A function
//! error deletes nothing.
//!
//! It keeps Lambda's promises about time: an invocation gets the function's `Timeout`, and one
//! that has not answered by then is a function error, its batch left to come back when its
//! visibility ends. A message stays hidden while it is in flight for longer than the batching
//! window plus the longer of the timeout and the consumer's claim lease
//! ([`in_flight_visibility`]), so no two invocations ever hold it at once. A message the
//! function reports failed is retried no sooner than the claim lease has run out
//! ([`retry_after`]), so a retry never meets a claim that a live consumer still holds.

use super::invoke;
use crate::local::template::SqsEventSource;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use base64::Engine;
use local_stack::queue_arn;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Slack on a message's in-flight visibility beyond the batching window and the longer of the
/// timeout and the lease: the receives' whole-second waits, the deletes after the answer, a
/// claim taken a moment after the invocation starts.
const IN_FLIGHT_MARGIN: Duration = Duration::from_secs(4);

/// Slack on a failed message's retry beyond the claim lease. The claim was taken during the
/// invocation, so its lease ends before `claim_lease` after the failure is reported; the
/// second covers what the two clocks and SQS's whole-second visibility leave uncertain.
const RETRY_MARGIN: Duration = Duration::from_secs(1);

/// How long a received message stays hidden before it comes back on its own: the batching
/// window (its batch may wait that long to be invoked), then the longer of the function's
/// timeout and the claim lease, then [`IN_FLIGHT_MARGIN`]. So a batch whose invocation failed,
/// timed out or lost its bridge comes back after the invocation is over and after the claims
/// it took have expired: to an expired lease (and is sent) rather than to a live one (and fails
/// its way to the DLQ). The invariant (longer than the timeout, longer than the lease) is
/// tested below. 35 s for send-email (1 + 30 + 4).
pub fn in_flight_visibility(source: &SqsEventSource, timeout: Duration, claim_lease: Duration) -> Duration {
    Duration::from_secs(source.batching_window_seconds) + timeout.max(claim_lease) + IN_FLIGHT_MARGIN
}

/// How long a message the function reported failed stays hidden before its retry: the claim
/// lease and [`RETRY_MARGIN`], never less, so that whichever consumer holds the
/// message's claim has finished or lost it by then. 31 s for send-email.
pub fn retry_after(claim_lease: Duration) -> Duration {
    claim_lease + RETRY_MARGIN
}

/// The mapping from one queue to one function.
pub struct EventSourceMapping {
    /// Invokes the function through cargo lambda.
    pub http: reqwest::Client,
    pub sqs: Client,
    pub queue_url: String,
    pub function: String,
    /// The function's `Timeout` (template.yaml): an invocation that has not answered by then is
    /// a function error, as on Lambda.
    pub timeout: Duration,
    /// The consumer's claim lease: how long a claim taken by a live invocation protects its
    /// send. send-email's is its Timeout (`LEASE_SECONDS`; see
    /// [`super::send_email_limits`]). Failed messages are retried after it
    /// ([`retry_after`]), never sooner.
    pub claim_lease: Duration,
    pub functions_port: u16,
    pub region: String,
    pub source: SqsEventSource,
}

/// What happened to one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl EventSourceMapping {
    /// Polls with `max_concurrency` pollers, like the event source mapping's concurrent
    /// batches, until the process is stopped.
    pub async fn run_forever(self: std::sync::Arc<Self>) -> Result<()> {
        let queue_arn = queue_arn(&self.sqs, &self.queue_url).await?;
        eprintln!(
            "bridge: {} -> {} (batch {}, window {} s, {} poller(s), timeout {} s, failed messages retried after {} s, in flight for {} s), polling",
            self.queue_url,
            self.function,
            self.source.batch_size,
            self.source.batching_window_seconds,
            self.source.max_concurrency,
            self.timeout.as_secs_f64(),
            self.retry_after().as_secs_f64(),
            self.in_flight_visibility().as_secs_f64(),
        );
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..self.source.max_concurrency.max(1) {
            let (mapping, queue_arn) = (self.clone(), queue_arn.clone());
            pollers.spawn(async move { mapping.poll_forever(&queue_arn).await });
        }
        pollers.join_next().await;
        bail!("a poller of the event source mapping ended")
    }

    /// How long a received message stays hidden: see [`in_flight_visibility`].
    pub fn in_flight_visibility(&self) -> Duration {
        in_flight_visibility(&self.source, self.timeout, self.claim_lease)
    }

    /// How long a message the function reported failed stays hidden before its retry: see
    /// [`retry_after`].
    pub fn retry_after(&self) -> Duration {
        retry_after(self.claim_lease)
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
                // Like Lambda after a crash or a timeout: the batch comes back when its
                // visibility ends (longer than the timeout and the claim lease), not sooner: a
                // function killed, or still running, mid-send holds live claims, and quick
                // retries would only fail against them until maxReceiveCount sent the messages
                // to the DLQ.
                eprintln!(
                    "bridge: invoking {} failed, the batch comes back when its {} s in flight end: {e:#}",
                    self.function,
                    self.in_flight_visibility().as_secs_f64()
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
        // Retried once the claim lease has run out, not sooner: the failure may be a claim
        // another live consumer holds, and retries against it would only count receives
        // towards the DLQ while that consumer is still sending.
        let retry_after = seconds(self.retry_after());
        for message in &failed {
            if let Some(handle) = &message.receipt_handle {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(retry_after)
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
                .visibility_timeout(seconds(self.in_flight_visibility()))
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
        let reply = invoke(&self.http, self.functions_port, &self.function, event, self.timeout).await?;
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

/// A visibility timeout in SQS's whole seconds, rounded up.
fn seconds(d: Duration) -> i32 {
    d.as_secs_f64().ceil() as i32
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(batching_window_seconds: u64) -> SqsEventSource {
        SqsEventSource {
            batch_size: 10,
            max_concurrency: 1,
            batching_window_seconds,
            report_batch_item_failures: true,
        }
    }

    /// The invariant that keeps two invocations from holding one message, and a redelivery
    /// from meeting a live claim: in flight for longer than the batching window plus the
    /// timeout, and than the lease.
    #[test]
    fn in_flight_outlasts_the_timeout_and_the_lease() {
        let s = Duration::from_secs;
        for window in [0, 1, 5, 300] {
            for (timeout, lease) in [
                (s(1), s(1)),
                (s(2), s(6)),
                (s(30), s(30)),
                (s(60), s(10)),
                (s(900), s(900)),
            ] {
                let visibility = in_flight_visibility(&source(window), timeout, lease);
                assert!(
                    visibility > s(window) + timeout,
                    "{visibility:?} <= {window} s + {timeout:?}"
                );
                assert!(
                    visibility > s(window) + lease,
                    "{visibility:?} <= {window} s + {lease:?}"
                );
            }
        }
    }
    // The real template's numbers, and their relation to send-email's lease and the queue's
    // visibility timeout, are checked in xtask/tests/invariants.rs.
}
