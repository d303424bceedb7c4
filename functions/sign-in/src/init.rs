//! Everything built once per execution environment: SDK clients, the session key, the use case.

use crate::config::Config;
use crate::domain::sign_in::SignIn;
use aws_config::SdkConfig;
use lambda_support::config::{ConfigError, Vars};
use lambda_support::timing::{ms, timed};
use tokens::key::Key;
use user_store::adapters::dynamodb::DynamoUserStore;

pub type LambdaSignIn = SignIn<DynamoUserStore>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the session key: {0}")]
    Key(#[from] tokens::TokenError),
}

/// Builds the use case from the environment. Endpoints (LocalStack, DynamoDB Local) come from
/// `AWS_ENDPOINT_URL[_DYNAMODB]`, which aws-config reads itself.
pub async fn from_env() -> Result<LambdaSignIn, InitError> {
    let config = Config::from_vars(&Vars::env())?;
    let sdk = lambda_support::aws::sdk_config().await;
    build(&config, &sdk).await
}

pub async fn build(config: &Config, sdk: &SdkConfig) -> Result<LambdaSignIn, InitError> {
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(sdk), config.users_table.clone());
    let sessions = Key::from_source(
        &config.session_key,
        config.sessions.clone(),
        &aws_sdk_ssm::Client::new(sdk),
    )?;
    // The key is read from init on, in a task of its own; init waits for DynamoDB's warm-up
    // only (a sign-in's guard read, of a key no email has), and a success waits for the read.
    sessions.read_after_init("session");
    let ((), dynamodb) = timed(store.warm_up()).await;
    tracing::info!(dynamodb_ms = ms(dynamodb), "init calls");
    Ok(SignIn::new(store, sessions, config.bcrypt_cost, config.limits))
}
