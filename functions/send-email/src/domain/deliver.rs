//! One `user.created` event -> at most one welcome email, however often SNS/SQS deliver it.
//!
//! Before sending, the consumer claims the event id (a conditional write with a lease). The
//! first claim wins; a duplicate finds the event already sent and succeeds without sending; a
//! duplicate that arrives while another consumer holds a live lease fails, so SQS retries it
//! after the visibility timeout, when the outcome is known. A failed send releases the claim,
//! so the retry can send. The one window left, a crash between SES accepting the email and the
//! claim being marked sent, resends after the lease expires: SES has no idempotency key to close it.
//! The lease must outlast a send (the function's timeout) and expire before the message is
//! delivered again (the queue's visibility timeout), or a crashed send would end in the DLQ.

use super::welcome::{Email, welcome};
use std::future::Future;
use user_events::UserCreated;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: send, then mark it sent (or release it on failure).
    Acquired,
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
    fn mark_sent(&self, event_id: Uuid, message_id: &str) -> impl Future<Output = Result<(), PortError>> + Send;
    fn release(&self, event_id: Uuid) -> impl Future<Output = Result<(), PortError>> + Send;
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
        match self.claims.claim(event.event_id).await.map_err(DeliverError::Claims)? {
            Claim::AlreadySent => return Ok(Delivered::Duplicate),
            Claim::InProgress => return Err(DeliverError::InProgress(event.event_id)),
            Claim::Acquired => {}
        }
        match self.mailer.send(&welcome(&event.user)).await {
            Ok(message_id) => {
                // SES has the email; if marking fails the lease still guards retries.
                if let Err(e) = self.claims.mark_sent(event.event_id, &message_id).await {
                    tracing::warn!(event_id = %event.event_id, error = %e, "email sent but not marked sent");
                }
                Ok(Delivered::Sent { message_id })
            }
            Err(e) => {
                if let Err(release) = self.claims.release(event.event_id).await {
                    tracing::warn!(event_id = %event.event_id, error = %release, "could not release the claim");
                }
                Err(DeliverError::Send(e))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod doubles {
    //! In-memory ports for the core's unit tests; the DynamoDB and SES adapters are tested
    //! against DynamoDB Local and LocalStack in tests/.
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryClaims {
        pub state: Mutex<HashMap<Uuid, Option<String>>>,
    }

    impl ClaimStore for MemoryClaims {
        async fn claim(&self, id: Uuid) -> Result<Claim, PortError> {
            let mut state = self.state.lock().unwrap();
            Ok(match state.get(&id) {
                None => {
                    state.insert(id, None);
                    Claim::Acquired
                }
                Some(Some(_)) => Claim::AlreadySent,
                Some(None) => Claim::InProgress,
            })
        }
        async fn mark_sent(&self, id: Uuid, message_id: &str) -> Result<(), PortError> {
            self.state.lock().unwrap().insert(id, Some(message_id.to_owned()));
            Ok(())
        }
        async fn release(&self, id: Uuid) -> Result<(), PortError> {
            self.state.lock().unwrap().remove(&id);
            Ok(())
        }
    }

    /// Records what it sends; fails for addresses starting with `fail`, panics for `panic`.
    #[derive(Default)]
    pub struct MemoryMailer {
        pub sent: Mutex<Vec<Email>>,
    }

    impl Mailer for MemoryMailer {
        async fn send(&self, email: &Email) -> Result<String, PortError> {
            if email.to.starts_with("panic") {
                panic!("mailer exploded for {}", email.to);
            }
            if email.to.starts_with("fail") {
                return Err(PortError("SES throttled".into()));
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
    use user_events::PublicUser;

    pub fn event(email: &str) -> UserCreated {
        let now = time::OffsetDateTime::now_utc();
        UserCreated::new(
            Uuid::new_v4(),
            now,
            PublicUser {
                id: Uuid::new_v4(),
                name: "Ann".into(),
                email: email.into(),
                created_at: now,
            },
        )
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
}
