//! How a function starts and serves, once for all of them: logging, EMF metrics, the use case
//! built by its init (an init failure logged, then returned, which Lambda reports as the init
//! error), and the runtime serving each invocation in its span ([`crate::InvocationSpan`]),
//! then the invocation's metrics flushed. [`run`] serves any event (send-email's SQS batches,
//! publish-outbox's schedule); [`serve`] the HTTP API's, which also answer before the
//! invocation's deadline ([`within_deadline`]) and run the work after their answer before the
//! next event ([`crate::after_answer`]).
//!
//! Each function's `main` is one call to either, on tokio's current-thread runtime: Lambda
//! gives an instance one invocation at a time, under one vCPU or a fraction of one, so a
//! second worker thread would only add wake-ups across threads (bcrypt runs on the blocking
//! pool; send-email's messages are I/O-bound and interleave on the one thread). Measured
//! against the multi-threaded runtime in one A/B run (`cargo xtask bench --functions-only`):
//! create-user's overhead p50 3.9 -> 3.6 ms (within the noise between runs), send-email's peak
//! RSS 12.9 -> 12.0 MB.

use crate::after_answer::AfterAnswer;
use crate::http::{ErrorCode, EventShape, Reply, render};
use crate::metrics::Metrics;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;

/// Starts the function `name` (its binary's: `env!("CARGO_BIN_NAME")`): `describe` its
/// metrics, build its use case with `init`, and serve every invocation with `handle`.
pub async fn run<U, E, Event, Answer, Handled>(
    name: &str,
    describe: fn(),
    init: impl Future<Output = Result<U, E>>,
    handle: fn(&'static U, LambdaEvent<Event>) -> Handled,
) -> Result<(), Error>
where
    U: Send + Sync + 'static,
    E: std::fmt::Display + Into<Error>,
    Event: DeserializeOwned + Send + 'static,
    Answer: Serialize,
    Handled: Future<Output = Result<Answer, Error>> + Send,
{
    let (metrics, use_case) = start(name, describe, init).await?;
    let handler = service_fn(move |event: LambdaEvent<Event>| async move {
        let request_id = event.context.request_id.clone();
        let answer = handle(use_case, event).await;
        metrics.flush(&request_id);
        answer
    });
    Runtime::new(handler).layer(crate::InvocationSpan).run().await
}

/// Starts an HTTP API function as [`run`] does, and serves every invocation with `handle`,
/// which answers and leaves the rest of the request (a publish, a log line) to run after the
/// answer.
pub async fn serve<U, E, Rest, Answered>(
    name: &str,
    describe: fn(),
    init: impl Future<Output = Result<U, E>>,
    handle: fn(&'static U, LambdaEvent<Value>) -> Answered,
) -> Result<(), Error>
where
    U: Send + Sync + 'static,
    E: std::fmt::Display + Into<Error>,
    Rest: Future<Output = ()> + Send + 'static,
    Answered: Future<Output = (Value, Rest)> + Send + 'static,
{
    let (metrics, use_case) = start(name, describe, init).await?;
    let (after_answer, run_after_answer) = AfterAnswer::new();
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let after_answer = after_answer.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let (answer, rest) = within_deadline(event, |event| handle(use_case, event)).await;
            // The client has its answer before the rest runs.
            after_answer.defer(async move {
                if let Some(rest) = rest {
                    rest.await;
                }
                metrics.flush(&request_id);
            });
            Ok::<_, Error>(answer)
        }
    });
    Runtime::new(handler)
        .layer(run_after_answer)
        .layer(crate::InvocationSpan)
        .run()
        .await
}

/// What every function does before it serves: logging, metrics, its use case.
async fn start<U, E>(
    name: &str,
    describe: fn(),
    init: impl Future<Output = Result<U, E>>,
) -> Result<(Metrics, &'static U), Error>
where
    U: 'static,
    E: std::fmt::Display + Into<Error>,
{
    // JSON logs when Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON; level from AWS_LAMBDA_LOG_LEVEL,
    // dependencies capped at INFO whatever it says (see crate::logging).
    crate::logging::init();
    let metrics = crate::metrics::init(crate::metrics::NAMESPACE, name)?;
    describe();
    let use_case = init
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))
        .map_err(Into::into)?;
    // The process's one use case: every invocation, and the work after each answer, borrows it.
    Ok((metrics, Box::leak(Box::new(use_case))))
}

/// `handle`'s answer to `event` and the rest of its work, or, if it has not answered by the
/// invocation's deadline ([`crate::deadline::answer_by`]), 503 `retryable` in the event's
/// shape and nothing after it: the client retries, where Lambda's own timeout would have
/// answered 500. The work is dropped where it stands; whatever it had committed by then is
/// what a 503 `retryable` may mean already (its retry answers the same, and a stored event
/// is published by the outbox).
pub async fn within_deadline<Rest, Answered>(
    event: LambdaEvent<Value>,
    handle: impl FnOnce(LambdaEvent<Value>) -> Answered,
) -> (Value, Option<Rest>)
where
    Answered: Future<Output = (Value, Rest)>,
{
    let Some(answer_by) = crate::deadline::answer_by(&event.context) else {
        let (answer, rest) = handle(event).await;
        return (answer, Some(rest));
    };
    let shape = EventShape::of(&event.payload);
    let request_id = event.context.request_id.clone();
    match tokio::time::timeout_at(answer_by, handle(event)).await {
        Ok((answer, rest)) => (answer, Some(rest)),
        Err(_) => {
            tracing::error!(
                margin_ms = crate::deadline::MARGIN.as_millis() as u64,
                "the invocation's deadline is near and it has not answered: 503 retryable (its dependencies are slow)"
            );
            crate::http::metric::count(503, Some(ErrorCode::ServiceUnavailable));
            (render(Reply::unavailable(&request_id), shape), None)
        }
    }
}
