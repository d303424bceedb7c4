//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use lambda_support::config::{ConfigError, Vars};
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

impl Config {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            users_table: vars.required("USERS_TABLE")?,
            topic_arn: vars.required("USER_EVENTS_TOPIC_ARN")?,
            session_key: SecretSource::from_vars(vars, "JWT_SECRET", "JWT_SECRET_PARAM")?,
            sessions: SessionPolicy::from_vars(vars)?,
            link_key: SecretSource::from_vars(vars, "VERIFY_TOKEN_SECRET", "VERIFY_TOKEN_SECRET_PARAM")?,
            failures: (
                vars.number("VERIFY_FAILURES_PER_USER", 10, 1..=u32::MAX)?,
                vars.seconds("VERIFY_FAILURE_WINDOW_SECONDS", 900, 1..=86_400)?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&Vars::pairs(pairs))
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
