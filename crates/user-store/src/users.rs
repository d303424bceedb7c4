//! A user as the users table stores it, and the port that stores one with its email guard and
//! its event.

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

/// The user as stored.
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    /// Another transaction touched the same items at the same moment (DynamoDB cancels both
    /// with `TransactionConflict`): nothing was written, and trying again soon is right.
    #[error("a concurrent transaction on the same items")]
    Conflict,
    #[error("user store unavailable: {0}")]
    Unavailable(String),
}

/// Stores a user, its email guard and its event atomically: of two writers with one email,
/// exactly one succeeds, and a stored user always has its event (see [`crate::outbox`]).
pub trait UserStore: Send + Sync {
    /// Whether the guard of `email_key` exists, read consistently. A cheap check before
    /// hashing, so that a taken email costs no bcrypt; the transaction in `create` stays the
    /// authority.
    fn email_taken(&self, email_key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn create(&self, user: &NewUser, event: &StoredEvent) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The event that `create` stored is published: its outbox item goes. Unconditional: the
    /// writer publishes its own event moments after storing it, and publish-outbox leaves
    /// events that young alone.
    fn mark_published(&self, event_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use crate::outbox::{PendingItem, StoredEvent};
    use crate::testing::new_user;
    use time::OffsetDateTime;
    use user_events::UserCreated;
    use uuid::Uuid;

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
