//! Configuration from the environment, read once at init. Anything missing or out of range
//! stops the function from starting, with a message that names the variable.

use lambda_support::config::{ConfigError, Vars};
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

impl Config {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        // A second at least (tests expire sign-ups that fast); a week at most (a pending
        // address blocks nobody, but nor should it linger).
        let pending_range = Duration::from_secs(1)..=Duration::from_secs(7 * 24 * 3600);
        Ok(Self {
            users_table: vars.required("USERS_TABLE")?,
            topic_arn: vars.required("USER_EVENTS_TOPIC_ARN")?,
            bcrypt_cost: vars.number("BCRYPT_COST", 12, 4..=31)?,
            pending_ttl: vars.hours("PENDING_TTL_HOURS", DEFAULT_PENDING_TTL_HOURS, pending_range)?,
            limit_per_ip: vars.number("SIGNUP_LIMIT_PER_IP", DEFAULT_LIMIT_PER_IP, 1..=u32::MAX)?,
            limit_window: vars.seconds("SIGNUP_LIMIT_WINDOW_SECONDS", DEFAULT_LIMIT_WINDOW_SECONDS, 1..=86_400)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&Vars::pairs(pairs))
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
