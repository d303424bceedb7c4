//! Everything built once per execution environment: the configuration and the SDK clients.

use lambda_support::config::{ConfigError, Vars};
use std::time::Duration;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};

/// The outbox (the users table), where its events go (the topic), and how old an event must
/// be before a run publishes it (`OUTBOX_MIN_AGE_SECONDS`, [`crate::DEFAULT_MIN_AGE`]).
pub type LambdaFlush = (DynamoUserStore, SnsPublisher, Duration);

pub async fn from_env() -> Result<LambdaFlush, ConfigError> {
    let vars = Vars::env();
    let min_age = vars.seconds("OUTBOX_MIN_AGE_SECONDS", crate::DEFAULT_MIN_AGE.as_secs(), 0..=86_400)?;
    let (table, topic) = (vars.required("USERS_TABLE")?, vars.required("USER_EVENTS_TOPIC_ARN")?);
    let sdk = lambda_support::aws::sdk_config().await;
    Ok((
        DynamoUserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic),
        min_age,
    ))
}
