//! publish-outbox: run on a schedule, publishes the `user.created` events that create-user
//! stored with their users but could not publish (SNS down or slow). The work itself is
//! create-user's `outbox::flush`; this is only its Lambda entry point.

use create_user::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use create_user::domain::outbox::flush;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// Events younger than this are left to create-user, which is probably publishing them now.
const DEFAULT_MIN_AGE_SECONDS: i64 = 30;

fn env(key: &str) -> Result<String, Error> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{key} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let min_age = match std::env::var("OUTBOX_MIN_AGE_SECONDS") {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("OUTBOX_MIN_AGE_SECONDS={v:?} is not a number"))?,
        Err(_) => DEFAULT_MIN_AGE_SECONDS,
    };
    let (table, topic) = (env("USERS_TABLE")?, env("USER_CREATED_TOPIC_ARN")?);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic);
    let (store, publisher) = (&store, &publisher);

    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = flush(store, publisher, OffsetDateTime::now_utc() - Duration::seconds(min_age)).await?;
        match &report.publish_error {
            // Not a function error: the events stay pending and the next run retries.
            Some(e) => tracing::error!(published = report.published, error = %e, "outbox flush stopped: SNS failing"),
            None => tracing::info!(published = report.published, "outbox flushed"),
        }
        Ok::<_, Error>(json!(report))
    }))
    .await
}
