//! send-email: the email service's consumer of the user events. A plain core (`domain`: the
//! verification email and the owner's notice, at most one per event within each address's
//! caps, over claim, log and mail ports), adapters at the edge (DynamoDB claims and recipient
//! log, SES), and a batch handler that isolates every message.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod handler;
pub mod init;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
