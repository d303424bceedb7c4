use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use lambda_support::InvocationSpan;
use lambda_support::after_answer::AfterAnswer;
use serde_json::Value;

// One thread: Lambda gives an instance one invocation at a time and under one vCPU at this
// memory size, so a second worker would only add wake-ups across threads (bcrypt still runs on
// the blocking pool). Against the multi-threaded runtime, in one A/B run (--functions-only):
// overhead p50 3.9 -> 3.6 ms, within the noise between runs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON logs when Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL,
    // dependencies capped at INFO whatever it says (see lambda_support::logging).
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    create_user::handler::metric::describe();
    let signup = create_user::init::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    // The process's one use case; the work after each answer borrows it.
    let signup: &'static _ = Box::leak(Box::new(signup));
    let (after_answer, run_after_answer) = AfterAnswer::new();
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let after_answer = after_answer.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let (answer, rest) = create_user::handler::handle(signup, event).await;
            // The client has the answer (and the user is stored) before the publish.
            after_answer.defer(async move {
                rest.await;
                metrics.flush(&request_id);
            });
            Ok::<_, Error>(answer)
        }
    });
    // Each invocation in a span with its request and trace ids (see lambda_support), the work
    // after its answer included.
    Runtime::new(handler)
        .layer(run_after_answer)
        .layer(InvocationSpan)
        .run()
        .await
}
