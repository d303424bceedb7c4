use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON logs when Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL,
    // dependencies capped at INFO whatever it says (see lambda_support::logging).
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    send_email::handler::metric::describe();
    let deliver = send_email::init::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    let deliver = Arc::new(deliver);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deliver = deliver.clone();
        async move {
            let (request_id, trace) = (event.context.request_id.clone(), event.context.xray_trace_id.clone());
            lambda_support::invocation(
                metrics,
                &request_id,
                trace.as_deref(),
                send_email::handler::handle(deliver, event),
            )
            .await
        }
    }))
    .await
}
