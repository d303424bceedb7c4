//! The transactional outbox: no stored user without its event.
//!
//! The user, its email guard and its `user.created` event are written in one transaction, so
//! the event exists exactly when the user does. create-user then publishes it and marks it
//! published. If SNS is down or slow, the sign-up still succeeds (the user exists and the event
//! is durable) and the event stays pending; `flush`, run on a schedule by the publish-outbox
//! function, publishes whatever is pending. A publish that succeeded but was not marked may be
//! published twice; consumers deduplicate by `event_id`.

use super::signup::{EventPublisher, StoreError};
use serde::Deserialize;
use std::future::Future;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use user_events::UserCreated;
use uuid::Uuid;

/// An event as the outbox holds it and SNS carries it: the JSON exactly as create-user wrote
/// it, and the attributes subscriptions filter on. A flush republishes the stored bytes rather
/// than re-serialising them, so what a consumer reads never depends on which code path (or
/// which version of this code) published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub version: u32,
    pub json: String,
}

impl From<&UserCreated> for StoredEvent {
    fn from(event: &UserCreated) -> Self {
        Self {
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            version: event.version,
            json: event.to_json(),
        }
    }
}

impl StoredEvent {
    /// Reads what publishing needs from stored JSON; the rest is the consumer's business.
    pub fn parse(json: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Header {
            event_id: Uuid,
            event_type: String,
            version: u32,
        }
        let header: Header = serde_json::from_str(json).map_err(|e| user_events::describe(&e))?;
        // SNS refuses an empty attribute value for good: such an item would stop every flush.
        if header.event_type.is_empty() {
            return Err("empty event_type".into());
        }
        Ok(Self {
            event_id: header.event_id,
            event_type: header.event_type,
            version: header.version,
            json: json.to_owned(),
        })
    }
}

/// One pending outbox item: its key, and its event if the stored JSON is readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    /// The item's partition key (`OUTBOX#<event id>`), valid even when the event is not.
    pub key: String,
    pub event: Result<StoredEvent, String>,
}

/// One page of pending items, and where the next one starts.
pub struct Page<C> {
    pub items: Vec<PendingItem>,
    pub next: Option<C>,
}

pub trait Outbox: Send + Sync {
    /// Where a page ends: the next query starts after it, so items deleted behind it (and the
    /// index's lag in showing those deletions) never come back in the same flush.
    type Cursor: Send;

    /// Pending items stored before `before`, oldest first, at most `limit`, after `after`.
    fn pending(
        &self,
        before: OffsetDateTime,
        limit: usize,
        after: Option<Self::Cursor>,
    ) -> impl Future<Output = Result<Page<Self::Cursor>, StoreError>> + Send;
    /// Takes the item for `lease`: false if it is gone (published meanwhile) or another flush
    /// holds a live claim on it. Two flushes at once then publish each event once.
    fn claim(&self, key: &str, lease: Duration) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives a claim back (its publish failed), so the next run need not wait for the lease.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn mark_published(&self, event_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves an unreadable item out of the pending set (kept, with the reason, for a human),
    /// so that it does not fail every flush behind it.
    fn set_aside(&self, key: &str, reason: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlushReport {
    pub published: usize,
    /// Unreadable items moved out of the way.
    pub set_aside: usize,
    /// Items another flush (or create-user) was handling.
    pub skipped: usize,
    /// Set when publishing failed: the rest waits for the next run.
    pub publish_error: Option<String>,
    /// The run stopped before its deadline with items left: the next run goes on.
    pub out_of_time: bool,
}

/// How a flush pages and when it stops.
#[derive(Debug, Clone, Copy)]
pub struct FlushLimits {
    pub page: usize,
    /// No new item is started after this: what is in flight finishes before the function's
    /// timeout.
    pub stop_at: Instant,
    /// How long a claim protects an item being published; longer than one publish can take.
    pub lease: Duration,
}

impl FlushLimits {
    pub const PAGE: usize = 100;
    pub const LEASE: Duration = Duration::from_secs(60);

    /// Limits for a run that must end by `deadline`, keeping `margin` for the call in flight.
    pub fn until(deadline: Instant, margin: Duration) -> Self {
        Self {
            page: Self::PAGE,
            stop_at: deadline.checked_sub(margin).unwrap_or_else(Instant::now),
            lease: Self::LEASE,
        }
    }
}

/// Publishes every event pending since before `before`; stops at the first publish failure
/// (SNS is down: the next scheduled run tries again) or when its time is up.
pub async fn flush<O: Outbox, P: EventPublisher>(
    outbox: &O,
    publisher: &P,
    before: OffsetDateTime,
    limits: FlushLimits,
) -> Result<FlushReport, StoreError> {
    let mut report = FlushReport::default();
    let mut after = None;
    loop {
        if Instant::now() >= limits.stop_at {
            report.out_of_time = true;
            return Ok(report);
        }
        let page = outbox.pending(before, limits.page, after).await?;
        for item in &page.items {
            if Instant::now() >= limits.stop_at {
                report.out_of_time = true;
                return Ok(report);
            }
            let event = match &item.event {
                Ok(event) => event,
                Err(reason) => {
                    tracing::error!(key = %item.key, %reason, "unreadable outbox item set aside");
                    outbox.set_aside(&item.key, reason).await?;
                    report.set_aside += 1;
                    continue;
                }
            };
            if !outbox.claim(&item.key, limits.lease).await? {
                report.skipped += 1;
                continue;
            }
            if let Err(e) = publisher.publish(event).await {
                if let Err(release) = outbox.release(&item.key).await {
                    tracing::warn!(key = %item.key, error = %release, "claim not released; it expires with its lease");
                }
                report.publish_error = Some(e.to_string());
                return Ok(report);
            }
            outbox.mark_published(event.event_id).await?;
            report.published += 1;
        }
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(report),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signup::doubles::{MemoryPublisher, MemoryStore};
    use crate::domain::signup::{NewUser, UserStore};

    async fn store_user(store: &MemoryStore, email: &str) -> UserCreated {
        let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let user = NewUser::for_tests(email, now);
        let event = UserCreated::new(Uuid::new_v4(), now, user.public());
        store.create(&user, &StoredEvent::from(&event)).await.unwrap();
        event
    }

    fn limits() -> FlushLimits {
        FlushLimits::until(Instant::now() + Duration::from_secs(60), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn publishes_what_is_pending_once_and_keeps_it_while_sns_fails() {
        let store = MemoryStore::default();
        let (a, b) = (store_user(&store, "a@x.io").await, store_user(&store, "b@x.io").await);
        let down = MemoryPublisher {
            fail: true,
            ..Default::default()
        };
        let report = flush(&store, &down, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert_eq!(report.published, 0);
        assert!(report.publish_error.is_some());

        let up = MemoryPublisher::default();
        let now = OffsetDateTime::now_utc();
        assert_eq!(flush(&store, &up, now, limits()).await.unwrap().published, 2);
        assert_eq!(
            flush(&store, &up, now, limits()).await.unwrap().published,
            0,
            "published once"
        );
        let ids: Vec<Uuid> = up.events.lock().unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [a.event_id, b.event_id], "oldest first");
    }

    #[tokio::test]
    async fn publishes_the_stored_json_byte_for_byte() {
        let store = MemoryStore::default();
        let event = store_user(&store, "a@x.io").await;
        // As an older writer might have stored it: other field order, an extra field.
        let json = format!(
            r#"{{"version":1,"event_type":"user.created","event_id":"{}","extra":true,"occurred_at":"2026-01-01T00:00:00Z","user":{{}}}}"#,
            event.event_id
        );
        store.outbox.lock().unwrap()[0].event = StoredEvent::parse(&json);
        let up = MemoryPublisher::default();
        flush(&store, &up, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert_eq!(up.events.lock().unwrap()[0].json, json);
    }

    #[tokio::test]
    async fn leaves_events_younger_than_the_cut_off() {
        let store = MemoryStore::default();
        let event = store_user(&store, "a@x.io").await;
        let publisher = MemoryPublisher::default();
        let before = event.occurred_at - time::Duration::seconds(1);
        assert_eq!(flush(&store, &publisher, before, limits()).await.unwrap().published, 0);
    }

    #[tokio::test]
    async fn an_unreadable_item_is_set_aside_and_does_not_block_the_others() {
        let store = MemoryStore::default();
        store_user(&store, "a@x.io").await;
        store.outbox.lock().unwrap()[0].event = Err("not JSON".into());
        store_user(&store, "b@x.io").await;
        let up = MemoryPublisher::default();
        let report = flush(&store, &up, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert_eq!((report.published, report.set_aside), (1, 1), "{report:?}");
        assert_eq!(store.set_aside.lock().unwrap().len(), 1);
        let again = flush(&store, &up, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert_eq!(again, FlushReport::default(), "set aside for good");
    }

    #[tokio::test]
    async fn pages_forward_even_when_the_index_lags_behind_deletions() {
        // A GSI is eventually consistent: right after a delete, a query from the start may
        // still return the deleted item. DynamoDB Local never lags; this double always does.
        let store = MemoryStore {
            stale_index: true,
            ..Default::default()
        };
        for i in 0..7 {
            store_user(&store, &format!("{i}@x.io")).await;
        }
        let up = MemoryPublisher::default();
        let limits = FlushLimits { page: 2, ..limits() };
        let report = flush(&store, &up, OffsetDateTime::now_utc(), limits).await.unwrap();
        assert_eq!(report.published, 7, "{report:?}");
        assert_eq!(up.events.lock().unwrap().len(), 7, "each event published once");
    }

    #[tokio::test]
    async fn stops_starting_items_at_its_deadline() {
        let store = MemoryStore::default();
        store_user(&store, "a@x.io").await;
        let up = MemoryPublisher::default();
        let limits = FlushLimits {
            stop_at: Instant::now(),
            ..limits()
        };
        let report = flush(&store, &up, OffsetDateTime::now_utc(), limits).await.unwrap();
        assert!(report.out_of_time && report.published == 0, "{report:?}");
    }

    #[tokio::test]
    async fn two_flushes_at_once_publish_each_event_once() {
        let store = MemoryStore::default();
        for i in 0..20 {
            store_user(&store, &format!("{i}@x.io")).await;
        }
        let up = MemoryPublisher::default();
        let now = OffsetDateTime::now_utc();
        let (a, b) = tokio::join!(flush(&store, &up, now, limits()), flush(&store, &up, now, limits()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.published + b.published, 20);
        assert_eq!(up.events.lock().unwrap().len(), 20);
    }
}
