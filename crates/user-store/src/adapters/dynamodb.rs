//! Users in DynamoDB: one transaction writes the user (`USER#<id>`), its email guard
//! (`EMAIL#<email key>`) and its pending event (`OUTBOX#<event id>`), each only if absent, so
//! of two concurrent sign-ups with one email exactly one commits, and a stored user always has
//! its event. Pending events are found through the sparse `pending-events` index: only outbox
//! items carry its key attributes. A flush's claim on an outbox item is `claimed_until` (epoch
//! milliseconds) and `claimed_by` (the claim's token).

use crate::outbox::{ClaimToken, Outbox, Page, PendingItem, SettleError, StoredEvent};
use crate::users::{NewUser, StoreError, UserStore};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use user_events::trace::TraceHeader;

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Opens the connection to DynamoDB during init, so that the first sign-up does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort. The call
    /// is a sign-up's own first one, the guard read, of a key no email has (an email key holds
    /// an `@`): it runs the code the first sign-up will run, on a data-plane call the function
    /// is already allowed, rather than a metadata call (DescribeTable) it needs a grant for.
    pub async fn warm_up(&self) {
        if let Err(e) = self.email_taken(WARM_UP_EMAIL_KEY).await {
            tracing::debug!(error = %e, "DynamoDB warm-up call failed");
        }
    }

    /// A query of the `pending` partition of the pending-events index, oldest first, with
    /// `#state`, `#at` and `:pending` bound.
    fn pending_query(&self) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .expression_attribute_names("#state", OUTBOX_STATE)
            .expression_attribute_names("#at", OUTBOX_AT)
            .expression_attribute_values(":pending", s(PENDING))
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

/// The email key [`DynamoUserStore::warm_up`] reads: no address normalizes to it.
const WARM_UP_EMAIL_KEY: &str = "warm-up";

/// The partition key of the guard that keeps `email_key` to one account.
pub fn guard_key(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

pub fn outbox_key(event_id: &uuid::Uuid) -> String {
    format!("OUTBOX#{event_id}")
}

/// The sparse index over pending events, and its key attributes (see template.yaml).
pub const PENDING_INDEX: &str = "pending-events";
const OUTBOX_STATE: &str = "outbox_state";
const OUTBOX_AT: &str = "outbox_at";
/// The sign-up's trace header (`StoredEvent::trace`), when it had one.
const OUTBOX_TRACE: &str = "trace_header";

fn millis(at: time::OffsetDateTime) -> AttributeValue {
    AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl UserStore for DynamoUserStore {
    async fn email_taken(&self, email_key: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(guard_key(email_key)))
            // A guard committed a moment ago must be seen, or its 409 costs a bcrypt hash.
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.is_some())
    }

    async fn create(&self, user: &NewUser, event: &StoredEvent) -> Result<(), StoreError> {
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
            ("pk".to_owned(), s(guard_key(&user.email_key))),
            ("user_id".to_owned(), s(user.id.to_string())),
            ("created_at".to_owned(), s(created_at)),
        ]);
        let mut outbox_item = HashMap::from([
            ("pk".to_owned(), s(outbox_key(&event.event_id))),
            (OUTBOX_STATE.to_owned(), s(PENDING)),
            (OUTBOX_AT.to_owned(), millis(user.created_at)),
            ("event".to_owned(), s(&event.json)),
        ]);
        if let Some(trace) = &event.trace {
            outbox_item.insert(OUTBOX_TRACE.to_owned(), s(trace.as_str()));
        }
        // The order is the one `cancellation` reads the reasons in.
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
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let codes: Vec<Option<&str>> = cancelled.cancellation_reasons().iter().map(|r| r.code()).collect();
                    Err(cancellation(&codes))
                }
                _ => Err(unavailable(SdkError::ServiceError(e))),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_published(&self, event_id: uuid::Uuid) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(outbox_key(&event_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// A write that settles a claim (complete, release): its condition failing means the claim is
/// not ours any more, anything else is the store's failure.
fn settled<T, E: std::error::Error + 'static, R: std::fmt::Debug>(
    result: Result<T, SdkError<E, R>>,
    condition_failed: fn(&E) -> bool,
) -> Result<(), SettleError> {
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e)) if condition_failed(e.err()) => Err(SettleError::NotOwner),
        Err(e) => Err(SettleError::Store(unavailable(e))),
    }
}

/// Position of the email guard in the sign-up transaction (user, guard, outbox).
const GUARD_ITEM: usize = 1;

/// What a cancelled sign-up transaction means, from its per-item reason codes (one per item,
/// in order; `None` for an item that was fine). The guard failing its condition is a taken
/// email, whatever else happened. `TransactionConflict` (another transaction on one of the
/// items, which real DynamoDB reports and DynamoDB Local never does) is worth retrying.
/// Everything else (a colliding random id, throttling, a validation error) is the store's
/// failure: the client may retry, and nothing was written.
pub fn cancellation(codes: &[Option<&str>]) -> StoreError {
    if codes.get(GUARD_ITEM).copied().flatten() == Some("ConditionalCheckFailed") {
        return StoreError::EmailTaken;
    }
    if codes.contains(&Some("TransactionConflict")) {
        return StoreError::Conflict;
    }
    let reasons: Vec<String> = codes
        .iter()
        .enumerate()
        .filter_map(|(i, code)| code.filter(|c| *c != "None").map(|c| format!("item {i}: {c}")))
        .collect();
    StoreError::Unavailable(format!("transaction cancelled ({})", reasons.join(", ")))
}

/// The index's hash key value of a pending event, and of one set aside as unreadable.
const PENDING: &str = "pending";
const SET_ASIDE: &str = "set_aside";

impl Outbox for DynamoUserStore {
    /// DynamoDB's LastEvaluatedKey.
    type Cursor = HashMap<String, AttributeValue>;

    async fn pending(
        &self,
        before: time::OffsetDateTime,
        limit: usize,
        after: Option<Self::Cursor>,
    ) -> Result<Page<Self::Cursor>, StoreError> {
        let out = self
            .pending_query()
            .key_condition_expression("#state = :pending AND #at < :before")
            .expression_attribute_values(":before", millis(before))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(unavailable)?;
        let items = out
            .items()
            .iter()
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
                PendingItem {
                    key: text("pk").cloned().unwrap_or_default(),
                    event: text("event")
                        .ok_or_else(|| "no event attribute".to_owned())
                        .and_then(|json| StoredEvent::parse(json))
                        // A header that no longer parses is no reason to hold the event back.
                        .map(|event| event.traced(text(OUTBOX_TRACE).and_then(|t| TraceHeader::parse(t)))),
                }
            })
            .collect();
        Ok(Page {
            items,
            next: out.last_evaluated_key,
        })
    }

    async fn claim(&self, key: &str, lease: Duration) -> Result<Option<ClaimToken>, StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let token = ClaimToken::random();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET claimed_until = :until, claimed_by = :token")
            // Still pending (create-user may have published and deleted it meanwhile: the
            // condition then keeps the update from re-creating it), and not claimed by a
            // flush that is still within its lease. An expired claim changes owner: its old
            // holder can no longer settle it.
            .condition_expression("#state = :pending AND (attribute_not_exists(claimed_until) OR claimed_until < :now)")
            .expression_attribute_names("#state", OUTBOX_STATE)
            .expression_attribute_values(":pending", s(PENDING))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":until", millis(now + lease))
            .expression_attribute_values(":token", s(token.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(token)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn complete(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            // Never another flush's item: ours only while the claim is.
            .condition_expression("claimed_by = :token")
            .expression_attribute_values(":token", s(token.as_str()))
            .send()
            .await;
        settled(result, DeleteItemError::is_conditional_check_failed_exception)
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("REMOVE claimed_until, claimed_by")
            // Never another flush's claim, and never an item that is gone (UpdateItem would
            // create it).
            .condition_expression("claimed_by = :token")
            .expression_attribute_values(":token", s(token.as_str()))
            .send()
            .await;
        settled(result, UpdateItemError::is_conditional_check_failed_exception)
    }

    async fn oldest_pending(&self) -> Result<Option<time::OffsetDateTime>, StoreError> {
        // The index is sorted by outbox_at: the first item of the `pending` partition, and
        // only its sort key (always projected).
        let out = self
            .pending_query()
            .key_condition_expression("#state = :pending")
            .projection_expression("#at")
            .scan_index_forward(true)
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.items().first() else {
            return Ok(None);
        };
        let at = item
            .get(OUTBOX_AT)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i128>().ok())
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "{OUTBOX_AT} of the oldest pending item is not epoch milliseconds"
                ))
            })?;
        Ok(Some(at))
    }

    async fn set_aside(&self, key: &str, reason: &str) -> Result<(), StoreError> {
        // Out of the `pending` partition of the index, still findable under `set_aside`.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #state = :aside, set_aside_reason = :reason")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", OUTBOX_STATE)
            .expression_attribute_values(":aside", s(SET_ASIDE))
            .expression_attribute_values(":reason", s(reason))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason code DynamoDB documents for a cancelled TransactWriteItems, on each item.
    #[test]
    fn every_cancellation_reason_maps_to_what_it_means() {
        const CODES: [&str; 7] = [
            "None",
            "ConditionalCheckFailed",
            "ItemCollectionSizeLimitExceeded",
            "TransactionConflict",
            "ProvisionedThroughputExceeded",
            "ThrottlingError",
            "ValidationError",
        ];
        for item in 0..3 {
            for code in CODES {
                let mut codes = [Some("None"); 3];
                codes[item] = Some(code);
                let got = cancellation(&codes);
                let want = match (item, code) {
                    (GUARD_ITEM, "ConditionalCheckFailed") => StoreError::EmailTaken,
                    (_, "TransactionConflict") => StoreError::Conflict,
                    _ => StoreError::Unavailable(String::new()),
                };
                match (&got, &want) {
                    (StoreError::Unavailable(why), StoreError::Unavailable(_)) => {
                        assert!(code == "None" || why.contains(code), "{item} {code}: {why}")
                    }
                    _ => assert_eq!(got, want, "item {item}: {code}"),
                }
            }
        }
    }

    #[test]
    fn a_taken_email_wins_over_a_conflict_elsewhere_and_a_conflict_over_other_failures() {
        let taken = [
            Some("TransactionConflict"),
            Some("ConditionalCheckFailed"),
            Some("None"),
        ];
        assert_eq!(cancellation(&taken), StoreError::EmailTaken);
        let conflict = [
            Some("ConditionalCheckFailed"),
            Some("None"),
            Some("TransactionConflict"),
        ];
        assert_eq!(cancellation(&conflict), StoreError::Conflict);
        assert!(matches!(cancellation(&[]), StoreError::Unavailable(_)));
        assert!(matches!(cancellation(&[None, None, None]), StoreError::Unavailable(_)));
    }
}
