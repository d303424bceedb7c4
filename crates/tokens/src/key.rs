//! A signing key: given at once (a secret in the environment: local runs, tests), or read from
//! an SSM SecureString when first asked for, and read again every
//! [`SecretSource::SsmParameter`]'s `refresh` (`KEY_REFRESH_SECONDS`, 300 by default), so a
//! rotated secret (`aws ssm put-parameter --overwrite`) is signed with within minutes, by every
//! warm instance.
//!
//! Each key knows its secret's version (the parameter's, in SSM) and names it in the tokens it
//! signs: the JWT header's `kid`. A token signed with the version before the current one is
//! still checked with that version ([`Key::for_kid`], read by version and kept), so the tokens
//! in flight during a rotation stay good: two keys are valid during the overlap, never three.
//!
//! Which source a function reads is its configuration ([`SecretSource::from_vars`]); init
//! starts the read in a task of its own ([`Key::read_after_init`]), so that init waits for no
//! SSM call and the first invocation that needs the key waits for the read in flight rather than
//! start a second one. A failed first read is not kept: the next ask reads again, so an instance
//! whose first read met an SSM hiccup answers 503 `retryable` until SSM answers, instead of
//! failing. A failed refresh keeps the key it had: a rotation can wait out a hiccup, requests
//! need not.

use crate::TokenError;
use lambda_support::config::{ConfigError, Vars};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long a key read from a store is used before it is read again, unless configured.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// A secret as its store holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub value: String,
    /// Which version of it this is (SSM's parameter version); `None` where there are no
    /// versions (a value given directly).
    pub version: Option<i64>,
}

/// Where the secret of a key is kept.
pub trait SecretStore: Send + Sync {
    /// The current secret, or why it could not be read (no secret in the text).
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>>;
    /// One version of the secret: an older one, for tokens signed before a rotation.
    fn read_version(&self, version: i64) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>>;
}

/// What is made from a secret: a signer and verifier of one kind of token, with its policy,
/// that names its secret's version in what it signs (`kid`).
pub trait FromSecret: Sized + Send + Sync + 'static {
    type Policy: Clone + Send + Sync + 'static;
    fn from_secret(secret: &[u8], kid: Option<String>, policy: &Self::Policy) -> Result<Self, TokenError>;
    /// The `kid` its tokens carry: its secret's version.
    fn kid(&self) -> Option<&str>;
}

/// Why there is no key to sign or check with.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store did not answer or refused: worth a retry (503).
    #[error("the signing secret could not be read: {0}")]
    Unreadable(String),
    /// The secret read is unusable (too short): a deployment error, no retry mends it (500).
    #[error("the signing secret read is unusable: {0}")]
    Invalid(TokenError),
    /// A token names a key version that is neither the current one nor the one before: it was
    /// signed before the last two rotations, or is not ours.
    #[error("no valid key has the id {0:?}")]
    UnknownKid(String),
}

/// A key, shared by its clones: init reads it through one in a task of its own while the use
/// case holds another.
pub struct Key<T: FromSecret>(Arc<Inner<T>>);

impl<T: FromSecret> Clone for Key<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A key made from a secret read at `read_at`.
struct Made<T> {
    key: Arc<T>,
    version: Option<i64>,
    read_at: Instant,
}

impl<T> Clone for Made<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            version: self.version,
            read_at: self.read_at,
        }
    }
}

struct Inner<T: FromSecret> {
    store: Option<Store<T>>,
    current: RwLock<Option<Made<T>>>,
    /// The version before the current one, once a token asked for it.
    previous: RwLock<Option<Made<T>>>,
    /// One read at a time: callers that find the key missing or old wait for the read in
    /// flight rather than start their own.
    reading: tokio::sync::Mutex<()>,
}

struct Store<T: FromSecret> {
    secrets: Box<dyn SecretStore>,
    policy: T::Policy,
    refresh: Duration,
}

impl<T: FromSecret> From<T> for Key<T> {
    fn from(made: T) -> Self {
        let made = Made {
            key: Arc::new(made),
            version: None,
            read_at: Instant::now(),
        };
        Self(Arc::new(Inner {
            store: None,
            current: RwLock::new(Some(made)),
            previous: RwLock::new(None),
            reading: tokio::sync::Mutex::new(()),
        }))
    }
}

/// A lock's value, whether or not a panic poisoned it (what it guards is always whole).
fn read<V: Clone>(lock: &RwLock<Option<V>>) -> Option<V> {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<V>(lock: &RwLock<Option<V>>, value: V) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = Some(value);
}

impl<T: FromSecret> Key<T> {
    /// A key whose secret is read from `store` when first asked for, and again once it is
    /// `refresh` old.
    pub fn read_on_first_use(store: impl SecretStore + 'static, policy: T::Policy, refresh: Duration) -> Self {
        Self(Arc::new(Inner {
            store: Some(Store {
                secrets: Box::new(store),
                policy,
                refresh,
            }),
            current: RwLock::new(None),
            previous: RwLock::new(None),
            reading: tokio::sync::Mutex::new(()),
        }))
    }

    /// The key from its configured source: the secret itself, or an SSM parameter read with
    /// `ssm` on first use and every `refresh`.
    pub fn from_source(
        source: &SecretSource,
        policy: T::Policy,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, TokenError> {
        Ok(match source {
            SecretSource::Value(secret) => Self::from(T::from_secret(secret.as_bytes(), None, &policy)?),
            SecretSource::SsmParameter { name, refresh } => {
                Self::read_on_first_use(SsmSecret::new(ssm.clone(), name.clone()), policy, *refresh)
            }
        })
    }

    /// The current key: the one read last, or read now if there is none yet or it is
    /// `refresh` old. While a read is in flight, callers wait for it rather than start their
    /// own; if a refresh fails, the key read before goes on (and the next ask reads again).
    pub async fn get(&self) -> Result<Arc<T>, KeyError> {
        let inner = &*self.0;
        let Some(store) = &inner.store else {
            return Ok(read(&inner.current).expect("a given key is made").key);
        };
        if let Some(made) = read(&inner.current).filter(|m| m.read_at.elapsed() < store.refresh) {
            return Ok(made.key);
        }
        let _reading = inner.reading.lock().await;
        // Read meanwhile by the caller we waited for?
        let had = read(&inner.current);
        if let Some(made) = had.clone().filter(|m| m.read_at.elapsed() < store.refresh) {
            return Ok(made.key);
        }
        match self.make(store, store.secrets.read().await).await {
            Ok(made) => {
                if let Some(old) = had.filter(|old| old.version != made.version) {
                    tracing::info!(from = ?old.version, to = ?made.version, "signing key rotated");
                    write(&inner.previous, old);
                }
                write(&inner.current, made.clone());
                Ok(made.key)
            }
            Err(e) => match had {
                Some(old) => {
                    tracing::warn!(error = %e, version = ?old.version, "signing key not re-read; the one read before goes on");
                    Ok(old.key)
                }
                None => Err(e),
            },
        }
    }

    /// The key a token names by its `kid`: the current one, or the version just before it
    /// (read by version once, then kept). A token without a `kid` was signed before keys had
    /// ids: the current key checks it. Any other id is [`KeyError::UnknownKid`].
    pub async fn for_kid(&self, kid: Option<&str>) -> Result<Arc<T>, KeyError> {
        let current = self.get().await?;
        let (Some(kid), Some(current_kid)) = (kid, current.kid()) else {
            return Ok(current);
        };
        if kid == current_kid {
            return Ok(current);
        }
        let unknown = || KeyError::UnknownKid(kid.to_owned());
        let (Ok(version), Ok(current_version)) = (kid.parse::<i64>(), current_kid.parse::<i64>()) else {
            return Err(unknown());
        };
        // Versions start at 1: a made-up `kid` of 0 must not cost an SSM read.
        if version != current_version - 1 || version < 1 {
            return Err(unknown());
        }
        let inner = &*self.0;
        if let Some(previous) = read(&inner.previous).filter(|p| p.version == Some(version)) {
            return Ok(previous.key);
        }
        let store = inner.store.as_ref().ok_or_else(unknown)?;
        let made = self.make(store, store.secrets.read_version(version).await).await?;
        write(&inner.previous, made.clone());
        Ok(made.key)
    }

    async fn make(&self, store: &Store<T>, read: Result<Secret, String>) -> Result<Made<T>, KeyError> {
        let secret = read.map_err(KeyError::Unreadable)?;
        let kid = secret.version.map(|v| v.to_string());
        let key = T::from_secret(secret.value.as_bytes(), kid, &store.policy).map_err(KeyError::Invalid)?;
        Ok(Made {
            key: Arc::new(key),
            version: secret.version,
            read_at: Instant::now(),
        })
    }

    /// The key if it is made already (given, or read by an earlier ask), however old.
    pub fn ready(&self) -> Option<Arc<T>> {
        read(&self.0.current).map(|m| m.key)
    }

    /// Starts reading the secret in a task of its own, if it comes from a store: init's part.
    /// Init itself waits for no SSM call; the first invocation that needs the key waits for
    /// this read rather than start its own. Logged with `what` (the key's name) and the read's
    /// time, as the call that ends after init.
    pub fn read_after_init(&self, what: &'static str) {
        if self.0.store.is_none() {
            return;
        }
        let key = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match key.get().await {
                Err(e @ KeyError::Invalid(_)) => {
                    tracing::error!(key = what, error = %e, "requests that need this key answer 500 until its secret is replaced")
                }
                Err(e) => {
                    tracing::warn!(key = what, error = %e, "key not read after init; the next request that needs it reads it again")
                }
                Ok(_) => {}
            }
            let ssm_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(key = what, ssm_ms, "init calls after init");
        });
    }
}

/// The `kid` of a token's header, if it has a readable header with one.
pub fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Where a function's configuration says a key's secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself (local runs, tests).
    Value(String),
    /// The name of an SSM SecureString holding it (deployed), read again every `refresh`.
    SsmParameter { name: String, refresh: Duration },
}

impl SecretSource {
    /// Exactly one of `value_var` (the secret, at least [`crate::MIN_SECRET_BYTES`]) and
    /// `param_var` (an SSM parameter's name), read through `get`; the error names both. A
    /// parameter is read again every `KEY_REFRESH_SECONDS` (at least 1; [`DEFAULT_REFRESH`]).
    pub fn from_vars(vars: &Vars, value_var: &str, param_var: &str) -> Result<Self, ConfigError> {
        let refused = |why: String| Err(ConfigError(why));
        match (vars.get(value_var), vars.get(param_var)) {
            // Two sources are a mistake somewhere (a leftover local value in a deployed
            // config?): refuse to guess which one signs the tokens.
            (Some(_), Some(_)) => refused(format!("{value_var} and {param_var} are both set: set exactly one")),
            (Some(secret), None) if secret.len() < crate::MIN_SECRET_BYTES => refused(format!(
                "{value_var} must be at least {} bytes",
                crate::MIN_SECRET_BYTES
            )),
            (Some(secret), None) => Ok(Self::Value(secret)),
            (None, Some(name)) => Ok(Self::SsmParameter {
                name,
                // A day at most: the template's KeyRefreshSeconds allows an hour.
                refresh: vars.seconds("KEY_REFRESH_SECONDS", DEFAULT_REFRESH.as_secs(), 1..=86_400)?,
            }),
            (None, None) => refused(format!("set {param_var} (an SSM SecureString name) or {value_var}")),
        }
    }

    /// For a `{:?}` of a configuration: the parameter's name, never the secret.
    pub fn describe(&self) -> String {
        match self {
            Self::Value(_) => "a value (redacted)".to_owned(),
            Self::SsmParameter { name, refresh } => {
                format!("SSM parameter {name}, read every {} s", refresh.as_secs())
            }
        }
    }
}

/// A secret in an SSM SecureString parameter.
pub struct SsmSecret {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmSecret {
    pub fn new(client: aws_sdk_ssm::Client, name: String) -> Self {
        Self { client, name }
    }

    /// `selector`: the parameter's name, or `name:version` for one version.
    async fn get(&self, selector: String) -> Result<Secret, String> {
        let out = self
            .client
            .get_parameter()
            .name(&selector)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SSM parameter {selector}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )
            })?;
        let parameter = out
            .parameter
            .ok_or_else(|| format!("SSM parameter {selector} has no value"))?;
        let value = parameter
            .value
            .ok_or_else(|| format!("SSM parameter {selector} has no value"))?;
        Ok(Secret {
            value,
            version: Some(parameter.version),
        })
    }
}

impl SecretStore for SsmSecret {
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
        Box::pin(self.get(self.name.clone()))
    }

    fn read_version(&self, version: i64) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
        Box::pin(self.get(format!("{}:{version}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionIssuer, SessionPolicy};
    use std::sync::Mutex;
    use time::OffsetDateTime;
    use uuid::Uuid;

    /// Answers each read with the next of its answers, and counts the reads; a read of a
    /// version answers from `versions`.
    #[derive(Default)]
    struct Answers {
        current: Mutex<Vec<Result<Secret, String>>>,
        versions: Mutex<Vec<(i64, String)>>,
    }

    fn secret(value: &str, version: i64) -> Result<Secret, String> {
        Ok(Secret {
            value: value.repeat(32),
            version: Some(version),
        })
    }

    impl SecretStore for Arc<Answers> {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
            Box::pin(async move { self.current.lock().unwrap().remove(0) })
        }
        fn read_version(&self, version: i64) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
            Box::pin(async move {
                let versions = self.versions.lock().unwrap();
                let (_, value) = versions
                    .iter()
                    .find(|(v, _)| *v == version)
                    .ok_or(format!("no version {version}"))?;
                secret(value, version)
            })
        }
    }

    fn answers(current: Vec<Result<Secret, String>>) -> Arc<Answers> {
        Arc::new(Answers {
            current: Mutex::new(current),
            ..Answers::default()
        })
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            ttl_seconds: 60,
        }
    }

    fn issue(key: &SessionIssuer) -> String {
        key.issue(Uuid::nil(), OffsetDateTime::now_utc()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_first_read_is_retried_and_a_good_one_kept_until_its_refresh() {
        let answers = answers(vec![Err("throttled".into()), secret("k", 1), secret("k", 1)]);
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers.clone(), policy(), DEFAULT_REFRESH);
        assert!(key.ready().is_none(), "nothing read at construction");
        assert!(matches!(key.get().await, Err(KeyError::Unreadable(cause)) if cause == "throttled"));
        let token = issue(&key.get().await.unwrap());
        assert!(key.get().await.unwrap().verify(&token).is_ok());
        assert_eq!(answers.current.lock().unwrap().len(), 1, "two reads so far");
        tokio::time::advance(DEFAULT_REFRESH).await;
        key.get().await.unwrap();
        assert!(
            answers.current.lock().unwrap().is_empty(),
            "read again once the refresh is due"
        );
    }

    /// `put-parameter --overwrite`: within a refresh every warm instance signs with the new
    /// version, names it in `kid`, and still checks tokens of the version before it; older
    /// ones are refused.
    #[tokio::test(start_paused = true)]
    async fn a_rotated_secret_is_signed_with_after_a_refresh_and_the_one_before_still_checks() {
        let answers = answers(vec![secret("a", 1), secret("b", 2), secret("c", 3)]);
        answers
            .versions
            .lock()
            .unwrap()
            .extend([(1, "a".to_owned()), (2, "b".to_owned())]);
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers.clone(), policy(), DEFAULT_REFRESH);
        let first = issue(&key.get().await.unwrap());
        assert_eq!(kid_of(&first).as_deref(), Some("1"));

        tokio::time::advance(DEFAULT_REFRESH).await;
        let second = issue(&key.get().await.unwrap());
        assert_eq!(kid_of(&second).as_deref(), Some("2"), "signed with the new version");
        for token in [&first, &second] {
            let checker = key.for_kid(kid_of(token).as_deref()).await.unwrap();
            assert!(checker.verify(token).is_ok(), "{:?}", kid_of(token));
        }
        assert!(
            key.get().await.unwrap().verify(&first).is_err(),
            "each version its own key"
        );

        tokio::time::advance(DEFAULT_REFRESH).await;
        key.get().await.unwrap();
        assert!(matches!(key.for_kid(Some("1")).await, Err(KeyError::UnknownKid(kid)) if kid == "1"));
        let checker = key.for_kid(Some("2")).await.unwrap();
        assert!(
            checker.verify(&second).is_ok(),
            "read by version: the instance never held it"
        );
        assert!(matches!(key.for_kid(Some("x")).await, Err(KeyError::UnknownKid(_))));
    }

    /// SSM failing at a refresh costs no request: the key read before goes on, and the next
    /// ask reads again.
    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_keeps_the_key_read_before() {
        let answers = answers(vec![secret("a", 1), Err("throttled".into()), secret("b", 2)]);
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers.clone(), policy(), DEFAULT_REFRESH);
        key.get().await.unwrap();
        tokio::time::advance(DEFAULT_REFRESH).await;
        assert_eq!(key.get().await.unwrap().kid(), Some("1"));
        assert_eq!(key.get().await.unwrap().kid(), Some("2"), "read again at the next ask");
    }

    /// A store that takes a while to answer, as SSM does.
    struct Slow(Arc<Answers>);

    impl SecretStore for Slow {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                self.0.read().await
            })
        }
        fn read_version(&self, version: i64) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
            self.0.read_version(version)
        }
    }

    /// init's read (a clone of the key, in a task of its own) still in flight when a request
    /// asks: the request waits for it rather than read again, and both get what it read.
    #[tokio::test(start_paused = true)]
    async fn an_ask_during_the_read_in_flight_waits_for_it() {
        let answers = answers(vec![
            secret("k", 1),
            Err("never read: the read in flight serves both".into()),
        ]);
        let key: Key<SessionIssuer> = Key::read_on_first_use(Slow(answers.clone()), policy(), DEFAULT_REFRESH);
        key.read_after_init("session");
        tokio::task::yield_now().await;
        assert!(key.get().await.is_ok(), "the request has the key");
        assert_eq!(answers.current.lock().unwrap().len(), 1, "one read in all");
    }

    #[tokio::test]
    async fn a_secret_too_short_is_an_invalid_key_not_a_retryable_one() {
        let answers = answers(vec![Ok(Secret {
            value: "short".into(),
            version: Some(1),
        })]);
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers, policy(), DEFAULT_REFRESH);
        assert!(matches!(
            key.get().await,
            Err(KeyError::Invalid(TokenError::SecretTooShort(5)))
        ));
    }

    #[test]
    fn exactly_one_source_of_at_least_32_bytes() {
        let env = |pairs: &[(&str, &str)]| Vars::pairs(pairs);
        let long = &"s".repeat(32)[..];
        let pairs = &[("V", long)];
        assert_eq!(
            SecretSource::from_vars(&env(pairs), "V", "P"),
            Ok(SecretSource::Value(long.into()))
        );
        assert_eq!(
            SecretSource::from_vars(&env(&[("P", "/p")]), "V", "P"),
            Ok(SecretSource::SsmParameter {
                name: "/p".into(),
                refresh: DEFAULT_REFRESH
            })
        );
        assert_eq!(
            SecretSource::from_vars(&env(&[("P", "/p"), ("KEY_REFRESH_SECONDS", "60")]), "V", "P"),
            Ok(SecretSource::SsmParameter {
                name: "/p".into(),
                refresh: Duration::from_secs(60)
            })
        );
        for bad in ["0", "soon", "-1"] {
            let pairs = &[("P", "/p"), ("KEY_REFRESH_SECONDS", bad)];
            assert!(SecretSource::from_vars(&env(pairs), "V", "P").is_err(), "{bad}");
        }
        assert!(
            SecretSource::from_vars(&env(&[("V", "short")]), "V", "P")
                .unwrap_err()
                .0
                .contains("32 bytes")
        );
        assert!(
            SecretSource::from_vars(&env(&[]), "V", "P")
                .unwrap_err()
                .0
                .contains("P")
        );
        let both = &[("V", long), ("P", "/p")];
        assert!(
            SecretSource::from_vars(&env(both), "V", "P")
                .unwrap_err()
                .0
                .contains("both set")
        );
        assert!(!SecretSource::Value(long.into()).describe().contains(long));
    }
}
