//! The ports' implementations: DynamoDB claims and recipient log, the SES and log mail
//! transports, the per-instance send rate limit around them, and SQS for deferred messages.

pub mod dynamodb_claims;
pub mod mailers;
pub mod pacing;
pub mod recipient_log;
pub mod requeue;
