//! Users as the users table stores them, and the port that moves them through their life: a
//! sign-up stores a user *pending* (with its email guard and its event, in one transaction),
//! verify-email makes it *verified* once the address is proven.
//!
//! A pending user and its guard carry an expiry (`expires_at`, the table's TTL attribute).
//! DynamoDB deletes expired items "typically within two days", not at the second, and they
//! show up in reads until then: every read and every condition here treats a pending item past
//! its expiry as absent, so the address can sign up again at once.
//!
//! The password a pending user holds is its *credential*, with an id of its own: a new sign-up
//! with the same pending address replaces the password (and the name) and with them the
//! credential, so that the owner of the address, who signs up and follows their own link,
//! always gets the password they chose, never one an earlier sign-up with their address set.
//! A verification link names the credential it confirms (the `tokens` crate).

use crate::outbox::StoredEvent;
use std::future::Future;
use time::OffsetDateTime;
use user_events::PublicUser;
use uuid::Uuid;

/// A bcrypt hash. It never leaves the store: a Debug that shows nothing of it, no Serialize.
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps what bcrypt produced.
    pub fn new(hash: String) -> Self {
        Self(hash)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A new user, as a first sign-up stores it (pending). Its credential is the first one:
/// [`user_events::first_credential`] of its id.
pub struct NewUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// The email in the form two emails are compared in (lower-cased): what makes an account
    /// unique. The email guard is keyed on it.
    pub email_key: String,
    pub password_hash: PasswordHash,
    pub created_at: OffsetDateTime,
}

/// The id and the time only: a `{:?}` of a user in a log line must carry neither a name nor an
/// address (nor, through [`PasswordHash`]'s, anything of the hash).
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl NewUser {
    pub fn public(&self) -> PublicUser {
        PublicUser {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            created_at: self.created_at,
        }
    }
}

/// What a sign-up with an address that is pending replaces: the name and password (and the
/// address's spelling), under a new credential id.
pub struct NewCredential {
    pub user_id: Uuid,
    pub email: String,
    pub email_key: String,
    pub credential_id: Uuid,
    pub name: String,
    pub password_hash: PasswordHash,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("user_id", &self.user_id)
            .field("credential_id", &self.credential_id)
            .finish_non_exhaustive()
    }
}

/// What an address's guard says, read consistently. An expired pending guard reads as none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A user signed up with the address and has not proven it yet.
    Pending { user_id: Uuid, credential_id: Uuid },
    /// The address belongs to a verified user.
    Verified { user_id: Uuid },
}

/// A user as stored, with its state.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub user: PublicUser,
    pub email_key: String,
    pub credential_id: Uuid,
    pub state: UserState,
}

/// The ids only, as [`NewUser`]'s.
impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("id", &self.user.id)
            .field("credential_id", &self.credential_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Until `expires_at`; past it, the user is as good as deleted.
    Pending {
        expires_at: OffsetDateTime,
    },
    Verified,
}

/// What sign-in checks a password against: the user and its hash.
pub struct Credentials {
    pub user: StoredUser,
    pub password_hash: PasswordHash,
}

/// The ids only, as [`StoredUser`]'s.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.user.fmt(f)
    }
}

/// Whether a pending item that expires at `expires_at` is still there at `now`.
pub fn live(expires_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    expires_at > now
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The address's guard, or the user, is not in the state the write expected any more (a
    /// sign-up with the same address got there first, or the pending user expired or was
    /// verified meanwhile): nothing was written; read the guard again.
    #[error("the address changed state meanwhile")]
    StateChanged,
    /// Another transaction touched the same items at the same moment (DynamoDB cancels both
    /// with `TransactionConflict`): nothing was written, and trying again soon is right.
    #[error("a concurrent transaction on the same items")]
    Conflict,
    #[error("user store unavailable: {0}")]
    Unavailable(String),
}

/// The users table's users and guards. Each write that changes a user stores its event in the
/// same transaction (the outbox: see [`crate::outbox`]), so no change is without its event;
/// `now` is when (the outbox orders its items by it).
pub trait UserStore: Send + Sync {
    /// The guard of `email_key`, read consistently; a pending one past its expiry at `now` is
    /// none.
    fn guard(
        &self,
        email_key: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Guard>, StoreError>> + Send;

    /// A new user, pending until `expires_at`, its guard and its `user.created`: only if the
    /// address has no live guard at `now` (else [`StoreError::StateChanged`]). Of two writers
    /// with one address, exactly one succeeds.
    fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pending user's new credential (name, password), both items' expiry moved to
    /// `expires_at`, and `event`: only if the user is still pending and live at `now`.
    fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `event` about the verified user `user_id` of `email_key`: only if the guard still says
    /// so.
    fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `event` alone: no state to check or change.
    fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A resend's: the pending user `user_id` of `email_key`, still holding `credential_id`,
    /// and its guard, live until `expires_at` from now on (so that the link it asks for works
    /// as long as the email says), with `event`: only if both are still as read at `now`.
    fn request_again(
        &self,
        user_id: Uuid,
        email_key: &str,
        credential_id: Uuid,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user `user_id`, read consistently (a pending one past its expiry included, with
    /// its state saying when it expired).
    fn user(&self, user_id: Uuid) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// The pending user `user.id` with credential `credential_id`, and its guard, verified at
    /// `now` (their expiry removed), with `event`: only if both are still as read.
    fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user `user_id` and its password's hash, read consistently.
    fn credentials(&self, user_id: Uuid) -> impl Future<Output = Result<Option<Credentials>, StoreError>> + Send;

    /// The user's hash `old` replaced by `new` (the same password at another cost): only if the
    /// user still has `old` (a new password since is not undone).
    fn replace_hash(
        &self,
        user_id: Uuid,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The event stored with a change is published: its outbox item goes. Unconditional: the
    /// writer publishes its own event moments after storing it, and publish-outbox leaves
    /// events that young alone.
    fn mark_published(&self, event_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a transaction cancelled by a conflict is retried: `attempts` in all, each after a
/// random pause of up to `base` x 2^(attempt - 1) ("full jitter", so that the two writers that
/// collided do not collide again in lockstep).
#[derive(Debug, Clone, Copy)]
pub struct ConflictRetry {
    pub attempts: u32,
    pub base: std::time::Duration,
}

impl ConflictRetry {
    pub const DEFAULT: Self = Self {
        attempts: 3,
        base: std::time::Duration::from_millis(25),
    };

    pub fn pause(&self, attempt: u32) -> std::time::Duration {
        let ceiling = self.base.saturating_mul(1 << (attempt - 1).min(10));
        ceiling.mul_f64(fastrand::f64())
    }

    /// `write`, retried after conflicts (DynamoDB cancels concurrent transactions on one item
    /// with `TransactionConflict`; nothing was written). When conflicts outlast the retries,
    /// the conflict is the answer.
    pub async fn run<F: Future<Output = Result<(), StoreError>>>(
        &self,
        write: impl Fn() -> F,
    ) -> Result<(), StoreError> {
        let mut attempt = 1;
        loop {
            match write().await {
                Err(StoreError::Conflict) if attempt < self.attempts => {
                    tracing::debug!(attempt, "transaction conflict; retrying");
                    tokio::time::sleep(self.pause(attempt)).await;
                    attempt += 1;
                }
                Err(StoreError::Conflict) => {
                    tracing::warn!(attempts = self.attempts, "transaction conflicts outlasted the retries");
                    return Err(StoreError::Conflict);
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConflictRetry;
    use crate::outbox::{PendingItem, StoredEvent};
    use crate::testing::new_user;
    use time::OffsetDateTime;
    use user_events::UserCreated;
    use uuid::Uuid;

    #[test]
    fn retry_pauses_grow_and_stay_under_their_ceiling() {
        let retry = ConflictRetry::DEFAULT;
        for attempt in 1..=retry.attempts {
            let ceiling = retry.base * (1 << (attempt - 1));
            assert!((0..50).all(|_| retry.pause(attempt) <= ceiling));
        }
    }

    #[test]
    fn debug_shows_no_personal_data_and_no_hash() {
        let now = OffsetDateTime::now_utc();
        let user = new_user("private@x.io", now);
        let event = StoredEvent::from(&UserCreated::new(Uuid::new_v4(), now, user.public()));
        let item = PendingItem {
            key: "OUTBOX#x".into(),
            event: Ok(event.clone()),
        };
        assert!(format!("{user:?}").contains(&user.id.to_string()), "the id is shown");
        for shown in [format!("{user:?}"), format!("{event:?}"), format!("{item:?}")] {
            assert!(
                !shown.contains("private@") && !shown.contains("Ann") && !shown.contains("$2b$"),
                "{shown}"
            );
        }
    }
}
