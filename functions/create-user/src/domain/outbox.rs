//! The transactional outbox: no stored user without its event.
//!
//! The user, its email guard and its `user.created` event are written in one transaction, so
//! the event exists exactly when the user does. create-user then publishes it and marks it
//! published. If SNS is down or slow, the sign-up still succeeds (the user exists and the event
//! is durable) and the event stays pending; `flush`, run on a schedule by the publish-outbox
//! function, publishes whatever is pending. A publish that succeeded but was not marked may be
//! published twice; consumers deduplicate by `event_id`.

use super::signup::{EventPublisher, StoreError};
use std::future::Future;
use time::OffsetDateTime;
use user_events::UserCreated;
use uuid::Uuid;

pub trait Outbox: Send + Sync {
    /// Pending events stored before `before`, oldest first, at most `limit`.
    fn pending(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<UserCreated>, StoreError>> + Send;
    fn mark_published(&self, event_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlushReport {
    pub published: usize,
    /// Set when publishing failed: the rest waits for the next run.
    pub publish_error: Option<String>,
}

/// Pages through the pending events this way at most.
const PAGE: usize = 100;

/// Publishes every event pending since before `before`; stops at the first publish failure
/// (SNS is down: the next scheduled run tries again).
pub async fn flush<O: Outbox, P: EventPublisher>(
    outbox: &O,
    publisher: &P,
    before: OffsetDateTime,
) -> Result<FlushReport, StoreError> {
    let mut report = FlushReport::default();
    loop {
        let page = outbox.pending(before, PAGE).await?;
        for event in &page {
            if let Err(e) = publisher.publish(event).await {
                report.publish_error = Some(e.to_string());
                return Ok(report);
            }
            outbox.mark_published(event.event_id).await?;
            report.published += 1;
        }
        if page.len() < PAGE {
            return Ok(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signup::doubles::{MemoryPublisher, MemoryStore};
    use crate::domain::signup::{NewUser, PasswordHash, UserStore};

    async fn store_user(store: &MemoryStore, email: &str) -> UserCreated {
        let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let user = NewUser {
            id: Uuid::new_v4(),
            name: "Ann".into(),
            email: email.into(),
            email_key: email.into(),
            password_hash: PasswordHash::for_tests(),
            created_at: now,
        };
        let event = UserCreated::new(Uuid::new_v4(), now, user.public());
        store.create(&user, &event).await.unwrap();
        event
    }

    #[tokio::test]
    async fn publishes_what_is_pending_once_and_keeps_it_while_sns_fails() {
        let store = MemoryStore::default();
        let (a, b) = (store_user(&store, "a@x.io").await, store_user(&store, "b@x.io").await);
        let down = MemoryPublisher {
            fail: true,
            ..Default::default()
        };
        let report = flush(&store, &down, OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(report.published, 0);
        assert!(report.publish_error.is_some());

        let up = MemoryPublisher::default();
        assert_eq!(
            flush(&store, &up, OffsetDateTime::now_utc()).await.unwrap().published,
            2
        );
        assert_eq!(
            flush(&store, &up, OffsetDateTime::now_utc()).await.unwrap().published,
            0,
            "published once"
        );
        let ids: Vec<Uuid> = up.events.lock().unwrap().iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [a.event_id, b.event_id], "oldest first");
    }

    #[tokio::test]
    async fn leaves_events_younger_than_the_cut_off() {
        let store = MemoryStore::default();
        let event = store_user(&store, "a@x.io").await;
        let publisher = MemoryPublisher::default();
        let before = event.occurred_at - time::Duration::seconds(1);
        assert_eq!(flush(&store, &publisher, before).await.unwrap().published, 0);
    }
}
