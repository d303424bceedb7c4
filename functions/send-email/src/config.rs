//! Configuration from the environment, read once at init.

use std::time::Duration;

/// How emails leave (`EMAIL_TRANSPORT`): through SES, or only into the log (dry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTransport {
    Ses,
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Holds the idempotency claims.
    pub table: String,
    pub from: String,
    pub transport: MailTransport,
    /// `EMAIL_MAX_SENDS_PER_SECOND` as the least time between two sends' starts in this
    /// instance; `None` (unset or empty) for no limit.
    pub send_interval: Option<Duration>,
}

/// The variable that caps this instance's SES send rate.
pub const MAX_SENDS_PER_SECOND: &str = "EMAIL_MAX_SENDS_PER_SECOND";

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
            None | Some("ses") => MailTransport::Ses,
            Some("log") => MailTransport::Log,
            Some(other) => return Err(ConfigError(format!("EMAIL_TRANSPORT={other:?}: use ses or log"))),
        };
        Ok(Self {
            table: required("USERS_TABLE")?,
            from: required("EMAIL_FROM")?,
            transport,
            send_interval: get(MAX_SENDS_PER_SECOND).map(|v| send_interval(&v)).transpose()?,
        })
    }
}

/// A positive decimal number of sends per second, as the time between two sends.
fn send_interval(value: &str) -> Result<Duration, ConfigError> {
    let invalid = || {
        ConfigError(format!(
            "{MAX_SENDS_PER_SECOND}={value:?}: a positive number of sends per second (e.g. 14 or 0.5), or unset for no limit"
        ))
    };
    let rate: f64 = value.trim().parse().map_err(|_| invalid())?;
    if !rate.is_finite() || rate <= 0.0 {
        return Err(invalid());
    }
    // A rate so small that its interval overflows a Duration is no rate either.
    Duration::try_from_secs_f64(1.0 / rate).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The required variables, with `extra` set (or overriding) on top.
    fn config(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let base = [("USERS_TABLE", "t"), ("EMAIL_FROM", "f@x.io")];
        let vars: Vec<(String, String)> = base
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|key| vars.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn ses_by_default_and_clear_errors() {
        assert_eq!(config(&[]).unwrap().transport, MailTransport::Ses);
        assert_eq!(
            config(&[("EMAIL_TRANSPORT", "log")]).unwrap().transport,
            MailTransport::Log
        );
        assert!(config(&[("EMAIL_TRANSPORT", "smtp")]).is_err());
        assert!(Config::from_lookup(|_| None).unwrap_err().0.contains("USERS_TABLE"));
    }

    fn with_rate(rate: &str) -> Result<Config, ConfigError> {
        config(&[(MAX_SENDS_PER_SECOND, rate)])
    }

    #[test]
    fn the_send_rate_is_unlimited_unless_set_and_a_positive_number_when_set() {
        assert_eq!(config(&[]).unwrap().send_interval, None);
        let interval = |rate: &str| with_rate(rate).unwrap().send_interval.unwrap();
        assert_eq!(interval("14"), Duration::from_secs_f64(1.0 / 14.0));
        assert_eq!(interval("2.5"), Duration::from_millis(400));
        assert_eq!(interval("0.5"), Duration::from_secs(2));
        assert_eq!(interval(" 1 "), Duration::from_secs(1));
        for bad in ["0", "-1", "0.0", "-0", "abc", "1/s", "NaN", "inf", "1e-320", ""] {
            let err = with_rate(bad).unwrap_err().0;
            assert!(err.contains(MAX_SENDS_PER_SECOND), "{bad:?}: {err}");
        }
    }
}
