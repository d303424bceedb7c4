//! The sign-up use case, and its resend. Whatever the address (new, pending or verified), a
//! valid sign-up does the same work, so that neither its answer nor its time tells the three
//! apart: the guard read beside a bcrypt hash of the password, then one transaction that stores
//! an event, which the caller publishes once the client has its answer ([`SignUp::publish`];
//! the outbox's flush publishes it if not by then):
//!
//! - a new address: the user, pending, with its guard and `user.created` (send-email mails the
//!   verification link);
//! - a pending address: the new name and password replace the pending ones (and with them the
//!   credential, so that earlier links stop working: whoever proves the address gets the
//!   password of the sign-up whose link they followed), with `user.verification_requested`;
//! - a verified address: `user.sign_up_attempted`, a notice to the owner (send-email sends it
//!   at most once an hour per address), and nothing else changes.
//!
//! Storage and publishing are ports (the `user-store` crate), so the core runs against
//! DynamoDB + SNS in Lambda and against in-memory doubles in unit tests.

use super::validation::{ResendRequest, SignUpRequest};
use crate::password::Bcrypt;
use std::time::Duration;
use time::OffsetDateTime;
use user_events::trace::TraceHeader;
use user_events::{Recipient, RequestReason, SignUpAttempted, UserCreated, VerificationRequested};
use user_store::limits::{Decision, Limit, RateLimiter};
use user_store::outbox::{EventPublisher, StoredEvent, publish_stored};
use user_store::users::{ConflictRetry, Guard, NewCredential, NewUser, PasswordHash, StoreError, UserStore};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignUpError {
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a sign-up did, for the request's log line and metrics: never for its answer, which is
/// the same whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new user, pending.
    Created,
    /// The pending user's credential replaced.
    Replaced,
    /// The verified owner notified.
    OwnerNotified,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Replaced => "replaced",
            Outcome::OwnerNotified => "owner_notified",
        }
    }
}

pub struct Accepted {
    pub outcome: Outcome,
    pub user_id: Uuid,
    /// The event stored with the change, pending in the outbox: for [`SignUp::publish`].
    pub event: StoredEvent,
}

/// The ids only: a `{:?}` in a log line must carry no personal data.
impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("outcome", &self.outcome)
            .field("user_id", &self.user_id)
            .field("event_id", &self.event.event_id)
            .finish()
    }
}

/// How many times a sign-up reads the guard again when the address changed state between its
/// read and its write (a concurrent sign-up with the same address, an expiry, a verification).
const STATE_ROUNDS: u32 = 3;

/// How long [`SignUp::publish`] waits for SNS (and the outbox item's deletion). The event is
/// durable by then, so a slow SNS must not hold the instance: past this, the event is left to
/// the outbox, which delivers it within a minute or two.
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(1);

pub struct SignUp<S, P> {
    pub store: S,
    pub publisher: P,
    pub hasher: Bcrypt,
    pub conflict_retry: ConflictRetry,
    pub publish_budget: Duration,
    pub pending_ttl: Duration,
    /// Sign-ups and resends per client: one counter for both.
    pub limit: Limit,
}

/// The limit sign-ups and resends share, by its counters' name.
pub const LIMIT_NAME: &str = "sign-up";

impl<S: UserStore + RateLimiter, P: EventPublisher> SignUp<S, P> {
    /// The use case with the production retry policy and publish budget.
    pub fn new(store: S, publisher: P, bcrypt_cost: u32, pending_ttl: Duration, limit: (u32, Duration)) -> Self {
        Self {
            store,
            publisher,
            hasher: Bcrypt::new(bcrypt_cost),
            conflict_retry: ConflictRetry::DEFAULT,
            publish_budget: PUBLISH_BUDGET,
            pending_ttl,
            limit: Limit {
                name: LIMIT_NAME,
                max: limit.0,
                window: limit.1,
            },
        }
    }

    /// Counts a sign-up or resend of the client at `source_ip` against the shared limit.
    pub async fn admit(&self, source_ip: &str) -> Result<Decision, SignUpError> {
        let now = OffsetDateTime::now_utc();
        self.store
            .hit(&self.limit, source_ip, now)
            .await
            .map_err(SignUpError::Store)
    }

    /// Signs up: once this returns, the change and its event are stored. `trace` is the
    /// request's (Lambda's trace header): the event is published under it, by
    /// [`SignUp::publish`] or by a later flush.
    pub async fn run(&self, request: SignUpRequest, trace: Option<TraceHeader>) -> Result<Accepted, SignUpError> {
        let now = OffsetDateTime::now_utc();
        let email_key = request.email_key();
        let SignUpRequest { name, email, password } = request;
        // Side by side: the read takes milliseconds, the hash hundreds. The hash runs whatever
        // the guard says, so a taken address costs what a new one does.
        let (guard, password_hash) = tokio::join!(self.store.guard(&email_key, now), self.hasher.hash(password));
        let mut guard = guard.map_err(SignUpError::Store)?;
        let password_hash = password_hash.map_err(|e| SignUpError::Internal(e.to_string()))?;
        let expires_at = now + self.pending_ttl;
        let recipient = |user_id| Recipient {
            id: user_id,
            email: email.clone(),
        };
        for _ in 0..STATE_ROUNDS {
            let written = match guard {
                None => {
                    let user = NewUser {
                        id: Uuid::new_v4(),
                        name: name.clone(),
                        email: email.clone(),
                        email_key: email_key.clone(),
                        password_hash: PasswordHash::new(password_hash.expose().to_owned()),
                        created_at: now,
                    };
                    let event =
                        StoredEvent::from(&UserCreated::new(Uuid::new_v4(), now, user.public())).traced(trace.clone());
                    let stored = self
                        .retrying(|| self.store.create_pending(&user, expires_at, &event, now))
                        .await;
                    stored.map(|()| (Outcome::Created, user.id, event))
                }
                Some(Guard::Pending { user_id, .. }) => {
                    let credential = NewCredential {
                        user_id,
                        email: email.clone(),
                        email_key: email_key.clone(),
                        credential_id: Uuid::new_v4(),
                        name: name.clone(),
                        password_hash: PasswordHash::new(password_hash.expose().to_owned()),
                    };
                    let requested = VerificationRequested::new(
                        now,
                        recipient(user_id),
                        credential.credential_id,
                        RequestReason::SignUpAgain,
                    );
                    let event = StoredEvent::from(&requested).traced(trace.clone());
                    let stored = self
                        .retrying(|| self.store.replace_credential(&credential, expires_at, &event, now))
                        .await;
                    stored.map(|()| (Outcome::Replaced, user_id, event))
                }
                Some(Guard::Verified { user_id }) => {
                    let event = StoredEvent::from(&SignUpAttempted::new(now, recipient(user_id))).traced(trace.clone());
                    let stored = self
                        .retrying(|| self.store.record_for_verified(&email_key, user_id, &event, now))
                        .await;
                    stored.map(|()| (Outcome::OwnerNotified, user_id, event))
                }
            };
            match written {
                Ok((outcome, user_id, event)) => {
                    return Ok(Accepted {
                        outcome,
                        user_id,
                        event,
                    });
                }
                Err(StoreError::StateChanged) => {
                    tracing::debug!("the address changed state since it was read; reading it again");
                    guard = self.store.guard(&email_key, now).await.map_err(SignUpError::Store)?;
                }
                Err(e) => return Err(SignUpError::Store(e)),
            }
        }
        tracing::warn!(
            rounds = STATE_ROUNDS,
            "the address kept changing state under this sign-up"
        );
        Err(SignUpError::Store(StoreError::Conflict))
    }

    /// The resend, run after its answer: if the address is pending, its verification email
    /// again (for the credential it holds now), and its expiry moved on, so that the link works
    /// as long as the email says. The same work whatever the address: the guard's read and one
    /// transaction, which for an address that is not pending is conditioned on a user that does
    /// not exist, and cancelled. The work after an answer delays the instance's next request, so
    /// a pending address must not cost more of it than another; and so the event is left to the
    /// outbox's flush (within a minute or two) rather than published here. Whether it was
    /// stored: for the request's log line.
    pub async fn resend(&self, request: &ResendRequest, trace: Option<TraceHeader>) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let email_key = request.email_key();
        let (user_id, credential_id) = match self.store.guard(&email_key, now).await? {
            Some(Guard::Pending { user_id, credential_id }) => (user_id, credential_id),
            _ => (Uuid::nil(), Uuid::nil()),
        };
        let user = Recipient {
            id: user_id,
            email: request.email.clone(),
        };
        let requested = VerificationRequested::new(now, user, credential_id, RequestReason::Resend);
        let event = StoredEvent::from(&requested).traced(trace);
        let expires_at = now + self.pending_ttl;
        let again = || {
            self.store
                .request_again(user_id, &email_key, credential_id, expires_at, &event, now)
        };
        match self.retrying(again).await {
            Ok(()) => Ok(true),
            Err(StoreError::StateChanged) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Publishes a stored event and marks it published, within the publish budget; false if
    /// that did not happen (the event stays pending in the outbox, for the next flush).
    pub async fn publish(&self, event: &StoredEvent) -> bool {
        publish_stored(&self.store, &self.publisher, event, self.publish_budget).await
    }

    async fn retrying<F: Future<Output = Result<(), StoreError>>>(
        &self,
        write: impl Fn() -> F,
    ) -> Result<(), StoreError> {
        self.conflict_retry.run(write).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use user_events::UserEvent;
    use user_store::testing::{MemoryPublisher, MemoryStore};
    use user_store::users::UserState;

    fn signup_with(publisher: MemoryPublisher) -> SignUp<MemoryStore, MemoryPublisher> {
        let limit = (1000, Duration::from_secs(300));
        let mut s = SignUp::new(MemoryStore::default(), publisher, 4, Duration::from_secs(3600), limit);
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
        request_with(email, "correct horse")
    }

    fn request_with(email: &str, password: &str) -> SignUpRequest {
        SignUpRequest {
            name: "Ann".into(),
            email: email.into(),
            password: password.into(),
        }
    }

    fn decoded(event: &StoredEvent) -> UserEvent {
        user_events::decode_sqs_body(&event.json).unwrap()
    }

    #[tokio::test]
    async fn a_new_address_stores_a_pending_user_with_a_bcrypt_hash_and_its_user_created() {
        let s = signup(false);
        let done = s.run(request("Ann@X.io"), None).await.unwrap();
        assert_eq!(done.outcome, Outcome::Created);
        assert!(
            s.publisher.events.lock().unwrap().is_empty(),
            "published by `publish` only"
        );
        assert_eq!(
            s.store.pending_events()[0].event_id,
            done.event.event_id,
            "stored with the user"
        );
        let user = s.store.user_of("ann@x.io").unwrap();
        assert_eq!(user.stored.user.id, done.user_id);
        assert!(matches!(user.stored.state, UserState::Pending { .. }));
        assert!(bcrypt::verify("correct horse", &user.password_hash).unwrap());
        let UserEvent::Created(created) = decoded(&done.event) else {
            panic!("user.created")
        };
        assert_eq!(created.user.id, done.user_id);
        assert!(s.publish(&done.event).await);
        assert_eq!(s.publisher.events.lock().unwrap()[0].event_id, done.event.event_id);
        let shown = format!("{done:?}");
        assert!(
            !shown.contains("Ann") && !shown.to_lowercase().contains("ann@x.io"),
            "{shown}"
        );
    }

    /// The pre-hijacking case: an earlier sign-up with someone's address (and its password)
    /// is replaced by the next sign-up's, whose link confirms the new credential only.
    #[tokio::test]
    async fn a_pending_address_takes_the_new_password_under_a_new_credential() {
        let s = signup(false);
        let first = s
            .run(request_with("ann@x.io", "attacker's password"), None)
            .await
            .unwrap();
        let again = s.run(request_with("ANN@X.IO", "owner's password"), None).await.unwrap();
        assert_eq!((again.outcome, again.user_id), (Outcome::Replaced, first.user_id));
        let user = s.store.user_of("ann@x.io").unwrap();
        assert!(bcrypt::verify("owner's password", &user.password_hash).unwrap());
        let UserEvent::VerificationRequested(requested) = decoded(&again.event) else {
            panic!()
        };
        assert_eq!(requested.credential_id, user.stored.credential_id);
        assert_ne!(requested.credential_id, user_events::first_credential(first.user_id));
        assert_eq!(requested.reason, RequestReason::SignUpAgain);
        assert_eq!(requested.user.email, "ANN@X.IO", "to the address as typed this time");
    }

    #[tokio::test]
    async fn a_verified_address_notifies_its_owner_and_changes_nothing() {
        let s = signup(false);
        let first = s.run(request("ann@x.io"), None).await.unwrap();
        s.store.verify_now("ann@x.io");
        let before = s.store.user_of("ann@x.io").unwrap().password_hash;
        let again = s.run(request_with("ann@x.io", "another password"), None).await.unwrap();
        assert_eq!((again.outcome, again.user_id), (Outcome::OwnerNotified, first.user_id));
        assert_eq!(s.store.user_of("ann@x.io").unwrap().password_hash, before);
        assert!(matches!(decoded(&again.event), UserEvent::SignUpAttempted(_)));
    }

    /// The same work whatever the address: a guard read and a hash each time, and one write.
    /// (A cost bcrypt refuses shows whether the hash ran at all: it fails the sign-up.)
    #[tokio::test]
    async fn every_state_hashes_and_writes_once() {
        let s = signup(false);
        s.run(request("new@x.io"), None).await.unwrap();
        s.run(request("verified@x.io"), None).await.unwrap();
        s.store.verify_now("verified@x.io");
        let s = SignUp {
            hasher: Bcrypt::new(3),
            ..s
        };
        for email in ["new2@x.io", "new@x.io", "verified@x.io"] {
            assert!(
                matches!(s.run(request(email), None).await, Err(SignUpError::Internal(_))),
                "{email} hashes"
            );
        }
        let s = SignUp {
            hasher: Bcrypt::new(4),
            ..s
        };
        for email in ["new3@x.io", "new@x.io", "verified@x.io"] {
            let (reads, writes) = (
                s.store.guard_checks.load(Ordering::SeqCst),
                s.store.creates.load(Ordering::SeqCst),
            );
            s.run(request(email), None).await.unwrap();
            assert_eq!(
                s.store.guard_checks.load(Ordering::SeqCst) - reads,
                1,
                "{email}: one read"
            );
            assert_eq!(s.store.creates.load(Ordering::SeqCst) - writes, 1, "{email}: one write");
        }
    }

    #[tokio::test]
    async fn an_expired_pending_address_signs_up_afresh() {
        let mut s = signup(false);
        s.pending_ttl = Duration::from_millis(1);
        let first = s.run(request("ann@x.io"), None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let again = s.run(request("ann@x.io"), None).await.unwrap();
        assert_eq!(again.outcome, Outcome::Created);
        assert_ne!(again.user_id, first.user_id);
    }

    /// A sign-up that loses the race for a new address to another one reads the guard again
    /// and replaces the winner's credential, as a later sign-up would.
    #[tokio::test]
    async fn a_sign_up_beaten_to_a_new_address_replaces_the_winners_credential() {
        let s = signup(false);
        let now = OffsetDateTime::now_utc();
        let winner = user_store::testing::new_user("ann@x.io", now);
        let event = StoredEvent::from(&UserCreated::new(Uuid::new_v4(), now, winner.public()));
        // Stored between our read and our write: the store says the state changed.
        let s = std::sync::Arc::new(s);
        let (read_first, write) = (s.clone(), s.clone());
        let reader = tokio::spawn(async move { read_first.run(request("ann@x.io"), None).await });
        write
            .store
            .create_pending(&winner, now + time::Duration::hours(1), &event, now)
            .await
            .unwrap();
        let done = reader.await.unwrap().unwrap();
        assert!(matches!(done.outcome, Outcome::Replaced | Outcome::Created));
        assert_eq!(
            s.store.user_of("ann@x.io").unwrap().stored.user.id,
            winner.id,
            "one user for the address"
        );
    }

    #[tokio::test]
    async fn a_transaction_conflict_is_retried_and_then_succeeds() {
        let s = signup(false);
        s.store.conflicts.store(2, Ordering::SeqCst);
        s.run(request("a@x.io"), None).await.unwrap();
        assert_eq!(s.store.creates.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn conflicts_that_outlast_the_retries_are_a_retryable_failure() {
        let s = signup(false);
        s.store.conflicts.store(u32::MAX, Ordering::SeqCst);
        assert_eq!(
            s.run(request("a@x.io"), None).await.unwrap_err(),
            SignUpError::Store(StoreError::Conflict)
        );
        assert_eq!(s.store.creates.load(Ordering::SeqCst), ConflictRetry::DEFAULT.attempts);
    }

    #[tokio::test]
    async fn a_resend_stores_a_request_for_the_current_credential_of_a_pending_address_only() {
        let mut s = signup(false);
        s.run(request("pending@x.io"), None).await.unwrap();
        s.run(request("verified@x.io"), None).await.unwrap();
        s.store.verify_now("verified@x.io");
        let before = s.store.pending_events().len();
        let resend = |email: &str| ResendRequest { email: email.into() };
        s.pending_ttl = Duration::from_secs(7200);
        assert_eq!(s.resend(&resend("Pending@X.io"), None).await, Ok(true));
        let events = s.store.pending_events();
        let UserEvent::VerificationRequested(requested) = decoded(&events[before]) else {
            panic!()
        };
        let user = s.store.user_of("pending@x.io").unwrap();
        assert_eq!(
            (requested.user.id, requested.credential_id),
            (user.stored.user.id, user.stored.credential_id)
        );
        assert_eq!(requested.reason, RequestReason::Resend);
        let UserState::Pending { expires_at } = user.stored.state else {
            panic!()
        };
        assert!(
            expires_at > OffsetDateTime::now_utc() + Duration::from_secs(7000),
            "the expiry moved on"
        );
        // Any other address: the same read and the same transaction, which stores nothing.
        for email in ["verified@x.io", "nobody@x.io"] {
            let reads = s.store.guard_checks.load(Ordering::SeqCst);
            let writes = s.store.creates.load(Ordering::SeqCst);
            assert_eq!(s.resend(&resend(email), None).await, Ok(false), "{email}");
            assert_eq!(
                s.store.guard_checks.load(Ordering::SeqCst) - reads,
                1,
                "{email}: one read"
            );
            assert_eq!(
                s.store.creates.load(Ordering::SeqCst) - writes,
                1,
                "{email}: one transaction"
            );
        }
        assert_eq!(s.store.pending_events().len(), before + 1, "one event in all");
    }

    #[tokio::test]
    async fn the_limit_counts_sign_ups_per_client() {
        let mut s = signup(false);
        s.limit.max = 2;
        for _ in 0..2 {
            assert_eq!(s.admit("198.51.100.1").await, Ok(Decision::Allowed));
        }
        assert!(matches!(s.admit("198.51.100.1").await, Ok(Decision::Denied { .. })));
        assert_eq!(s.admit("198.51.100.2").await, Ok(Decision::Allowed), "per client");
    }

    #[tokio::test]
    async fn a_failed_publish_still_signs_up_and_leaves_the_event_in_the_outbox() {
        let s = signup(true);
        let done = s.run(request("a@x.io"), None).await.unwrap();
        assert!(!s.publish(&done.event).await);
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
        let done = s.run(request("a@x.io"), None).await.unwrap();
        assert!(!s.publish(&done.event).await);
        assert_eq!(s.store.pending_events().len(), 1);
    }

    #[tokio::test]
    async fn the_event_is_published_under_the_sign_ups_trace_and_keeps_it_while_pending() {
        let trace = user_events::testing::trace_header();
        let s = signup(false);
        let done = s.run(request("a@x.io"), Some(trace.clone())).await.unwrap();
        s.publish(&done.event).await;
        assert_eq!(s.publisher.events.lock().unwrap()[0].trace, Some(trace.clone()));
        let s = signup(true);
        let done = s.run(request("a@x.io"), Some(trace.clone())).await.unwrap();
        s.publish(&done.event).await;
        assert_eq!(
            s.store.pending_events()[0].trace,
            Some(trace),
            "for the flush to publish under"
        );
    }

    #[tokio::test]
    async fn a_published_event_leaves_the_outbox() {
        let s = signup(false);
        let done = s.run(request("a@x.io"), None).await.unwrap();
        assert!(s.publish(&done.event).await);
        assert!(s.store.pending_events().is_empty());
    }
}
