//! Claims on items of the users table: one worker at a time does a piece of work that must not
//! be done twice at once (a flush publishing an outbox event, send-email sending an event's
//! email). Both kinds work the same way, here:
//!
//! - A claim is a conditional write of `claimed_by` (a [`ClaimToken`] of the claimer's own)
//!   and `claimed_until` (the lease's end, epoch milliseconds). It succeeds on an unclaimed
//!   item or on one whose lease ran out: the worker that held it died or stalled, and is
//!   replaced as the owner.
//! - Only the owner settles a claim (completes, releases, marks it): each settling write is
//!   conditioned on `claimed_by` = its token, so a worker whose lease ran out and whose item
//!   another worker took over since changes nothing ([`SettleError::NotOwner`]).
//! - A claim whose write succeeded but whose answer was lost (the SDK retried it after an
//!   attempt timeout) fails its own retry's condition: the item it finds is claimed by our
//!   token, and that is ours ([`claimed_by`]), not somebody else's claim in progress.

use crate::dynamo::{millis, unavailable};
use crate::users::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// The attribute that names a claim's owner.
pub const OWNER: &str = "claimed_by";
/// The attribute that holds a claim's lease end, in epoch milliseconds.
pub const UNTIL: &str = "claimed_until";

/// Who holds a claim: a random id, written into the claim. Only its holder settles it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A fresh token: one per claim taken.
    pub fn random() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// As the claim stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As the claim stores it, as an attribute value.
    pub fn value(&self) -> AttributeValue {
        AttributeValue::S(self.0.clone())
    }
}

impl fmt::Display for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why settling a claim did not happen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettleError {
    /// The claim is not ours (any more): its lease ran out and another worker claimed the item
    /// since, or the item is gone or settled. Nothing was changed.
    #[error("the claim is not ours any more (its lease ran out and another worker took the item, or it was settled)")]
    NotOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The lease's end for a claim taken `now`, in epoch milliseconds.
pub fn until(now: OffsetDateTime, lease: Duration) -> AttributeValue {
    millis(now + lease)
}

/// Whether the item a failed claim condition returned (`ALL_OLD`) is claimed by `token`: the
/// claim's first attempt was written and its answer lost, so the claim is ours.
pub fn claimed_by(item: Option<&HashMap<String, AttributeValue>>, token: &ClaimToken) -> bool {
    item.and_then(|item| item.get(OWNER))
        .and_then(|owner| owner.as_s().ok())
        .is_some_and(|owner| owner == token.as_str())
}

/// A settling write's result: its condition failing means the claim is not ours any more,
/// anything else is the store's failure.
pub fn settled<T, E: std::error::Error + 'static, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
    condition_failed: fn(&E) -> bool,
) -> Result<(), SettleError> {
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e)) if condition_failed(e.err()) => Err(SettleError::NotOwner),
        Err(e) => Err(SettleError::Store(unavailable(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_claimed_by_our_token_is_ours_and_no_other_is() {
        let ours = ClaimToken::random();
        let item = |owner: &str| HashMap::from([(OWNER.to_owned(), AttributeValue::S(owner.to_owned()))]);
        assert!(claimed_by(Some(&item(ours.as_str())), &ours));
        assert!(!claimed_by(Some(&item(ClaimToken::random().as_str())), &ours));
        assert!(!claimed_by(Some(&HashMap::new()), &ours), "unclaimed");
        assert!(!claimed_by(None, &ours), "gone");
    }
}
