//! Rate limits counted in the users table, so that no new service is needed: a fixed window
//! per subject (a source IP, say), one item per window (`LIMIT#<limit>#<window start>#<subject>`)
//! whose count one atomic update raises and returns, deleted by the table's TTL once the
//! window is over. A fixed window lets up to twice the limit through across a window's edge;
//! that is the price of one write per request and no read.

use crate::users::StoreError;
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;

/// One limit: at most `max` hits per subject in each `window`, counted under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Which limit: counters of two limits never mix.
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit until the window ends: `retry_after` from now (at least a second).
    Denied {
        retry_after: Duration,
    },
}

impl Limit {
    /// The window `now` falls in: its start, in epoch seconds, and the time left in it.
    pub fn window_at(&self, now: OffsetDateTime) -> (i64, Duration) {
        let length = self.window.as_secs().max(1) as i64;
        let start = now.unix_timestamp().div_euclid(length) * length;
        let left = (start + length) as f64 - (now.unix_timestamp_nanos() as f64 / 1e9);
        (start, Duration::from_secs_f64(left.max(1.0).ceil()))
    }

    /// What `count` hits in the window of `now` mean.
    pub fn decide(&self, count: u64, now: OffsetDateTime) -> Decision {
        if count <= u64::from(self.max) {
            Decision::Allowed
        } else {
            Decision::Denied {
                retry_after: self.window_at(now).1,
            }
        }
    }
}

pub trait RateLimiter: Send + Sync {
    /// Counts one hit of `subject` against `limit` at `now`, and says whether it is allowed.
    fn hit(
        &self,
        limit: &Limit,
        subject: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;

    /// Takes one of the `limit.max` slots of `subject` in the window of `now`, atomically:
    /// denied once they are all taken, however many ask at once (a hit counts first and
    /// decides after; this decides first).
    fn take(
        &self,
        limit: &Limit,
        subject: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;

    /// Gives back a slot [`RateLimiter::take`] took at `taken_at` (in that window).
    fn give_back(
        &self,
        limit: &Limit,
        subject: &str,
        taken_at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_what_is_left_of_one_is_at_least_a_second() {
        let limit = Limit {
            name: "t",
            max: 2,
            window: Duration::from_secs(300),
        };
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        assert_eq!(limit.window_at(at(600)), (600, Duration::from_secs(300)));
        assert_eq!(limit.window_at(at(899)), (600, Duration::from_secs(1)));
        assert_eq!(limit.window_at(at(700)), (600, Duration::from_secs(200)));
        assert_eq!(limit.decide(2, at(700)), Decision::Allowed);
        assert_eq!(
            limit.decide(3, at(700)),
            Decision::Denied {
                retry_after: Duration::from_secs(200)
            }
        );
    }
}
