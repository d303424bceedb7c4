//! Configuration from the environment, read once at init.

use crate::domain::deliver::Caps;
use lambda_support::config::{ConfigError, Vars};
use std::time::Duration;
use tokens::key::SecretSource;

/// How emails leave (`EMAIL_TRANSPORT`): through SES, or only into the log (dry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTransport {
    Ses,
    Log,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Holds the idempotency claims and the recipient logs.
    pub table: String,
    pub from: String,
    pub transport: MailTransport,
    /// `EMAIL_CONFIGURATION_SET`: the SES configuration set every send names, if any.
    pub configuration_set: Option<String>,
    /// `EMAIL_MAX_SENDS_PER_SECOND` as the least time between two sends' starts in this
    /// instance; `None` (unset or empty) for no limit.
    pub send_interval: Option<Duration>,
    /// `EMAILS_PER_ADDRESS_PER_HOUR` (template parameter `EmailsPerAddressPerHour`, 3).
    pub caps: Caps,
    /// The verification links: the key (`VERIFY_TOKEN_SECRET_PARAM`, an SSM SecureString, or
    /// `VERIFY_TOKEN_SECRET` for local runs), the tokens' lifetime (`VERIFY_TOKEN_TTL_HOURS`,
    /// 24) and issuer (`JWT_ISSUER`), and the page they open (`VERIFY_URL_BASE`).
    pub verify_key: SecretSource,
    pub verify_ttl_seconds: i64,
    pub issuer: String,
    pub verify_url_base: String,
    /// `EMAIL_QUEUE_URL`: the queue this function is fed from, where a message over the send
    /// rate goes back for later; unset, such a message fails instead.
    pub queue_url: Option<String>,
}

/// The parameter's name, never the secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("transport", &self.transport)
            .field("caps", &self.caps)
            .field("verify_key", &self.verify_key.describe())
            .field("verify_url_base", &self.verify_url_base)
            .finish_non_exhaustive()
    }
}

/// The variable that caps this instance's SES send rate.
pub const MAX_SENDS_PER_SECOND: &str = "EMAIL_MAX_SENDS_PER_SECOND";

impl Config {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let (table, from) = (vars.required("USERS_TABLE")?, vars.required("EMAIL_FROM")?);
        let transport = match vars.get("EMAIL_TRANSPORT").as_deref() {
            None | Some("ses") => MailTransport::Ses,
            Some("log") => MailTransport::Log,
            Some(other) => return Err(ConfigError(format!("EMAIL_TRANSPORT={other:?}: use ses or log"))),
        };
        let verify_ttl = vars.hours(
            "VERIFY_TOKEN_TTL_HOURS",
            24.0,
            Duration::from_secs(1)..=Duration::from_secs(tokens::verification::MAX_TTL_SECONDS as u64),
        )?;
        let verify_url_base = vars.required("VERIFY_URL_BASE")?;
        if !(verify_url_base.starts_with("https://") || verify_url_base.starts_with("http://")) {
            return Err(ConfigError(format!(
                "VERIFY_URL_BASE={verify_url_base:?} is not an http(s) URL"
            )));
        }
        Ok(Self {
            table,
            from,
            transport,
            configuration_set: vars.get("EMAIL_CONFIGURATION_SET"),
            send_interval: vars.get(MAX_SENDS_PER_SECOND).map(|v| send_interval(&v)).transpose()?,
            caps: Caps {
                per_hour: vars.number("EMAILS_PER_ADDRESS_PER_HOUR", Caps::DEFAULT.per_hour, 1..=u32::MAX)?,
            },
            verify_key: SecretSource::from_vars(vars, "VERIFY_TOKEN_SECRET", "VERIFY_TOKEN_SECRET_PARAM")?,
            verify_ttl_seconds: verify_ttl.as_secs_f64().round() as i64,
            issuer: tokens::issuer(vars),
            verify_url_base,
            queue_url: vars.get("EMAIL_QUEUE_URL"),
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
        let secret = "s".repeat(32);
        let base = [
            ("USERS_TABLE", "t"),
            ("EMAIL_FROM", "f@x.io"),
            ("VERIFY_TOKEN_SECRET", &secret),
            ("VERIFY_URL_BASE", "https://x.example/users/verify"),
        ];
        let vars: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        Config::from_vars(&Vars::pairs(&vars))
    }

    #[test]
    fn ses_by_default_and_clear_errors() {
        assert_eq!(config(&[]).unwrap().transport, MailTransport::Ses);
        assert_eq!(
            config(&[("EMAIL_TRANSPORT", "log")]).unwrap().transport,
            MailTransport::Log
        );
        assert!(config(&[("EMAIL_TRANSPORT", "smtp")]).is_err());
        assert!(
            Config::from_vars(&Vars::pairs(&[]))
                .unwrap_err()
                .0
                .contains("USERS_TABLE")
        );
    }

    #[test]
    fn the_links_and_caps_have_defaults_and_bounds() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.caps.per_hour, c.verify_ttl_seconds, c.issuer.as_str()),
            (3, 24 * 3600, "user-signup")
        );
        assert!(!format!("{c:?}").contains(&"s".repeat(32)), "no secret in Debug");
        assert_eq!(
            config(&[("VERIFY_TOKEN_TTL_HOURS", "0.001")])
                .unwrap()
                .verify_ttl_seconds,
            4
        );
        for bad in [
            ("VERIFY_TOKEN_TTL_HOURS", "0"),
            ("VERIFY_TOKEN_TTL_HOURS", "169"),
            ("EMAILS_PER_ADDRESS_PER_HOUR", "0"),
            ("VERIFY_URL_BASE", "javascript:alert(1)"),
        ] {
            let error = config(&[bad]).unwrap_err().0;
            assert!(error.contains(bad.0), "{bad:?}: {error}");
        }
    }

    fn with_rate(rate: &str) -> Result<Config, ConfigError> {
        config(&[(MAX_SENDS_PER_SECOND, rate)])
    }

    #[test]
    fn the_send_rate_is_unlimited_unless_set_and_a_positive_number_when_set() {
        assert_eq!(config(&[]).unwrap().send_interval, None);
        // Empty is unset (the template's default for "no limit"), as it always was from the
        // environment.
        assert_eq!(with_rate("").unwrap().send_interval, None);
        let interval = |rate: &str| with_rate(rate).unwrap().send_interval.unwrap();
        assert_eq!(interval("14"), Duration::from_secs_f64(1.0 / 14.0));
        assert_eq!(interval("2.5"), Duration::from_millis(400));
        assert_eq!(interval("0.5"), Duration::from_secs(2));
        assert_eq!(interval(" 1 "), Duration::from_secs(1));
        for bad in ["0", "-1", "0.0", "-0", "abc", "1/s", "NaN", "inf", "1e-320", " "] {
            let err = with_rate(bad).unwrap_err().0;
            assert!(err.contains(MAX_SENDS_PER_SECOND), "{bad:?}: {err}");
        }
    }
}
