//! Each invocation in a span with its request and trace ids: [`InvocationSpan`].

use crate::logging;
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
