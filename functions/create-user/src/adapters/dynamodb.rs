//! Users in DynamoDB: one transaction writes the user (`USER#<id>`), its email guard
//! (`EMAIL#<lower-cased email>`) and its pending event (`OUTBOX#<event id>`), each only if
//! absent, so of two concurrent sign-ups with one email exactly one commits, and a stored user
//! always has its event. Pending events are found through the sparse `pending-events` index:
//! only outbox items carry its key attributes.

use crate::domain::outbox::Outbox;
use crate::domain::signup::{NewUser, StoreError, UserStore};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use user_events::UserCreated;

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Opens the connection to DynamoDB during init, so that the first sign-up does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort.
    pub async fn warm_up(&self) {
        if let Err(e) = self.client.describe_table().table_name(&self.table).send().await {
            tracing::debug!(error = %DisplayErrorContext(&e), "DynamoDB warm-up call failed");
        }
    }

    fn put_if_absent(&self, item: HashMap<String, AttributeValue>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

pub fn user_key(id: &uuid::Uuid) -> String {
    format!("USER#{id}")
}

pub fn email_key(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

pub fn outbox_key(event_id: &uuid::Uuid) -> String {
    format!("OUTBOX#{event_id}")
}

/// The sparse index over pending events, and its key attributes (see template.yaml).
pub const PENDING_INDEX: &str = "pending-events";
const OUTBOX_STATE: &str = "outbox_state";
const OUTBOX_AT: &str = "outbox_at";

fn millis(at: time::OffsetDateTime) -> AttributeValue {
    AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl UserStore for DynamoUserStore {
    async fn create(&self, user: &NewUser, event: &UserCreated) -> Result<(), StoreError> {
        let created_at = user
            .created_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let user_item = HashMap::from([
            ("pk".to_owned(), s(user_key(&user.id))),
            ("id".to_owned(), s(user.id.to_string())),
            ("name".to_owned(), s(&user.name)),
            ("email".to_owned(), s(&user.email)),
            ("email_key".to_owned(), s(&user.email_key)),
            ("password_hash".to_owned(), s(user.password_hash.expose())),
            ("created_at".to_owned(), s(&created_at)),
        ]);
        let guard_item = HashMap::from([
            ("pk".to_owned(), s(email_key(&user.email_key))),
            ("user_id".to_owned(), s(user.id.to_string())),
            ("created_at".to_owned(), s(created_at)),
        ]);
        let outbox_item = HashMap::from([
            ("pk".to_owned(), s(outbox_key(&event.event_id))),
            (OUTBOX_STATE.to_owned(), s("pending")),
            (OUTBOX_AT.to_owned(), millis(event.occurred_at)),
            ("event".to_owned(), s(event.to_json())),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_if_absent(user_item)?)
            .transact_items(self.put_if_absent(guard_item)?)
            .transact_items(self.put_if_absent(outbox_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if email_guard_exists(e.err()) => Err(StoreError::EmailTaken),
            Err(e) => Err(StoreError::Unavailable(DisplayErrorContext(&e).to_string())),
        }
    }
}

/// The transaction was cancelled because the email guard (the second item) already exists.
/// A colliding random user id would cancel the first item instead and is reported as an
/// error, not as a taken email.
fn email_guard_exists(error: &TransactWriteItemsError) -> bool {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        return false;
    };
    cancelled.cancellation_reasons().get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

impl Outbox for DynamoUserStore {
    async fn pending(&self, before: time::OffsetDateTime, limit: usize) -> Result<Vec<UserCreated>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("#state = :pending AND #at < :before")
            .expression_attribute_names("#state", OUTBOX_STATE)
            .expression_attribute_names("#at", OUTBOX_AT)
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":before", millis(before))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        out.items()
            .iter()
            .map(|item| {
                let json = item
                    .get("event")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    .unwrap_or_default();
                serde_json::from_str(json).map_err(|e| StoreError::Unavailable(format!("outbox item unreadable: {e}")))
            })
            .collect()
    }

    async fn mark_published(&self, event_id: uuid::Uuid) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(outbox_key(&event_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))
    }
}
