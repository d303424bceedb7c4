//! The recipient log in the users table: one item per address (`MAIL_LOG#<email key>`) with
//! the emails of the last hour (`sent`: event id, kind, epoch milliseconds), a `version`, and
//! the table's TTL (`expires_at`) an hour after the newest.
//!
//! Admitting an email reads the item, asks [`Caps::admit`], and writes the item back only if
//! its version is still the one read (optimistic concurrency): of consumers admitting emails
//! to one address at once, each writes the log it decided on, or reads it again. A sliding
//! hour, exactly, where a counter per fixed window would let twice the cap through across a
//! window's edge.

use crate::domain::deliver::{Admission, Caps, Kind, PortError, RecipientLog, Sent};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

pub struct DynamoRecipientLog {
    client: Client,
    table: String,
}

/// Reads and writes of one admission before it gives up (the message is retried by SQS): each
/// lost race is another consumer's email admitted.
const ATTEMPTS: u32 = 8;

impl DynamoRecipientLog {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The log item's partition key.
    pub fn key(email_key: &str) -> AttributeValue {
        AttributeValue::S(format!("MAIL_LOG#{email_key}"))
    }

    async fn read(&self, email_key: &str) -> Result<(Option<u64>, Vec<Sent>), PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(email_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        let Some(item) = out.item else {
            return Ok((None, Vec::new()));
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok());
        let sent = item
            .get("sent")
            .and_then(|v| v.as_l().ok())
            .map(|entries| entries.iter().filter_map(entry).collect())
            .unwrap_or_default();
        Ok((version, sent))
    }
}

/// One entry of `sent`; an unreadable one is skipped (it only ever made the caps stricter).
fn entry(value: &AttributeValue) -> Option<Sent> {
    let map = value.as_m().ok()?;
    let text = |name: &str| map.get(name).and_then(|v| v.as_s().ok());
    let ms: i128 = map.get("at")?.as_n().ok()?.parse().ok()?;
    Some(Sent {
        event_id: Uuid::parse_str(text("event_id")?).ok()?,
        kind: Kind::parse(text("kind")?)?,
        at: OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()?,
    })
}

fn to_attribute(sent: &Sent) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("event_id".to_owned(), AttributeValue::S(sent.event_id.to_string())),
        ("kind".to_owned(), AttributeValue::S(sent.kind.as_str().to_owned())),
        (
            "at".to_owned(),
            AttributeValue::N((sent.at.unix_timestamp_nanos() / 1_000_000).to_string()),
        ),
    ]))
}

fn port_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> PortError {
    PortError(DisplayErrorContext(&e).to_string())
}

impl RecipientLog for DynamoRecipientLog {
    async fn admit(&self, email_key: &str, next: Sent, caps: Caps) -> Result<Admission, PortError> {
        for _ in 0..ATTEMPTS {
            let (version, log) = self.read(email_key).await?;
            if caps.admit(&log, &next) == Admission::Capped {
                return Ok(Admission::Capped);
            }
            if log.iter().any(|s| s.event_id == next.event_id) {
                return Ok(Admission::Allowed);
            }
            let kept = Caps::kept(&log, next);
            let newest = kept.iter().map(|s| s.at).max().unwrap_or(next.at);
            let expires_at = newest + crate::domain::deliver::CAP_WINDOW + std::time::Duration::from_secs(60);
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", Self::key(email_key))
                .item("sent", AttributeValue::L(kept.iter().map(to_attribute).collect()))
                .item("version", AttributeValue::N((version.unwrap_or(0) + 1).to_string()))
                .item("expires_at", AttributeValue::N(expires_at.unix_timestamp().to_string()));
            let put = match version {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(v) => put
                    .condition_expression("version = :read")
                    .expression_attribute_values(":read", AttributeValue::N(v.to_string())),
            };
            match put.send().await {
                Ok(_) => return Ok(Admission::Allowed),
                Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                    tracing::debug!("the recipient log changed since it was read; reading it again");
                }
                Err(e) => return Err(port_error(e)),
            }
        }
        Err(PortError(format!(
            "the recipient log changed under {ATTEMPTS} attempts in a row"
        )))
    }
}
