//! JWTs for new users: HS256, `sub` = user id, `iss`, `aud`, `iat`, `exp` and a unique `jti`
//! (so a token can be revoked or its reuse detected). Decoding pins HS256 so a token cannot
//! choose its own algorithm, and checks issuer and audience.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// HS256 needs a key at least as long as its output to be as strong as it claims.
pub const MIN_SECRET_BYTES: usize = 32;
/// The longest lifetime a token may be given: a bearer token that leaks is good to whoever
/// holds it until it expires, and these cannot be revoked without a deny list.
pub const MAX_TTL_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    SecretTooShort(usize),
    #[error("a token lifetime must be 1-{MAX_TTL_SECONDS} seconds, got {0}")]
    Lifetime(i64),
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// Who issues tokens, for whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: i64,
}

pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    policy: TokenPolicy,
}

impl JwtIssuer {
    pub fn new(secret: &[u8], policy: TokenPolicy) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::SecretTooShort(secret.len()));
        }
        if !(1..=MAX_TTL_SECONDS).contains(&policy.ttl_seconds) {
            return Err(TokenError::Lifetime(policy.ttl_seconds));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            policy,
        })
    }

    /// An issuer for tests: issuer and audience `test`, one hour.
    pub fn for_tests(secret: &[u8]) -> Self {
        let policy = TokenPolicy {
            issuer: "test".into(),
            audience: "test".into(),
            ttl_seconds: 3600,
        };
        Self::new(secret, policy).expect("a test secret of 32 bytes or more")
    }

    pub fn issue(&self, user_id: Uuid, now: OffsetDateTime) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            iat,
            exp: iat + self.policy.ttl_seconds,
            jti: Uuid::new_v4().to_string(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature (HS256 only), expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[&self.policy.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }
}

/// Where the signing secret is kept (SSM, deployed).
pub trait SecretStore: Send + Sync {
    /// The secret, or why it could not be read (no secret in the text).
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// Why there is no issuer to sign with.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The store did not answer or refused: worth a retry (503).
    #[error("the JWT secret could not be read: {0}")]
    Unreadable(String),
    /// The secret read is unusable (too short): a deployment error, no retry mends it (500).
    #[error("the JWT secret read is unusable: {0}")]
    Invalid(TokenError),
}

/// The instance's token issuer: given at once (a secret in the environment, tests), or built
/// from a [`SecretStore`] when first asked for (by a task init starts, see `init::build`) and
/// kept for the life of the instance. A failed read is not kept: the next ask (a sign-up,
/// beside its hash) reads again, so an instance whose first read met an SSM hiccup answers 503
/// `retryable` until SSM answers, instead of failing.
///
/// Clones share the issuer: init reads the secret through one in a task of its own while the
/// use case holds another (see `init::build`).
#[derive(Clone)]
pub struct Tokens(Arc<Issuer>);

struct Issuer {
    issuer: tokio::sync::OnceCell<JwtIssuer>,
    store: Option<(Box<dyn SecretStore>, TokenPolicy)>,
}

impl From<JwtIssuer> for Tokens {
    fn from(issuer: JwtIssuer) -> Self {
        Self(Arc::new(Issuer {
            issuer: tokio::sync::OnceCell::new_with(Some(issuer)),
            store: None,
        }))
    }
}

impl Tokens {
    /// An issuer whose secret is read from `store` when first asked for.
    pub fn read_on_first_use(store: impl SecretStore + 'static, policy: TokenPolicy) -> Self {
        Self(Arc::new(Issuer {
            issuer: tokio::sync::OnceCell::new(),
            store: Some((Box::new(store), policy)),
        }))
    }

    /// The issuer, reading the secret first if it has not been read yet. While a read is in
    /// flight (init's), callers wait for it rather than start their own; if it fails, the next
    /// caller reads again.
    pub async fn issuer(&self) -> Result<&JwtIssuer, IssuerError> {
        let tokens = &*self.0;
        tokens
            .issuer
            .get_or_try_init(|| async {
                let (store, policy) = tokens.store.as_ref().expect("an issuer not given has a store");
                let secret = store.read().await.map_err(IssuerError::Unreadable)?;
                JwtIssuer::new(secret.as_bytes(), policy.clone()).map_err(IssuerError::Invalid)
            })
            .await
    }

    /// The issuer if it is built already (given, or read by an earlier sign-up).
    pub fn ready(&self) -> Option<&JwtIssuer> {
        self.0.issuer.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(audience: &str, ttl_seconds: i64) -> TokenPolicy {
        TokenPolicy {
            issuer: "signup".into(),
            audience: audience.into(),
            ttl_seconds,
        }
    }

    #[test]
    fn issues_verifiable_hs256_tokens_and_refuses_short_secrets() {
        let issuer = JwtIssuer::new(&[1u8; 32], policy("app", 60)).unwrap();
        let id = Uuid::new_v4();
        let token = issuer.issue(id, OffsetDateTime::now_utc()).unwrap();
        let claims = issuer.verify(&token).unwrap();
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.aud, "app");
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, Algorithm::HS256);
        let other = JwtIssuer::new(&[2u8; 32], policy("app", 60)).unwrap();
        assert!(other.verify(&token).is_err(), "another secret must not verify");
        assert!(matches!(
            JwtIssuer::new(&[1u8; 31], policy("app", 60)),
            Err(TokenError::SecretTooShort(31))
        ));
    }

    #[test]
    fn every_token_has_its_own_id_and_is_for_one_audience() {
        let issuer = JwtIssuer::new(&[1u8; 32], policy("app", 60)).unwrap();
        let now = OffsetDateTime::now_utc();
        let (a, b) = (
            issuer.issue(Uuid::nil(), now).unwrap(),
            issuer.issue(Uuid::nil(), now).unwrap(),
        );
        let (a, b) = (issuer.verify(&a).unwrap(), issuer.verify(&b).unwrap());
        assert_ne!(a.jti, b.jti);
        assert!(Uuid::parse_str(&a.jti).is_ok());
        let elsewhere = JwtIssuer::new(&[1u8; 32], policy("another-app", 60)).unwrap();
        let token = issuer.issue(Uuid::nil(), now).unwrap();
        assert!(
            elsewhere.verify(&token).is_err(),
            "a token for another audience is refused"
        );
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert!(matches!(
            JwtIssuer::new(&[1u8; 32], policy("app", MAX_TTL_SECONDS + 1)),
            Err(TokenError::Lifetime(_))
        ));
        assert!(matches!(
            JwtIssuer::new(&[1u8; 32], policy("app", 0)),
            Err(TokenError::Lifetime(0))
        ));
        assert!(JwtIssuer::new(&[1u8; 32], policy("app", MAX_TTL_SECONDS)).is_ok());
    }
}

#[cfg(test)]
mod read_on_first_use {
    use super::*;
    use std::sync::Mutex;

    /// Answers each read with the next of its answers, and counts the reads.
    struct Answers(Mutex<Vec<Result<String, String>>>);

    impl SecretStore for std::sync::Arc<Answers> {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
            Box::pin(async move { self.0.lock().unwrap().remove(0) })
        }
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            ttl_seconds: 60,
        }
    }

    #[tokio::test]
    async fn a_failed_read_is_retried_and_a_good_one_kept_for_the_instance() {
        let answers = std::sync::Arc::new(Answers(Mutex::new(vec![
            Err("throttled".into()),
            Ok("k".repeat(32)),
            Err("never read: the issuer is kept".into()),
        ])));
        let tokens = Tokens::read_on_first_use(answers.clone(), policy());
        assert!(tokens.ready().is_none(), "nothing read at construction");
        assert!(matches!(tokens.issuer().await, Err(IssuerError::Unreadable(cause)) if cause == "throttled"));
        let token = tokens
            .issuer()
            .await
            .unwrap()
            .issue(Uuid::nil(), OffsetDateTime::now_utc())
            .unwrap();
        assert!(tokens.issuer().await.unwrap().verify(&token).is_ok());
        assert_eq!(answers.0.lock().unwrap().len(), 1, "two reads in all");
    }

    /// A store that takes a while to answer, as SSM does.
    struct Slow(std::sync::Arc<Answers>);

    impl SecretStore for Slow {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                self.0.read().await
            })
        }
    }

    /// init's read (a clone of the handle, in a task of its own) still in flight when a sign-up
    /// asks: the sign-up waits for it rather than read again, and both get what it read.
    #[tokio::test(start_paused = true)]
    async fn an_ask_during_the_read_in_flight_waits_for_it() {
        let answers = std::sync::Arc::new(Answers(Mutex::new(vec![
            Ok("k".repeat(32)),
            Err("never read: the read in flight serves both".into()),
        ])));
        let tokens = Tokens::read_on_first_use(Slow(answers.clone()), policy());
        let init = {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.issuer().await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(tokens.issuer().await.is_ok(), "the sign-up has the issuer");
        assert!(init.await.unwrap(), "and so has init's task");
        assert_eq!(answers.0.lock().unwrap().len(), 1, "one read in all");
    }

    #[tokio::test]
    async fn a_secret_too_short_is_an_invalid_issuer_not_a_retryable_one() {
        let answers = std::sync::Arc::new(Answers(Mutex::new(vec![Ok("short".into())])));
        let tokens = Tokens::read_on_first_use(answers, policy());
        assert!(matches!(
            tokens.issuer().await,
            Err(IssuerError::Invalid(TokenError::SecretTooShort(5)))
        ));
    }
}
