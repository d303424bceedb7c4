//! What the three functions share at init, so that each promise has one owner:
//! [`logging::init`] (no environment setting can make a dependency log a payload) and
//! [`aws::sdk_config`] (every AWS call has a deadline well inside the function's timeout) and
//! [`metrics::init`] (CloudWatch Embedded Metric Format documents on stdout, one dimension
//! scheme for every function).

pub mod aws;
pub mod logging;
pub mod metrics;

/// Fixtures for tests (the `testing` feature): HTTP API events, a capture of what they log.
#[cfg(feature = "testing")]
pub mod testing;
