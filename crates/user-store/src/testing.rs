//! In-memory ports for unit tests (this crate's, and those of the crates that use it, through
//! the `testing` feature); the real adapters are tested against DynamoDB Local and LocalStack.

use crate::limits::{Decision, Limit, RateLimiter};
use crate::outbox::{ClaimToken, EventPublisher, Outbox, Page, PendingItem, PublishError, SettleError, StoredEvent};
use crate::users::{
    Credentials, Guard, NewCredential, NewUser, PasswordHash, StoreError, StoredUser, UserState, UserStore, live,
};
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

impl MemoryStore {
    /// What the guard of `email_key` says at `now` (not counted as a read).
    fn guard_at(&self, email_key: &str, now: OffsetDateTime) -> Option<Guard> {
        self.user_of(email_key).and_then(|user| match user.stored.state {
            UserState::Verified => Some(Guard::Verified {
                user_id: user.stored.user.id,
            }),
            UserState::Pending { expires_at } if live(expires_at, now) => Some(Guard::Pending {
                user_id: user.stored.user.id,
                credential_id: user.stored.credential_id,
            }),
            UserState::Pending { .. } => None,
        })
    }
}

impl UserStore for MemoryStore {
    async fn guard(&self, email_key: &str, now: OffsetDateTime) -> Result<Option<Guard>, StoreError> {
        self.guard_checks.fetch_add(1, Ordering::SeqCst);
        Ok(self.guard_at(email_key, now))
    }

    async fn create_pending(
        &self,
        user: &NewUser,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self.guard_at(&user.email_key, now).is_some() {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        let stored = StoredUser {
            user: user.public(),
            email_key: user.email_key.clone(),
            credential_id: user_events::first_credential(user.id),
            state: UserState::Pending { expires_at },
        };
        let password_hash = user.password_hash.expose().to_owned();
        self.users
            .lock()
            .unwrap()
            .insert(user.id, MemoryUser { stored, password_hash });
        self.guards.lock().unwrap().insert(user.email_key.clone(), user.id);
        Ok(())
    }

    async fn replace_credential(
        &self,
        credential: &NewCredential,
        expires_at: OffsetDateTime,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let current = self.user_of(&credential.email_key);
        if !current.is_some_and(|u| u.stored.user.id == credential.user_id && Self::live_pending(&u, now)) {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        let mut users = self.users.lock().unwrap();
        let user = users.get_mut(&credential.user_id).unwrap();
        user.stored.user.name = credential.name.clone();
        user.stored.user.email = credential.email.clone();
        user.stored.credential_id = credential.credential_id;
        user.stored.state = UserState::Pending { expires_at };
        user.password_hash = credential.password_hash.expose().to_owned();
        Ok(())
    }

    async fn record_for_verified(
        &self,
        email_key: &str,
        user_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let verified = self
            .user_of(email_key)
            .is_some_and(|u| u.stored.user.id == user_id && u.stored.state == UserState::Verified);
        if !verified {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)
    }

    async fn record(&self, event: &StoredEvent, now: OffsetDateTime) -> Result<(), StoreError> {
        self.write(event, now)
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
        let current = self.user_of(email_key);
        let still = current.is_some_and(|u| {
            u.stored.user.id == user_id && u.stored.credential_id == credential_id && Self::live_pending(&u, now)
        });
        if !still {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        self.users.lock().unwrap().get_mut(&user_id).unwrap().stored.state = UserState::Pending { expires_at };
        Ok(())
    }

    async fn user(&self, user_id: Uuid) -> Result<Option<StoredUser>, StoreError> {
        Ok(self.users.lock().unwrap().get(&user_id).map(|u| u.stored.clone()))
    }

    async fn verify(
        &self,
        user: &StoredUser,
        credential_id: Uuid,
        event: &StoredEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let current = self.users.lock().unwrap().get(&user.user.id).cloned();
        let guarded = self.guards.lock().unwrap().get(&user.email_key) == Some(&user.user.id);
        let still = current.is_some_and(|u| Self::live_pending(&u, now) && u.stored.credential_id == credential_id);
        if !(still && guarded) {
            self.creates.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::StateChanged);
        }
        self.write(event, now)?;
        self.users.lock().unwrap().get_mut(&user.user.id).unwrap().stored.state = UserState::Verified;
        Ok(())
    }

    async fn credentials(&self, user_id: Uuid) -> Result<Option<Credentials>, StoreError> {
        Ok(self.users.lock().unwrap().get(&user_id).map(|u| Credentials {
            user: u.stored.clone(),
            password_hash: PasswordHash::new(u.password_hash.clone()),
        }))
    }

    async fn replace_hash(&self, user_id: Uuid, old: &PasswordHash, new: &PasswordHash) -> Result<(), StoreError> {
        let mut users = self.users.lock().unwrap();
        match users.get_mut(&user_id) {
            Some(user) if user.password_hash == old.expose() => {
                user.password_hash = new.expose().to_owned();
                Ok(())
            }
            _ => Err(StoreError::StateChanged),
        }
    }

    async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.published.lock().unwrap().insert(key_of(event_id));
        Ok(())
    }
}

impl RateLimiter for MemoryStore {
    async fn hit(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, _) = limit.window_at(now);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        let mut hits = self.hits.lock().unwrap();
        let count = hits.entry(key).or_insert(0);
        *count += 1;
        Ok(limit.decide(*count, now))
    }

    async fn take(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        let mut hits = self.hits.lock().unwrap();
        let count = hits.entry(key).or_insert(0);
        if *count >= u64::from(limit.max) {
            return Ok(Decision::Denied { retry_after: left });
        }
        *count += 1;
        Ok(Decision::Allowed)
    }

    async fn give_back(&self, limit: &Limit, subject: &str, taken_at: OffsetDateTime) -> Result<(), StoreError> {
        let (start, _) = limit.window_at(taken_at);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        if let Some(count) = self.hits.lock().unwrap().get_mut(&key) {
            *count = count.saturating_sub(1);
        }
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
