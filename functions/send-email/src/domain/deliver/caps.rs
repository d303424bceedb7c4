//! The recipient's caps: how many emails one address may get in an hour, counted in a log per
//! address that every consumer sees.

use super::PortError;
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// What kind of email an event is, for the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Verification,
    Notice,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Verification => "verification",
            Kind::Notice => "notice",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Kind::Verification, Kind::Notice]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One email an address was sent (or is being sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub event_id: Uuid,
    pub kind: Kind,
    pub at: OffsetDateTime,
}

/// How many emails one address may get: `per_hour` in any hour, of which one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_hour: u32,
}

/// The window the caps count over.
pub const CAP_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    Capped,
}

impl Caps {
    /// The template's default, `EmailsPerAddressPerHour`.
    pub const DEFAULT: Self = Self { per_hour: 3 };

    /// Whether `next` may go to an address that was sent `log` (any age: only the last hour
    /// counts). An event already in the log is allowed again: a retry is no new email.
    pub fn admit(&self, log: &[Sent], next: &Sent) -> Admission {
        if log.iter().any(|s| s.event_id == next.event_id) {
            return Admission::Allowed;
        }
        let recent: Vec<&Sent> = log.iter().filter(|s| Self::within_window(s, next.at)).collect();
        let notice_again = next.kind == Kind::Notice && recent.iter().any(|s| s.kind == Kind::Notice);
        if recent.len() >= self.per_hour as usize || notice_again {
            Admission::Capped
        } else {
            Admission::Allowed
        }
    }

    /// The log to keep once `next` is admitted: the last hour's, and `next`.
    pub fn kept(log: &[Sent], next: Sent) -> Vec<Sent> {
        let mut kept: Vec<Sent> = log
            .iter()
            .filter(|s| Self::within_window(s, next.at) && s.event_id != next.event_id)
            .copied()
            .collect();
        kept.push(next);
        kept
    }

    fn within_window(sent: &Sent, now: OffsetDateTime) -> bool {
        now - sent.at < CAP_WINDOW
    }
}

/// The emails each address was sent lately, kept where every consumer sees them.
pub trait RecipientLog: Send + Sync {
    /// Adds `next` to the log of `email_key` if `caps` admit it; atomically, so that
    /// consumers at once never send an address more than its caps between them.
    fn admit(
        &self,
        email_key: &str,
        next: Sent,
        caps: Caps,
    ) -> impl Future<Output = Result<Admission, PortError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_count_the_last_hour_and_an_event_once() {
        let now = OffsetDateTime::now_utc();
        let sent = |minutes_ago: i64, kind| Sent {
            event_id: Uuid::new_v4(),
            kind,
            at: now - time::Duration::minutes(minutes_ago),
        };
        let next = sent(0, Kind::Verification);
        let caps = Caps { per_hour: 2 };
        let log = [
            sent(61, Kind::Verification),
            sent(61, Kind::Notice),
            sent(30, Kind::Verification),
        ];
        assert_eq!(
            caps.admit(&log, &next),
            Admission::Allowed,
            "two of them are older than an hour"
        );
        let kept = Caps::kept(&log, next);
        assert_eq!(kept.len(), 2, "the old ones are dropped");
        assert_eq!(caps.admit(&kept, &sent(0, Kind::Verification)), Admission::Capped);
        assert_eq!(caps.admit(&kept, &next), Admission::Allowed, "a retry is no new email");
        assert_eq!(
            caps.admit(&[sent(59, Kind::Notice)], &sent(0, Kind::Notice)),
            Admission::Capped
        );
        assert_eq!(
            caps.admit(&[sent(61, Kind::Notice)], &sent(0, Kind::Notice)),
            Admission::Allowed
        );
    }
}
