//! What the three functions share at init, so that each promise has one owner:
//! [`logging::init`] (no environment setting can make a dependency log a payload) and
//! [`aws::sdk_config`] (every AWS call has a deadline well inside the function's timeout) and
//! [`metrics::init`] (CloudWatch Embedded Metric Format documents on stdout, one dimension
//! scheme for every function) and [`InvocationSpan`] (each invocation in a span with its ids)
//! and [`after_answer`] (work that the caller does not wait for, done before the next event)
//! and [`http`] (the API functions' edge: events in, strict bodies, replies out, one list of
//! error codes) and [`start`] (how an API function starts and serves) and [`deadline`] (every
//! invocation answers before Lambda's deadline).

pub mod after_answer;
pub mod aws;
pub mod deadline;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod start;
pub mod timing;

/// Fixtures for tests (the `testing` feature): HTTP API events, a capture of what they log.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Error, LambdaInvocation};
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// Runs every invocation in [`logging::invocation_span`] (its request id and trace id on every
/// line logged while it runs), the runtime's own lines included: a payload it could not
/// decode, a handler's panic. In place of lambda_runtime's `TracingLayer`, whose span names
/// the same ids `requestId` and `xrayTraceId`: with both, every line would carry them twice.
///
/// `lambda_runtime::Runtime::new(handler).layer(InvocationSpan).run()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationSpan;

impl<S> Layer<S> for InvocationSpan {
    type Service = InInvocationSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InInvocationSpan(inner)
    }
}

/// The service [`InvocationSpan`] wraps the runtime's in.
#[derive(Debug, Clone)]
pub struct InInvocationSpan<S>(S);

impl<S> Service<LambdaInvocation> for InInvocationSpan<S>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
{
    type Response = ();
    type Error = Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let context = &invocation.context;
        let span = logging::invocation_span(&context.request_id, context.xray_trace_id.as_deref());
        // Entered while the inner service is called too: whatever it sets off at once is the
        // invocation's.
        let future = span.in_scope(|| self.0.call(invocation));
        future.instrument(span)
    }
}
