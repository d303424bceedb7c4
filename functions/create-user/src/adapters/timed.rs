//! The store's and the publisher's calls, each counted as the sign-up phase it belongs to
//! ([`crate::timing`]): a decorator around the ports, so the domain knows nothing of it.

use crate::timing::{Phase, in_phase};
use time::OffsetDateTime;
use user_store::limits::{Decision, Limit, RateLimiter};
use user_store::outbox::{EventPublisher, PublishError, StoredEvent};
use user_store::users::{Credentials, Guard, NewCredential, NewUser, PasswordHash, StoreError, StoredUser, UserStore};
use uuid::Uuid;

/// A port whose calls count as the sign-up phase they belong to.
pub struct Timed<T>(pub T);

impl<S: UserStore> UserStore for Timed<S> {
    async fn guard(&self, email_key: &str, now: OffsetDateTime) -> Result<Option<Guard>, StoreError> {
        in_phase(Phase::Store, self.0.guard(email_key, now)).await
    }

    async fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.create_pending(user, expires_at, event, now)).await
    }

    async fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_phase(
            Phase::Store,
            self.0.replace_credential(credential, expires_at, event, now),
        )
        .await
    }

    async fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.record_for_verified(email_key, user_id, event, now)).await
    }

    async fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.record(event, now)).await
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
        let again = self
            .0
            .request_again(user_id, email_key, credential_id, expires_at, event, now);
        in_phase(Phase::Store, again).await
    }

    async fn user(&self, user_id: Uuid) -> Result<Option<StoredUser>, StoreError> {
        in_phase(Phase::Store, self.0.user(user_id)).await
    }

    async fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.verify(user, credential_id, event, now)).await
    }

    async fn credentials(&self, user_id: Uuid) -> Result<Option<Credentials>, StoreError> {
        in_phase(Phase::Store, self.0.credentials(user_id)).await
    }

    async fn replace_hash(&self, user_id: Uuid, old: &PasswordHash, new: &PasswordHash) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.replace_hash(user_id, old, new)).await
    }

    /// The outbox item's deletion is the last step of publishing.
    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
        in_phase(Phase::Publish, self.0.mark_published(event_id)).await
    }
}

/// The per-client limit's counter is in the users table: a store call.
impl<S: RateLimiter> RateLimiter for Timed<S> {
    async fn hit(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        in_phase(Phase::Store, self.0.hit(limit, subject, now)).await
    }

    async fn take(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        in_phase(Phase::Store, self.0.take(limit, subject, now)).await
    }

    async fn give_back(&self, limit: &Limit, subject: &str, taken_at: OffsetDateTime) -> Result<(), StoreError> {
        in_phase(Phase::Store, self.0.give_back(limit, subject, taken_at)).await
    }
}

impl<P: EventPublisher> EventPublisher for Timed<P> {
    async fn publish(&self, event: &StoredEvent) -> Result<(), PublishError> {
        in_phase(Phase::Publish, self.0.publish(event)).await
    }
}
