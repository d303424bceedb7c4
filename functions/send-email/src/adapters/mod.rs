//! The ports' implementations: DynamoDB claims and recipient log, the SES and log mail
//! transports, and the per-instance send rate limit around them.

pub mod dynamodb_claims;
pub mod mailers;
pub mod pacing;
pub mod recipient_log;
