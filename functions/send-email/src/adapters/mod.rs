//! The ports' implementations: DynamoDB claims, and the SES and log mail transports.

pub mod dynamodb_claims;
pub mod mailers;
