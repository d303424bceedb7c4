//! Proving an address. A token that checks (signature, audience, purpose, expiry: the
//! verification key's) names a user and the credential it confirms; the pending user becomes
//! verified only if it still holds that credential, is still pending and has not expired, all
//! of it a condition of one transaction with the guard and the `user.verified` event. So a link
//! works once (the user is verified by the first use), never after a newer sign-up replaced
//! its password, and never after the pending sign-up expired.
//!
//! And only with the password of that credential: the link proves the mailbox, the password
//! proves the sign-up. Without it, whoever signed up with someone else's address (before or
//! after them: a sign-up with a pending address replaces its password) would have them confirm
//! a password that is not theirs by following the link, and own the account (account
//! pre-hijacking). Wrong passwords take slots of a per-user limit, as sign-in's per-account one,
//! so a link that leaks cannot be used to guess the password.

use std::time::Duration;
use time::OffsetDateTime;
use tokens::key::{Key, KeyError};
use tokens::session::SessionIssuer;
use tokens::verification::{CheckError, VerificationKey};
use user_events::trace::TraceHeader;
use user_events::{PublicUser, UserVerified};
use user_store::limits::{Decision, Limit, RateLimiter};
use user_store::outbox::{EventPublisher, StoredEvent, publish_stored};
use user_store::passwords;
use user_store::users::{ConflictRetry, Credentials, StoreError, UserState, UserStore, live};

/// Why a token verified nothing. Each is the token holder's to know: the answer names it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a verification token of ours.
    #[error("not a verification token: {0}")]
    Invalid(String),
    /// The token, or the pending sign-up it confirms, has expired.
    #[error("the link or its sign-up has expired")]
    Expired,
    /// The address is verified already: this link, or another one of its, was used.
    #[error("the address is verified already")]
    Used,
    /// A newer sign-up with the address replaced the one this link confirms.
    #[error("a newer sign-up replaced this one")]
    Superseded,
    /// Not the password of the sign-up this link confirms.
    #[error("not the sign-up's password")]
    WrongPassword,
    /// The user's wrong passwords are used up until `retry_after` from now.
    #[error("too many wrong passwords for {retry_after:?}")]
    Limited { retry_after: Duration },
    /// The users table or a key's secret could not be read: worth a retry (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A key's secret is unusable: a deployment error (500).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<KeyError> for VerifyError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unreadable(cause) => VerifyError::Unavailable(cause),
            KeyError::Invalid(e) => VerifyError::Internal(e.to_string()),
            // Signed with a key that is no longer (or never was) ours.
            e @ KeyError::UnknownKid(_) => VerifyError::Invalid(e.to_string()),
        }
    }
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        VerifyError::Unavailable(e.to_string())
    }
}

pub struct Verified {
    pub user: PublicUser,
    /// The session JWT.
    pub session: String,
    /// `user.verified`, stored with the change: for [`Verify::publish`].
    pub event: StoredEvent,
}

/// The ids only: no address, no token.
impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("user_id", &self.user.id)
            .field("event_id", &self.event.event_id)
            .finish_non_exhaustive()
    }
}

/// How long [`Verify::publish`] waits for SNS once the client has its answer.
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(1);

pub struct Verify<S, P> {
    pub store: S,
    pub publisher: P,
    /// Checks the link's token.
    pub links: Key<VerificationKey>,
    /// Signs the session.
    pub sessions: Key<SessionIssuer>,
    /// Wrong passwords per user per window.
    pub failures: Limit,
    pub conflict_retry: ConflictRetry,
    pub publish_budget: Duration,
}

/// The per-user limit's counters' name.
pub const FAILURES_LIMIT: &str = "verify-user";

impl<S: UserStore + RateLimiter, P: EventPublisher> Verify<S, P> {
    pub fn new(
        store: S,
        publisher: P,
        links: Key<VerificationKey>,
        sessions: Key<SessionIssuer>,
        failures: (u32, Duration),
    ) -> Self {
        Self {
            store,
            publisher,
            links,
            sessions,
            failures: Limit {
                name: FAILURES_LIMIT,
                max: failures.0,
                window: failures.1,
            },
            conflict_retry: ConflictRetry::DEFAULT,
            publish_budget: PUBLISH_BUDGET,
        }
    }

    /// Proves the address `token` was sent to, with the `password` of the sign-up it confirms;
    /// the verified user and its session.
    pub async fn run(&self, token: &str, password: &str, trace: Option<TraceHeader>) -> Result<Verified, VerifyError> {
        // The key the token names (`kid`): the current one, or the one before a rotation.
        let links = self.links.for_kid(tokens::key::kid_of(token).as_deref()).await?;
        let checked = links.check(token).map_err(|e| match e {
            CheckError::Expired => VerifyError::Expired,
            CheckError::Invalid(why) => VerifyError::Invalid(why),
        })?;
        // The session key before anything changes: a user verified without its session would
        // get 503 now and "used" on the retry.
        let sessions = self.sessions.get().await?;
        let now = OffsetDateTime::now_utc();
        let Credentials { user, password_hash } =
            self.user_to_verify(checked.user_id, checked.credential_id, now).await?;
        if !links.is_bound_to(&checked, &user.email_key) {
            return Err(VerifyError::Invalid("minted for another address".into()));
        }
        let subject = user.user.id.to_string();
        if let Decision::Denied { retry_after } = self.store.take(&self.failures, &subject, now).await? {
            return Err(VerifyError::Limited { retry_after });
        }
        let matched = passwords::verify(password.to_owned(), &password_hash)
            .await
            .map_err(|e| VerifyError::Internal(e.to_string()))?;
        if !matched {
            return Err(VerifyError::WrongPassword);
        }
        // The right password is no failure: its slot goes back.
        if let Err(e) = self.store.give_back(&self.failures, &subject, now).await {
            tracing::warn!(error = %e, "a verification's slot not given back: it counts until its window ends");
        }
        let event = StoredEvent::from(&UserVerified::new(now, user.user.clone())).traced(trace);
        match self
            .conflict_retry
            .run(|| self.store.verify(&user, checked.credential_id, &event, now))
            .await
        {
            Ok(()) => {}
            // Verified, replaced or expired between the read and the write: the read again
            // says which.
            Err(StoreError::StateChanged) => {
                self.user_to_verify(checked.user_id, checked.credential_id, now).await?;
                return Err(VerifyError::Unavailable("the user changed state; try again".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let session = sessions
            .issue(user.user.id, now)
            .map_err(|e| VerifyError::Internal(e.to_string()))?;
        Ok(Verified {
            user: user.user,
            session,
            event,
        })
    }

    /// The user a token names, and its password's hash, if it can be verified with
    /// `credential_id` at `now`; else why not.
    async fn user_to_verify(
        &self,
        user_id: uuid::Uuid,
        credential_id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Credentials, VerifyError> {
        let credentials = self.store.credentials(user_id).await?.ok_or(VerifyError::Expired)?;
        let user = &credentials.user;
        match user.state {
            UserState::Verified => Err(VerifyError::Used),
            UserState::Pending { expires_at } if !live(expires_at, now) => Err(VerifyError::Expired),
            UserState::Pending { .. } if user.credential_id != credential_id => Err(VerifyError::Superseded),
            UserState::Pending { .. } => Ok(credentials),
        }
    }

    /// Publishes the stored `user.verified` and marks it published, within the budget; false if
    /// that did not happen (the outbox's flush publishes it).
    pub async fn publish(&self, event: &StoredEvent) -> bool {
        publish_stored(&self.store, &self.publisher, event, self.publish_budget).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{LINK_SECRET, SESSION_SECRET, verify};
    use tokens::verification::{Confirmation, VerifyPolicy};
    use user_events::UserEvent;
    use user_store::testing::{MemoryPublisher, MemoryStore, new_user};
    use uuid::Uuid;

    const PASSWORD: &str = "correct horse";

    /// A pending user of `email` with [`PASSWORD`], stored, and a token for its first sign-up.
    async fn pending(v: &Verify<MemoryStore, MemoryPublisher>, email: &str) -> (Uuid, String) {
        let now = OffsetDateTime::now_utc();
        let mut user = new_user(email, now);
        user.password_hash = passwords::hash(PASSWORD.into(), 4).await.unwrap();
        let event = StoredEvent::from(&user_events::UserCreated::new(Uuid::new_v4(), now, user.public()));
        v.store
            .create_pending(&user, now + time::Duration::hours(1), &event, now)
            .await
            .unwrap();
        (user.id, token(user.id, user_events::first_credential(user.id), email))
    }

    fn token(user_id: Uuid, credential_id: Uuid, email: &str) -> String {
        let what = Confirmation {
            user_id,
            credential_id,
            email_key: email.into(),
        };
        VerificationKey::for_tests(&LINK_SECRET)
            .mint(&what, OffsetDateTime::now_utc())
            .unwrap()
    }

    #[tokio::test]
    async fn a_good_link_verifies_once_and_gives_a_session() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending(&v, "ann@x.io").await;
        let verified = v.run(&token, PASSWORD, None).await.unwrap();
        assert_eq!(verified.user.id, id);
        let claims = SessionIssuer::for_tests(&SESSION_SECRET)
            .verify(&verified.session)
            .unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(v.store.user_of("ann@x.io").unwrap().stored.state, UserState::Verified);
        assert!(
            matches!(user_events::decode_sqs_body(&verified.event.json), Ok(UserEvent::Verified(e)) if e.user.id == id)
        );
        assert_eq!(
            v.run(&token, PASSWORD, None).await.unwrap_err(),
            VerifyError::Used,
            "once"
        );
    }

    #[tokio::test]
    async fn a_link_of_a_replaced_credential_is_superseded_and_changes_nothing() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, old) = pending(&v, "ann@x.io").await;
        let newer = Uuid::new_v4();
        v.store.users.lock().unwrap().get_mut(&id).unwrap().stored.credential_id = newer;
        assert_eq!(v.run(&old, PASSWORD, None).await.unwrap_err(), VerifyError::Superseded);
        assert!(matches!(
            v.store.user_of("ann@x.io").unwrap().stored.state,
            UserState::Pending { .. }
        ));
        assert!(v.run(&token(id, newer, "ann@x.io"), PASSWORD, None).await.is_ok());
    }

    #[tokio::test]
    async fn expired_tampered_foreign_and_misaddressed_links_verify_nothing() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, good) = pending(&v, "ann@x.io").await;
        let short = VerificationKey::new(
            &LINK_SECRET,
            VerifyPolicy {
                issuer: "test".into(),
                ttl_seconds: 1,
            },
        )
        .unwrap();
        let what = Confirmation {
            user_id: id,
            credential_id: id,
            email_key: "ann@x.io".into(),
        };
        let expired = short
            .mint(&what, OffsetDateTime::now_utc() - time::Duration::seconds(5))
            .unwrap();
        assert_eq!(v.run(&expired, PASSWORD, None).await.unwrap_err(), VerifyError::Expired);
        let session = SessionIssuer::for_tests(&SESSION_SECRET)
            .issue(id, OffsetDateTime::now_utc())
            .unwrap();
        assert!(
            matches!(v.run(&session, PASSWORD, None).await, Err(VerifyError::Invalid(_))),
            "a session JWT"
        );
        let tampered = format!("{}x", &good[..good.len() - 1]);
        assert!(matches!(
            v.run(&tampered, PASSWORD, None).await,
            Err(VerifyError::Invalid(_))
        ));
        assert!(matches!(
            v.run(&token(id, id, "bob@x.io"), PASSWORD, None).await,
            Err(VerifyError::Invalid(_))
        ));
        assert!(matches!(v.run("", PASSWORD, None).await, Err(VerifyError::Invalid(_))));
        assert_eq!(
            v.run(&token(Uuid::new_v4(), Uuid::new_v4(), "x@x.io"), PASSWORD, None)
                .await
                .unwrap_err(),
            VerifyError::Expired,
            "no such user"
        );
        assert!(
            matches!(
                v.store.user_of("ann@x.io").unwrap().stored.state,
                UserState::Pending { .. }
            ),
            "nothing changed"
        );
        assert!(v.run(&good, PASSWORD, None).await.is_ok());
    }

    /// The link proves the mailbox; the password proves the sign-up. Someone else's password
    /// (an earlier or later sign-up with the address) verifies nothing, and wrong passwords are
    /// limited per user.
    #[tokio::test]
    async fn only_the_sign_ups_own_password_verifies_and_wrong_ones_are_limited() {
        let mut v = verify(MemoryStore::default(), MemoryPublisher::default());
        v.failures.max = 2;
        let (id, token) = pending(&v, "ann@x.io").await;
        for _ in 0..2 {
            assert_eq!(
                v.run(&token, "someone else's", None).await.unwrap_err(),
                VerifyError::WrongPassword
            );
        }
        assert!(matches!(
            v.run(&token, PASSWORD, None).await,
            Err(VerifyError::Limited { .. })
        ));
        assert!(matches!(
            v.store.user_of("ann@x.io").unwrap().stored.state,
            UserState::Pending { .. }
        ));
        v.failures.max = 10;
        assert_eq!(v.run(&token, PASSWORD, None).await.unwrap().user.id, id);
    }

    #[tokio::test]
    async fn an_expired_pending_user_cannot_be_verified() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending(&v, "ann@x.io").await;
        v.store.users.lock().unwrap().get_mut(&id).unwrap().stored.state = UserState::Pending {
            expires_at: OffsetDateTime::now_utc() - time::Duration::seconds(1),
        };
        assert_eq!(v.run(&token, PASSWORD, None).await.unwrap_err(), VerifyError::Expired);
    }
}
