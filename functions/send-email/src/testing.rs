//! For tests (the `testing` feature, as `user-store`'s): in-memory ports for the core's unit
//! tests (the DynamoDB and SES adapters are tested against DynamoDB Local and LocalStack in
//! tests/), and the verification links of a test key, for both.

use crate::domain::deliver::*;
use crate::domain::emails::Email;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tokens::key::Key;
use tokens::verification::VerificationKey;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: ClaimToken,
    /// The transport's message id, once sent.
    pub sent: Option<String>,
    /// Marked as sent or not, nobody knows.
    pub unknown: bool,
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
                let token = ClaimToken::random();
                let owner = if self.taken_over.lock().unwrap().contains(&id) {
                    ClaimToken::random()
                } else {
                    token.clone()
                };
                state.insert(
                    id,
                    Record {
                        owner,
                        sent: None,
                        unknown: false,
                    },
                );
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
    async fn mark_unknown(&self, id: Uuid, token: &ClaimToken) -> Result<(), SettleError> {
        match self.state.lock().unwrap().get_mut(&id) {
            Some(record) if record.owner == *token && record.sent.is_none() => {
                record.unknown = true;
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
/// as SES's sandbox does for unverified recipients), panics for `panic`, never answers for
/// `hang`, is over the send rate for `throttle`, and for `lost`
/// records the email but answers that its outcome is unknown (SES sent it, its answer timed
/// out).
#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<Email>>,
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        if email.to.starts_with("panic") {
            panic!("mailer exploded");
        }
        if email.to.starts_with("hang") {
            std::future::pending::<()>().await;
        }
        if email.to.starts_with("throttle") {
            return Err(SendError::Throttled(PortError(
                "Throttling: Maximum sending rate exceeded.".into(),
            )));
        }
        if email.to.starts_with("fail") {
            return Err(SendError::NotSent(PortError(format!(
                "MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1: {}",
                email.to.to_uppercase()
            ))));
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(email.clone());
        if email.to.starts_with("lost") {
            return Err(SendError::OutcomeUnknown(PortError(format!(
                "timeout: no answer for {} within the attempt timeout",
                email.to
            ))));
        }
        Ok(format!("msg-{}", sent.len()))
    }
}

/// The recipient log in memory, admitting by [`Caps::admit`] under one lock.
#[derive(Default)]
pub struct MemoryLog {
    pub logs: Mutex<HashMap<String, Vec<Sent>>>,
}

impl RecipientLog for MemoryLog {
    async fn admit(&self, email_key: &str, next: Sent, caps: Caps) -> Result<Admission, PortError> {
        let mut logs = self.logs.lock().unwrap();
        let log = logs.entry(email_key.to_owned()).or_default();
        let admission = caps.admit(log, &next);
        if admission == Admission::Allowed {
            *log = Caps::kept(log, next);
        }
        Ok(admission)
    }
}

/// Records what it would send back to the queue; refuses while `down`, never answers while
/// `hang`.
#[derive(Default)]
pub struct MemoryRequeue {
    /// Each copy: the message's id, its body, its deferral count and delay.
    pub sent: Mutex<Vec<(String, String, u32, std::time::Duration)>>,
    pub down: std::sync::atomic::AtomicBool,
    pub hang: std::sync::atomic::AtomicBool,
}

impl crate::handler::Requeue for MemoryRequeue {
    async fn later(
        &self,
        message: &aws_lambda_events::sqs::SqsMessage,
        deferrals: u32,
        delay: std::time::Duration,
    ) -> Result<(), PortError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PortError("SQS did not answer".into()));
        }
        if self.hang.load(std::sync::atomic::Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        let copy = (
            message.message_id.clone().unwrap_or_default(),
            message.body.clone().unwrap_or_default(),
            deferrals,
            delay,
        );
        self.sent.lock().unwrap().push(copy);
        Ok(())
    }
}

/// The key the test links are minted with.
pub const LINK_SECRET: [u8; 32] = [8u8; 32];

/// Links to `https://x.example/verify`, minted with [`LINK_SECRET`]
/// ([`VerificationKey::for_tests`]).
pub fn links() -> Links {
    Links {
        key: Key::from(VerificationKey::for_tests(&LINK_SECRET)),
        base: "https://x.example/verify".into(),
    }
}

/// The use case over the doubles, with the default caps and the test [`links`].
pub fn deliver() -> Deliver<MemoryClaims, MemoryMailer, MemoryLog> {
    Deliver {
        claims: MemoryClaims::default(),
        mailer: MemoryMailer::default(),
        log: MemoryLog::default(),
        links: links(),
        caps: Caps::DEFAULT,
    }
}
