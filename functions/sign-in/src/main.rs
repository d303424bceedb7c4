use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use lambda_support::InvocationSpan;
use lambda_support::after_answer::AfterAnswer;
use serde_json::Value;

// One thread: Lambda gives an instance one invocation at a time; bcrypt runs on the blocking
// pool (create-user's A/B, in its main).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    sign_in::handler::metric::describe();
    let sign_in = sign_in::init::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    // The process's one use case; the work after each answer borrows it.
    let sign_in: &'static _ = Box::leak(Box::new(sign_in));
    let (after_answer, run_after_answer) = AfterAnswer::new();
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let after_answer = after_answer.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let (answer, rest) = sign_in::handler::handle(sign_in, event).await;
            // The client has its answer before the slot is given back or the hash re-made.
            after_answer.defer(async move {
                rest.await;
                metrics.flush(&request_id);
            });
            Ok::<_, Error>(answer)
        }
    });
    Runtime::new(handler)
        .layer(run_after_answer)
        .layer(InvocationSpan)
        .run()
        .await
}
