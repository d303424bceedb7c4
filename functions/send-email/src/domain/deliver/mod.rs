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
//!
//! One file a job: the claims and their settling in `claims`, the transport and its errors in
//! `mail`, the recipient's caps and log in `caps`, the links in `links`; here, one event's
//! delivery through them.

mod caps;
mod claims;
mod links;
mod mail;

pub use caps::{Admission, CAP_WINDOW, Caps, Kind, RecipientLog, Sent};
pub use claims::{Claim, ClaimStore, ClaimToken, SettleError};
pub use links::Links;
pub use mail::{Mailer, SendError};

use super::emails::{notice, verification};
use mail::redact;
use time::OffsetDateTime;
use tokens::verification::Confirmation;
use user_events::{Recipient, UserEvent, first_credential};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PortError(pub String);

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
}

/// How a send ended short of a message id: before the email could have gone out (the claim
/// is released), or with the transport's outcome unknown (it is kept).
enum SendFailed {
    Before(DeliverError),
    Unknown(PortError),
}

/// The message id a claim is settled with when its email was over the caps.
pub const CAPPED: &str = "not-sent:over-the-address-caps";

#[cfg(test)]
mod tests;
