//! In-memory ports for unit tests (this crate's, and those of the crates that use it, through
//! the `testing` feature); the real adapters are tested against DynamoDB Local and LocalStack.
//!
//! One file a port: the store's [`UserStore`](crate::users::UserStore) in `users`,
//! [`Outbox`](crate::outbox::Outbox) in `outbox`, [`RateLimiter`](crate::limits::RateLimiter) in
//! `limits`, over the one [`MemoryStore`] here; [`MemoryPublisher`] in `publisher`.

mod limits;
mod outbox;
mod publisher;
mod users;

pub use publisher::MemoryPublisher;

use crate::outbox::{ClaimToken, StoredEvent};
use crate::users::{NewUser, PasswordHash, StoreError, StoredUser, UserState, live};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;
use time::OffsetDateTime;
use uuid::Uuid;

/// A user named Ann with `email` (its own key), as unit tests store them.
pub fn new_user(email: &str, created_at: OffsetDateTime) -> NewUser {
    NewUser {
        id: Uuid::new_v4(),
        name: "Ann".into(),
        email: email.into(),
        email_key: email.into(),
        password_hash: PasswordHash::new("$2b$04$not-a-real-hash".into()),
        created_at,
    }
}

pub struct MemoryOutboxItem {
    pub key: String,
    pub at: OffsetDateTime,
    pub event: Result<StoredEvent, String>,
}

/// A user as the memory store keeps it: what the table holds, the hash included.
#[derive(Clone)]
pub struct MemoryUser {
    pub stored: StoredUser,
    pub password_hash: String,
}

#[derive(Default)]
pub struct MemoryStore {
    /// By id.
    pub users: Mutex<HashMap<Uuid, MemoryUser>>,
    /// Email key -> the id of the user it guards (the guard's state is its user's: the table
    /// writes both in one transaction).
    pub guards: Mutex<HashMap<String, Uuid>>,
    pub outbox: Mutex<Vec<MemoryOutboxItem>>,
    /// Published (deleted) outbox keys.
    pub published: Mutex<HashSet<String>>,
    /// Live and expired claims: until when, and whose.
    pub claims: Mutex<HashMap<String, (Instant, ClaimToken)>>,
    /// Keys whose claim another flush takes over as soon as it is acquired, as if our lease
    /// had run out mid-publish.
    pub taken_over: Mutex<HashSet<String>>,
    pub set_aside: Mutex<Vec<String>>,
    /// Like a lagging GSI: deleted items keep showing up in `pending`.
    pub stale_index: bool,
    /// The next writes of a user that fail with a conflict, as DynamoDB does when two
    /// transactions touch one item at once (DynamoDB Local never does).
    pub conflicts: AtomicU32,
    /// Transactions tried (each write of a user, or of an event).
    pub creates: AtomicU32,
    pub guard_checks: AtomicU32,
    /// Rate limit counters, by the DynamoDB adapter's key.
    pub hits: Mutex<HashMap<String, u64>>,
}

impl MemoryStore {
    /// The user `email_key` belongs to now (pending or verified, live or not).
    pub fn user_of(&self, email_key: &str) -> Option<MemoryUser> {
        let id = *self.guards.lock().unwrap().get(email_key)?;
        self.users.lock().unwrap().get(&id).cloned()
    }

    /// Makes the user of `email_key` verified, as verify-email would.
    pub fn verify_now(&self, email_key: &str) {
        let id = self.guards.lock().unwrap()[email_key];
        self.users.lock().unwrap().get_mut(&id).unwrap().stored.state = UserState::Verified;
    }

    fn write(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        if self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Conflict);
        }
        self.outbox.lock().unwrap().push(MemoryOutboxItem {
            key: key_of(event.event_id),
            at: now,
            event: Ok(event.clone()),
        });
        Ok(())
    }

    fn live_pending(user: &MemoryUser, now: OffsetDateTime) -> bool {
        matches!(user.stored.state, UserState::Pending { expires_at } if live(expires_at, now))
    }
}
/// Keyed as the DynamoDB adapter keys them, so that tests can name an item either way.
fn key_of(event_id: Uuid) -> String {
    crate::adapters::dynamodb::outbox_key(&event_id)
}
