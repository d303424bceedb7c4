//! The table's items as the adapter writes and reads them: their keys, and their attributes
//! (strings, instants, an item read leniently).

use crate::users::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub fn user_key(id: &Uuid) -> String {
    format!("USER#{id}")
}

/// The partition key of the guard that keeps `email_key` to one account.
pub fn guard_key(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

pub fn outbox_key(event_id: &Uuid) -> String {
    format!("OUTBOX#{event_id}")
}

pub(super) fn seconds(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(at.unix_timestamp().to_string())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn rfc3339(at: OffsetDateTime) -> Result<AttributeValue, StoreError> {
    at.format(&Rfc3339)
        .map(s)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// An item's attributes, read leniently: a missing or mistyped attribute is `None`.
pub(super) struct Read<'a>(pub(super) &'a HashMap<String, AttributeValue>);

impl Read<'_> {
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }
    pub(super) fn uuid(&self, name: &str) -> Option<Uuid> {
        self.text(name).and_then(|t| Uuid::parse_str(t).ok())
    }
    pub(super) fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(|v| v.as_bool().ok()).copied()
    }
    pub(super) fn epoch_seconds(&self, name: &str) -> Option<OffsetDateTime> {
        let n = self.0.get(name)?.as_n().ok()?.parse::<i64>().ok()?;
        OffsetDateTime::from_unix_timestamp(n).ok()
    }
}

pub(super) fn unreadable(what: &str) -> StoreError {
    StoreError::Unavailable(format!("an item without a readable {what}"))
}
