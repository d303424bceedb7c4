//! Idempotency claims in the users table: `EMAIL_SENT#<event_id>`, with a lease while a
//! consumer sends and a TTL so the records clean themselves up.

use crate::domain::deliver::{Claim, ClaimStore, PortError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// send-email's timeout (template.yaml). No shorter: a send still running is never taken
/// over. Shorter than the queue's visibility timeout (180 s; the local bridge's 35 s): when a
/// consumer dies mid-send, the redelivered message finds the lease expired and sends.
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

    /// Opens the connection to DynamoDB during init, so that the first batch does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort.
    pub async fn warm_up(&self) {
        if let Err(e) = self.client.describe_table().table_name(&self.table).send().await {
            tracing::debug!(error = %DisplayErrorContext(&e), "DynamoDB warm-up call failed");
        }
    }

    fn key(event_id: Uuid) -> AttributeValue {
        AttributeValue::S(format!("EMAIL_SENT#{event_id}"))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn port_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> PortError {
    PortError(DisplayErrorContext(&e).to_string())
}

impl ClaimStore for DynamoClaims {
    async fn claim(&self, event_id: Uuid) -> Result<Claim, PortError> {
        let now = now();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::key(event_id))
            .item("status", AttributeValue::S("sending".into()))
            .item("lease_until", n(now + self.lease.as_secs()))
            .item("expires_at", n(now + self.retention.as_secs()))
            // New, or a claim whose consumer died mid-send (its lease ran out).
            .condition_expression("attribute_not_exists(pk) OR (#status = :sending AND lease_until < :now)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sending", AttributeValue::S("sending".into()))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(SdkError::ServiceError(e)) => match e.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let status = failed
                        .item()
                        .and_then(|item| item.get("status"))
                        .and_then(|s| s.as_s().ok());
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

    async fn mark_sent(&self, event_id: Uuid, message_id: &str) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(event_id))
            .update_expression("SET #status = :sent, message_id = :message_id, sent_at = :now REMOVE lease_until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sent", AttributeValue::S("sent".into()))
            .expression_attribute_values(":message_id", AttributeValue::S(message_id.into()))
            .expression_attribute_values(":now", n(now()))
            .send()
            .await
            .map(|_| ())
            .map_err(port_error)
    }

    async fn release(&self, event_id: Uuid) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::key(event_id))
            // Never delete a record of a send that succeeded.
            .condition_expression("#status = :sending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sending", AttributeValue::S("sending".into()))
            .send()
            .await
            .map(|_| ())
            .map_err(port_error)
    }
}
