//! The ports' implementations: DynamoDB claims, the SES and log mail transports, and the
//! per-instance send rate limit around them.

pub mod dynamodb_claims;
pub mod mailers;
pub mod pacing;
