//! The SDK configuration every function builds its clients from.
//!
//! Without timeouts the SDK waits for as long as the connection stays open: a dependency that
//! accepts connections and never answers (an overloaded endpoint, a black-holed route) would
//! run the function into its own timeout, and Lambda would answer the caller 500 even where
//! the work was done. With these, a hanging call fails in seconds as an ordinary error that
//! the function maps to its own answer (503 `retryable`, a failed batch item, a pending
//! outbox event).

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Opening a TCP (and TLS) connection: AWS endpoints answer in milliseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt of an operation, retries excluded. DynamoDB, SNS, SES and SSM answer in tens of
/// milliseconds at p99; an attempt this slow is stuck, and the retry goes to a fresh connection.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// A whole operation, retries included. The shortest function timeout is create-user's 10 s:
/// two such calls in a row (guard read, transaction), bcrypt and the 1 s publish budget fit in
/// it, so a sign-up answers before Lambda gives up on it.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// The SDK's defaults as of this date, not `latest()`: a new SDK release cannot change
/// retries, timeouts or stalled-stream protection under a deployed function without a commit
/// that moves this date (the SDK's advice for services whose latency matters). Every client
/// of the project, the functions' and the local tooling's, is built with it.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// The deadlines above, in the SDK's terms.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The environment's SDK configuration (region, credentials, and the endpoints that
/// `AWS_ENDPOINT_URL[_<SERVICE>]` name locally) with [`timeouts`].
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version())
        .timeout_config(timeouts())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_bounded_and_attempts_fit_in_the_operation() {
        let t = timeouts();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT && CONNECT_TIMEOUT < ATTEMPT_TIMEOUT);
    }
}
