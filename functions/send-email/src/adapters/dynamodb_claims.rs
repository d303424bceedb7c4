//! Idempotency claims in the users table: `EMAIL_SENT#<event_id>`, a [`user_store::claims`]
//! claim (its owner's token and its lease, as the outbox's), a `status`, and a TTL
//! (`expires_at`) so the records clean themselves up.
//!
//! Item while sending: `status = sending, claimed_by, claimed_until, expires_at`; once sent:
//! `status = sent, claimed_by, message_id, sent_at, expires_at`; when SES's answer was lost:
//! `status = unknown`, still claimed until its lease ends. Records written before claims were
//! shared (`owner`, `lease_until` in seconds) read as sent when sent; a legacy `sending` one
//! has no `claimed_until` and reads as expired: its send ended long before any redelivery.

use crate::domain::deliver::{Claim, ClaimStore, PortError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use std::time::Duration;
use time::OffsetDateTime;
use user_store::claims::{self, ClaimToken, SettleError, settled};
use user_store::dynamo;
use uuid::Uuid;

/// send-email's timeout (template.yaml). No shorter: a send still running is never taken
/// over. Shorter than the queue's visibility timeout (180 s; the local bridge's 35 s): when a
/// consumer dies mid-send, or SES's answer is lost, the redelivered message finds the lease
/// expired and sends.
pub const LEASE_SECONDS: u64 = 30;

pub struct DynamoClaims {
    client: Client,
    table: String,
    /// How long a claim protects a send in progress; longer than the function's timeout.
    lease: Duration,
    /// How long a sent record is kept (the TTL attribute); longer than any redelivery.
    retention: Duration,
}

impl DynamoClaims {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            lease: Duration::from_secs(LEASE_SECONDS),
            retention: Duration::from_secs(14 * 24 * 3600),
        }
    }

    /// Another lease than [`LEASE_SECONDS`]: for tests (zero: a claim another consumer can
    /// take over at once).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Opens the connection to DynamoDB during init, so that the first batch does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort.
    pub async fn warm_up(&self) {
        if let Err(e) = self.client.describe_table().table_name(&self.table).send().await {
            tracing::debug!(error = %DisplayErrorContext(&e), "DynamoDB warm-up call failed");
        }
    }

    /// The claim record's partition key (tests read the record by it).
    pub fn key(event_id: Uuid) -> AttributeValue {
        AttributeValue::S(format!("EMAIL_SENT#{event_id}"))
    }
}

fn string(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn seconds(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(at.unix_timestamp().to_string())
}

fn port_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> PortError {
    PortError(DisplayErrorContext(&e).to_string())
}

impl ClaimStore for DynamoClaims {
    async fn claim(&self, event_id: Uuid) -> Result<Claim, PortError> {
        let now = OffsetDateTime::now_utc();
        let token = ClaimToken::random();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::key(event_id))
            .item("status", string("sending"))
            .item(claims::OWNER, token.value())
            .item(claims::UNTIL, claims::until(now, self.lease))
            .item("expires_at", seconds(now + self.retention))
            // New, or a claim whose consumer died mid-send or lost SES's answer (its lease ran
            // out): then the owner is replaced, and the old one can no longer settle it.
            .condition_expression(
                "attribute_not_exists(pk) OR (#status IN (:sending, :unknown) AND (attribute_not_exists(#until) OR #until < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#until", claims::UNTIL)
            .expression_attribute_values(":sending", string("sending"))
            .expression_attribute_values(":unknown", string("unknown"))
            .expression_attribute_values(":now", dynamo::millis(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired(token)),
            Err(SdkError::ServiceError(e)) => match e.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let item = failed.item();
                    if claims::claimed_by(item, &token) {
                        // Our own first attempt, written, its answer lost: ours.
                        return Ok(Claim::Acquired(token));
                    }
                    let status = item.and_then(|item| item.get("status")).and_then(|s| s.as_s().ok());
                    Ok(if status.is_some_and(|s| s == "sent") {
                        Claim::AlreadySent
                    } else {
                        Claim::InProgress
                    })
                }
                _ => Err(port_error(SdkError::ServiceError(e))),
            },
            Err(e) => Err(port_error(e)),
        }
    }

    async fn mark_sent(&self, event_id: Uuid, token: &ClaimToken, message_id: &str) -> Result<(), SettleError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(event_id))
            // `expires_at` is left as the claim wrote it: the record keeps its TTL.
            .update_expression("SET #status = :sent, message_id = :message_id, sent_at = :now REMOVE #until")
            // Never creates an item (UpdateItem would), never overwrites another owner's.
            .condition_expression("attribute_exists(pk) AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_names("#until", claims::UNTIL)
            .expression_attribute_values(":sent", string("sent"))
            .expression_attribute_values(":message_id", string(message_id))
            .expression_attribute_values(":now", seconds(OffsetDateTime::now_utc()))
            .expression_attribute_values(":owner", token.value())
            .send()
            .await;
        settled(result, UpdateItemError::is_conditional_check_failed_exception)
    }

    async fn release(&self, event_id: Uuid, token: &ClaimToken) -> Result<(), SettleError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::key(event_id))
            // Never delete a record of a send that succeeded or may have, nor another owner's
            // claim.
            .condition_expression("#status = :sending AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_values(":sending", string("sending"))
            .expression_attribute_values(":owner", token.value())
            .send()
            .await;
        settled(result, DeleteItemError::is_conditional_check_failed_exception)
    }

    async fn mark_unknown(&self, event_id: Uuid, token: &ClaimToken) -> Result<(), SettleError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(event_id))
            // The lease stays as it is: until it ends, a redelivery finds the claim in progress.
            .update_expression("SET #status = :unknown")
            .condition_expression("#status = :sending AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_values(":sending", string("sending"))
            .expression_attribute_values(":unknown", string("unknown"))
            .expression_attribute_values(":owner", token.value())
            .send()
            .await;
        settled(result, UpdateItemError::is_conditional_check_failed_exception)
    }
}
