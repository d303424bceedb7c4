//! The local event source mapping. Without Docker, LocalStack cannot run Lambda, so this does
//! the SQS event source mapping's job for send-email: long-poll the queue, batch like
//! template.yaml says (batch size, batching window), invoke the function through cargo lambda's
//! invoke endpoint with a real SQS event, delete exactly the messages that succeeded, and leave
//! the failed ones for SQS to redeliver and, after maxReceiveCount, move to the DLQ. A function
//! error deletes nothing.
//!
//! It keeps Lambda's promises about time: an invocation gets the function's `Timeout` from
//! template.yaml (send-email 30 s, publish-outbox 60 s), and one that has not answered by then
//! is a function error, its batch left to come back when its visibility ends. A message stays
//! hidden while it is in flight for longer than the batching window plus the longer of the
//! timeout and the consumer's claim lease ([`in_flight_visibility`]), so no two invocations
//! ever hold it at once. A message the function reports failed is retried no sooner than the
//! claim lease has run out ([`retry_after`]), so a retry never meets a claim that a
//! live consumer still holds.
//!
//! It also stands in for EventBridge schedules: every function with a Schedule event in the
//! template is invoked every `schedule_every`.
//!
//! Deliberate differences from AWS, so that retries, the DLQ and the outbox can be watched
//! locally in a few minutes rather than a quarter of an hour:
//! - a failed message (in `batchItemFailures`) becomes visible again after the claim lease
//!   (send-email's is its Timeout: 31 s with a second's margin) instead of the
//!   queue's visibility timeout (3 minutes);
//! - messages in flight (received by a bridge that dies, or in a batch whose invocation failed
//!   or timed out) come back after [`in_flight_visibility`] (35 s for send-email) instead of
//!   the queue's visibility timeout;
//! - schedules run every few seconds instead of at their rate, one invocation at a time;
//! - an invocation past its timeout is abandoned, not stopped: cargo lambda watch lets the
//!   function run on, where Lambda would end it. A send still running when its batch comes
//!   back (and its lease has run out) can be doubled; send-email's sends take milliseconds.

use crate::probe;
use crate::template::SqsEventSource;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use base64::Engine;
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

/// A function the bridge invokes on a schedule, with its `Timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub function: String,
    pub timeout: Duration,
}

pub struct Bridge {
    pub sqs: Client,
    pub queue_url: String,
    pub function: String,
    /// The function's `Timeout` (template.yaml): an invocation that has not answered by then is
    /// a function error, as on Lambda.
    pub timeout: Duration,
    /// The consumer's claim lease: how long a claim taken by a live invocation protects its
    /// send. send-email's is its Timeout (`LEASE_SECONDS`; see
    /// [`crate::commands::bridge::send_email_limits`]). Failed messages are retried after it
    /// ([`retry_after`]), never sooner.
    pub claim_lease: Duration,
    pub functions_port: u16,
    pub region: String,
    pub source: SqsEventSource,
    pub scheduled: Vec<Scheduled>,
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
        let mut tasks = tokio::task::JoinSet::new();
        let schedules = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(schedules.schedule_every);
            // A run that took its whole timeout is not followed by a burst of catch-up runs.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for (function, outcome) in schedules.run_schedules_once().await {
                    match outcome {
                        Ok(reply) if reply.get("published").and_then(Value::as_u64).unwrap_or(0) > 0 => {
                            eprintln!("bridge: schedule {function}: {reply}")
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("bridge: schedule {function}: {e:#}"),
                    }
                }
            }
        });
        for _ in 0..self.source.max_concurrency.max(1) {
            let (bridge, queue_arn) = (self.clone(), queue_arn.clone());
            tasks.spawn(async move { bridge.poll_forever(&queue_arn).await });
        }
        tasks.join_next().await;
        bail!("a bridge task ended")
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

    /// EventBridge's part, once: invokes each scheduled function with a scheduled event, each
    /// within its own timeout.
    pub async fn run_schedules_once(&self) -> Vec<(String, Result<Value>)> {
        let mut outcomes = Vec::new();
        for scheduled in &self.scheduled {
            let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
            let outcome = invoke(self.functions_port, &scheduled.function, &event, scheduled.timeout).await;
            outcomes.push((scheduled.function.clone(), outcome));
        }
        outcomes
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
        let reply = invoke(self.functions_port, &self.function, event, self.timeout).await?;
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

/// Invokes `function` through cargo lambda's invoke endpoint; a function error is an error,
/// and so is no answer within `timeout` (the function's Timeout).
async fn invoke(port: u16, function: &str, event: &Value, timeout: Duration) -> Result<Value> {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let body = event.to_string();
    let (status, reply) =
        match tokio::task::spawn_blocking(move || probe::http(port, "POST", &path, Some(&body), timeout)).await? {
            Ok(answer) => answer,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                bail!(
                    "{function}: function error: no answer within its Timeout of {} s",
                    timeout.as_secs_f64()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("invoking {function}")),
        };
    let reply: Value = serde_json::from_str(&reply).with_context(|| format!("HTTP {status}: {reply}"))?;
    if status != 200 || reply.get("errorType").is_some() || reply.get("errorMessage").is_some() {
        bail!("{function}: function error (HTTP {status}): {reply}");
    }
    Ok(reply)
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
    use crate::template::Template;

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

    /// With the real template: send-email's numbers, as the README states them, and AWS's own
    /// queue visibility keeps the same promises.
    #[test]
    fn the_real_templates_send_email_keeps_them() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        let (timeout, lease) = crate::commands::bridge::send_email_limits(&template).unwrap();
        assert!(
            lease >= timeout,
            "a lease shorter than the timeout lets a live send be taken over"
        );
        let source = template.sqs_event_source("send-email").unwrap();
        let visibility = in_flight_visibility(&source, timeout, lease);
        assert!(visibility > timeout && visibility > lease);
        assert_eq!(
            visibility,
            Duration::from_secs(35),
            "the README states 35 s: update it too"
        );
        // On AWS a failed message and a timed-out batch come back after the queue's
        // visibility timeout: it must outlast the lease and the batch's window plus timeout.
        let queue = template.properties("EmailQueue").unwrap()["VisibilityTimeout"]
            .as_u64()
            .map(Duration::from_secs)
            .unwrap();
        assert!(queue >= retry_after(lease) && queue > Duration::from_secs(source.batching_window_seconds) + timeout);
        assert_eq!(
            retry_after(lease),
            Duration::from_secs(31),
            "the README states 31 s: update it too"
        );
    }
}
