//! In-memory ports for unit tests (this crate's, and those of the crates that use it, through
//! the `testing` feature); the real adapters are tested against DynamoDB Local and LocalStack.

use crate::outbox::{ClaimToken, EventPublisher, Outbox, Page, PendingItem, PublishError, SettleError, StoredEvent};
use crate::users::{NewUser, PasswordHash, StoreError, UserStore};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
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

#[derive(Default)]
pub struct MemoryStore {
    /// By email key: the user's id and password hash.
    pub users: Mutex<HashMap<String, (Uuid, String)>>,
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
    /// The next `create` calls that fail with a conflict, as DynamoDB does when two
    /// transactions touch one item at once (DynamoDB Local never does).
    pub conflicts: AtomicU32,
    pub creates: AtomicU32,
    pub guard_checks: AtomicU32,
}

impl UserStore for MemoryStore {
    async fn email_taken(&self, email_key: &str) -> Result<bool, StoreError> {
        self.guard_checks.fetch_add(1, Ordering::SeqCst);
        Ok(self.users.lock().unwrap().contains_key(email_key))
    }

    async fn create(&self, user: &NewUser, event: &StoredEvent) -> Result<(), StoreError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        if self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Conflict);
        }
        let mut users = self.users.lock().unwrap();
        if users.contains_key(&user.email_key) {
            return Err(StoreError::EmailTaken);
        }
        users.insert(
            user.email_key.clone(),
            (user.id, user.password_hash.expose().to_owned()),
        );
        self.outbox.lock().unwrap().push(MemoryOutboxItem {
            key: key_of(event.event_id),
            at: user.created_at,
            event: Ok(event.clone()),
        });
        Ok(())
    }

    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.published.lock().unwrap().insert(key_of(event_id));
        Ok(())
    }
}

/// Keyed as the DynamoDB adapter keys them, so that tests can name an item either way.
fn key_of(event_id: Uuid) -> String {
    crate::adapters::dynamodb::outbox_key(&event_id)
}

impl Outbox for MemoryStore {
    /// The position in the pending list after the page.
    type Cursor = usize;

    async fn pending(
        &self,
        before: OffsetDateTime,
        limit: usize,
        after: Option<usize>,
    ) -> Result<Page<usize>, StoreError> {
        // Lets a concurrent flush run in between, as a network call would.
        tokio::task::yield_now().await;
        let published = self.published.lock().unwrap();
        let set_aside = self.set_aside.lock().unwrap();
        let visible: Vec<PendingItem> = self
            .outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.at < before && !set_aside.contains(&i.key))
            .filter(|i| self.stale_index || !published.contains(&i.key))
            .map(|i| PendingItem {
                key: i.key.clone(),
                event: i.event.clone(),
            })
            .collect();
        let start = after.unwrap_or(0);
        let items: Vec<PendingItem> = visible.iter().skip(start).take(limit).cloned().collect();
        let end = start + items.len();
        Ok(Page {
            next: (end < visible.len()).then_some(end),
            items,
        })
    }

    async fn claim(&self, key: &str, lease: Duration) -> Result<Option<ClaimToken>, StoreError> {
        if self.published.lock().unwrap().contains(key) {
            return Ok(None);
        }
        let mut claims = self.claims.lock().unwrap();
        let now = Instant::now();
        if claims.get(key).is_some_and(|(until, _)| *until > now) {
            return Ok(None);
        }
        let token = ClaimToken::random();
        let owner = if self.taken_over.lock().unwrap().contains(key) {
            ClaimToken::random()
        } else {
            token.clone()
        };
        claims.insert(key.to_owned(), (now + lease, owner));
        Ok(Some(token))
    }

    async fn complete(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let claims = self.claims.lock().unwrap();
        let mut published = self.published.lock().unwrap();
        match claims.get(key) {
            Some((_, owner)) if owner == token && !published.contains(key) => {
                published.insert(key.to_owned());
                Ok(())
            }
            _ => Err(SettleError::NotOwner),
        }
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let mut claims = self.claims.lock().unwrap();
        match claims.get(key) {
            Some((_, owner)) if owner == token && !self.published.lock().unwrap().contains(key) => {
                claims.remove(key);
                Ok(())
            }
            _ => Err(SettleError::NotOwner),
        }
    }

    async fn set_aside(&self, key: &str, _reason: &str) -> Result<(), StoreError> {
        self.set_aside.lock().unwrap().push(key.to_owned());
        Ok(())
    }

    async fn oldest_pending(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let published = self.published.lock().unwrap();
        let set_aside = self.set_aside.lock().unwrap();
        Ok(self
            .outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !published.contains(&i.key) && !set_aside.contains(&i.key))
            .map(|i| i.at)
            .min())
    }
}

impl MemoryStore {
    /// The events still pending (not published, not set aside).
    pub fn pending_events(&self) -> Vec<StoredEvent> {
        let published = self.published.lock().unwrap();
        self.outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !published.contains(&i.key))
            .filter_map(|i| i.event.clone().ok())
            .collect()
    }
}

#[derive(Default)]
pub struct MemoryPublisher {
    pub events: Mutex<Vec<StoredEvent>>,
    pub fail: bool,
    /// Never answers, like an SNS endpoint that accepts the connection and hangs.
    pub hang: bool,
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, event: &StoredEvent) -> Result<(), PublishError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.fail {
            return Err(PublishError("topic unreachable".into()));
        }
        tokio::task::yield_now().await;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}
