//! Signing in. Every attempt, whatever the address, does the same work before it is answered:
//! the client's count, one of the account's attempt slots, the guard's read, the user's read
//! (of no user, for an unknown address), and a bcrypt verification at the configured cost
//! (against a dummy hash, for an unknown address). Only a verified user with the right password
//! gets a session; everything else is one refusal ([`SignInError::Invalid`]).
//!
//! The account's limit counts failed attempts: each attempt takes a slot first, atomically,
//! and a success gives it back after the answer. So at most `max` attempts per window can fail,
//! even all at once, and then every attempt is refused, the right password's included, until
//! the window passes: an attacker cannot guess on, nor lock the owner out for longer than the
//! window. Unknown addresses have slots too, so the limit itself tells nothing.

use std::time::Duration;
use time::OffsetDateTime;
use tokens::key::{Key, KeyError};
use tokens::session::SessionIssuer;
use user_events::PublicUser;
use user_store::limits::{Decision, Limit, RateLimiter};
use user_store::passwords;
use user_store::users::{PasswordHash, StoreError, UserState, UserStore};
use uuid::Uuid;

/// The limits' counters' names.
pub const CLIENT_LIMIT: &str = "sign-in";
pub const ACCOUNT_LIMIT: &str = "sign-in-account";

/// A sign-in that passed validation.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInRequest { <redacted> }")
    }
}

/// Checks a parsed JSON body: an object with exactly `email` (an address) and `password` (1 to
/// 72 bytes, bcrypt's limit, no NUL), each problem by field. What a sign-up could not have
/// stored is refused here, as the sign-up refuses it; whether the account exists is not
/// looked at.
pub fn validate(body: &serde_json::Value) -> Result<SignInRequest, std::collections::BTreeMap<String, String>> {
    let mut errors = std::collections::BTreeMap::new();
    let Some(object) = body.as_object() else {
        errors.insert(
            "body".to_owned(),
            "must be a JSON object with email and password".to_owned(),
        );
        return Err(errors);
    };
    for key in object.keys().filter(|k| !["email", "password"].contains(&k.as_str())) {
        errors.insert(key.chars().take(64).collect(), "unknown field".to_owned());
    }
    let mut text = |field: &str| match object.get(field) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        None | Some(serde_json::Value::Null) => {
            errors.insert(field.to_owned(), "is required".to_owned());
            None
        }
        Some(_) => {
            errors.insert(field.to_owned(), "must be a string".to_owned());
            None
        }
    };
    let (email, password) = (text("email").map(|e| e.trim().to_owned()), text("password"));
    if let Some(problem) = email.as_deref().and_then(user_events::address::check) {
        errors.insert("email".to_owned(), problem.to_owned());
    }
    if let Some(password) = &password
        && !user_store::passwords::could_be_stored(password)
    {
        errors.insert("password".to_owned(), "must be 1-72 bytes, without NUL".to_owned());
    }
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(SignInRequest { email, password }),
        _ => Err(errors),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    /// A wrong password, an unknown address, or an address not verified yet: one answer.
    #[error("invalid credentials")]
    Invalid,
    /// Over the client's or the account's limit until `retry_after` from now.
    #[error("over a limit for {retry_after:?}")]
    Limited { retry_after: Duration },
    /// The users table or the session key could not be read: worth a retry (503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The session key's secret is unusable, or bcrypt failed: 500.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Unavailable(e.to_string())
    }
}

impl From<KeyError> for SignInError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unreadable(cause) => SignInError::Unavailable(cause),
            KeyError::Invalid(e) => SignInError::Internal(e.to_string()),
            // Sign-in checks no token: only `for_kid` answers this.
            e @ KeyError::UnknownKid(_) => SignInError::Internal(e.to_string()),
        }
    }
}

pub struct SignedIn {
    pub user: PublicUser,
    /// The session JWT.
    pub session: String,
}

/// The ids only.
impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user_id", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// What an attempt leaves to do once it is answered: the account's slot to give back (a
/// success, or an attempt the table's failure cut short), a hash to make again at the current
/// cost (a success with a hash of an older cost).
#[derive(Default)]
pub struct Afterwards {
    slot: Option<(String, OffsetDateTime)>,
    rehash: Option<(Uuid, PasswordHash, String)>,
}

impl std::fmt::Debug for Afterwards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Afterwards")
            .field("gives_back_a_slot", &self.slot.is_some())
            .field("rehashes", &self.rehash.is_some())
            .finish()
    }
}

pub struct SignIn<S> {
    pub store: S,
    pub sessions: Key<SessionIssuer>,
    pub bcrypt_cost: u32,
    pub client_limit: Limit,
    pub account_limit: Limit,
}

/// The limits, as configured: attempts per client, failed attempts per account, each per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_client: (u32, Duration),
    pub failures_per_account: (u32, Duration),
}

impl<S: UserStore + RateLimiter> SignIn<S> {
    pub fn new(store: S, sessions: Key<SessionIssuer>, bcrypt_cost: u32, limits: Limits) -> Self {
        let limit = |name, (max, window): (u32, Duration)| Limit { name, max, window };
        Self {
            store,
            sessions,
            bcrypt_cost,
            client_limit: limit(CLIENT_LIMIT, limits.per_client),
            account_limit: limit(ACCOUNT_LIMIT, limits.failures_per_account),
        }
    }

    /// Checks `request` (from the client at `source_ip`, if known); the session, or why not,
    /// and what to do once that is answered ([`SignIn::afterwards`]).
    pub async fn run(
        &self,
        request: SignInRequest,
        source_ip: Option<&str>,
    ) -> (Result<SignedIn, SignInError>, Afterwards) {
        let mut afterwards = Afterwards::default();
        let result = self.attempt(request, source_ip, &mut afterwards).await;
        // A refusal keeps its slot: it is a failed attempt. A success gives it back, and so
        // does an attempt that our failure cut short.
        if let Err(SignInError::Invalid | SignInError::Limited { .. }) = &result {
            afterwards.slot = None;
        }
        (result, afterwards)
    }

    async fn attempt(
        &self,
        request: SignInRequest,
        source_ip: Option<&str>,
        afterwards: &mut Afterwards,
    ) -> Result<SignedIn, SignInError> {
        let now = OffsetDateTime::now_utc();
        if let Some(ip) = source_ip
            && let Decision::Denied { retry_after } = self.store.hit(&self.client_limit, ip, now).await?
        {
            return Err(SignInError::Limited { retry_after });
        }
        let email_key = user_events::email_key(&request.email);
        if let Decision::Denied { retry_after } = self.store.take(&self.account_limit, &email_key, now).await? {
            tracing::info!(
                retry_after_s = retry_after.as_secs(),
                "the account's failed attempts are used up"
            );
            return Err(SignInError::Limited { retry_after });
        }
        afterwards.slot = Some((email_key.clone(), now));
        let guard = self.store.guard(&email_key, now).await?;
        // The user's read even without one (of an id no user has): an unknown address makes
        // the same calls as a known one.
        let user_id = guard.map(|g| match g {
            user_store::users::Guard::Pending { user_id, .. } | user_store::users::Guard::Verified { user_id } => {
                user_id
            }
        });
        let credentials = self.store.credentials(user_id.unwrap_or(Uuid::nil())).await?;
        let credentials = credentials.filter(|_| user_id.is_some());
        let dummy = passwords::dummy(self.bcrypt_cost);
        let hash = credentials.as_ref().map_or(&dummy, |c| &c.password_hash);
        let matched = passwords::verify(request.password.clone(), hash)
            .await
            .map_err(|e| SignInError::Internal(e.to_string()))?;
        let Some(credentials) = credentials.filter(|c| matched && c.user.state == UserState::Verified) else {
            return Err(SignInError::Invalid);
        };
        let session = self
            .sessions
            .get()
            .await?
            .issue(credentials.user.user.id, now)
            .map_err(|e| SignInError::Internal(e.to_string()))?;
        if passwords::cost_of(&credentials.password_hash).is_some_and(|cost| cost < self.bcrypt_cost) {
            afterwards.rehash = Some((credentials.user.user.id, credentials.password_hash, request.password));
        }
        Ok(SignedIn {
            user: credentials.user.user,
            session,
        })
    }

    /// What an attempt left to do, once it is answered: its slot given back, its hash made
    /// again at the current cost (conditioned on the hash it read: a new password since stays).
    pub async fn afterwards(&self, afterwards: Afterwards) {
        if let Some((email_key, taken_at)) = afterwards.slot
            && let Err(e) = self.store.give_back(&self.account_limit, &email_key, taken_at).await
        {
            tracing::warn!(error = %e, "an account's attempt slot not given back: it counts as a failure until its window ends");
        }
        if let Some((user_id, old, password)) = afterwards.rehash {
            let rehashed = match passwords::hash(password, self.bcrypt_cost).await {
                Ok(new) => self
                    .store
                    .replace_hash(user_id, &old, &new)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match rehashed {
                Ok(()) => tracing::info!(%user_id, cost = self.bcrypt_cost, "password re-hashed at the current cost"),
                Err(e) => tracing::warn!(%user_id, error = %e, "password not re-hashed; the next sign-in tries again"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SESSION_SECRET, sign_in};
    use user_store::outbox::StoredEvent;
    use user_store::testing::{MemoryStore, new_user};

    /// A user of `email` with `password` hashed at `cost`, verified or not.
    async fn user(s: &SignIn<MemoryStore>, email: &str, password: &str, cost: u32, verified: bool) -> Uuid {
        let now = OffsetDateTime::now_utc();
        let mut user = new_user(email, now);
        user.password_hash = passwords::hash(password.into(), cost).await.unwrap();
        let event = StoredEvent::from(&user_events::UserCreated::new(Uuid::new_v4(), now, user.public()));
        s.store
            .create_pending(&user, now + time::Duration::hours(1), &event, now)
            .await
            .unwrap();
        if verified {
            s.store.verify_now(email);
        }
        user.id
    }

    fn request(email: &str, password: &str) -> SignInRequest {
        SignInRequest {
            email: email.into(),
            password: password.into(),
        }
    }

    async fn attempt(s: &SignIn<MemoryStore>, email: &str, password: &str) -> Result<SignedIn, SignInError> {
        let (result, afterwards) = s.run(request(email, password), Some("198.51.100.1")).await;
        s.afterwards(afterwards).await;
        result
    }

    #[test]
    fn a_request_is_an_address_and_a_password_of_at_most_72_bytes() {
        use serde_json::json;
        assert_eq!(
            validate(&json!({"email": " a@b.io ", "password": "x"})),
            Ok(request("a@b.io", "x"))
        );
        let errors = validate(&json!({"email": "nope", "password": "x".repeat(73), "admin": true})).unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["admin", "email", "password"]);
        assert!(
            validate(&json!({"email": "a@b.io"}))
                .unwrap_err()
                .contains_key("password")
        );
        assert!(validate(&json!([1])).unwrap_err().contains_key("body"));
        assert!(!format!("{:?}", request("a@b.io", "secret")).contains("secret"));
    }

    #[tokio::test]
    async fn a_verified_user_with_the_right_password_gets_a_session() {
        let s = sign_in(MemoryStore::default());
        let id = user(&s, "ann@x.io", "correct horse", 4, true).await;
        let signed_in = attempt(&s, "Ann@X.io", "correct horse").await.unwrap();
        assert_eq!(signed_in.user.id, id);
        let claims = SessionIssuer::for_tests(&SESSION_SECRET)
            .verify(&signed_in.session)
            .unwrap();
        assert_eq!(claims.sub, id.to_string());
    }

    #[tokio::test]
    async fn a_wrong_password_an_unknown_address_and_a_pending_account_are_one_refusal() {
        let s = sign_in(MemoryStore::default());
        user(&s, "ann@x.io", "correct horse", 4, true).await;
        user(&s, "pending@x.io", "correct horse", 4, false).await;
        for (email, password) in [
            ("ann@x.io", "wrong horse"),
            ("nobody@x.io", "correct horse"),
            ("pending@x.io", "correct horse"),
        ] {
            assert_eq!(
                attempt(&s, email, password).await.unwrap_err(),
                SignInError::Invalid,
                "{email}"
            );
        }
    }

    /// Each of the three does the same calls: the client's count, an account slot, the guard,
    /// the user's read, and bcrypt at the configured cost (a cost bcrypt refuses shows whether
    /// it ran at all: it fails the attempt).
    #[tokio::test]
    async fn every_refusal_does_the_same_work() {
        let s = sign_in(MemoryStore::default());
        user(&s, "ann@x.io", "correct horse", 4, true).await;
        user(&s, "pending@x.io", "correct horse", 4, false).await;
        for email in ["ann@x.io", "nobody@x.io", "pending@x.io"] {
            let reads = s.store.guard_checks.load(std::sync::atomic::Ordering::SeqCst);
            attempt(&s, email, "wrong horse").await.unwrap_err();
            assert_eq!(
                s.store.guard_checks.load(std::sync::atomic::Ordering::SeqCst) - reads,
                1,
                "{email}"
            );
        }
        let s = SignIn { bcrypt_cost: 3, ..s };
        assert!(
            matches!(attempt(&s, "nobody@x.io", "x").await, Err(SignInError::Internal(_))),
            "the dummy is hashed work"
        );
    }

    #[tokio::test]
    async fn an_account_with_its_failures_used_up_refuses_even_the_right_password_until_the_window_ends() {
        let mut s = sign_in(MemoryStore::default());
        s.account_limit.max = 3;
        s.account_limit.window = Duration::from_secs(1);
        user(&s, "ann@x.io", "correct horse", 4, true).await;
        // Successes give their slot back: they never lock anyone out.
        for _ in 0..5 {
            attempt(&s, "ann@x.io", "correct horse").await.unwrap();
        }
        for _ in 0..3 {
            assert_eq!(
                attempt(&s, "ann@x.io", "wrong").await.unwrap_err(),
                SignInError::Invalid
            );
        }
        assert!(matches!(
            attempt(&s, "ann@x.io", "correct horse").await,
            Err(SignInError::Limited { .. })
        ));
        assert!(
            matches!(attempt(&s, "nobody@x.io", "x").await, Err(SignInError::Invalid)),
            "per account"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            attempt(&s, "ann@x.io", "correct horse").await.is_ok(),
            "the window passed"
        );
        // Unknown addresses have slots too: the limit tells nothing.
        for _ in 0..3 {
            attempt(&s, "ghost@x.io", "x").await.unwrap_err();
        }
        assert!(matches!(
            attempt(&s, "ghost@x.io", "x").await,
            Err(SignInError::Limited { .. })
        ));
    }

    #[tokio::test]
    async fn a_client_over_its_limit_is_refused() {
        let mut s = sign_in(MemoryStore::default());
        s.client_limit.max = 2;
        for _ in 0..2 {
            attempt(&s, "nobody@x.io", "x").await.unwrap_err();
        }
        assert!(matches!(
            attempt(&s, "other@x.io", "x").await,
            Err(SignInError::Limited { .. })
        ));
        let (other_client, _) = s.run(request("other@x.io", "x"), Some("198.51.100.2")).await;
        assert_eq!(other_client.unwrap_err(), SignInError::Invalid);
    }

    #[tokio::test]
    async fn a_hash_of_an_older_cost_is_made_again_at_the_current_one_after_a_success() {
        let mut s = sign_in(MemoryStore::default());
        user(&s, "ann@x.io", "correct horse", 4, true).await;
        s.bcrypt_cost = 5;
        attempt(&s, "ann@x.io", "correct horse").await.unwrap();
        let hash = PasswordHash::new(s.store.user_of("ann@x.io").unwrap().password_hash);
        assert_eq!(passwords::cost_of(&hash), Some(5));
        assert!(passwords::verify("correct horse".into(), &hash).await.unwrap());
        attempt(&s, "ann@x.io", "correct horse").await.unwrap();
    }
}
