//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use crate::domain::sign_in::Limits;
use lambda_support::config::{ConfigError, Vars};
use tokens::key::SecretSource;
use tokens::session::SessionPolicy;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub users_table: String,
    /// The session JWT's key (`JWT_SECRET_PARAM`, an SSM SecureString, or `JWT_SECRET` for
    /// local runs) and policy (`JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_TTL_SECONDS`): verify-email's.
    pub session_key: SecretSource,
    pub sessions: SessionPolicy,
    /// The cost passwords are checked at (the dummy's) and re-hashed to (`BCRYPT_COST`): the
    /// sign-up's.
    pub bcrypt_cost: u32,
    /// `SIGNIN_LIMIT_PER_IP` per `SIGNIN_LIMIT_WINDOW_SECONDS`; `SIGNIN_FAILURES_PER_ACCOUNT`
    /// per `SIGNIN_FAILURE_WINDOW_SECONDS`.
    pub limits: Limits,
}

/// The names of the parameters, never a secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("users_table", &self.users_table)
            .field("session_key", &self.session_key.describe())
            .field("sessions", &self.sessions)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Config {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let window = |key, default| vars.seconds(key, default, 1..=86_400);
        Ok(Self {
            users_table: vars.required("USERS_TABLE")?,
            session_key: SecretSource::from_vars(vars, "JWT_SECRET", "JWT_SECRET_PARAM")?,
            sessions: SessionPolicy::from_vars(vars)?,
            bcrypt_cost: vars.number("BCRYPT_COST", 12, 4..=31)?,
            limits: Limits {
                per_client: (
                    vars.number("SIGNIN_LIMIT_PER_IP", 30, 1..=u32::MAX)?,
                    window("SIGNIN_LIMIT_WINDOW_SECONDS", 300)?,
                ),
                failures_per_account: (
                    vars.number("SIGNIN_FAILURES_PER_ACCOUNT", 10, 1..=u32::MAX)?,
                    window("SIGNIN_FAILURE_WINDOW_SECONDS", 900)?,
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&Vars::pairs(pairs))
    }

    const BASE: [(&str, &str); 2] = [("USERS_TABLE", "t"), ("JWT_SECRET_PARAM", "/p")];

    #[test]
    fn defaults_and_bounds() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.limits.per_client, (30, Duration::from_secs(300)));
        assert_eq!(c.limits.failures_per_account, (10, Duration::from_secs(900)));
        for bad in [
            ("BCRYPT_COST", "3"),
            ("SIGNIN_LIMIT_PER_IP", "0"),
            ("SIGNIN_FAILURES_PER_ACCOUNT", "x"),
            ("SIGNIN_FAILURE_WINDOW_SECONDS", "0"),
            ("JWT_TTL_SECONDS", "86401"),
        ] {
            let error = config(&[BASE[0], BASE[1], bad]).unwrap_err().0;
            assert!(error.contains(bad.0), "{bad:?}: {error}");
        }
        assert!(config(&BASE[..1]).unwrap_err().0.contains("JWT_SECRET_PARAM"));
        let secret = "s".repeat(32);
        let c = config(&[BASE[0], ("JWT_SECRET", &secret)]).unwrap();
        assert!(!format!("{c:?}").contains(&secret));
    }
}
