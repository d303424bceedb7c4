//! Everything built once per execution environment: SDK clients and the use case.

use crate::adapters::timed::Timed;
use crate::config::Config;
use crate::domain::signup::SignUp;
use aws_config::SdkConfig;
use lambda_support::config::{ConfigError, Vars};
use lambda_support::timing::{ms, timed};
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};

/// The use case on DynamoDB and SNS, each call timed for the request's log line.
pub type LambdaSignUp = SignUp<Timed<DynamoUserStore>, Timed<SnsPublisher>>;

/// Builds the use case from the environment. Endpoints (LocalStack, DynamoDB Local) come from
/// `AWS_ENDPOINT_URL[_DYNAMODB]`, which aws-config reads itself.
pub async fn from_env() -> Result<LambdaSignUp, ConfigError> {
    let config = Config::from_vars(&Vars::env())?;
    let sdk = lambda_support::aws::sdk_config().await;
    Ok(build(&config, &sdk).await)
}

pub async fn build(config: &Config, sdk: &SdkConfig) -> LambdaSignUp {
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(sdk), config.users_table.clone());
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(sdk), config.topic_arn.clone());
    // Init waits for DynamoDB's warm-up only: a sign-up's first call (beside its hash). SNS is
    // not warmed: a sign-up publishes after its answer, so its first publish opens the
    // connection when the caller already has the answer, and a warm-up would only compete with
    // the first invocation (for LocalStack here, for the vCPU's share on AWS).
    let ((), dynamodb) = timed(store.warm_up()).await;
    tracing::info!(dynamodb_ms = ms(dynamodb), "init calls");
    SignUp::new(
        Timed(store),
        Timed(publisher),
        config.bcrypt_cost,
        config.pending_ttl,
        (config.limit_per_ip, config.limit_window),
    )
}
