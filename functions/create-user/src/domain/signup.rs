//! The sign-up use case: hash, store the user with its email guard and its `user.created`
//! event (the outbox), issue a token ([`SignUp::run`]); then publish the event
//! ([`SignUp::publish`]), which the caller may do once the client has its answer: the stored
//! event is published by the outbox's flush if not by then. Storage and publishing are ports
//! (the `user-store` crate), so the core runs against DynamoDB + SNS in Lambda and against
//! in-memory doubles in unit tests.

use super::validation::SignUpRequest;
use crate::password::Bcrypt;
use crate::token::{IssuerError, Tokens};
use std::time::Duration;
use time::OffsetDateTime;
use user_events::trace::TraceHeader;
use user_events::{PublicUser, UserCreated};
use user_store::outbox::{EventPublisher, PublishError, StoredEvent};
use user_store::users::{NewUser, StoreError, UserStore};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignUpError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Store(StoreError),
    /// The token secret could not be read (SSM unreachable, throttled): nothing was stored.
    #[error("the token secret could not be read: {0}")]
    TokensUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub struct SignedUp {
    pub user: PublicUser,
    pub token: String,
    /// The user's `user.created`, stored with it and pending in the outbox: for
    /// [`SignUp::publish`].
    pub event: StoredEvent,
}

/// The ids only: a `{:?}` in a log line must carry neither the user's name and address (the
/// event holds them too) nor the token.
impl std::fmt::Debug for SignedUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedUp")
            .field("user_id", &self.user.id)
            .field("event_id", &self.event.event_id)
            .finish_non_exhaustive()
    }
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

/// How long [`SignUp::publish`] waits for SNS (and the outbox item's deletion). The event is
/// durable by then, so a slow SNS must not hold the instance: past this, the event is left to
/// the outbox, which delivers it within a minute or two. With the guard read and the
/// transaction (3 s each at most) and bcrypt, a sign-up and its publish end within
/// create-user's 10 s timeout.
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(1);

pub struct SignUp<S, P> {
    pub store: S,
    pub publisher: P,
    pub tokens: Tokens,
    pub hasher: Bcrypt,
    pub conflict_retry: ConflictRetry,
    pub publish_budget: Duration,
}

impl<S: UserStore, P: EventPublisher> SignUp<S, P> {
    /// The use case with the production retry policy and publish budget.
    pub fn new(store: S, publisher: P, tokens: impl Into<Tokens>, bcrypt_cost: u32) -> Self {
        Self {
            store,
            publisher,
            tokens: tokens.into(),
            hasher: Bcrypt::new(bcrypt_cost),
            conflict_retry: ConflictRetry::DEFAULT,
            publish_budget: PUBLISH_BUDGET,
        }
    }

    /// Signs the user up: once this returns, the user and its event are stored. `trace` is
    /// the request's (Lambda's trace header): the event is published under it, by
    /// [`SignUp::publish`] or by a later flush.
    pub async fn run(&self, request: SignUpRequest, trace: Option<TraceHeader>) -> Result<SignedUp, SignUpError> {
        let email_key = request.email_key();
        if self.store.email_taken(&email_key).await.map_err(SignUpError::Store)? {
            return Err(SignUpError::EmailTaken);
        }
        let SignUpRequest { name, email, password } = request;
        // The issuer before anything is stored: a user stored without its token would get a
        // 503 now and a 409 on the retry. Read from init on; if that failed, it is read here, beside
        // the hash, which takes longer.
        let (password_hash, issuer) = tokio::join!(self.hasher.hash(password), self.tokens.issuer());
        let password_hash = password_hash.map_err(|e| SignUpError::Internal(e.to_string()))?;
        let issuer = issuer.map_err(|e| match e {
            IssuerError::Unreadable(cause) => SignUpError::TokensUnavailable(cause),
            IssuerError::Invalid(e) => SignUpError::Internal(e.to_string()),
        })?;
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
        let stored = StoredEvent::from(&event).traced(trace);
        self.store_with_retries(&user, &stored).await?;
        let token = issuer
            .issue(user.id, now)
            .map_err(|e| SignUpError::Internal(e.to_string()))?;
        Ok(SignedUp {
            user: event.user,
            token,
            event: stored,
        })
    }

    /// Publishes a stored event and marks it published, within the publish budget; false if
    /// that did not happen (the event stays pending in the outbox, for the next flush).
    pub async fn publish(&self, event: &StoredEvent) -> bool {
        let event_id = event.event_id;
        // The event is durable; publishing it is only a matter of time. Publish and mark share
        // the budget: a mark that does not finish leaves the event pending, and it is
        // published again (consumers deduplicate), but the instance is not kept waiting.
        let publish_and_mark = async {
            self.publisher.publish(event).await?;
            if let Err(e) = self.store.mark_published(event_id).await {
                tracing::warn!(%event_id, error = %e, "published but still pending: it will be published again");
            }
            Ok::<(), PublishError>(())
        };
        match tokio::time::timeout(self.publish_budget, publish_and_mark).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(%event_id, error = %e, "publish failed; the event stays in the outbox");
                false
            }
            Err(_) => {
                tracing::warn!(%event_id, budget_ms = self.publish_budget.as_millis() as u64, "SNS did not answer in time; the event stays in the outbox");
                false
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::JwtIssuer;
    use std::sync::atomic::Ordering;
    use user_store::testing::{MemoryPublisher, MemoryStore, new_user};

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

    /// Signs up and publishes, as create-user does (publishing after its answer).
    async fn sign_up_and_publish(
        s: &SignUp<MemoryStore, MemoryPublisher>,
        email: &str,
        trace: Option<TraceHeader>,
    ) -> (SignedUp, bool) {
        let done = s.run(request(email), trace).await.unwrap();
        let published = s.publish(&done.event).await;
        (done, published)
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
        let done = s.run(request("Ann@X.io"), None).await.unwrap();
        assert!(
            s.publisher.events.lock().unwrap().is_empty(),
            "published by `publish` only"
        );
        assert_eq!(
            s.store.pending_events()[0].event_id,
            done.event.event_id,
            "stored with the user"
        );
        assert!(s.publish(&done.event).await);
        let (id, hash) = s.store.users.lock().unwrap()["ann@x.io"].clone();
        assert_eq!(id, done.user.id);
        assert!(bcrypt::verify("correct horse", &hash).unwrap());
        let events = s.publisher.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        let published: UserCreated = serde_json::from_str(&events[0].json).unwrap();
        assert_eq!(published.user, done.user);
        assert_eq!(events[0].event_id, done.event.event_id);
        assert_eq!(
            s.tokens.ready().unwrap().verify(&done.token).unwrap().sub,
            done.user.id.to_string()
        );
        let shown = format!("{done:?}");
        assert!(
            !shown.contains(&done.token) && !shown.contains("Ann") && !shown.to_lowercase().contains("ann@x.io"),
            "Debug shows no token and no personal data: {shown}"
        );
    }

    #[tokio::test]
    async fn a_second_sign_up_with_the_same_email_in_any_case_is_taken_and_publishes_nothing() {
        let s = signup(false);
        sign_up_and_publish(&s, "ann@x.io", None).await;
        assert_eq!(
            s.run(request("ANN@X.IO"), None).await.unwrap_err(),
            SignUpError::EmailTaken
        );
        assert_eq!(s.publisher.events.lock().unwrap().len(), 1);
        assert!(s.store.pending_events().is_empty(), "no event stored for the refusal");
    }

    /// The secret store does not answer (at init, nor now): a retryable failure,
    /// and nothing stored (a stored user would get 409 on the retry, and no token ever).
    #[tokio::test]
    async fn an_unreadable_token_secret_stores_nothing() {
        struct Unreachable;
        impl crate::token::SecretStore for Unreachable {
            fn read(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
                Box::pin(async { Err("SSM did not answer".into()) })
            }
        }
        let mut s = signup(false);
        let policy = crate::token::TokenPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            ttl_seconds: 60,
        };
        s.tokens = Tokens::read_on_first_use(Unreachable, policy);
        let error = s.run(request("a@x.io"), None).await.unwrap_err();
        assert_eq!(error, SignUpError::TokensUnavailable("SSM did not answer".into()));
        assert_eq!(s.store.creates.load(Ordering::SeqCst), 0, "no transaction tried");
        assert!(s.publisher.events.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_taken_email_is_refused_before_hashing_or_writing() {
        let s = signup(false);
        s.run(request("ann@x.io"), None).await.unwrap();
        let creates = s.store.creates.load(Ordering::SeqCst);
        // A cost bcrypt refuses: had the refusal hashed, it would be an internal error.
        let s = SignUp {
            hasher: Bcrypt::new(3),
            ..s
        };
        assert_eq!(
            s.run(request("ann@x.io"), None).await.unwrap_err(),
            SignUpError::EmailTaken
        );
        assert_eq!(s.store.creates.load(Ordering::SeqCst), creates, "no transaction tried");
    }

    #[tokio::test]
    async fn a_transaction_conflict_is_retried_and_then_succeeds() {
        let s = signup(false);
        s.store.conflicts.store(2, Ordering::SeqCst);
        let (_, published) = sign_up_and_publish(&s, "a@x.io", None).await;
        assert!(published);
        assert_eq!(s.store.creates.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn conflicts_that_outlast_the_retries_are_a_503_unless_the_email_is_taken_by_then() {
        let s = signup(false);
        s.store.conflicts.store(u32::MAX, Ordering::SeqCst);
        assert_eq!(
            s.run(request("a@x.io"), None).await.unwrap_err(),
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
        new_user(email, OffsetDateTime::now_utc())
    }

    fn event() -> StoredEvent {
        StoredEvent::from(&user_events::testing::user_created("Ann", "x@x.io"))
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
        let (done, published) = sign_up_and_publish(&s, "a@x.io", None).await;
        assert!(!published);
        let pending = s.store.pending_events();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event_id, done.event.event_id);
    }

    #[tokio::test]
    async fn a_hanging_publish_is_given_up_after_its_budget_and_the_event_stays_pending() {
        let s = signup_with(MemoryPublisher {
            hang: true,
            ..Default::default()
        });
        let (_, published) = sign_up_and_publish(&s, "a@x.io", None).await;
        assert!(!published);
        assert_eq!(s.store.pending_events().len(), 1);
    }

    #[tokio::test]
    async fn the_event_is_published_under_the_sign_ups_trace_and_keeps_it_while_pending() {
        let trace = user_events::testing::trace_header();
        let s = signup(false);
        sign_up_and_publish(&s, "a@x.io", Some(trace.clone())).await;
        assert_eq!(s.publisher.events.lock().unwrap()[0].trace, Some(trace.clone()));
        let s = signup(true);
        sign_up_and_publish(&s, "a@x.io", Some(trace.clone())).await;
        assert_eq!(
            s.store.pending_events()[0].trace,
            Some(trace),
            "for the flush to publish under"
        );
    }

    #[tokio::test]
    async fn a_published_event_leaves_the_outbox() {
        let s = signup(false);
        assert!(sign_up_and_publish(&s, "a@x.io", None).await.1);
        assert!(s.store.pending_events().is_empty());
    }
}
