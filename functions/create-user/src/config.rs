//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use crate::token::{MAX_TTL_SECONDS, MIN_SECRET_BYTES, TokenPolicy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `JWT_SECRET`: the secret itself (local runs, tests).
    Value(String),
    /// `JWT_SECRET_PARAM`: the name of an SSM SecureString holding it (deployed).
    SsmParameter(String),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub users_table: String,
    pub topic_arn: String,
    pub jwt_secret: SecretSource,
    pub tokens: TokenPolicy,
    pub bcrypt_cost: u32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = match &self.jwt_secret {
            SecretSource::Value(_) => "JWT_SECRET (value redacted)".to_owned(),
            SecretSource::SsmParameter(name) => format!("SSM parameter {name}"),
        };
        f.debug_struct("Config")
            .field("users_table", &self.users_table)
            .field("topic_arn", &self.topic_arn)
            .field("jwt_secret", &secret)
            .field("tokens", &self.tokens)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .finish()
    }
}

/// The template's defaults too (JwtIssuer, JwtAudience).
pub const DEFAULT_ISSUER: &str = "user-signup";
pub const DEFAULT_AUDIENCE: &str = "user-signup";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &str| get(key).ok_or_else(|| ConfigError(format!("{key} is not set")));
        let jwt_secret = match (get("JWT_SECRET"), get("JWT_SECRET_PARAM")) {
            // Two sources are a mistake somewhere (a leftover local value in a deployed
            // config?): refuse to guess which one signs the tokens.
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "JWT_SECRET and JWT_SECRET_PARAM are both set: set exactly one".into(),
                ));
            }
            (Some(secret), None) if secret.len() < MIN_SECRET_BYTES => {
                return Err(ConfigError(format!(
                    "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
                )));
            }
            (Some(secret), None) => SecretSource::Value(secret),
            (None, Some(param)) => SecretSource::SsmParameter(param),
            (None, None) => {
                return Err(ConfigError(
                    "set JWT_SECRET_PARAM (an SSM SecureString name) or JWT_SECRET".into(),
                ));
            }
        };
        let bcrypt_cost = parse(&get, "BCRYPT_COST", 12)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError(format!("BCRYPT_COST must be 4-31, got {bcrypt_cost}")));
        }
        let jwt_ttl_seconds = parse(&get, "JWT_TTL_SECONDS", 3600)?;
        if !(1..=MAX_TTL_SECONDS).contains(&jwt_ttl_seconds) {
            return Err(ConfigError(format!(
                "JWT_TTL_SECONDS must be 1-{MAX_TTL_SECONDS}, got {jwt_ttl_seconds}"
            )));
        }
        Ok(Self {
            users_table: required("USERS_TABLE")?,
            topic_arn: required("USER_CREATED_TOPIC_ARN")?,
            jwt_secret,
            tokens: TokenPolicy {
                issuer: get("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
                audience: get("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
                ttl_seconds: jwt_ttl_seconds,
            },
            bcrypt_cost,
        })
    }
}

fn parse<T: std::str::FromStr>(get: &impl Fn(&str) -> Option<String>, key: &str, default: T) -> Result<T, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{key}={v:?} is not a valid number"))),
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

    const BASE: [(&str, &str); 3] = [
        ("USERS_TABLE", "t"),
        ("USER_CREATED_TOPIC_ARN", "arn"),
        ("JWT_SECRET_PARAM", "/p"),
    ];

    #[test]
    fn defaults_and_sources() {
        let c = config(&BASE).unwrap();
        assert_eq!(
            (
                c.bcrypt_cost,
                c.tokens.ttl_seconds,
                c.tokens.issuer.as_str(),
                c.tokens.audience.as_str()
            ),
            (12, 3600, "user-signup", "user-signup")
        );
        assert_eq!(c.jwt_secret, SecretSource::SsmParameter("/p".into()));
        let secret = "s".repeat(32);
        let c = config(&[BASE[0], BASE[1], ("JWT_SECRET", &secret)]).unwrap();
        assert!(!format!("{c:?}").contains(&secret), "Debug must not print the secret");
    }

    #[test]
    fn refuses_to_start_without_what_it_needs() {
        assert!(config(&BASE[..2]).unwrap_err().0.contains("JWT_SECRET_PARAM"));
        assert!(
            config(&[BASE[0], BASE[1], ("JWT_SECRET", "short")])
                .unwrap_err()
                .0
                .contains("32 bytes")
        );
        assert!(config(&BASE[1..]).unwrap_err().0.contains("USERS_TABLE"));
        assert!(config(&[BASE[0], BASE[1], BASE[2], ("BCRYPT_COST", "3")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], ("BCRYPT_COST", "x")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], ("JWT_TTL_SECONDS", "0")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], ("JWT_TTL_SECONDS", "86401")]).is_err());
        assert!(config(&[BASE[0], BASE[1], BASE[2], ("JWT_TTL_SECONDS", "86400")]).is_ok());
    }

    #[test]
    fn two_secret_sources_are_a_start_up_error() {
        let secret = "s".repeat(32);
        let both = config(&[BASE[0], BASE[1], BASE[2], ("JWT_SECRET", &secret)]).unwrap_err();
        assert!(both.0.contains("both set"), "{both}");
    }
}
