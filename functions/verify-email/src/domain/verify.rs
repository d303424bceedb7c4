//! Proving an address. A token that checks (signature, audience, purpose, expiry: the
//! verification key's) names a user and the credential it confirms; the pending user becomes
//! verified only if it still holds that credential, is still pending and has not expired, all
//! of it a condition of one transaction with the guard and the `user.verified` event. So a link
//! works once (the user is verified by the first use), never after a newer sign-up replaced
//! its password, and never after the pending sign-up expired.

use std::time::Duration;
use time::OffsetDateTime;
use tokens::key::{Key, KeyError};
use tokens::session::SessionIssuer;
use tokens::verification::{CheckError, VerificationKey};
use user_events::trace::TraceHeader;
use user_events::{PublicUser, UserVerified};
use user_store::outbox::{EventPublisher, StoredEvent, publish_stored};
use user_store::users::{ConflictRetry, StoreError, StoredUser, UserState, UserStore, live};

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
    pub conflict_retry: ConflictRetry,
    pub publish_budget: Duration,
}

impl<S: UserStore, P: EventPublisher> Verify<S, P> {
    pub fn new(store: S, publisher: P, links: Key<VerificationKey>, sessions: Key<SessionIssuer>) -> Self {
        Self {
            store,
            publisher,
            links,
            sessions,
            conflict_retry: ConflictRetry::DEFAULT,
            publish_budget: PUBLISH_BUDGET,
        }
    }

    /// Proves the address `token` was sent to; the verified user and its session.
    pub async fn run(&self, token: &str, trace: Option<TraceHeader>) -> Result<Verified, VerifyError> {
        let links = self.links.get().await?;
        let checked = links.check(token).map_err(|e| match e {
            CheckError::Expired => VerifyError::Expired,
            CheckError::Invalid(why) => VerifyError::Invalid(why),
        })?;
        // The session key before anything changes: a user verified without its session would
        // get 503 now and "used" on the retry.
        let sessions = self.sessions.get().await?;
        let now = OffsetDateTime::now_utc();
        let user = self.user_to_verify(checked.user_id, checked.credential_id, now).await?;
        if !links.is_bound_to(&checked, &user.email_key) {
            return Err(VerifyError::Invalid("minted for another address".into()));
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

    /// The user a token names, if it can be verified with `credential_id` at `now`; else why
    /// not.
    async fn user_to_verify(
        &self,
        user_id: uuid::Uuid,
        credential_id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<StoredUser, VerifyError> {
        let user = self.store.user(user_id).await?.ok_or(VerifyError::Expired)?;
        match user.state {
            UserState::Verified => Err(VerifyError::Used),
            UserState::Pending { expires_at } if !live(expires_at, now) => Err(VerifyError::Expired),
            UserState::Pending { .. } if user.credential_id != credential_id => Err(VerifyError::Superseded),
            UserState::Pending { .. } => Ok(user),
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

    /// A pending user of `email`, stored, and a token for its first sign-up.
    async fn pending(v: &Verify<MemoryStore, MemoryPublisher>, email: &str) -> (Uuid, String) {
        let now = OffsetDateTime::now_utc();
        let user = new_user(email, now);
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
        let verified = v.run(&token, None).await.unwrap();
        assert_eq!(verified.user.id, id);
        let claims = SessionIssuer::for_tests(&SESSION_SECRET)
            .verify(&verified.session)
            .unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(v.store.user_of("ann@x.io").unwrap().stored.state, UserState::Verified);
        assert!(
            matches!(user_events::decode_sqs_body(&verified.event.json), Ok(UserEvent::Verified(e)) if e.user.id == id)
        );
        assert_eq!(v.run(&token, None).await.unwrap_err(), VerifyError::Used, "once");
    }

    #[tokio::test]
    async fn a_link_of_a_replaced_credential_is_superseded_and_changes_nothing() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, old) = pending(&v, "ann@x.io").await;
        let newer = Uuid::new_v4();
        v.store.users.lock().unwrap().get_mut(&id).unwrap().stored.credential_id = newer;
        assert_eq!(v.run(&old, None).await.unwrap_err(), VerifyError::Superseded);
        assert!(matches!(
            v.store.user_of("ann@x.io").unwrap().stored.state,
            UserState::Pending { .. }
        ));
        assert!(v.run(&token(id, newer, "ann@x.io"), None).await.is_ok());
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
        assert_eq!(v.run(&expired, None).await.unwrap_err(), VerifyError::Expired);
        let session = SessionIssuer::for_tests(&SESSION_SECRET)
            .issue(id, OffsetDateTime::now_utc())
            .unwrap();
        assert!(
            matches!(v.run(&session, None).await, Err(VerifyError::Invalid(_))),
            "a session JWT"
        );
        let tampered = format!("{}x", &good[..good.len() - 1]);
        assert!(matches!(v.run(&tampered, None).await, Err(VerifyError::Invalid(_))));
        assert!(matches!(
            v.run(&token(id, id, "bob@x.io"), None).await,
            Err(VerifyError::Invalid(_))
        ));
        assert!(matches!(v.run("", None).await, Err(VerifyError::Invalid(_))));
        assert_eq!(
            v.run(&token(Uuid::new_v4(), Uuid::new_v4(), "x@x.io"), None)
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
        assert!(v.run(&good, None).await.is_ok());
    }

    #[tokio::test]
    async fn an_expired_pending_user_cannot_be_verified() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending(&v, "ann@x.io").await;
        v.store.users.lock().unwrap().get_mut(&id).unwrap().stored.state = UserState::Pending {
            expires_at: OffsetDateTime::now_utc() - time::Duration::seconds(1),
        };
        assert_eq!(v.run(&token, None).await.unwrap_err(), VerifyError::Expired);
    }
}
