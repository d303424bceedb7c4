//! The sign-up use case: hash, store the user with its email guard, publish `user.created`,
//! issue a token. Storage and publishing are ports, so the core runs against DynamoDB + SNS in
//! Lambda and against in-memory doubles in unit tests.

use super::outbox::{Outbox, StoredEvent};
use super::validation::SignUpRequest;
use crate::token::JwtIssuer;
use std::future::Future;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use user_events::{PublicUser, UserCreated};
use uuid::Uuid;

/// A bcrypt hash. It never leaves the store: no Debug output, no Serialize.
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn expose(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self("$2b$04$not-a-real-hash".into())
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The user as stored.
#[derive(Debug)]
pub struct NewUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// Lower-cased email: the uniqueness key.
    pub email_key: String,
    pub password_hash: PasswordHash,
    pub created_at: OffsetDateTime,
}

impl NewUser {
    /// A user named Ann, as the unit tests store them (`email` is its own key).
    #[cfg(test)]
    pub fn for_tests(email: &str, created_at: OffsetDateTime) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: "Ann".into(),
            email: email.into(),
            email_key: email.into(),
            password_hash: PasswordHash::for_tests(),
            created_at,
        }
    }

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
/// exactly one succeeds, and a stored user always has its event (see `outbox`).
pub trait UserStore: Send + Sync {
    /// Whether the email's guard exists, read consistently. A cheap check before hashing, so
    /// that a taken email costs no bcrypt; the transaction in `create` stays the authority.
    fn email_taken(&self, email_key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn create(&self, user: &NewUser, event: &StoredEvent) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("publishing user.created failed: {0}")]
pub struct PublishError(pub String);

pub trait EventPublisher: Send + Sync {
    /// Publishes the event's JSON exactly as stored, with its type and version as attributes.
    fn publish(&self, event: &StoredEvent) -> impl Future<Output = Result<(), PublishError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignUpError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Debug)]
pub struct SignedUp {
    pub user: PublicUser,
    pub token: String,
    pub event_id: Uuid,
    /// False when SNS failed or did not answer in time: the event waits in the outbox for the
    /// next flush.
    pub published: bool,
    pub phases: Phases,
}

/// Where a sign-up's time went: logged with it, so that our own overhead can be told apart
/// from the time spent waiting on DynamoDB and SNS (the benchmark relies on these).
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    pub hash: Duration,
    /// DynamoDB: the guard check and the transaction (with its retries after a conflict).
    pub store: Duration,
    /// The SNS publish and the outbox item's deletion.
    pub publish: Duration,
}

/// How a transaction cancelled by a conflict is retried: `attempts` in all, each after a
/// random pause of up to `base` x 2^(attempt - 1) ("full jitter", so that the two writers that
/// collided do not collide again in lockstep).
#[derive(Debug, Clone, Copy)]
pub struct ConflictRetry {
    pub attempts: u32,
    pub base: Duration,
}

impl ConflictRetry {
    pub const DEFAULT: Self = Self {
        attempts: 3,
        base: Duration::from_millis(25),
    };

    fn pause(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1 << (attempt - 1).min(10));
        ceiling.mul_f64(fastrand::f64())
    }
}

/// How long create-user waits for SNS (and the outbox item's deletion) after the commit. The
/// event is durable by then, so a slow SNS must not hold the client's answer: past this, the
/// sign-up answers 201 and the outbox delivers the event within a minute or two. With the
/// guard read and the transaction (3 s each at most) and bcrypt, a sign-up answers within
/// create-user's 10 s timeout.
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(1);

pub struct SignUp<S, P> {
    pub store: S,
    pub publisher: P,
    pub tokens: JwtIssuer,
    pub bcrypt_cost: u32,
    pub conflict_retry: ConflictRetry,
    pub publish_budget: Duration,
}

impl<S: UserStore + Outbox, P: EventPublisher> SignUp<S, P> {
    /// The use case with the production retry policy and publish budget.
    pub fn new(store: S, publisher: P, tokens: JwtIssuer, bcrypt_cost: u32) -> Self {
        Self {
            store,
            publisher,
            tokens,
            bcrypt_cost,
            conflict_retry: ConflictRetry::DEFAULT,
            publish_budget: PUBLISH_BUDGET,
        }
    }

    pub async fn run(&self, request: SignUpRequest) -> Result<SignedUp, SignUpError> {
        let email_key = request.email_key();
        let mut phases = Phases::default();
        let started = Instant::now();
        if self.store.email_taken(&email_key).await.map_err(SignUpError::Store)? {
            return Err(SignUpError::EmailTaken);
        }
        phases.store = started.elapsed();
        let SignUpRequest { name, email, password } = request;
        let started = Instant::now();
        let password_hash = hash(password, self.bcrypt_cost).await?;
        phases.hash = started.elapsed();
        let now = OffsetDateTime::now_utc();
        let user = NewUser {
            id: Uuid::new_v4(),
            name,
            email,
            email_key,
            password_hash,
            created_at: now,
        };
        let event = UserCreated::new(Uuid::new_v4(), now, user.public());
        let stored = StoredEvent::from(&event);

        let started = Instant::now();
        self.store_with_retries(&user, &stored).await?;
        phases.store += started.elapsed();
        let started = Instant::now();
        // The event is durable now; publishing it is only a matter of time. Publish and mark
        // share the budget: a mark that does not finish leaves the event pending, and it is
        // published again (consumers deduplicate), but the client is not kept waiting.
        let publish_and_mark = async {
            self.publisher.publish(&stored).await?;
            if let Err(e) = self.store.mark_published(event.event_id).await {
                tracing::warn!(event_id = %event.event_id, error = %e, "published but still pending: it will be published again");
            }
            Ok::<(), PublishError>(())
        };
        let published = match tokio::time::timeout(self.publish_budget, publish_and_mark).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(event_id = %event.event_id, error = %e, "publish failed; the event stays in the outbox");
                false
            }
            Err(_) => {
                tracing::warn!(event_id = %event.event_id, budget_ms = self.publish_budget.as_millis() as u64, "SNS did not answer in time; the event stays in the outbox");
                false
            }
        };
        phases.publish = started.elapsed();
        let token = self
            .tokens
            .issue(user.id, now)
            .map_err(|e| SignUpError::Internal(e.to_string()))?;
        Ok(SignedUp {
            user: event.user,
            token,
            event_id: event.event_id,
            published,
            phases,
        })
    }

    /// The transaction, retried after conflicts. When conflicts outlast the retries, the
    /// guard decides: another sign-up with this email won (409), or the store is too busy (503).
    async fn store_with_retries(&self, user: &NewUser, event: &StoredEvent) -> Result<(), SignUpError> {
        let retry = self.conflict_retry;
        for attempt in 1..=retry.attempts.max(1) {
            match self.store.create(user, event).await {
                Ok(()) => return Ok(()),
                Err(StoreError::EmailTaken) => return Err(SignUpError::EmailTaken),
                Err(StoreError::Conflict) if attempt < retry.attempts => {
                    tracing::debug!(attempt, "transaction conflict; retrying");
                    tokio::time::sleep(retry.pause(attempt)).await;
                }
                Err(StoreError::Conflict) => break,
                Err(other) => return Err(SignUpError::Store(other)),
            }
        }
        if self
            .store
            .email_taken(&user.email_key)
            .await
            .map_err(SignUpError::Store)?
        {
            return Err(SignUpError::EmailTaken);
        }
        tracing::warn!(attempts = retry.attempts, "transaction conflicts outlasted the retries");
        Err(SignUpError::Store(StoreError::Conflict))
    }
}

/// bcrypt is CPU-bound by design (~250 ms at cost 12): run it on the blocking pool so the
/// async executor keeps serving.
async fn hash(password: String, cost: u32) -> Result<PasswordHash, SignUpError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| SignUpError::Internal(format!("hashing task: {e}")))?
        .map(PasswordHash)
        .map_err(|e| SignUpError::Internal(format!("bcrypt: {e}")))
}

#[cfg(test)]
pub(crate) mod doubles {
    //! In-memory ports for unit tests of the use case; the real adapters are tested against
    //! DynamoDB Local and LocalStack in tests/.
    use super::*;
    use crate::domain::outbox::{Page, PendingItem};
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct MemoryOutboxItem {
        pub key: String,
        pub at: OffsetDateTime,
        pub event: Result<StoredEvent, String>,
    }

    #[derive(Default)]
    pub struct MemoryStore {
        pub users: Mutex<HashMap<String, (Uuid, String)>>,
        pub outbox: Mutex<Vec<MemoryOutboxItem>>,
        /// Published (deleted) outbox keys.
        pub published: Mutex<HashSet<String>>,
        pub claims: Mutex<HashMap<String, Instant>>,
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
                key: format!("OUTBOX#{}", event.event_id),
                at: user.created_at,
                event: Ok(event.clone()),
            });
            Ok(())
        }
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

        async fn claim(&self, key: &str, lease: Duration) -> Result<bool, StoreError> {
            if self.published.lock().unwrap().contains(key) {
                return Ok(false);
            }
            let mut claims = self.claims.lock().unwrap();
            let now = Instant::now();
            if claims.get(key).is_some_and(|until| *until > now) {
                return Ok(false);
            }
            claims.insert(key.to_owned(), now + lease);
            Ok(true)
        }

        async fn release(&self, key: &str) -> Result<(), StoreError> {
            self.claims.lock().unwrap().remove(key);
            Ok(())
        }

        async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
            self.published.lock().unwrap().insert(format!("OUTBOX#{event_id}"));
            Ok(())
        }

        async fn set_aside(&self, key: &str, _reason: &str) -> Result<(), StoreError> {
            self.set_aside.lock().unwrap().push(key.to_owned());
            Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::doubles::*;
    use super::*;
    use std::sync::atomic::Ordering;

    fn signup_with(publisher: MemoryPublisher) -> SignUp<MemoryStore, MemoryPublisher> {
        let mut s = SignUp::new(MemoryStore::default(), publisher, JwtIssuer::for_tests(&[7u8; 32]), 4);
        s.conflict_retry.base = Duration::from_millis(1);
        s.publish_budget = Duration::from_millis(50);
        s
    }

    fn signup(fail_publish: bool) -> SignUp<MemoryStore, MemoryPublisher> {
        signup_with(MemoryPublisher {
            fail: fail_publish,
            ..Default::default()
        })
    }

    fn request(email: &str) -> SignUpRequest {
        SignUpRequest {
            name: "Ann".into(),
            email: email.into(),
            password: "correct horse".into(),
        }
    }

    #[tokio::test]
    async fn stores_a_bcrypt_hash_publishes_the_public_user_and_issues_a_token() {
        let s = signup(false);
        let done = s.run(request("Ann@X.io")).await.unwrap();
        let (id, hash) = s.store.users.lock().unwrap()["ann@x.io"].clone();
        assert_eq!(id, done.user.id);
        assert!(bcrypt::verify("correct horse", &hash).unwrap());
        let events = s.publisher.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        let published: UserCreated = serde_json::from_str(&events[0].json).unwrap();
        assert_eq!(published.user, done.user);
        assert_eq!(events[0].event_id, done.event_id);
        assert_eq!(s.tokens.verify(&done.token).unwrap().sub, done.user.id.to_string());
    }

    #[tokio::test]
    async fn a_second_sign_up_with_the_same_email_in_any_case_is_taken_and_publishes_nothing() {
        let s = signup(false);
        s.run(request("ann@x.io")).await.unwrap();
        assert_eq!(s.run(request("ANN@X.IO")).await.unwrap_err(), SignUpError::EmailTaken);
        assert_eq!(s.publisher.events.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_taken_email_is_refused_before_hashing_or_writing() {
        let s = signup(false);
        s.run(request("ann@x.io")).await.unwrap();
        let creates = s.store.creates.load(Ordering::SeqCst);
        // A cost bcrypt refuses: had the refusal hashed, it would be an internal error.
        let s = SignUp { bcrypt_cost: 3, ..s };
        assert_eq!(s.run(request("ann@x.io")).await.unwrap_err(), SignUpError::EmailTaken);
        assert_eq!(s.store.creates.load(Ordering::SeqCst), creates, "no transaction tried");
    }

    #[tokio::test]
    async fn a_transaction_conflict_is_retried_and_then_succeeds() {
        let s = signup(false);
        s.store.conflicts.store(2, Ordering::SeqCst);
        let done = s.run(request("a@x.io")).await.unwrap();
        assert!(done.published);
        assert_eq!(s.store.creates.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn conflicts_that_outlast_the_retries_are_a_503_unless_the_email_is_taken_by_then() {
        let s = signup(false);
        s.store.conflicts.store(u32::MAX, Ordering::SeqCst);
        assert_eq!(
            s.run(request("a@x.io")).await.unwrap_err(),
            SignUpError::Store(StoreError::Conflict)
        );
        assert_eq!(s.store.creates.load(Ordering::SeqCst), ConflictRetry::DEFAULT.attempts);

        // The other writer won: its guard is there when the retries give up.
        let s = signup(false);
        s.store
            .users
            .lock()
            .unwrap()
            .insert("b@x.io".into(), (Uuid::new_v4(), String::new()));
        s.store.conflicts.store(u32::MAX, Ordering::SeqCst);
        let taken = s.store_with_retries(&user("b@x.io"), &event()).await.unwrap_err();
        assert_eq!(taken, SignUpError::EmailTaken);
    }

    fn user(email: &str) -> NewUser {
        NewUser::for_tests(email, OffsetDateTime::now_utc())
    }

    fn event() -> StoredEvent {
        let user = user("x@x.io");
        StoredEvent::from(&UserCreated::new(Uuid::new_v4(), user.created_at, user.public()))
    }

    #[test]
    fn retry_pauses_grow_and_stay_under_their_ceiling() {
        let retry = ConflictRetry::DEFAULT;
        for attempt in 1..=retry.attempts {
            let ceiling = retry.base * (1 << (attempt - 1));
            assert!((0..50).all(|_| retry.pause(attempt) <= ceiling));
        }
    }

    #[tokio::test]
    async fn a_failed_publish_still_signs_up_and_leaves_the_event_in_the_outbox() {
        let s = signup(true);
        let done = s.run(request("a@x.io")).await.unwrap();
        assert!(!done.published);
        let pending = s.store.pending_events();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event_id, done.event_id);
    }

    #[tokio::test]
    async fn a_hanging_publish_is_given_up_after_its_budget_and_the_event_stays_pending() {
        let s = signup_with(MemoryPublisher {
            hang: true,
            ..Default::default()
        });
        let done = s.run(request("a@x.io")).await.unwrap();
        assert!(!done.published);
        assert_eq!(s.store.pending_events().len(), 1);
    }

    #[tokio::test]
    async fn a_published_event_leaves_the_outbox() {
        let s = signup(false);
        assert!(s.run(request("a@x.io")).await.unwrap().published);
        assert!(s.store.pending_events().is_empty());
    }
}
