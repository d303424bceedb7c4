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
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::http::Response;
use std::error::Error;
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

/// Whether a failed call's request may have reached the service, and so may have done its
/// work. Matters for the calls that are not idempotent (SES SendEmail: each request that
/// arrives is an email); a retry of one of them is safe only where the answer is [`Reach::No`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Provably not: no connection was made (refused, DNS, connect timeout), the request was
    /// never built, or the service answered that it refused it (4xx: throttling, validation).
    No,
    /// Perhaps: the request was written and then the answer timed out, broke off, was a 5xx
    /// or could not be read. The work may have been done.
    Maybe,
}

/// [`Reach`] of a call that failed with `error`.
pub fn reach<E>(error: &SdkError<E, Response>) -> Reach {
    if let SdkError::ConstructionFailure(_) = error {
        return Reach::No;
    }
    let connector = match error {
        SdkError::DispatchFailure(failure) => failure.as_connector_error(),
        _ => None,
    };
    reach_of(error.raw_response(), connector)
}

/// The one rule, for a failed attempt (the retry classifier's view) and a failed call alike:
/// the service answered 4xx, or no connection was made.
fn reach_of(response: Option<&Response>, connector: Option<&ConnectorError>) -> Reach {
    let refused = response.is_some_and(|r| r.status().is_client_error());
    if refused || connector.is_some_and(never_connected) {
        Reach::No
    } else {
        Reach::Maybe
    }
}

/// Whether the connector failed before the request could be written: hyper's client reports
/// every failure to connect (TCP, DNS, its connect timeout) as a connect error.
fn never_connected(error: &ConnectorError) -> bool {
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(|e| e.is_connect())
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// A retry classifier for calls that must not be repeated once they may have arrived: it
/// forbids a retry unless the failed attempt provably never reached the service ([`Reach`]),
/// and otherwise leaves the decision to the SDK's standard classifiers (which retry connect
/// errors and throttling answers, and forbid the rest). Without it, an attempt that timed out
/// while SES was slow is retried as transient, and SES sends the email a second time.
#[derive(Debug, Default, Clone, Copy)]
pub struct AtMostOnce;

impl ClassifyRetry for AtMostOnce {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match reach_of(ctx.response(), error.as_connector_error()) {
            Reach::No => RetryAction::NoActionIndicated,
            Reach::Maybe => RetryAction::RetryForbidden,
        }
    }

    fn name(&self) -> &'static str {
        "AtMostOnce"
    }
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
