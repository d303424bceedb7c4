//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub users_table: String,
    pub topic_arn: String,
    pub bcrypt_cost: u32,
    /// How long a sign-up stays pending before its address can sign up afresh
    /// (`PENDING_TTL_HOURS`, template parameter `PendingTtlHours`).
    pub pending_ttl: Duration,
    /// Sign-ups and resends one client (source IP) may send per window
    /// (`SIGNUP_LIMIT_PER_IP`, `SIGNUP_LIMIT_WINDOW_SECONDS`).
    pub limit_per_ip: u32,
    pub limit_window: Duration,
}

/// The template's defaults too (PendingTtlHours, SignupLimitPerIp, SignupLimitWindowSeconds):
/// Supabase's default for sign-ups per IP is 30 per 5 minutes.
pub const DEFAULT_PENDING_TTL_HOURS: f64 = 24.0;
pub const DEFAULT_LIMIT_PER_IP: u32 = 30;
pub const DEFAULT_LIMIT_WINDOW_SECONDS: u64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &str| get(key).ok_or_else(|| ConfigError(format!("{key} is not set")));
        let bcrypt_cost = parse(&get, "BCRYPT_COST", 12)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(ConfigError(format!("BCRYPT_COST must be 4-31, got {bcrypt_cost}")));
        }
        let pending_hours: f64 = parse(&get, "PENDING_TTL_HOURS", DEFAULT_PENDING_TTL_HOURS)?;
        // A second at least (tests expire sign-ups that fast); a week at most (a pending
        // address blocks nobody, but nor should it linger).
        let pending_ttl = Duration::try_from_secs_f64(pending_hours * 3600.0)
            .ok()
            .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(7 * 24 * 3600)).contains(d))
            .ok_or_else(|| ConfigError(format!("PENDING_TTL_HOURS must be 1 s to 168 h, got {pending_hours}")))?;
        let limit_per_ip = parse(&get, "SIGNUP_LIMIT_PER_IP", DEFAULT_LIMIT_PER_IP)?;
        if limit_per_ip == 0 {
            return Err(ConfigError("SIGNUP_LIMIT_PER_IP must be at least 1".into()));
        }
        let window_seconds = parse(&get, "SIGNUP_LIMIT_WINDOW_SECONDS", DEFAULT_LIMIT_WINDOW_SECONDS)?;
        if !(1..=86_400).contains(&window_seconds) {
            return Err(ConfigError(format!(
                "SIGNUP_LIMIT_WINDOW_SECONDS must be 1-86400, got {window_seconds}"
            )));
        }
        Ok(Self {
            users_table: required("USERS_TABLE")?,
            topic_arn: required("USER_EVENTS_TOPIC_ARN")?,
            bcrypt_cost,
            pending_ttl,
            limit_per_ip,
            limit_window: Duration::from_secs(window_seconds),
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

    const BASE: [(&str, &str); 2] = [("USERS_TABLE", "t"), ("USER_EVENTS_TOPIC_ARN", "arn")];

    fn with(extra: (&str, &str)) -> Result<Config, ConfigError> {
        config(&[BASE[0], BASE[1], extra])
    }

    #[test]
    fn defaults() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.pending_ttl, Duration::from_secs(24 * 3600));
        assert_eq!((c.limit_per_ip, c.limit_window), (30, Duration::from_secs(300)));
        assert_eq!(
            with(("PENDING_TTL_HOURS", "0.001")).unwrap().pending_ttl,
            Duration::from_secs_f64(3.6)
        );
    }

    #[test]
    fn refuses_to_start_without_what_it_needs() {
        assert!(config(&BASE[1..]).unwrap_err().0.contains("USERS_TABLE"));
        assert!(config(&BASE[..1]).unwrap_err().0.contains("USER_EVENTS_TOPIC_ARN"));
        for bad in [
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "x"),
            ("PENDING_TTL_HOURS", "0"),
            ("PENDING_TTL_HOURS", "169"),
            ("PENDING_TTL_HOURS", "-1"),
            ("SIGNUP_LIMIT_PER_IP", "0"),
            ("SIGNUP_LIMIT_WINDOW_SECONDS", "0"),
        ] {
            let error = with(bad).unwrap_err().0;
            assert!(error.contains(bad.0), "{bad:?}: {error}");
        }
    }
}
