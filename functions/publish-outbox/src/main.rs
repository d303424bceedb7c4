//! publish-outbox's entry point: configuration and clients, built once, then the handler.

use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use lambda_support::InvocationSpan;
use serde_json::Value;
use std::time::Duration;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};

fn env(key: &str) -> Result<String, Error> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{key} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::logging::init();
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, env!("CARGO_BIN_NAME"))?;
    publish_outbox::metric::describe();
    let min_age = match std::env::var("OUTBOX_MIN_AGE_SECONDS") {
        Ok(v) => Duration::from_secs(
            v.parse()
                .map_err(|_| format!("OUTBOX_MIN_AGE_SECONDS={v:?} is not a number of seconds"))?,
        ),
        Err(_) => publish_outbox::DEFAULT_MIN_AGE,
    };
    let (table, topic) = (env("USERS_TABLE")?, env("USER_EVENTS_TOPIC_ARN")?);
    let sdk = lambda_support::aws::sdk_config().await;
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic);
    let (store, publisher) = (&store, &publisher);
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        let request_id = event.context.request_id.clone();
        let result = publish_outbox::handle(store, publisher, min_age, event).await;
        metrics.flush(&request_id);
        result
    });
    // Each invocation in a span with its request and trace ids (see lambda_support).
    Runtime::new(handler).layer(InvocationSpan).run().await
}
