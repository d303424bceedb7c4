//! One user event -> at most one email, however often SNS/SQS deliver it, and no more emails
//! to one address than its caps allow.
//!
//! Before sending, the consumer claims the event id (a conditional write with a lease and an
//! owner token of its own). The first claim wins; a duplicate finds the event already sent and
//! succeeds without sending; a duplicate that arrives while another consumer holds a live lease
//! fails, so SQS retries it after the visibility timeout, when the outcome is known. A send
//! that provably did not go out ([`SendError::NotSent`]) releases the claim, so the retry can
//! send.
//!
//! SES has no idempotency key, so a send whose outcome is unknown (the request went out and
//! no answer came: [`SendError::OutcomeUnknown`]) is neither retried at once nor released: its
//! claim is kept, marked `unknown`, and the message fails. SQS delivers it again after the
//! visibility timeout, long after the claim's lease has run out, and that delivery sends: the
//! product's promise is an email the user can sign up with, and a verification email that
//! never arrived locks the address for `PendingTtlHours`, where a second one costs a
//! duplicate. So an email is sent twice only when SES took the request and did not answer
//! within its whole attempt timeout (the SES adapter's), and when a consumer crashes between
//! SES accepting the email and the claim being marked sent. Each is counted
//! (`EmailFailuresByCause`, `ses_outcome_unknown`).
//! The lease must outlast a send (the function's timeout) and expire before the message is
//! delivered again (the queue's visibility timeout), or a crashed send would end in the DLQ.
//!
//! Then the recipient's caps ([`Caps`]): at most so many emails an hour to one address, a
//! notice at most once an hour, whatever sent them (sign-ups, resends, notices, a publish by
//! hand). Checked here, where every email passes, in a log per address
//! ([`RecipientLog`]) that counts each event once however often it is retried. An email over a
//! cap is not sent, and its event is done (settled as sent, so a redelivery skips it).
//!
//! Only the owner settles a claim: `mark_sent` and `release` carry the token `claim` returned,
//! so a consumer whose lease ran out while it was sending, and whose claim another consumer
//! has taken over since, can neither delete nor overwrite the new owner's claim.
//!
//! The recipient's address is personal data: nothing here logs it, and a transport error that
//! quotes it (SES's sandbox names unverified recipients) has it redacted before it travels on.

use super::emails::{Email, notice, verification};
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;
use tokens::key::{Key, KeyError};
use tokens::verification::{Confirmation, VerificationKey};
use user_events::{Recipient, UserEvent, first_credential};
use uuid::Uuid;

pub use user_store::claims::{ClaimToken, SettleError};

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
    /// Marks a claim `token` owns as sent or not, nobody knows: it stays claimed until its
    /// lease runs out (a delivery after that sends again), and says why to whoever reads it.
    fn mark_unknown(&self, event_id: Uuid, token: &ClaimToken) -> impl Future<Output = Result<(), SettleError>> + Send;
}

/// Why an email is not known to be sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The transport did not take it (no connection, or it refused the request): not sent,
    /// and safe to send again.
    #[error("not sent: {0}")]
    NotSent(PortError),
    /// The request may have reached the transport, and no answer said what became of it: it
    /// may be sent. Sending again may be a second email.
    #[error("outcome unknown (it may have been sent): {0}")]
    OutcomeUnknown(PortError),
    /// Not sent because of the send rate (SES's throttling answer, or this instance's pacing):
    /// good to send later, with nothing wrong with the email.
    #[error("not sent, over the send rate: {0}")]
    Throttled(PortError),
}

impl SendError {
    fn map(self, f: impl FnOnce(PortError) -> PortError) -> Self {
        match self {
            SendError::NotSent(e) => SendError::NotSent(f(e)),
            SendError::OutcomeUnknown(e) => SendError::OutcomeUnknown(f(e)),
            SendError::Throttled(e) => SendError::Throttled(f(e)),
        }
    }
}

/// Sends an email; returns the transport's message id. Never retries a request that may have
/// reached the transport: that is the caller's decision ([`SendError::OutcomeUnknown`]).
pub trait Mailer: Send + Sync {
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, SendError>> + Send;
}

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

/// The verification links: `{base}?token=<token>`, the token minted with the verification key
/// when the email is sent, so that its lifetime starts then.
pub struct Links {
    pub key: Key<VerificationKey>,
    /// The page the link opens (`VERIFY_URL_BASE`): the API's own `GET /users/verify`, or an
    /// app's page that POSTs the token to it.
    pub base: String,
}

impl Links {
    async fn link(&self, what: &Confirmation) -> Result<(String, i64), KeyError> {
        let key = self.key.get().await?;
        let token = key.mint(what, OffsetDateTime::now_utc()).map_err(KeyError::Invalid)?;
        let separator = if self.base.contains('?') { '&' } else { '?' };
        Ok((format!("{}{separator}token={token}", self.base), key.ttl_seconds()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent {
        message_id: String,
    },
    Duplicate,
    /// Over the address's caps: not sent, and done.
    Capped,
    /// An event that is no email (`user.verified`): nothing to do.
    NotAnEmail,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliverError {
    #[error("another consumer is sending event {0}; retry later")]
    InProgress(Uuid),
    #[error("claim store: {0}")]
    Claims(PortError),
    #[error("recipient log: {0}")]
    Log(PortError),
    #[error("the verification key: {0}")]
    Key(String),
    #[error("sending failed: {0}")]
    Send(PortError),
    #[error("SES did not answer whether it sent the email; it is sent again after the claim's lease: {0}")]
    OutcomeUnknown(PortError),
    /// Over the send rate: not sent, its claim released; for later.
    #[error("over the send rate; to be sent later: {0}")]
    Throttled(PortError),
}

/// The email an event asks for, before its link is minted.
enum Wanted {
    Verification(Recipient, Confirmation),
    Notice(Recipient),
}

impl Wanted {
    fn of(event: &UserEvent) -> Option<Wanted> {
        let verification = |to: Recipient, credential_id| {
            let confirmation = Confirmation {
                user_id: to.id,
                credential_id,
                email_key: user_events::email_key(&to.email),
            };
            Wanted::Verification(to, confirmation)
        };
        match event {
            UserEvent::Created(e) => {
                let to = Recipient {
                    id: e.user.id,
                    email: e.user.email.clone(),
                };
                Some(verification(to, first_credential(e.user.id)))
            }
            UserEvent::VerificationRequested(e) => Some(verification(e.user.clone(), e.credential_id)),
            UserEvent::SignUpAttempted(e) => Some(Wanted::Notice(e.user.clone())),
            UserEvent::Verified(_) => None,
        }
    }

    fn to(&self) -> (&Recipient, Kind) {
        match self {
            Wanted::Verification(to, _) => (to, Kind::Verification),
            Wanted::Notice(to) => (to, Kind::Notice),
        }
    }
}

pub struct Deliver<C, M, L> {
    pub claims: C,
    pub mailer: M,
    pub log: L,
    pub links: Links,
    pub caps: Caps,
}

impl<C: ClaimStore, M: Mailer, L: RecipientLog> Deliver<C, M, L> {
    pub async fn run(&self, event: &UserEvent) -> Result<Delivered, DeliverError> {
        let Some(wanted) = Wanted::of(event) else {
            return Ok(Delivered::NotAnEmail);
        };
        let event_id = event.event_id();
        let token = match self.claims.claim(event_id).await.map_err(DeliverError::Claims)? {
            Claim::AlreadySent => return Ok(Delivered::Duplicate),
            Claim::InProgress => return Err(DeliverError::InProgress(event_id)),
            Claim::Acquired(token) => token,
        };
        match self.send(event_id, wanted).await {
            Ok(Some(message_id)) => {
                // SES has the email, so the message succeeded whatever happens to the claim:
                // failing it would only have SQS deliver it again.
                self.mark_sent(event_id, &token, &message_id).await;
                Ok(Delivered::Sent { message_id })
            }
            Ok(None) => {
                // Settled as sent: a redelivery is a duplicate, not a second try at the cap.
                self.mark_sent(event_id, &token, CAPPED).await;
                Ok(Delivered::Capped)
            }
            Err(SendFailed::Unknown(e)) => {
                self.mark_unknown(event_id, &token).await;
                Err(DeliverError::OutcomeUnknown(e))
            }
            Err(SendFailed::Before(e)) => {
                self.release(event_id, &token).await;
                Err(e)
            }
        }
    }

    /// Within the caps, the email, sent: its message id; `None` over the caps.
    async fn send(&self, event_id: Uuid, wanted: Wanted) -> Result<Option<String>, SendFailed> {
        let (to, kind) = wanted.to();
        let next = Sent {
            event_id,
            kind,
            at: OffsetDateTime::now_utc(),
        };
        let email_key = user_events::email_key(&to.email);
        if self
            .log
            .admit(&email_key, next, self.caps)
            .await
            .map_err(|e| SendFailed::Before(DeliverError::Log(e)))?
            == Admission::Capped
        {
            tracing::info!(kind = kind.as_str(), "over the address's caps: not sent");
            return Ok(None);
        }
        let email = match wanted {
            Wanted::Verification(to, what) => {
                let (link, ttl) = self
                    .links
                    .link(&what)
                    .await
                    .map_err(|e| SendFailed::Before(DeliverError::Key(e.to_string())))?;
                verification(&to, &link, ttl)
            }
            Wanted::Notice(to) => notice(&to),
        };
        match self.mailer.send(&email).await {
            Ok(message_id) => Ok(Some(message_id)),
            Err(e) => Err(match e.map(|e| redact(e, &email.to)) {
                SendError::NotSent(e) => SendFailed::Before(DeliverError::Send(e)),
                SendError::Throttled(e) => SendFailed::Before(DeliverError::Throttled(e)),
                SendError::OutcomeUnknown(e) => SendFailed::Unknown(e),
            }),
        }
    }

    async fn mark_unknown(&self, event_id: Uuid, token: &ClaimToken) {
        match self.claims.mark_unknown(event_id, token).await {
            Ok(()) => {}
            Err(SettleError::NotOwner) => tracing::warn!(
                event_id = %event_id,
                "send's outcome unknown, and our claim expired and another consumer took it over: left to it"
            ),
            // Still claimed as `sending` until the lease runs out: the same protection.
            Err(SettleError::Store(e)) => {
                tracing::warn!(event_id = %event_id, error = %e, "send's outcome unknown; the claim is not marked so")
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
            Err(SettleError::Store(e)) => {
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
            Err(SettleError::Store(e)) => {
                tracing::warn!(event_id = %event_id, error = %e, "could not release the claim")
            }
        }
    }
}

/// How a send ended short of a message id: before the email could have gone out (the claim
/// is released), or with the transport's outcome unknown (it is kept).
enum SendFailed {
    Before(DeliverError),
    Unknown(PortError),
}

/// The message id a claim is settled with when its email was over the caps.
pub const CAPPED: &str = "not-sent:over-the-address-caps";

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
mod tests {
    use super::*;
    use crate::testing::*;
    use lambda_support::testing::{Logs, logs};
    use user_events::testing::{sign_up_attempted, user_created, verification_requested};

    pub fn event(email: &str) -> UserEvent {
        UserEvent::Created(user_created("Ann", email))
    }

    /// The token of the link in `email`.
    fn token_in(email: &Email) -> String {
        let at = email.text.find("token=").expect("a link") + "token=".len();
        email.text[at..].split_whitespace().next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_new_user_gets_a_link_bound_to_its_first_sign_up_and_address_and_no_name() {
        let d = deliver();
        let created = user_created("Mallory: your account is locked, call +1 555", "Ann@X.io");
        d.run(&UserEvent::Created(created.clone())).await.unwrap();
        let email = d.mailer.sent.lock().unwrap()[0].clone();
        assert!(email.text.contains("https://x.example/verify?token="), "{}", email.text);
        let key = VerificationKey::for_tests(&LINK_SECRET);
        let checked = key.check(&token_in(&email)).unwrap();
        assert_eq!(
            (checked.user_id, checked.credential_id),
            (created.user.id, first_credential(created.user.id))
        );
        assert!(key.is_bound_to(&checked, "ann@x.io"));
        for text in [&email.subject, &email.text, &email.html] {
            assert!(
                !text.contains("Mallory") && !text.contains("555"),
                "no text the requester typed: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_request_again_links_its_credential_and_an_owner_gets_a_notice_without_a_link() {
        let d = deliver();
        let requested = verification_requested("ann@x.io");
        d.run(&UserEvent::VerificationRequested(requested.clone()))
            .await
            .unwrap();
        d.run(&UserEvent::SignUpAttempted(sign_up_attempted("bob@x.io")))
            .await
            .unwrap();
        let sent = d.mailer.sent.lock().unwrap().clone();
        let checked = VerificationKey::for_tests(&LINK_SECRET)
            .check(&token_in(&sent[0]))
            .unwrap();
        assert_eq!(checked.credential_id, requested.credential_id);
        assert_eq!(sent[1].subject, crate::domain::emails::NOTICE_SUBJECT);
        assert!(!sent[1].text.contains("token"));
    }

    #[tokio::test]
    async fn user_verified_is_no_email() {
        let d = deliver();
        let verified =
            user_events::UserVerified::new(OffsetDateTime::now_utc(), user_events::testing::user("Ann", "a@x.io"));
        assert_eq!(d.run(&UserEvent::Verified(verified)).await, Ok(Delivered::NotAnEmail));
        assert!(d.mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_address_gets_at_most_its_cap_an_hour_and_one_notice() {
        let d = deliver();
        let key = "ann@x.io";
        let mut outcomes = Vec::new();
        for i in 0..5 {
            let e = if i == 0 {
                event(key)
            } else {
                UserEvent::VerificationRequested(verification_requested(key))
            };
            outcomes.push(d.run(&e).await.unwrap());
        }
        let sent = outcomes.iter().filter(|o| matches!(o, Delivered::Sent { .. })).count();
        assert_eq!(sent, 3, "{outcomes:?}");
        assert_eq!(outcomes[3..], [Delivered::Capped, Delivered::Capped]);
        let capped = UserEvent::VerificationRequested(verification_requested(key));
        assert_eq!(d.run(&capped).await, Ok(Delivered::Capped));
        assert_eq!(d.run(&capped).await, Ok(Delivered::Duplicate), "a capped event is done");

        let d = deliver();
        let notice = || UserEvent::SignUpAttempted(sign_up_attempted("owner@x.io"));
        assert!(matches!(d.run(&notice()).await, Ok(Delivered::Sent { .. })));
        assert_eq!(d.run(&notice()).await, Ok(Delivered::Capped), "one notice an hour");
    }

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

    #[tokio::test]
    async fn an_unreadable_key_fails_the_message_and_frees_its_claim_and_slot() {
        struct Down;
        impl tokens::key::SecretStore for Down {
            fn read(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<tokens::key::Secret, String>> + Send + '_>> {
                Box::pin(async { Err("SSM did not answer".into()) })
            }
            fn read_version(
                &self,
                _: i64,
            ) -> std::pin::Pin<Box<dyn Future<Output = Result<tokens::key::Secret, String>> + Send + '_>> {
                self.read()
            }
        }
        let mut d = deliver();
        let policy = tokens::verification::VerifyPolicy {
            issuer: "test".into(),
            ttl_seconds: 60,
        };
        d.links.key = Key::read_on_first_use(Down, policy, tokens::key::DEFAULT_REFRESH);
        let e = event("a@x.io");
        assert!(matches!(d.run(&e).await, Err(DeliverError::Key(cause)) if cause.contains("SSM")));
        assert!(
            d.claims.state.lock().unwrap().is_empty(),
            "claim released for the retry"
        );
        d.links.key = Key::from(VerificationKey::for_tests(&LINK_SECRET));
        assert!(
            matches!(d.run(&e).await, Ok(Delivered::Sent { .. })),
            "the retry sends, its slot kept"
        );
        assert_eq!(d.log.logs.lock().unwrap()["a@x.io"].len(), 1, "one slot for the event");
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
    async fn a_send_whose_outcome_is_unknown_keeps_its_claim_so_no_retry_sends_within_the_lease() {
        let d = deliver();
        let e = event("lost@x.io");
        let Err(DeliverError::OutcomeUnknown(error)) = d.run(&e).await else {
            panic!("the send's outcome is unknown")
        };
        assert!(error.0.contains("<recipient>"), "redacted: {error}");
        let record = d.claims.state.lock().unwrap()[&e.event_id()].clone();
        assert_eq!((record.unknown, record.sent), (true, None), "kept, marked unknown");
        assert_eq!(d.run(&e).await, Err(DeliverError::InProgress(e.event_id())));
        assert_eq!(d.mailer.sent.lock().unwrap().len(), 1, "no second email");
    }

    #[tokio::test]
    async fn a_live_claim_of_another_consumer_fails_this_delivery() {
        let d = deliver();
        let e = event("ann@x.io");
        d.claims.claim(e.event_id()).await.unwrap();
        assert_eq!(d.run(&e).await, Err(DeliverError::InProgress(e.event_id())));
        assert!(d.mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn only_the_owner_settles_a_claim() {
        let claims = MemoryClaims::default();
        let id = Uuid::new_v4();
        let Ok(Claim::Acquired(token)) = claims.claim(id).await else {
            panic!("a new claim is acquired")
        };
        let other = ClaimToken::random();
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
        d.claims.taken_over.lock().unwrap().insert(e.event_id());
        assert!(
            matches!(d.run(&e).await, Ok(Delivered::Sent { .. })),
            "the email went out: the message is done"
        );
        assert_eq!(d.mailer.sent.lock().unwrap().len(), 1);
        let record = d.claims.state.lock().unwrap()[&e.event_id()].clone();
        assert_eq!(record.sent, None, "the new owner's claim is not marked by us");
        assert_warned_of_takeover(&logs, &e);
    }

    fn assert_warned_of_takeover(logs: &Logs, e: &UserEvent) {
        let lines = logs.lines_with(&e.event_id().to_string());
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
        d.claims.taken_over.lock().unwrap().insert(e.event_id());
        assert!(
            matches!(d.run(&e).await, Err(DeliverError::Send(_))),
            "not sent: SQS retries it"
        );
        assert!(
            d.claims.state.lock().unwrap().contains_key(&e.event_id()),
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
