//! A signing key: given at once (a secret in the environment: local runs, tests), or read from
//! an SSM SecureString when first asked for and kept for the life of the instance.
//!
//! Which source a function reads is its configuration ([`SecretSource::from_lookup`]); init
//! starts the read in a task of its own ([`Key::read_after_init`]), so that init waits for no
//! SSM call and the first invocation that needs the key waits for the read in flight rather than
//! start a second one. A failed read is not kept: the next ask reads again, so an instance whose
//! first read met an SSM hiccup answers 503 `retryable` until SSM answers, instead of failing.

use crate::TokenError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Where the secret of a key is kept.
pub trait SecretStore: Send + Sync {
    /// The secret, or why it could not be read (no secret in the text).
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// What is made from a secret: a signer and verifier of one kind of token, with its policy.
pub trait FromSecret: Sized + Send + Sync + 'static {
    type Policy: Clone + Send + Sync + 'static;
    fn from_secret(secret: &[u8], policy: &Self::Policy) -> Result<Self, TokenError>;
}

/// Why there is no key to sign with.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store did not answer or refused: worth a retry (503).
    #[error("the signing secret could not be read: {0}")]
    Unreadable(String),
    /// The secret read is unusable (too short): a deployment error, no retry mends it (500).
    #[error("the signing secret read is unusable: {0}")]
    Invalid(TokenError),
}

/// A key, shared by its clones: init reads it through one in a task of its own while the use
/// case holds another.
pub struct Key<T: FromSecret>(Arc<Inner<T>>);

impl<T: FromSecret> Clone for Key<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

struct Inner<T: FromSecret> {
    made: tokio::sync::OnceCell<T>,
    store: Option<(Box<dyn SecretStore>, T::Policy)>,
}

impl<T: FromSecret> From<T> for Key<T> {
    fn from(made: T) -> Self {
        Self(Arc::new(Inner {
            made: tokio::sync::OnceCell::new_with(Some(made)),
            store: None,
        }))
    }
}

impl<T: FromSecret> Key<T> {
    /// A key whose secret is read from `store` when first asked for.
    pub fn read_on_first_use(store: impl SecretStore + 'static, policy: T::Policy) -> Self {
        Self(Arc::new(Inner {
            made: tokio::sync::OnceCell::new(),
            store: Some((Box::new(store), policy)),
        }))
    }

    /// The key from its configured source: the secret itself, or an SSM parameter read with
    /// `ssm` on first use.
    pub fn from_source(
        source: &SecretSource,
        policy: T::Policy,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Self, TokenError> {
        Ok(match source {
            SecretSource::Value(secret) => Self::from(T::from_secret(secret.as_bytes(), &policy)?),
            SecretSource::SsmParameter(name) => {
                Self::read_on_first_use(SsmSecret::new(ssm.clone(), name.clone()), policy)
            }
        })
    }

    /// The key, reading the secret first if it has not been read yet. While a read is in
    /// flight, callers wait for it rather than start their own; if it fails, the next caller
    /// reads again.
    pub async fn get(&self) -> Result<&T, KeyError> {
        let inner = &*self.0;
        inner
            .made
            .get_or_try_init(|| async {
                let (store, policy) = inner.store.as_ref().expect("a key not given has a store");
                let secret = store.read().await.map_err(KeyError::Unreadable)?;
                T::from_secret(secret.as_bytes(), policy).map_err(KeyError::Invalid)
            })
            .await
    }

    /// The key if it is made already (given, or read by an earlier ask).
    pub fn ready(&self) -> Option<&T> {
        self.0.made.get()
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

/// Where a function's configuration says a key's secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself (local runs, tests).
    Value(String),
    /// The name of an SSM SecureString holding it (deployed).
    SsmParameter(String),
}

impl SecretSource {
    /// Exactly one of `value_var` (the secret, at least [`crate::MIN_SECRET_BYTES`]) and
    /// `param_var` (an SSM parameter's name), read through `get`; the error names both.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        value_var: &str,
        param_var: &str,
    ) -> Result<Self, String> {
        match (get(value_var), get(param_var)) {
            // Two sources are a mistake somewhere (a leftover local value in a deployed
            // config?): refuse to guess which one signs the tokens.
            (Some(_), Some(_)) => Err(format!("{value_var} and {param_var} are both set: set exactly one")),
            (Some(secret), None) if secret.len() < crate::MIN_SECRET_BYTES => Err(format!(
                "{value_var} must be at least {} bytes",
                crate::MIN_SECRET_BYTES
            )),
            (Some(secret), None) => Ok(Self::Value(secret)),
            (None, Some(param)) => Ok(Self::SsmParameter(param)),
            (None, None) => Err(format!("set {param_var} (an SSM SecureString name) or {value_var}")),
        }
    }

    /// For a `{:?}` of a configuration: the parameter's name, never the secret.
    pub fn describe(&self) -> String {
        match self {
            Self::Value(_) => "a value (redacted)".to_owned(),
            Self::SsmParameter(name) => format!("SSM parameter {name}"),
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
}

impl SecretStore for SsmSecret {
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
        Box::pin(async move {
            let out = self
                .client
                .get_parameter()
                .name(&self.name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "SSM parameter {}: {}",
                        self.name,
                        aws_sdk_ssm::error::DisplayErrorContext(&e)
                    )
                })?;
            out.parameter
                .and_then(|p| p.value)
                .ok_or_else(|| format!("SSM parameter {} has no value", self.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionIssuer, SessionPolicy};
    use std::sync::Mutex;
    use time::OffsetDateTime;
    use uuid::Uuid;

    /// Answers each read with the next of its answers, and counts the reads.
    struct Answers(Mutex<Vec<Result<String, String>>>);

    impl SecretStore for Arc<Answers> {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
            Box::pin(async move { self.0.lock().unwrap().remove(0) })
        }
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            ttl_seconds: 60,
        }
    }

    #[tokio::test]
    async fn a_failed_read_is_retried_and_a_good_one_kept_for_the_instance() {
        let answers = Arc::new(Answers(Mutex::new(vec![
            Err("throttled".into()),
            Ok("k".repeat(32)),
            Err("never read: the key is kept".into()),
        ])));
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers.clone(), policy());
        assert!(key.ready().is_none(), "nothing read at construction");
        assert!(matches!(key.get().await, Err(KeyError::Unreadable(cause)) if cause == "throttled"));
        let token = key
            .get()
            .await
            .unwrap()
            .issue(Uuid::nil(), OffsetDateTime::now_utc())
            .unwrap();
        assert!(key.get().await.unwrap().verify(&token).is_ok());
        assert_eq!(answers.0.lock().unwrap().len(), 1, "two reads in all");
    }

    /// A store that takes a while to answer, as SSM does.
    struct Slow(Arc<Answers>);

    impl SecretStore for Slow {
        fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                self.0.read().await
            })
        }
    }

    /// init's read (a clone of the key, in a task of its own) still in flight when a request
    /// asks: the request waits for it rather than read again, and both get what it read.
    #[tokio::test(start_paused = true)]
    async fn an_ask_during_the_read_in_flight_waits_for_it() {
        let answers = Arc::new(Answers(Mutex::new(vec![
            Ok("k".repeat(32)),
            Err("never read: the read in flight serves both".into()),
        ])));
        let key: Key<SessionIssuer> = Key::read_on_first_use(Slow(answers.clone()), policy());
        key.read_after_init("session");
        tokio::task::yield_now().await;
        assert!(key.get().await.is_ok(), "the request has the key");
        assert_eq!(answers.0.lock().unwrap().len(), 1, "one read in all");
    }

    #[tokio::test]
    async fn a_secret_too_short_is_an_invalid_key_not_a_retryable_one() {
        let answers = Arc::new(Answers(Mutex::new(vec![Ok("short".into())])));
        let key: Key<SessionIssuer> = Key::read_on_first_use(answers, policy());
        assert!(matches!(
            key.get().await,
            Err(KeyError::Invalid(TokenError::SecretTooShort(5)))
        ));
    }

    #[test]
    fn exactly_one_source_of_at_least_32_bytes() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let long = "s".repeat(32);
        let long: &'static str = Box::leak(long.into_boxed_str());
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("V", long)]));
        assert_eq!(
            SecretSource::from_lookup(&env(pairs), "V", "P"),
            Ok(SecretSource::Value(long.into()))
        );
        assert_eq!(
            SecretSource::from_lookup(&env(&[("P", "/p")]), "V", "P"),
            Ok(SecretSource::SsmParameter("/p".into()))
        );
        assert!(
            SecretSource::from_lookup(&env(&[("V", "short")]), "V", "P")
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(
            SecretSource::from_lookup(&env(&[]), "V", "P")
                .unwrap_err()
                .contains("P")
        );
        let both: &'static [(&str, &str)] = Box::leak(Box::new([("V", long), ("P", "/p")]));
        assert!(
            SecretSource::from_lookup(&env(both), "V", "P")
                .unwrap_err()
                .contains("both set")
        );
        assert!(!SecretSource::Value(long.into()).describe().contains(long));
    }
}
