//! What the functions share, so that each promise has one owner:
//! - [`start`]: how a function starts and serves (logging, metrics, init, the runtime's layers);
//! - [`config`]: one reader of the environment, every variable named in its error;
//! - [`logging`]: no environment setting can make a dependency log a payload;
//! - [`aws`]: every AWS call has a deadline well inside the function's timeout;
//! - [`metrics`]: CloudWatch Embedded Metric Format on stdout, one dimension scheme;
//! - [`InvocationSpan`]: each invocation in a span with its ids;
//! - [`after_answer`]: work the caller does not wait for, done before the next event;
//! - [`http`]: the API functions' edge (events in, strict bodies, replies out, one list of
//!   error codes);
//! - [`strict_json`]: JSON from outside read with no key twice;
//! - [`deadline`]: every invocation answers before Lambda's deadline.

pub mod after_answer;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod http;
mod invocation_span;
pub mod logging;
pub mod metrics;
pub mod start;
pub mod strict_json;
pub mod timing;

/// Fixtures for tests (the `testing` feature): HTTP API events, a capture of what they log.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use invocation_span::{InInvocationSpan, InvocationSpan};
