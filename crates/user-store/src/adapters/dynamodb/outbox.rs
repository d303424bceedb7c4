//! [`Outbox`] on the table: the pending events' items, found through the sparse
//! `pending-events` index, each claimed by one flush at a time.

use super::DynamoUserStore;
use super::items::{outbox_key, s};
use super::transact::Values;
use crate::claims::{self, ClaimToken, SettleError, settled};
use crate::dynamo::{millis, unavailable};
use crate::outbox::{Outbox, Page, PendingItem, StoredEvent};
use crate::users::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use user_events::trace::TraceHeader;

/// The sparse index over pending events, and its key attributes (see template.yaml).
pub const PENDING_INDEX: &str = "pending-events";
const OUTBOX_STATE: &str = "outbox_state";
const OUTBOX_AT: &str = "outbox_at";
/// The sign-up's trace header (`StoredEvent::trace`), when it had one.
const OUTBOX_TRACE: &str = "trace_header";

/// The index's hash key value of a pending event, and of one set aside as unreadable.
const PENDING: &str = "pending";
const SET_ASIDE: &str = "set_aside";

impl DynamoUserStore {
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

    /// The pending event's outbox item, written at `now`.
    pub(super) fn outbox_put(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<TransactWriteItem, StoreError> {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(outbox_key(&event.event_id))),
            (OUTBOX_STATE.to_owned(), s(PENDING)),
            (OUTBOX_AT.to_owned(), millis(now)),
            ("event".to_owned(), s(&event.json)),
        ]);
        if let Some(trace) = &event.trace {
            item.insert(OUTBOX_TRACE.to_owned(), s(trace.as_str()));
        }
        self.put(item, "attribute_not_exists(pk)", Values::default())
    }
}

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
            .update_expression("SET #until = :until, #owner = :token")
            // Still pending (create-user may have published and deleted it meanwhile: the
            // condition then keeps the update from re-creating it), and not claimed by a
            // flush that is still within its lease. An expired claim changes owner: its old
            // holder can no longer settle it.
            .condition_expression("#state = :pending AND (attribute_not_exists(#until) OR #until < :now)")
            .expression_attribute_names("#state", OUTBOX_STATE)
            .expression_attribute_names("#until", claims::UNTIL)
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_values(":pending", s(PENDING))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":until", claims::until(now, lease))
            .expression_attribute_values(":token", token.value())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(token)),
            Err(SdkError::ServiceError(e)) => match e.err() {
                // Our own first attempt, written, its answer lost: ours.
                UpdateItemError::ConditionalCheckFailedException(failed)
                    if claims::claimed_by(failed.item(), &token) =>
                {
                    Ok(Some(token))
                }
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                _ => Err(unavailable(SdkError::ServiceError(e))),
            },
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
            .condition_expression("#owner = :token")
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_values(":token", token.value())
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
            .update_expression("REMOVE #until, #owner")
            // Never another flush's claim, and never an item that is gone (UpdateItem would
            // create it).
            .condition_expression("#owner = :token")
            .expression_attribute_names("#until", claims::UNTIL)
            .expression_attribute_names("#owner", claims::OWNER)
            .expression_attribute_values(":token", token.value())
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
