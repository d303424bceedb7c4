//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use tokens::key::SecretSource;
use tokens::session::SessionPolicy;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub users_table: String,
    pub topic_arn: String,
    /// The session JWT's key (`JWT_SECRET_PARAM`, an SSM SecureString, or `JWT_SECRET` for
    /// local runs) and policy (`JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_TTL_SECONDS`).
    pub session_key: SecretSource,
    pub sessions: SessionPolicy,
    /// The verification links' key (`VERIFY_TOKEN_SECRET_PARAM` or `VERIFY_TOKEN_SECRET`): the
    /// one send-email mints them with.
    pub link_key: SecretSource,
    /// Wrong passwords per user per window (`VERIFY_FAILURES_PER_USER`, 10;
    /// `VERIFY_FAILURE_WINDOW_SECONDS`, 900: the template sets sign-in's per-account limit).
    pub failures: (u32, std::time::Duration),
}

/// The names of the parameters, never a secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("users_table", &self.users_table)
            .field("topic_arn", &self.topic_arn)
            .field("session_key", &self.session_key.describe())
            .field("sessions", &self.sessions)
            .field("link_key", &self.link_key.describe())
            .field("failures", &self.failures)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &str| get(key).ok_or_else(|| ConfigError(format!("{key} is not set")));
        let count = |key: &str, default: u64, max: u64| -> Result<u64, ConfigError> {
            let value = match get(key) {
                None => default,
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError(format!("{key}={v:?} is not a valid number")))?,
            };
            if !(1..=max).contains(&value) {
                return Err(ConfigError(format!("{key} must be 1-{max}, got {value}")));
            }
            Ok(value)
        };
        let failures = (
            count("VERIFY_FAILURES_PER_USER", 10, u64::from(u32::MAX))? as u32,
            std::time::Duration::from_secs(count("VERIFY_FAILURE_WINDOW_SECONDS", 900, 86_400)?),
        );
        Ok(Self {
            users_table: required("USERS_TABLE")?,
            topic_arn: required("USER_EVENTS_TOPIC_ARN")?,
            session_key: SecretSource::from_lookup(&get, "JWT_SECRET", "JWT_SECRET_PARAM").map_err(ConfigError)?,
            sessions: SessionPolicy::from_lookup(&get).map_err(ConfigError)?,
            link_key: SecretSource::from_lookup(&get, "VERIFY_TOKEN_SECRET", "VERIFY_TOKEN_SECRET_PARAM")
                .map_err(ConfigError)?,
            failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    const BASE: [(&str, &str); 4] = [
        ("USERS_TABLE", "t"),
        ("USER_EVENTS_TOPIC_ARN", "arn"),
        ("JWT_SECRET_PARAM", "/p"),
        ("VERIFY_TOKEN_SECRET_PARAM", "/v"),
    ];

    #[test]
    fn defaults_and_sources() {
        let c = config(&BASE).unwrap();
        assert_eq!(
            (
                c.sessions.ttl_seconds,
                c.sessions.issuer.as_str(),
                c.sessions.audience.as_str()
            ),
            (3600, "user-signup", "user-signup")
        );
        let parameter = |name: &str| SecretSource::SsmParameter {
            name: name.into(),
            refresh: tokens::key::DEFAULT_REFRESH,
        };
        assert_eq!(c.session_key, parameter("/p"));
        assert_eq!(c.link_key, parameter("/v"));
        let secret = "s".repeat(32);
        let c = config(&[BASE[0], BASE[1], ("JWT_SECRET", &secret), BASE[3]]).unwrap();
        assert!(!format!("{c:?}").contains(&secret), "Debug must not print the secret");
    }

    #[test]
    fn refuses_to_start_without_what_it_needs() {
        assert!(config(&BASE[1..]).unwrap_err().0.contains("USERS_TABLE"));
        assert!(
            config(&[BASE[0], BASE[1], BASE[3]])
                .unwrap_err()
                .0
                .contains("JWT_SECRET_PARAM")
        );
        assert!(config(&BASE[..3]).unwrap_err().0.contains("VERIFY_TOKEN_SECRET_PARAM"));
        assert!(config(&[BASE[0], BASE[1], BASE[2], BASE[3], ("JWT_TTL_SECONDS", "0")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], BASE[3], ("JWT_TTL_SECONDS", "86401")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], BASE[3], ("VERIFY_FAILURES_PER_USER", "0")]).is_err());
        assert_eq!(
            config(&BASE).unwrap().failures,
            (10, std::time::Duration::from_secs(900))
        );
    }
}
