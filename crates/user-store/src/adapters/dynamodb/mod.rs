//! Users in DynamoDB. A sign-up writes the user (`USER#<id>`), its email guard
//! (`EMAIL#<email key>`) and its pending event (`OUTBOX#<event id>`) in one transaction, each
//! only if absent (the guard: or pending and expired), so of two concurrent sign-ups with one
//! address exactly one commits, and a stored user always has its event. Every later change of
//! a user (a new credential, its verification) is likewise one transaction with its event,
//! conditioned on the state it was read in.
//!
//! Pending users and their guards carry `verified = false` and `expires_at` (epoch seconds, the
//! table's TTL attribute); verification sets `verified = true` and removes the expiry. A guard
//! or user without `verified` was stored before sign-ups were verified: it reads as verified.
//!
//! Pending events are found through the sparse `pending-events` index: only outbox items carry
//! its key attributes. A flush's claim on an outbox item is a [`crate::claims`] claim.
//!
//! One file a port: [`UserStore`] in `users`,
//! [`Outbox`](crate::outbox::Outbox) in `outbox`, [`RateLimiter`](crate::limits::RateLimiter)
//! in `limits`; what they share is the table's keys and attributes (`items`) and its
//! transactions (`transact`).

mod items;
mod limits;
mod outbox;
mod transact;
mod users;

pub use items::{guard_key, outbox_key, user_key};
pub use limits::limit_key;
pub use outbox::PENDING_INDEX;
pub use transact::cancellation;
pub use users::EXPIRES_AT;

use crate::users::UserStore;
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Opens the connection to DynamoDB during init, so that the first request does not pay for
    /// it (with TLS, a handshake: hundreds of ms on a cold arm64 start). Best effort. The call
    /// is a sign-up's own first one, the guard read, of a key no email has (an email key holds
    /// an `@`): it runs the code the first sign-up will run, on a data-plane call the function
    /// is already allowed, rather than a metadata call (DescribeTable) it needs a grant for.
    pub async fn warm_up(&self) {
        if let Err(e) = self.guard(WARM_UP_EMAIL_KEY, OffsetDateTime::now_utc()).await {
            tracing::debug!(error = %e, "DynamoDB warm-up call failed");
        }
    }
}

/// The email key [`DynamoUserStore::warm_up`] reads: no address normalizes to it.
const WARM_UP_EMAIL_KEY: &str = "warm-up";
