use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON logs when Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL,
    // dependencies capped at INFO whatever it says (see lambda_support::logging).
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    create_user::handler::metric::describe();
    let signup = create_user::init::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    let signup = &signup;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (request_id, trace) = (event.context.request_id.clone(), event.context.xray_trace_id.clone());
        lambda_support::invocation(
            metrics,
            &request_id,
            trace.as_deref(),
            create_user::handler::handle(signup, event),
        )
        .await
    }))
    .await
}
