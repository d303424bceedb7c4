//! The SQS batch handler: each message decoded and delivered on its own task, inside a span
//! with its message id, its upstream trace id and its event's and user's ids (and its event's
//! type); the response
//! lists exactly the messages that failed, so SQS retries only those (and moves them to the
//! DLQ after maxReceiveCount). Logs name messages, events and users by id, never by email
//! address. Each batch counts its [`metric`]s.

use crate::domain::deliver::{ClaimStore, Deliver, DeliverError, Delivered, Mailer, PortError, RecipientLog};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::{Empty, display};
use user_events::trace::{self, TraceHeader};

/// The metrics a batch reports (the `metrics` facade; `lambda_support::metrics` writes them as
/// EMF after each invocation).
pub mod metric {
    /// Emails SES accepted (verification emails and notices).
    pub const EMAILS_SENT: &str = "EmailsSent";
    /// Deliveries of an event already emailed: nothing sent.
    pub const DUPLICATES_SKIPPED: &str = "DuplicatesSkipped";
    /// Emails not sent because their address had had its cap for the hour: the sign of
    /// someone aiming sign-ups or resends at one address.
    pub const EMAILS_CAPPED: &str = "EmailsCapped";
    /// Messages given back to SQS, all causes: what the SendEmailFailuresAlarm reads, with the
    /// FunctionName dimension only.
    pub const EMAIL_FAILURES: &str = "EmailFailures";
    /// The same failures by [`super::Cause`], in the dimension [`CAUSE`] (a document has one
    /// dimension set: hence a metric of its own).
    pub const EMAIL_FAILURES_BY_CAUSE: &str = "EmailFailuresByCause";
    /// Emails over the send rate (SES's throttling, the instance's pacing), sent back to the
    /// queue as delayed copies rather than failed (see [`super::Requeue`]).
    pub const EMAILS_DEFERRED: &str = "EmailsDeferred";
    pub const CAUSE: &str = "Cause";

    /// Units for the recorder; once, at init.
    pub fn describe() {
        use metrics::{Unit, describe_counter};
        describe_counter!(EMAILS_SENT, Unit::Count, "emails sent");
        describe_counter!(DUPLICATES_SKIPPED, Unit::Count, "duplicate deliveries skipped");
        describe_counter!(EMAILS_CAPPED, Unit::Count, "emails over their address's caps, not sent");
        describe_counter!(EMAIL_FAILURES, Unit::Count, "messages failed, to be retried");
        describe_counter!(EMAIL_FAILURES_BY_CAUSE, Unit::Count, "messages failed, by cause");
        describe_counter!(EMAILS_DEFERRED, Unit::Count, "messages deferred over the send rate");
    }
}

/// Why a message failed, as the `Cause` dimension names it: a fixed word, never an error's
/// text (which could quote an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The body is not a user event this consumer reads.
    Decode,
    /// Another consumer holds the event's claim: retried once its outcome is known.
    InProgress,
    /// The claims table (or the recipient log in it) failed.
    Claim,
    /// The verification key could not be read (SSM).
    Key,
    /// SES refused the send, or could not be reached; or a message over the send rate could
    /// not be deferred (see [`Requeue`]).
    Ses,
    /// SES may have the email and did not say: the claim is kept, and the message's
    /// redelivery after its lease sends again (see `domain::deliver`).
    SesOutcomeUnknown,
    /// The message's task panicked.
    Panic,
    /// Still running at the invocation's deadline: given back to SQS before Lambda's timeout
    /// would fail the whole batch. Its claim stays until its lease runs out.
    Deadline,
    /// A record that is not an SQS message (its `eventSource` is not `aws:sqs`, or it has no
    /// message id): not processed, so a direct invoke cannot have us mail anyone.
    NotSqs,
}

impl Cause {
    pub const ALL: [Cause; 9] = [
        Cause::Decode,
        Cause::InProgress,
        Cause::Claim,
        Cause::Key,
        Cause::Ses,
        Cause::SesOutcomeUnknown,
        Cause::Panic,
        Cause::Deadline,
        Cause::NotSqs,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Cause::Decode => "decode",
            Cause::InProgress => "in_progress",
            Cause::Claim => "claim",
            Cause::Key => "key",
            Cause::Ses => "ses",
            Cause::SesOutcomeUnknown => "ses_outcome_unknown",
            Cause::Panic => "panic",
            Cause::Deadline => "deadline",
            Cause::NotSqs => "not_sqs",
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Duplicate,
    Capped,
    /// An event that is no email.
    Skipped,
    /// Over the send rate: to be sent back to the queue for later.
    Deferred,
    Failed(Cause),
}

/// Where a message over the send rate goes: back to its queue as a copy delayed by `delay`,
/// carrying how often it has been deferred (`deferrals`). Its original then succeeds.
///
/// Failing it instead would count a receive against `maxReceiveCount` each time: a burst in
/// the SES sandbox (1 email a second) would walk good messages to the DLQ. A copy starts its
/// receive count afresh, and a copy twice is one email all the same (the claim). At most
/// [`MAX_DEFERRALS`] times, so a rate that never recovers still ends in the DLQ.
pub trait Requeue: Send + Sync {
    fn later(
        &self,
        message: &SqsMessage,
        deferrals: u32,
        delay: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send;
}

/// The message attribute that counts a message's deferrals.
pub const DEFERRALS_ATTRIBUTE: &str = "deferrals";
/// How often one event may be deferred: with [`defer_delay`]'s 30-60 s, 5 to 10 minutes,
/// SES's own advice for throttling ("wait up to 10 minutes").
pub const MAX_DEFERRALS: u32 = 10;

/// How long a deferred copy waits: 30 s, and up to 30 s more at random, so that a burst
/// deferred at once does not come back at once.
pub fn defer_delay() -> std::time::Duration {
    std::time::Duration::from_secs(30 + fastrand::u64(0..=30))
}

/// How often `message` has been deferred before.
fn deferrals_of(message: &SqsMessage) -> u32 {
    message
        .message_attributes
        .get(DEFERRALS_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub async fn handle<C, M, L, Q>(
    deliver: Arc<Deliver<C, M, L>>,
    requeue: &Q,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    C: ClaimStore + 'static,
    M: Mailer + 'static,
    L: RecipientLog + 'static,
    Q: Requeue,
{
    let started = Instant::now();
    let answer_by = lambda_support::deadline::answer_by(&event.context);
    let records = event.payload.records;
    let count = records.len();
    // One task per message: they run concurrently, and a panic in one is that task's
    // JoinError, not the end of the batch.
    let tasks: Vec<_> = records
        .into_iter()
        .map(|message| {
            let id = message.message_id.clone().unwrap_or_default();
            let span = message_span(&id, &message);
            let task = if is_sqs_message(&message) {
                tokio::spawn(process(deliver.clone(), message.clone()).instrument(span.clone()))
            } else {
                span.in_scope(
                    || tracing::error!(event_source = ?message.event_source, "not an SQS message: not processed"),
                );
                tokio::spawn(std::future::ready(Outcome::Failed(Cause::NotSqs)))
            };
            // The message is kept for a deferral (its copy goes back to the queue).
            (id, message, span, task)
        })
        .collect();

    let mut response = SqsBatchResponse::default();
    let mut outcomes = Vec::with_capacity(count);
    for (id, message, span, mut task) in tasks {
        let finished = match answer_by {
            Some(at) => tokio::time::timeout_at(at, &mut task).await.ok(),
            None => Some((&mut task).await),
        };
        let outcome = match finished {
            Some(Ok(outcome)) => outcome,
            Some(Err(join_error)) => {
                tracing::error!(message_id = %id, error = %join_error, "message processing panicked");
                Outcome::Failed(Cause::Panic)
            }
            None => {
                task.abort();
                tracing::error!(message_id = %id, "still running at the invocation's deadline: given back to SQS");
                Outcome::Failed(Cause::Deadline)
            }
        };
        let outcome = match (outcome, answer_by) {
            // Sending the copy back is within the deadline too.
            (Outcome::Deferred, Some(at)) => tokio::time::timeout_at(at, defer(requeue, &message).instrument(span))
                .await
                .unwrap_or(Outcome::Failed(Cause::Deadline)),
            (Outcome::Deferred, None) => defer(requeue, &message).instrument(span).await,
            (other, _) => other,
        };
        outcomes.push(outcome);
        // A failure without an id cannot be reported: Lambda reads an empty identifier as
        // the whole batch failed, and SQS would deliver every message again. Only a record
        // that is no SQS message has none, and there is nothing for SQS to redeliver.
        if matches!(outcome, Outcome::Failed(_)) && !id.is_empty() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    tracing::info!(
        messages = count,
        failed = response.batch_item_failures.len(),
        latency_ms = lambda_support::timing::ms(started.elapsed()),
        "send-email batch"
    );
    count_outcomes(&outcomes);
    Ok(response)
}

/// The batch's counts, on the recorder: every counter moves (by 0 if need be), so every batch
/// reports all of them.
fn count_outcomes(outcomes: &[Outcome]) {
    let count = |wanted: Outcome| outcomes.iter().filter(|o| **o == wanted).count() as u64;
    metrics::counter!(metric::EMAILS_SENT).increment(count(Outcome::Sent));
    metrics::counter!(metric::DUPLICATES_SKIPPED).increment(count(Outcome::Duplicate));
    metrics::counter!(metric::EMAILS_CAPPED).increment(count(Outcome::Capped));
    metrics::counter!(metric::EMAILS_DEFERRED).increment(count(Outcome::Deferred));
    let failed = outcomes.iter().filter(|o| matches!(o, Outcome::Failed(_))).count() as u64;
    metrics::counter!(metric::EMAIL_FAILURES).increment(failed);
    for cause in Cause::ALL {
        let n = count(Outcome::Failed(cause));
        if n > 0 {
            metrics::counter!(metric::EMAIL_FAILURES_BY_CAUSE, metric::CAUSE => cause.label()).increment(n);
        }
    }
}

/// The span one message is processed in: its SQS message id and the trace it was published
/// under (`upstream_trace_id`: the sign-up's, from the `AWSTraceHeader` attribute), then its
/// event's and user's ids once decoded. The invocation's own `trace_id` comes from the
/// invocation's span: a line has both, so one search for either trace finds it. At ERROR level
/// so that it is there whatever level the lines inside are logged at.
fn message_span(id: &str, message: &SqsMessage) -> tracing::Span {
    let upstream = message
        .attributes
        .get(trace::SQS_ATTRIBUTE)
        .and_then(|h| TraceHeader::parse(h));
    tracing::error_span!(
        "message",
        message_id = %id,
        upstream_trace_id = upstream.as_ref().map(TraceHeader::trace_id),
        event_id = Empty,
        event_type = Empty,
        user_id = Empty,
    )
}

/// A message over the send rate, sent back to the queue for later ([`Requeue`]): deferred,
/// or failed if it has been deferred [`MAX_DEFERRALS`] times or cannot be sent back.
async fn defer<Q: Requeue>(requeue: &Q, message: &SqsMessage) -> Outcome {
    let deferrals = deferrals_of(message) + 1;
    if deferrals > MAX_DEFERRALS {
        tracing::warn!(deferrals, "over the send rate too often: failed, towards the DLQ");
        return Outcome::Failed(Cause::Ses);
    }
    let delay = defer_delay();
    match requeue.later(message, deferrals, delay).await {
        Ok(()) => {
            tracing::info!(
                deferrals,
                delay_s = delay.as_secs(),
                "over the send rate: sent back to the queue for later"
            );
            Outcome::Deferred
        }
        Err(e) => {
            tracing::warn!(error = %e, "over the send rate, and not sent back to the queue: failed for SQS to retry");
            Outcome::Failed(Cause::Ses)
        }
    }
}

/// Whether a record is an SQS message, as the event source mapping sends them: from
/// `aws:sqs`, with the message id a failure is reported by.
fn is_sqs_message(message: &SqsMessage) -> bool {
    message.event_source.as_deref() == Some("aws:sqs") && message.message_id.as_deref().is_some_and(|id| !id.is_empty())
}

/// Decodes and delivers one message; a failure means "retry it".
async fn process<C: ClaimStore, M: Mailer, L: RecipientLog>(
    deliver: Arc<Deliver<C, M, L>>,
    message: SqsMessage,
) -> Outcome {
    let event = match user_events::decode_sqs_body(message.body.as_deref().unwrap_or_default()) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable message");
            return Outcome::Failed(Cause::Decode);
        }
    };
    let span = tracing::Span::current();
    span.record("event_id", display(event.event_id()));
    span.record("event_type", event_type(&event));
    span.record("user_id", display(event.user_id()));
    match deliver.run(&event).await {
        Ok(Delivered::Sent { message_id }) => {
            tracing::info!(ses_message_id = %message_id, "email sent");
            Outcome::Sent
        }
        Ok(Delivered::Duplicate) => {
            tracing::info!("already emailed; duplicate delivery skipped");
            Outcome::Duplicate
        }
        Ok(Delivered::Capped) => Outcome::Capped,
        Ok(Delivered::NotAnEmail) => {
            tracing::info!("not an email event; skipped");
            Outcome::Skipped
        }
        Err(e) => {
            let cause = match &e {
                // Over the send rate: for later, not failed (see `defer`).
                DeliverError::Throttled(_) => return Outcome::Deferred,
                DeliverError::InProgress(_) => Cause::InProgress,
                DeliverError::Claims(_) | DeliverError::Log(_) => Cause::Claim,
                DeliverError::Key(_) => Cause::Key,
                DeliverError::Send(_) => Cause::Ses,
                DeliverError::OutcomeUnknown(_) => Cause::SesOutcomeUnknown,
            };
            tracing::warn!(error = %e, "delivery failed; SQS will retry");
            Outcome::Failed(cause)
        }
    }
}

/// The event's type, as the contract names it.
fn event_type(event: &user_events::UserEvent) -> &'static str {
    use user_events::{UserEvent, event_types};
    match event {
        UserEvent::Created(_) => event_types::USER_CREATED,
        UserEvent::VerificationRequested(_) => event_types::VERIFICATION_REQUESTED,
        UserEvent::SignUpAttempted(_) => event_types::SIGN_UP_ATTEMPTED,
        UserEvent::Verified(_) => event_types::USER_VERIFIED,
    }
}

#[cfg(test)]
mod tests;
