//! publish-outbox: run on a schedule, publishes the `user.created` events that create-user
//! stored with their users but could not publish (SNS down or slow). The work itself is
//! create-user's `outbox::flush`; this is only its Lambda entry point.

use create_user::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use create_user::domain::outbox::{FlushLimits, FlushReport, flush};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// Events younger than this are left to create-user, which is probably publishing them now.
const DEFAULT_MIN_AGE_SECONDS: i64 = 30;

/// Time kept back from the invocation's deadline: the next page's query and one item's claim,
/// publish and delete, each bounded by the SDK's operation timeout, must finish before Lambda
/// stops the function.
const STOP_MARGIN: std::time::Duration = lambda_support::aws::OPERATION_TIMEOUT.saturating_mul(4);

/// The template's Timeout: the budget of a run whose runtime gives no usable deadline.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The invocation's deadline as an `Instant`. Lambda gives it in epoch milliseconds; a runtime
/// that gives none, or one already past (cargo lambda watch sends 600000, ten minutes after
/// 1970), gets the template's timeout instead of a run that stops before it starts.
fn run_deadline(context: &lambda_runtime::Context) -> std::time::Instant {
    let deadline = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(context.deadline);
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .ok()
        .filter(|left| !left.is_zero())
        .unwrap_or(TIMEOUT);
    std::time::Instant::now() + left
}

fn env(key: &str) -> Result<String, Error> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{key} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::logging::init();
    let min_age = match std::env::var("OUTBOX_MIN_AGE_SECONDS") {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("OUTBOX_MIN_AGE_SECONDS={v:?} is not a number"))?,
        Err(_) => DEFAULT_MIN_AGE_SECONDS,
    };
    let (table, topic) = (env("USERS_TABLE")?, env("USER_CREATED_TOPIC_ARN")?);
    let sdk = lambda_support::aws::sdk_config().await;
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic);
    let (store, publisher) = (&store, &publisher);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let limits = FlushLimits::until(run_deadline(&event.context), STOP_MARGIN);
        let before = OffsetDateTime::now_utc() - Duration::seconds(min_age);
        let report = flush(store, publisher, before, limits).await?;
        let FlushReport {
            published,
            set_aside,
            skipped,
            out_of_time,
            ..
        } = report;
        match &report.publish_error {
            // Not a function error: the events stay pending and the next run retries.
            Some(e) => tracing::error!(published, set_aside, skipped, error = %e, "outbox flush stopped: SNS failing"),
            None => tracing::info!(published, set_aside, skipped, out_of_time, "outbox flushed"),
        }
        Ok::<_, Error>(json!(report))
    }))
    .await
}
