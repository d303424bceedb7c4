//! One `user.created` event -> at most one welcome email, however often SNS/SQS deliver it.
//!
//! Before sending, the consumer claims the event id (a conditional write with a lease and an
//! owner token of its own). The first claim wins; a duplicate finds the event already sent and
//! succeeds without sending; a duplicate that arrives while another consumer holds a live lease
//! fails, so SQS retries it after the visibility timeout, when the outcome is known. A failed
//! send releases the claim, so the retry can send. The one window left, a crash between SES
//! accepting the email and the claim being marked sent, resends after the lease expires: SES
//! has no idempotency key to close it.
//! The lease must outlast a send (the function's timeout) and expire before the message is
//! delivered again (the queue's visibility timeout), or a crashed send would end in the DLQ.
//!
//! Only the owner settles a claim: `mark_sent` and `release` carry the token `claim` returned,
//! so a consumer whose lease ran out while it was sending, and whose claim another consumer
//! has taken over since, can neither delete nor overwrite the new owner's claim.
//!
//! The recipient's address is personal data: nothing here logs it, and a transport error that
//! quotes it (SES's sandbox names unverified recipients) has it redacted before it travels on.

use super::welcome::{Email, welcome};
use std::fmt;
use std::future::Future;
use user_events::UserCreated;
use uuid::Uuid;

/// Who holds a claim: a random id, written into the claim as its owner. Only its holder can
/// mark the claim sent or release it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(Uuid);

impl ClaimToken {
    /// A fresh, random token: one per claim taken.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for ClaimToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours, held by this token: send, then mark it sent (or release it on failure).
    Acquired(ClaimToken),
    /// Sent before: nothing to do.
    AlreadySent,
    /// Another consumer is sending it right now.
    InProgress,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PortError(pub String);

/// Why marking a claim sent or releasing it did not happen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettleError {
    /// The claim is not ours (any more): our lease ran out and another consumer took the claim
    /// over, or it is gone, or (for a release) it is already sent. Nothing was changed.
    #[error("the claim is not ours any more (our lease expired and another consumer took it over, or it was settled)")]
    NotOwner,
    #[error("claim store: {0}")]
    Port(PortError),
}

/// Idempotency records keyed by event id.
pub trait ClaimStore: Send + Sync {
    fn claim(&self, event_id: Uuid) -> impl Future<Output = Result<Claim, PortError>> + Send;
    /// Records the send, if `token` still owns the claim; never creates a record.
    fn mark_sent(
        &self,
        event_id: Uuid,
        token: &ClaimToken,
        message_id: &str,
    ) -> impl Future<Output = Result<(), SettleError>> + Send;
    /// Deletes a claim still being sent, if `token` owns it; a sent record is never deleted.
    fn release(&self, event_id: Uuid, token: &ClaimToken) -> impl Future<Output = Result<(), SettleError>> + Send;
}

/// Sends an email; returns the transport's message id.
pub trait Mailer: Send + Sync {
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, PortError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent { message_id: String },
    Duplicate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliverError {
    #[error("another consumer is sending event {0}; retry later")]
    InProgress(Uuid),
    #[error("claim store: {0}")]
    Claims(PortError),
    #[error("sending failed: {0}")]
    Send(PortError),
}

pub struct Deliver<C, M> {
    pub claims: C,
    pub mailer: M,
}

impl<C: ClaimStore, M: Mailer> Deliver<C, M> {
    pub async fn run(&self, event: &UserCreated) -> Result<Delivered, DeliverError> {
        let event_id = event.event_id;
        let token = match self.claims.claim(event_id).await.map_err(DeliverError::Claims)? {
            Claim::AlreadySent => return Ok(Delivered::Duplicate),
            Claim::InProgress => return Err(DeliverError::InProgress(event_id)),
            Claim::Acquired(token) => token,
        };
        let email = welcome(&event.user);
        match self.mailer.send(&email).await {
            Ok(message_id) => {
                // SES has the email, so the message succeeded whatever happens to the claim:
                // failing it would only have SQS deliver it again.
                self.mark_sent(event_id, &token, &message_id).await;
                Ok(Delivered::Sent { message_id })
            }
            Err(e) => {
                self.release(event_id, &token).await;
                Err(DeliverError::Send(redact(e, &email.to)))
            }
        }
    }

    async fn mark_sent(&self, event_id: Uuid, token: &ClaimToken, message_id: &str) {
        match self.claims.mark_sent(event_id, token, message_id).await {
            Ok(()) => {}
            // Our lease ran out mid-send and another consumer owns the claim now: it may send
            // a second email (the window SES's lack of an idempotency key leaves). Its claim
            // is left alone.
            Err(SettleError::NotOwner) => tracing::warn!(
                event_id = %event_id,
                "email sent, but our claim expired and another consumer took it over: not marked sent; it may be sent twice"
            ),
            // The lease still guards retries until it expires.
            Err(SettleError::Port(e)) => {
                tracing::warn!(event_id = %event_id, error = %e, "email sent but not marked sent")
            }
        }
    }

    async fn release(&self, event_id: Uuid, token: &ClaimToken) {
        match self.claims.release(event_id, token).await {
            Ok(()) => {}
            // Another consumer took the expired claim over: its outcome decides; our retry will
            // find it sent, in progress, or released.
            Err(SettleError::NotOwner) => tracing::warn!(
                event_id = %event_id,
                "send failed, and our claim expired and another consumer took it over: left to it"
            ),
            // The retry finds the claim in progress until the lease expires, then sends.
            Err(SettleError::Port(e)) => {
                tracing::warn!(event_id = %event_id, error = %e, "could not release the claim")
            }
        }
    }
}

/// The error without the recipient's address in it (in any ASCII case), so it can be logged.
fn redact(error: PortError, address: &str) -> PortError {
    if address.is_empty() {
        return error;
    }
    // ASCII lower-casing keeps every byte where it was, so the offsets found in `lower` are
    // offsets in `text` (non-ASCII letters are matched exactly).
    let text = error.0;
    let (lower, needle) = (text.to_ascii_lowercase(), address.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[rest..at]);
        out.push_str("<recipient>");
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    PortError(out)
}

#[cfg(test)]
pub(crate) mod doubles {
    //! In-memory ports for the core's unit tests; the DynamoDB and SES adapters are tested
    //! against DynamoDB Local and LocalStack in tests/.
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Record {
        pub owner: ClaimToken,
        /// The transport's message id, once sent.
        pub sent: Option<String>,
    }

    #[derive(Default)]
    pub struct MemoryClaims {
        pub state: Mutex<HashMap<Uuid, Record>>,
        /// Event ids whose claim another consumer takes over as soon as it is acquired, as if
        /// our lease had run out mid-send.
        pub taken_over: Mutex<HashSet<Uuid>>,
    }

    impl ClaimStore for MemoryClaims {
        async fn claim(&self, id: Uuid) -> Result<Claim, PortError> {
            let mut state = self.state.lock().unwrap();
            Ok(match state.get(&id) {
                None => {
                    let token = ClaimToken::new();
                    let owner = if self.taken_over.lock().unwrap().contains(&id) {
                        ClaimToken::new()
                    } else {
                        token.clone()
                    };
                    state.insert(id, Record { owner, sent: None });
                    Claim::Acquired(token)
                }
                Some(Record { sent: Some(_), .. }) => Claim::AlreadySent,
                Some(Record { sent: None, .. }) => Claim::InProgress,
            })
        }
        async fn mark_sent(&self, id: Uuid, token: &ClaimToken, message_id: &str) -> Result<(), SettleError> {
            match self.state.lock().unwrap().get_mut(&id) {
                Some(record) if record.owner == *token => {
                    record.sent = Some(message_id.to_owned());
                    Ok(())
                }
                _ => Err(SettleError::NotOwner),
            }
        }
        async fn release(&self, id: Uuid, token: &ClaimToken) -> Result<(), SettleError> {
            let mut state = self.state.lock().unwrap();
            match state.get(&id) {
                Some(record) if record.owner == *token && record.sent.is_none() => {
                    state.remove(&id);
                    Ok(())
                }
                _ => Err(SettleError::NotOwner),
            }
        }
    }

    /// Records what it sends; fails for addresses starting with `fail` (quoting the address,
    /// as SES's sandbox does for unverified recipients), panics for `panic`.
    #[derive(Default)]
    pub struct MemoryMailer {
        pub sent: Mutex<Vec<Email>>,
    }

    impl Mailer for MemoryMailer {
        async fn send(&self, email: &Email) -> Result<String, PortError> {
            if email.to.starts_with("panic") {
                panic!("mailer exploded");
            }
            if email.to.starts_with("fail") {
                return Err(PortError(format!(
                    "MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1: {}",
                    email.to.to_uppercase()
                )));
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(email.clone());
            Ok(format!("msg-{}", sent.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::doubles::*;
    use super::*;
    use lambda_support::testing::{Logs, logs};

    pub fn event(email: &str) -> UserCreated {
        user_events::testing::user_created("Ann", email)
    }

    fn deliver() -> Deliver<MemoryClaims, MemoryMailer> {
        Deliver {
            claims: MemoryClaims::default(),
            mailer: MemoryMailer::default(),
        }
    }

    #[tokio::test]
    async fn sends_once_and_treats_redelivery_as_done() {
        let d = deliver();
        let e = event("ann@x.io");
        assert!(matches!(d.run(&e).await, Ok(Delivered::Sent { .. })));
        assert_eq!(d.run(&e).await, Ok(Delivered::Duplicate));
        assert_eq!(d.mailer.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_send_releases_the_claim_for_the_retry() {
        let d = deliver();
        let e = event("fail@x.io");
        assert!(matches!(d.run(&e).await, Err(DeliverError::Send(_))));
        assert!(d.claims.state.lock().unwrap().is_empty(), "claim released");
    }

    #[tokio::test]
    async fn a_live_claim_of_another_consumer_fails_this_delivery() {
        let d = deliver();
        let e = event("ann@x.io");
        d.claims.claim(e.event_id).await.unwrap();
        assert_eq!(d.run(&e).await, Err(DeliverError::InProgress(e.event_id)));
        assert!(d.mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn only_the_owner_settles_a_claim() {
        let claims = MemoryClaims::default();
        let id = Uuid::new_v4();
        let Ok(Claim::Acquired(token)) = claims.claim(id).await else {
            panic!("a new claim is acquired")
        };
        let other = ClaimToken::new();
        assert_ne!(token, other, "every claim has a token of its own");
        assert_eq!(claims.release(id, &other).await, Err(SettleError::NotOwner));
        assert_eq!(claims.mark_sent(id, &other, "m").await, Err(SettleError::NotOwner));
        assert_eq!(
            claims.mark_sent(Uuid::new_v4(), &token, "m").await,
            Err(SettleError::NotOwner)
        );
        claims.mark_sent(id, &token, "m").await.unwrap();
        assert_eq!(
            claims.release(id, &token).await,
            Err(SettleError::NotOwner),
            "sent is final"
        );
    }

    #[tokio::test]
    async fn an_email_sent_after_our_claim_was_taken_over_succeeds_and_leaves_the_new_owner_alone() {
        let logs = logs();
        let d = deliver();
        let e = event("ann@x.io");
        d.claims.taken_over.lock().unwrap().insert(e.event_id);
        assert!(
            matches!(d.run(&e).await, Ok(Delivered::Sent { .. })),
            "the email went out: the message is done"
        );
        assert_eq!(d.mailer.sent.lock().unwrap().len(), 1);
        let record = d.claims.state.lock().unwrap()[&e.event_id].clone();
        assert_eq!(record.sent, None, "the new owner's claim is not marked by us");
        assert_warned_of_takeover(&logs, &e);
    }

    fn assert_warned_of_takeover(logs: &Logs, e: &UserCreated) {
        let lines = logs.lines_with(&e.event_id.to_string());
        assert!(
            lines
                .iter()
                .any(|l| l.contains("WARN") && l.contains("another consumer took it over")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_send_after_our_claim_was_taken_over_fails_and_leaves_the_new_owner_alone() {
        let logs = logs();
        let d = deliver();
        let e = event("fail@x.io");
        d.claims.taken_over.lock().unwrap().insert(e.event_id);
        assert!(
            matches!(d.run(&e).await, Err(DeliverError::Send(_))),
            "not sent: SQS retries it"
        );
        assert!(
            d.claims.state.lock().unwrap().contains_key(&e.event_id),
            "the new owner's claim is not released by us"
        );
        assert_warned_of_takeover(&logs, &e);
    }

    #[tokio::test]
    async fn a_send_error_that_quotes_the_recipient_is_redacted() {
        let d = deliver();
        let e = event("fail.Someone@X.io");
        let Err(DeliverError::Send(PortError(text))) = d.run(&e).await else {
            panic!("the send fails")
        };
        assert!(
            text.contains("failed the check") && text.contains("<recipient>"),
            "{text}"
        );
        assert!(!text.to_lowercase().contains("someone@x.io"), "{text}");
    }

    #[test]
    fn redaction_replaces_every_spelling_and_nothing_else() {
        let r = |text: &str, address: &str| redact(PortError(text.into()), address).0;
        assert_eq!(r("to a@b.io and A@B.IO.", "a@b.io"), "to <recipient> and <recipient>.");
        assert_eq!(r("throttled", "a@b.io"), "throttled");
        assert_eq!(r("x", ""), "x");
        assert_eq!(r("İ to ü@b.io", "ü@b.io"), "İ to <recipient>", "non-ASCII text");
    }
}
