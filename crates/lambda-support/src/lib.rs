//! What the three functions share at init, so that each promise has one owner:
//! [`logging::init`] (no environment setting can make a dependency log a payload) and
//! [`aws::sdk_config`] (every AWS call has a deadline well inside the function's timeout) and
//! [`metrics::init`] (CloudWatch Embedded Metric Format documents on stdout, one dimension
//! scheme for every function) and [`invocation`] (each invocation in a span with its ids, its
//! metrics written at its end).

pub mod aws;
pub mod logging;
pub mod metrics;

use tracing::Instrument;

/// One invocation of a function: `handler` runs in the invocation's span (its request id and
/// trace id on every line it logs, [`logging::invocation_span`]), then what it counted is
/// written ([`metrics::Metrics::flush`]). `trace_header` is Lambda's (`context.xray_trace_id`).
pub async fn invocation<F: Future>(
    metrics: metrics::Metrics,
    request_id: &str,
    trace_header: Option<&str>,
    handler: F,
) -> F::Output {
    let span = logging::invocation_span(request_id, trace_header);
    let output = handler.instrument(span.clone()).await;
    span.in_scope(|| metrics.flush(request_id));
    output
}

/// Fixtures for tests (the `testing` feature): HTTP API events, a capture of what they log.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
