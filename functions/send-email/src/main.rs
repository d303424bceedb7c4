use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use lambda_support::InvocationSpan;
use std::sync::Arc;

// One thread: Lambda gives an instance one invocation at a time and under one vCPU at this
// memory size, so a second worker would only add wake-ups across threads; a batch's messages
// are I/O-bound and interleave on it. Against the multi-threaded runtime, in one A/B run
// (--functions-only): peak RSS 12.9 -> 12.0 MB.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON logs when Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL,
    // dependencies capped at INFO whatever it says (see lambda_support::logging).
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    send_email::handler::metric::describe();
    let (deliver, requeue) = send_email::init::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    let (deliver, requeue) = (Arc::new(deliver), Arc::new(requeue));
    let handler = service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (deliver, requeue) = (deliver.clone(), requeue.clone());
        async move {
            let request_id = event.context.request_id.clone();
            let result = send_email::handler::handle(deliver, &*requeue, event).await;
            metrics.flush(&request_id);
            result
        }
    });
    // Each invocation in a span with its request and trace ids (see lambda_support).
    Runtime::new(handler).layer(InvocationSpan).run().await
}
