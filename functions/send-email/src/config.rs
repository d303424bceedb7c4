//! Configuration from the environment, read once at init.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ses,
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Holds the idempotency claims.
    pub table: String,
    pub from: String,
    pub transport: Transport,
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
        let transport = match get("EMAIL_TRANSPORT").as_deref() {
            None | Some("ses") => Transport::Ses,
            Some("log") => Transport::Log,
            Some(other) => return Err(ConfigError(format!("EMAIL_TRANSPORT={other:?}: use ses or log"))),
        };
        Ok(Self {
            table: required("USERS_TABLE")?,
            from: required("EMAIL_FROM")?,
            transport,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ses_by_default_and_clear_errors() {
        let base = |k: &str| match k {
            "USERS_TABLE" => Some("t".to_owned()),
            "EMAIL_FROM" => Some("f@x.io".to_owned()),
            _ => None,
        };
        assert_eq!(Config::from_lookup(base).unwrap().transport, Transport::Ses);
        let log = |k: &str| {
            if k == "EMAIL_TRANSPORT" {
                Some("log".to_owned())
            } else {
                base(k)
            }
        };
        assert_eq!(Config::from_lookup(log).unwrap().transport, Transport::Log);
        let smtp = |k: &str| {
            if k == "EMAIL_TRANSPORT" {
                Some("smtp".to_owned())
            } else {
                base(k)
            }
        };
        assert!(Config::from_lookup(smtp).is_err());
        assert!(Config::from_lookup(|_| None).unwrap_err().0.contains("USERS_TABLE"));
    }
}
