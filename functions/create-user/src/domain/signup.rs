//! The sign-up use case: hash, store the user with its email guard, publish `user.created`,
//! issue a token. Storage and publishing are ports, so the core runs against DynamoDB + SNS in
//! Lambda and against in-memory doubles in unit tests.

use super::outbox::Outbox;
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
    #[error("user store unavailable: {0}")]
    Unavailable(String),
}

/// Stores a user, its email guard and its event atomically: of two writers with one email,
/// exactly one succeeds, and a stored user always has its event (see `outbox`).
pub trait UserStore: Send + Sync {
    fn create(&self, user: &NewUser, event: &UserCreated) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("publishing user.created failed: {0}")]
pub struct PublishError(pub String);

pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: &UserCreated) -> impl Future<Output = Result<(), PublishError>> + Send;
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
    /// False when SNS failed: the event waits in the outbox for the next flush.
    pub published: bool,
    pub phases: Phases,
}

/// Where a sign-up's time went: logged with it, so that our own overhead can be told apart
/// from the time spent waiting on DynamoDB and SNS (the benchmark relies on these).
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    pub hash: Duration,
    /// The DynamoDB transaction.
    pub store: Duration,
    /// The SNS publish and the outbox item's deletion.
    pub publish: Duration,
}

pub struct SignUp<S, P> {
    pub store: S,
    pub publisher: P,
    pub tokens: JwtIssuer,
    pub bcrypt_cost: u32,
}

impl<S: UserStore + Outbox, P: EventPublisher> SignUp<S, P> {
    pub async fn run(&self, request: SignUpRequest) -> Result<SignedUp, SignUpError> {
        let email_key = request.email_key();
        let SignUpRequest { name, email, password } = request;
        let mut phases = Phases::default();
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

        let started = Instant::now();
        self.store.create(&user, &event).await.map_err(|e| match e {
            StoreError::EmailTaken => SignUpError::EmailTaken,
            other => SignUpError::Store(other),
        })?;
        phases.store = started.elapsed();
        let started = Instant::now();
        // The event is durable now; publishing it is only a matter of time.
        let published = match self.publisher.publish(&event).await {
            Ok(()) => {
                if let Err(e) = self.store.mark_published(event.event_id).await {
                    tracing::warn!(event_id = %event.event_id, error = %e, "published but still pending: it will be published again");
                }
                true
            }
            Err(e) => {
                tracing::error!(event_id = %event.event_id, error = %e, "publish failed; the event stays in the outbox");
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
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryStore {
        pub users: Mutex<HashMap<String, (Uuid, String)>>,
        pub outbox: Mutex<Vec<UserCreated>>,
    }

    impl UserStore for MemoryStore {
        async fn create(&self, user: &NewUser, event: &UserCreated) -> Result<(), StoreError> {
            let mut users = self.users.lock().unwrap();
            if users.contains_key(&user.email_key) {
                return Err(StoreError::EmailTaken);
            }
            users.insert(
                user.email_key.clone(),
                (user.id, user.password_hash.expose().to_owned()),
            );
            self.outbox.lock().unwrap().push(event.clone());
            Ok(())
        }
    }

    impl Outbox for MemoryStore {
        async fn pending(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<UserCreated>, StoreError> {
            let outbox = self.outbox.lock().unwrap();
            Ok(outbox
                .iter()
                .filter(|e| e.occurred_at < before)
                .take(limit)
                .cloned()
                .collect())
        }

        async fn mark_published(&self, event_id: Uuid) -> Result<(), StoreError> {
            self.outbox.lock().unwrap().retain(|e| e.event_id != event_id);
            Ok(())
        }
    }

    #[derive(Default)]
    pub struct MemoryPublisher {
        pub events: Mutex<Vec<UserCreated>>,
        pub fail: bool,
    }

    impl EventPublisher for MemoryPublisher {
        async fn publish(&self, event: &UserCreated) -> Result<(), PublishError> {
            if self.fail {
                return Err(PublishError("topic unreachable".into()));
            }
            self.events.lock().unwrap().push(event.clone());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::doubles::*;
    use super::*;

    fn signup(fail_publish: bool) -> SignUp<MemoryStore, MemoryPublisher> {
        SignUp {
            store: MemoryStore::default(),
            publisher: MemoryPublisher {
                fail: fail_publish,
                ..Default::default()
            },
            tokens: JwtIssuer::new(&[7u8; 32], "test".into(), 3600).unwrap(),
            bcrypt_cost: 4,
        }
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
        assert_eq!(events[0].user, done.user);
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
    async fn a_failed_publish_still_signs_up_and_leaves_the_event_in_the_outbox() {
        let s = signup(true);
        let done = s.run(request("a@x.io")).await.unwrap();
        assert!(!done.published);
        let pending = s.store.outbox.lock().unwrap().clone();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event_id, done.event_id);
    }

    #[tokio::test]
    async fn a_published_event_leaves_the_outbox() {
        let s = signup(false);
        assert!(s.run(request("a@x.io")).await.unwrap().published);
        assert!(s.store.outbox.lock().unwrap().is_empty());
    }
}
