//! Users in DynamoDB. A sign-up writes the user (`USER#<id>`), its email guard
//! (`EMAIL#<email key>`) and its pending event (`OUTBOX#<event id>`) in one transaction, each
//! only if absent (the guard: or pending and expired), so of two concurrent sign-ups with one
//! address exactly one commits, and a stored user always has its event. Every later change of
//! a user (a new credential, its verification) is likewise one transaction with its event,
//! conditioned on the state it was read in.
//!
//! Pending users and their guards carry `verified = false` and `expires_at` (epoch seconds, the
//! table's TTL attribute); verification sets `verified = true` and removes the expiry. A guard
//! or user without `verified` was stored before sign-ups were verified: it reads as verified.
//!
//! Pending events are found through the sparse `pending-events` index: only outbox items carry
//! its key attributes. A flush's claim on an outbox item is a [`crate::claims`] claim.

use crate::claims::{self, ClaimToken, SettleError, settled};
use crate::dynamo::{millis, unavailable};
use crate::limits::{Decision, Limit, RateLimiter};
use crate::outbox::{Outbox, Page, PendingItem, StoredEvent};
use crate::users::{
    Credentials, Guard, NewCredential, NewUser, PasswordHash, StoreError, StoredUser, UserState, UserStore, live,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use user_events::PublicUser;
use user_events::trace::TraceHeader;
use uuid::Uuid;

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Opens the connection to DynamoDB during init, so that the first request does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort. The call
    /// is a sign-up's own first one, the guard read, of a key no email has (an email key holds
    /// an `@`): it runs the code the first sign-up will run, on a data-plane call the function
    /// is already allowed, rather than a metadata call (DescribeTable) it needs a grant for.
    pub async fn warm_up(&self) {
        if let Err(e) = self.guard(WARM_UP_EMAIL_KEY, OffsetDateTime::now_utc()).await {
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

    fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        values: Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values.into_option())
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        key: String,
        update: &str,
        condition: &str,
        names: Names,
        values: Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names.into_option())
            .set_expression_attribute_values(values.into_option())
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The pending event's outbox item, written at `now`.
    fn outbox_put(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<TransactWriteItem, StoreError> {
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

    /// Writes `items` in one transaction. A cancellation whose reasons say that one of the
    /// items at `state_items` failed its condition is [`StoreError::StateChanged`]; see
    /// [`cancellation`] for the rest.
    async fn transact(&self, items: Vec<TransactWriteItem>, state_items: &[usize]) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let codes: Vec<Option<&str>> = cancelled.cancellation_reasons().iter().map(|r| r.code()).collect();
                    Err(cancellation(&codes, state_items))
                }
                _ => Err(unavailable(SdkError::ServiceError(e))),
            },
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Expression attribute names and values, built up by the writes above.
#[derive(Default)]
struct Names(HashMap<String, String>);
#[derive(Default)]
struct Values(HashMap<String, AttributeValue>);

impl Names {
    fn with(mut self, name: &str, attribute: &str) -> Self {
        self.0.insert(name.to_owned(), attribute.to_owned());
        self
    }
    fn into_option(self) -> Option<HashMap<String, String>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

impl Values {
    fn with(mut self, name: &str, value: AttributeValue) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }
    fn into_option(self) -> Option<HashMap<String, AttributeValue>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub fn user_key(id: &Uuid) -> String {
    format!("USER#{id}")
}

/// The email key [`DynamoUserStore::warm_up`] reads: no address normalizes to it.
const WARM_UP_EMAIL_KEY: &str = "warm-up";

/// The partition key of the guard that keeps `email_key` to one account.
pub fn guard_key(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

pub fn outbox_key(event_id: &Uuid) -> String {
    format!("OUTBOX#{event_id}")
}

/// The sparse index over pending events, and its key attributes (see template.yaml).
pub const PENDING_INDEX: &str = "pending-events";
const OUTBOX_STATE: &str = "outbox_state";
const OUTBOX_AT: &str = "outbox_at";
/// The sign-up's trace header (`StoredEvent::trace`), when it had one.
const OUTBOX_TRACE: &str = "trace_header";
/// The table's TTL attribute (epoch seconds), on pending users and guards.
pub const EXPIRES_AT: &str = "expires_at";

fn seconds(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(at.unix_timestamp().to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn rfc3339(at: OffsetDateTime) -> Result<AttributeValue, StoreError> {
    at.format(&Rfc3339)
        .map(s)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// An item's attributes, read leniently: a missing or mistyped attribute is `None`.
struct Read<'a>(&'a HashMap<String, AttributeValue>);

impl Read<'_> {
    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }
    fn uuid(&self, name: &str) -> Option<Uuid> {
        self.text(name).and_then(|t| Uuid::parse_str(t).ok())
    }
    fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(|v| v.as_bool().ok()).copied()
    }
    fn epoch_seconds(&self, name: &str) -> Option<OffsetDateTime> {
        let n = self.0.get(name)?.as_n().ok()?.parse::<i64>().ok()?;
        OffsetDateTime::from_unix_timestamp(n).ok()
    }
    /// `verified = false` with an expiry: pending until then. Anything else is verified (a
    /// user stored before sign-ups were verified has neither attribute).
    fn state(&self) -> Result<UserState, StoreError> {
        match (self.flag("verified"), self.epoch_seconds(EXPIRES_AT)) {
            (Some(false), Some(expires_at)) => Ok(UserState::Pending { expires_at }),
            (Some(false), None) => Err(StoreError::Unavailable("a pending item without expires_at".into())),
            _ => Ok(UserState::Verified),
        }
    }
}

/// A user item as [`StoredUser`]. A user stored before credentials had ids has its first one.
fn stored_user(user_id: Uuid, item: &HashMap<String, AttributeValue>) -> Result<StoredUser, StoreError> {
    let item = Read(item);
    let text = |name: &str| item.text(name).map(str::to_owned).ok_or_else(|| unreadable(name));
    let created_at = OffsetDateTime::parse(&text("created_at")?, &Rfc3339).map_err(|_| unreadable("created_at"))?;
    Ok(StoredUser {
        user: PublicUser {
            id: user_id,
            name: text("name")?,
            email: text("email")?,
            created_at,
        },
        email_key: text("email_key")?,
        credential_id: item
            .uuid("credential_id")
            .unwrap_or(user_events::first_credential(user_id)),
        state: item.state()?,
    })
}

fn unreadable(what: &str) -> StoreError {
    StoreError::Unavailable(format!("an item without a readable {what}"))
}

impl UserStore for DynamoUserStore {
    async fn guard(&self, email_key: &str, now: OffsetDateTime) -> Result<Option<Guard>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(guard_key(email_key)))
            // A guard committed a moment ago must be seen: the write after it is conditioned on it.
            .consistent_read(true)
            .projection_expression("user_id, credential_id, verified, expires_at")
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else { return Ok(None) };
        let item = Read(&item);
        let user_id = item.uuid("user_id").ok_or_else(|| unreadable("user_id"))?;
        Ok(match item.state()? {
            UserState::Verified => Some(Guard::Verified { user_id }),
            UserState::Pending { expires_at } if live(expires_at, now) => Some(Guard::Pending {
                user_id,
                credential_id: item.uuid("credential_id").ok_or_else(|| unreadable("credential_id"))?,
            }),
            UserState::Pending { .. } => None,
        })
    }

    async fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let created_at = rfc3339(user.created_at)?;
        let credential_id = s(user_events::first_credential(user.id).to_string());
        let pending = [
            ("verified".to_owned(), AttributeValue::Bool(false)),
            (EXPIRES_AT.to_owned(), seconds(expires_at)),
        ];
        let mut user_item = HashMap::from([
            ("pk".to_owned(), s(user_key(&user.id))),
            ("id".to_owned(), s(user.id.to_string())),
            ("name".to_owned(), s(&user.name)),
            ("email".to_owned(), s(&user.email)),
            ("email_key".to_owned(), s(&user.email_key)),
            ("password_hash".to_owned(), s(user.password_hash.expose())),
            ("credential_id".to_owned(), credential_id.clone()),
            ("created_at".to_owned(), created_at.clone()),
        ]);
        user_item.extend(pending.clone());
        let mut guard_item = HashMap::from([
            ("pk".to_owned(), s(guard_key(&user.email_key))),
            ("user_id".to_owned(), s(user.id.to_string())),
            ("credential_id".to_owned(), credential_id),
            ("created_at".to_owned(), created_at),
        ]);
        guard_item.extend(pending);
        // The order is the one `cancellation` reads the reasons in.
        let items = vec![
            self.put(user_item, "attribute_not_exists(pk)", Values::default())?,
            // Absent, or pending and expired (DynamoDB's TTL has not deleted it yet).
            self.put(
                guard_item,
                "attribute_not_exists(pk) OR (verified = :false AND expires_at <= :now)",
                Values::default()
                    .with(":false", AttributeValue::Bool(false))
                    .with(":now", seconds(now)),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[GUARD_ITEM]).await
    }

    async fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":now", seconds(now))
                .with(":credential", s(credential.credential_id.to_string()))
                .with(":expires", seconds(expires_at))
        };
        let items = vec![
            self.update(
                user_key(&credential.user_id),
                "SET #name = :name, email = :email, password_hash = :hash, credential_id = :credential, expires_at = :expires",
                "verified = :false AND expires_at > :now",
                Names::default().with("#name", "name"),
                values()
                    .with(":name", s(&credential.name))
                    .with(":email", s(&credential.email))
                    .with(":hash", s(credential.password_hash.expose())),
            )?,
            self.update(
                guard_key(&credential.email_key),
                "SET credential_id = :credential, expires_at = :expires",
                "user_id = :user AND verified = :false AND expires_at > :now",
                Names::default(),
                values().with(":user", s(credential.user_id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(guard_key(email_key)))
            .condition_expression("user_id = :user AND (attribute_not_exists(verified) OR verified = :true)")
            .expression_attribute_values(":user", s(user_id.to_string()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(built)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0]).await
    }

    async fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        self.transact(vec![self.outbox_put(event, now)?], &[]).await
    }

    async fn request_again(
        &self,
        user_id: Uuid,
        email_key: &str,
        credential_id: Uuid,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":now", seconds(now))
                .with(":credential", s(credential_id.to_string()))
                .with(":expires", seconds(expires_at))
        };
        let items = vec![
            self.update(
                user_key(&user_id),
                "SET expires_at = :expires",
                "verified = :false AND expires_at > :now AND credential_id = :credential",
                Names::default(),
                values(),
            )?,
            self.update(
                guard_key(email_key),
                "SET expires_at = :expires",
                "user_id = :user AND verified = :false AND expires_at > :now AND credential_id = :credential",
                Names::default(),
                values().with(":user", s(user_id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn user(&self, user_id: Uuid) -> Result<Option<StoredUser>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .consistent_read(true)
            .projection_expression("id, #name, email, email_key, credential_id, created_at, verified, expires_at")
            .expression_attribute_names("#name", "name")
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| stored_user(user_id, &item)).transpose()
    }

    async fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let values = || {
            Values::default()
                .with(":false", AttributeValue::Bool(false))
                .with(":true", AttributeValue::Bool(true))
        };
        let items = vec![
            self.update(
                user_key(&user.user.id),
                "SET verified = :true, verified_at = :at REMOVE expires_at",
                "verified = :false AND credential_id = :credential AND expires_at > :now",
                Names::default(),
                values()
                    .with(":at", rfc3339(now)?)
                    .with(":credential", s(credential_id.to_string()))
                    .with(":now", seconds(now)),
            )?,
            self.update(
                guard_key(&user.email_key),
                "SET verified = :true REMOVE expires_at",
                "user_id = :user AND verified = :false",
                Names::default(),
                values().with(":user", s(user.user.id.to_string())),
            )?,
            self.outbox_put(event, now)?,
        ];
        self.transact(items, &[0, 1]).await
    }

    async fn credentials(&self, user_id: Uuid) -> Result<Option<Credentials>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else { return Ok(None) };
        let hash = Read(&item)
            .text("password_hash")
            .ok_or_else(|| unreadable("password_hash"))?
            .to_owned();
        Ok(Some(Credentials {
            user: stored_user(user_id, &item)?,
            password_hash: PasswordHash::new(hash),
        }))
    }

    async fn replace_hash(&self, user_id: Uuid, old: &PasswordHash, new: &PasswordHash) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_key(&user_id)))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":new", s(new.expose()))
            .expression_attribute_values(":old", s(old.expose()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::StateChanged)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
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

impl RateLimiter for DynamoUserStore {
    async fn hit(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            // Gone a minute after its window: TTL deletes within days, but no read ever looks
            // at a window that is over.
            .expression_attribute_values(":expires", seconds(now + left + Duration::from_secs(60)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| unreadable("hits"))?;
        Ok(limit.decide(hits, now))
    }

    async fn take(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(limit.max.to_string()))
            .expression_attribute_values(":expires", seconds(now + left + Duration::from_secs(60)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Decision::Allowed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Decision::Denied { retry_after: left })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn give_back(&self, limit: &Limit, subject: &str, taken_at: OffsetDateTime) -> Result<(), StoreError> {
        let (start, _) = limit.window_at(taken_at);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :minus_one")
            // Never creates a counter (a window already over and deleted), never below zero.
            .condition_expression("hits > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The counter of `subject` for `limit` in the window that starts at `start`.
pub fn limit_key(limit: &Limit, start: i64, subject: &str) -> String {
    format!("LIMIT#{}#{start}#{subject}", limit.name)
}

/// Position of the email guard in the sign-up transaction (user, guard, outbox).
const GUARD_ITEM: usize = 1;

/// What a cancelled transaction means, from its per-item reason codes (one per item, in order;
/// `None` for an item that was fine). One of `state_items` (the user or guard the write was
/// conditioned on) failing its condition is [`StoreError::StateChanged`], whatever else
/// happened. `TransactionConflict` (another transaction on one of the items, which real
/// DynamoDB reports and DynamoDB Local never does) is worth retrying. Everything else (a
/// colliding random id, throttling, a validation error) is the store's failure: the client may
/// retry, and nothing was written.
pub fn cancellation(codes: &[Option<&str>], state_items: &[usize]) -> StoreError {
    let failed = |i: &usize| codes.get(*i).copied().flatten() == Some("ConditionalCheckFailed");
    if state_items.iter().any(failed) {
        return StoreError::StateChanged;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Users stored before sign-ups were verified carry no `verified`: they keep their accounts.
    #[test]
    fn legacy_items_without_verified_read_as_verified() {
        let item = |attrs: &[(&str, AttributeValue)]| -> HashMap<String, AttributeValue> {
            attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
        };
        let at = AttributeValue::N("1893456000".into());
        assert_eq!(Read(&item(&[])).state(), Ok(UserState::Verified));
        assert_eq!(
            Read(&item(&[("verified", AttributeValue::Bool(true))])).state(),
            Ok(UserState::Verified)
        );
        assert_eq!(
            Read(&item(&[("verified", AttributeValue::Bool(false)), (EXPIRES_AT, at)])).state(),
            Ok(UserState::Pending {
                expires_at: OffsetDateTime::from_unix_timestamp(1893456000).unwrap()
            })
        );
        assert!(
            Read(&item(&[("verified", AttributeValue::Bool(false))]))
                .state()
                .is_err()
        );
    }

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
                let got = cancellation(&codes, &[GUARD_ITEM]);
                let want = match (item, code) {
                    (GUARD_ITEM, "ConditionalCheckFailed") => StoreError::StateChanged,
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
    fn a_changed_state_wins_over_a_conflict_elsewhere_and_a_conflict_over_other_failures() {
        let taken = [
            Some("TransactionConflict"),
            Some("ConditionalCheckFailed"),
            Some("None"),
        ];
        assert_eq!(cancellation(&taken, &[GUARD_ITEM]), StoreError::StateChanged);
        let conflict = [
            Some("ConditionalCheckFailed"),
            Some("None"),
            Some("TransactionConflict"),
        ];
        assert_eq!(cancellation(&conflict, &[GUARD_ITEM]), StoreError::Conflict);
        assert_eq!(
            cancellation(&conflict, &[0, 1]),
            StoreError::StateChanged,
            "the user is a state item too"
        );
        assert!(matches!(cancellation(&[], &[GUARD_ITEM]), StoreError::Unavailable(_)));
        assert!(matches!(
            cancellation(&[None, None, None], &[GUARD_ITEM]),
            StoreError::Unavailable(_)
        ));
    }
}
