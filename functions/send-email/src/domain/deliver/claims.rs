//! Claims on events: at most one consumer sends an event's email at a time, and only the
//! claim's owner settles it (sent, released, or its outcome unknown).

use super::{Deliver, Mailer, PortError, RecipientLog};
use std::future::Future;
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

impl<C: ClaimStore, M: Mailer, L: RecipientLog> Deliver<C, M, L> {
    pub(super) async fn mark_unknown(&self, event_id: Uuid, token: &ClaimToken) {
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

    pub(super) async fn mark_sent(&self, event_id: Uuid, token: &ClaimToken, message_id: &str) {
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

    pub(super) async fn release(&self, event_id: Uuid, token: &ClaimToken) {
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
