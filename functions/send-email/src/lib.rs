//! send-email: the email service's consumer of `user.created`. A plain core (`domain`: the
//! welcome email, exactly-once delivery over claim and mail ports), adapters at the edge
//! (DynamoDB claims, SES), and a batch handler that isolates every message.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod handler;
pub mod init;
