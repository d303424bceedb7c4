//! What every DynamoDB caller of the users table shares, claims or not: an instant as epoch
//! milliseconds (a claim's lease, the outbox's order) and an SDK error as the store's
//! [`StoreError::Unavailable`]. Here rather than in [`crate::claims`], whose subject they are
//! not: the DynamoDB adapter reads and writes through them on every call, and send-email's
//! claims write their instants with [`millis`].

use crate::users::StoreError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

/// An instant as an attribute: epoch milliseconds.
pub fn millis(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string())
}

/// A store error from an SDK error.
pub fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}
