//! The transactional outbox: no stored user without its event.
//!
//! Every change to a user is written in one transaction with its event (`user.created` with
//! the user and its email guard, `user.verified` with the verification, ...), so the event
//! exists exactly when the change does. The function that made the change then publishes it
//! and marks it published. If SNS is down or slow, the sign-up still succeeds (the user exists and the event
//! is durable) and the event stays pending; [`flush`], run on a schedule by the publish-outbox
//! function, publishes whatever is pending. A publish that succeeded but was not marked may be
//! published twice; consumers deduplicate by `event_id`.
//!
//! A flush claims each item before publishing it, under a token of its own, and only the
//! holder of that token settles the claim ([`Outbox::complete`], [`Outbox::release`]): a flush
//! whose lease ran out while it was publishing, and whose item another flush has claimed
//! since, can neither delete nor free the new owner's claim.

use crate::users::{StoreError, UserStore};
use serde::Deserialize;
use std::future::Future;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use user_events::Event;
use user_events::trace::TraceHeader;
use uuid::Uuid;

/// An event as the outbox holds it and SNS carries it: the JSON exactly as create-user wrote
/// it, the attributes subscriptions filter on, and the trace of the sign-up that caused it. A
/// flush republishes the stored bytes rather than re-serialising them, so what a consumer
/// reads never depends on which code path (or which version of this code) published it; and
/// with the sign-up's trace, not the flush's, so the email is found under the sign-up's trace
/// id whichever path published its event.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub version: u32,
    pub json: String,
    pub trace: Option<TraceHeader>,
}

impl<E: Event> From<&E> for StoredEvent {
    fn from(event: &E) -> Self {
        Self {
            event_id: event.event_id(),
            event_type: event.event_type().to_owned(),
            version: event.version(),
            json: event.to_json(),
            trace: None,
        }
    }
}

/// The header and the JSON's length only: the JSON carries the user's name and address, and
/// a `{:?}` of an event (or of a [`PendingItem`]) in a log line must not.
impl std::fmt::Debug for StoredEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEvent")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("version", &self.version)
            .field("json_bytes", &self.json.len())
            .field("trace_id", &self.trace.as_ref().map(TraceHeader::trace_id))
            .finish_non_exhaustive()
    }
}

impl StoredEvent {
    /// The event, published under `trace`.
    pub fn traced(self, trace: Option<TraceHeader>) -> Self {
        Self { trace, ..self }
    }

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
            trace: None,
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("publishing a user event failed: {0}")]
pub struct PublishError(pub String);

pub trait EventPublisher: Send + Sync {
    /// Publishes the event's JSON exactly as stored, with its type and version as attributes,
    /// under its trace if it has one.
    fn publish(&self, event: &StoredEvent) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes an event stored with a change (by its writer, once the client has its answer) and
/// marks it published, within `budget`; false if that did not happen: the event stays pending,
/// and the outbox's flush publishes it. Publish and mark share the budget: a mark that does not
/// finish leaves the event pending, and it is published again (consumers deduplicate), but the
/// instance is not kept waiting on a slow SNS.
pub async fn publish_stored<S: UserStore, P: EventPublisher>(
    store: &S,
    publisher: &P,
    event: &StoredEvent,
    budget: Duration,
) -> bool {
    let event_id = event.event_id;
    let publish_and_mark = async {
        publisher.publish(event).await?;
        if let Err(e) = store.mark_published(event_id).await {
            tracing::warn!(%event_id, error = %e, "published but still pending: it will be published again");
        }
        Ok::<(), PublishError>(())
    };
    match tokio::time::timeout(budget, publish_and_mark).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(%event_id, error = %e, "publish failed; the event stays in the outbox");
            false
        }
        Err(_) => {
            tracing::warn!(%event_id, budget_ms = budget.as_millis() as u64, "SNS did not answer in time; the event stays in the outbox");
            false
        }
    }
}

pub use crate::claims::{ClaimToken, SettleError};

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
    /// Takes the item for `lease` under a new token: `None` if it is gone (published
    /// meanwhile) or another flush holds a live claim on it. Two flushes at once then publish
    /// each event once.
    fn claim(&self, key: &str, lease: Duration) -> impl Future<Output = Result<Option<ClaimToken>, StoreError>> + Send;
    /// The claimed item's event is published: deletes the item, if `token` still owns it.
    fn complete(&self, key: &str, token: &ClaimToken) -> impl Future<Output = Result<(), SettleError>> + Send;
    /// Gives a claim back (its publish failed), if `token` still owns it, so that the next run
    /// need not wait for the lease.
    fn release(&self, key: &str, token: &ClaimToken) -> impl Future<Output = Result<(), SettleError>> + Send;
    /// Moves an unreadable item out of the pending set (kept, with the reason, for a human),
    /// so that it does not fail every flush behind it.
    fn set_aside(&self, key: &str, reason: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// When the oldest item still pending (claimed or not, of any age) was stored; `None` when
    /// nothing is pending. One cheap read: publish-outbox reports the age after every run.
    fn oldest_pending(&self) -> impl Future<Output = Result<Option<OffsetDateTime>, StoreError>> + Send;
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

    /// Limits for a run that must end by `deadline`, keeping `margin` for the call in flight,
    /// that claims items for `lease`.
    pub fn until(deadline: Instant, margin: Duration, lease: Duration) -> Self {
        Self {
            page: Self::PAGE,
            stop_at: deadline.checked_sub(margin).unwrap_or_else(Instant::now),
            lease,
        }
    }
}

/// What became of one pending item.
enum Handled {
    Published,
    SetAside,
    Skipped,
    /// SNS refused it: the flush stops, and the next run tries again.
    PublishFailed(PublishError),
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
            match handle(outbox, publisher, item, limits.lease).await? {
                Handled::Published => report.published += 1,
                Handled::SetAside => report.set_aside += 1,
                Handled::Skipped => report.skipped += 1,
                Handled::PublishFailed(e) => {
                    report.publish_error = Some(e.to_string());
                    return Ok(report);
                }
            }
        }
        match page.next {
            Some(cursor) => after = Some(cursor),
            None => return Ok(report),
        }
    }
}

/// Sets one item aside, or claims, publishes and completes it.
async fn handle<O: Outbox, P: EventPublisher>(
    outbox: &O,
    publisher: &P,
    item: &PendingItem,
    lease: Duration,
) -> Result<Handled, StoreError> {
    let key = &item.key;
    let event = match &item.event {
        Ok(event) => event,
        Err(reason) => {
            tracing::error!(%key, %reason, "unreadable outbox item set aside");
            outbox.set_aside(key, reason).await?;
            return Ok(Handled::SetAside);
        }
    };
    let Some(token) = outbox.claim(key, lease).await? else {
        return Ok(Handled::Skipped);
    };
    if let Err(e) = publisher.publish(event).await {
        match outbox.release(key, &token).await {
            Ok(()) => {}
            // Another flush took the item over once our lease ran out (it decides), or
            // create-user published the event meanwhile and deleted the item.
            Err(SettleError::NotOwner) => {
                tracing::warn!(%key, "claim taken over by another flush, or the item already published; left as it is")
            }
            Err(SettleError::Store(release)) => {
                tracing::warn!(%key, error = %release, "claim not released; it expires with its lease")
            }
        }
        return Ok(Handled::PublishFailed(e));
    }
    match outbox.complete(key, &token).await {
        Ok(()) => {}
        // Published all the same. Either another flush took the item over once our lease ran
        // out (it publishes the event again), or create-user published it meanwhile and
        // deleted the item: `NotOwner` does not tell the two apart, and in both the event
        // may reach SNS twice (consumers deduplicate).
        Err(SettleError::NotOwner) => {
            tracing::warn!(%key, "published after our claim was taken over or the item already published: it may be published twice")
        }
        Err(SettleError::Store(e)) => return Err(e),
    }
    Ok(Handled::Published)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamodb::outbox_key;
    use crate::testing::{MemoryPublisher, MemoryStore, new_user};
    use user_events::UserCreated;

    async fn store_user(store: &MemoryStore, email: &str) -> UserCreated {
        let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let user = new_user(email, now);
        let event = UserCreated::new(Uuid::new_v4(), now, user.public());
        let expires = now + time::Duration::hours(24);
        store
            .create_pending(&user, expires, &StoredEvent::from(&event), now)
            .await
            .unwrap();
        event
    }

    fn limits() -> FlushLimits {
        let lease = Duration::from_secs(60);
        FlushLimits::until(Instant::now() + lease, Duration::from_secs(5), lease)
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

    #[tokio::test]
    async fn the_oldest_pending_item_is_the_oldest_one_neither_published_nor_set_aside() {
        let store = MemoryStore::default();
        assert_eq!(store.oldest_pending().await, Ok(None));
        let now = OffsetDateTime::now_utc();
        for (email, minutes) in [("young@x.io", 1), ("oldest@x.io", 30), ("old@x.io", 20)] {
            let event = StoredEvent::from(&UserCreated::new(Uuid::new_v4(), now, new_user(email, now).public()));
            let at = now - time::Duration::minutes(minutes);
            let expires = at + time::Duration::hours(24);
            store
                .create_pending(&new_user(email, at), expires, &event, at)
                .await
                .unwrap();
        }
        let oldest = now - time::Duration::minutes(30);
        assert_eq!(store.oldest_pending().await, Ok(Some(oldest)));
        let key = store.outbox.lock().unwrap()[1].key.clone();
        store.set_aside(&key, "unreadable").await.unwrap();
        assert_eq!(
            store.oldest_pending().await,
            Ok(Some(now - time::Duration::minutes(20)))
        );
        let up = MemoryPublisher::default();
        flush(&store, &up, now, limits()).await.unwrap();
        assert_eq!(store.oldest_pending().await, Ok(None), "all published");
    }

    #[tokio::test]
    async fn only_the_owner_settles_a_claim() {
        let store = MemoryStore::default();
        let key = outbox_key(&store_user(&store, "a@x.io").await.event_id);
        // A claim whose lease is over at once, as if its flush had stalled past it.
        let stale = store.claim(&key, Duration::ZERO).await.unwrap().expect("a new claim");
        let owner = store
            .claim(&key, Duration::from_secs(60))
            .await
            .unwrap()
            .expect("taken over");
        assert_ne!(stale, owner, "every claim has a token of its own");
        assert_eq!(
            store.claim(&key, Duration::from_secs(60)).await,
            Ok(None),
            "a live claim excludes others"
        );
        assert_eq!(store.release(&key, &stale).await, Err(SettleError::NotOwner));
        assert_eq!(store.complete(&key, &stale).await, Err(SettleError::NotOwner));
        assert_eq!(store.pending_events().len(), 1, "the stale owner changed nothing");
        store.complete(&key, &owner).await.unwrap();
        assert!(store.pending_events().is_empty());
        assert_eq!(
            store.release(&key, &owner).await,
            Err(SettleError::NotOwner),
            "completed is final"
        );
    }

    #[tokio::test]
    async fn a_flush_whose_claim_was_taken_over_leaves_the_new_owner_alone() {
        let store = MemoryStore::default();
        let event = store_user(&store, "a@x.io").await;
        let key = outbox_key(&event.event_id);
        store.taken_over.lock().unwrap().insert(key.clone());

        // Published, but not ours to complete: the item stays with its new owner.
        let up = MemoryPublisher::default();
        let report = flush(&store, &up, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert_eq!(report.published, 1, "{report:?}");
        assert_eq!(
            store.pending_events().len(),
            1,
            "the new owner's item is not deleted by us"
        );

        // Not published, and not ours to release: the new owner's claim stays.
        store.claims.lock().unwrap().clear();
        let down = MemoryPublisher {
            fail: true,
            ..Default::default()
        };
        let report = flush(&store, &down, OffsetDateTime::now_utc(), limits()).await.unwrap();
        assert!(report.publish_error.is_some(), "{report:?}");
        assert!(
            store.claims.lock().unwrap().contains_key(&key),
            "the new owner's claim is not released by us"
        );
    }
}
