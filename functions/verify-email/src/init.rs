//! Everything built once per execution environment: SDK clients, the two keys, the use case.

use crate::config::Config;
use crate::domain::verify::Verify;
use aws_config::SdkConfig;
use lambda_support::config::{ConfigError, Vars};
use lambda_support::timing::{ms, timed};
use tokens::key::Key;
use tokens::verification::VerifyPolicy;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use user_store::users::UserStore;

pub type LambdaVerify = Verify<DynamoUserStore, SnsPublisher>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("a key: {0}")]
    Key(#[from] tokens::TokenError),
}

/// Builds the use case from the environment. Endpoints (LocalStack, DynamoDB Local) come from
/// `AWS_ENDPOINT_URL[_DYNAMODB]`, which aws-config reads itself.
pub async fn from_env() -> Result<LambdaVerify, InitError> {
    let config = Config::from_vars(&Vars::env())?;
    let sdk = lambda_support::aws::sdk_config().await;
    build(&config, &sdk).await
}

pub async fn build(config: &Config, sdk: &SdkConfig) -> Result<LambdaVerify, InitError> {
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(sdk), config.users_table.clone());
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(sdk), config.topic_arn.clone());
    let ssm = aws_sdk_ssm::Client::new(sdk);
    // The link's key checks the token; its issuer is the one send-email mints with. Its
    // lifetime is send-email's to set: a check reads `exp`.
    let link_policy = VerifyPolicy {
        issuer: config.sessions.issuer.clone(),
        ttl_seconds: tokens::verification::MAX_TTL_SECONDS,
    };
    let links = Key::from_source(&config.link_key, link_policy, &ssm)?;
    let sessions = Key::from_source(&config.session_key, config.sessions.clone(), &ssm)?;
    // Both secrets are read from init on, in tasks of their own: init waits for DynamoDB's
    // warm-up only, and the first verification waits for the reads in flight.
    links.read_after_init("verification");
    sessions.read_after_init("session");
    // DynamoDB's warm-up: a verification's own first call, the user read, of an id no user has.
    let (_, dynamodb) = timed(store.user(uuid::Uuid::nil())).await;
    tracing::info!(dynamodb_ms = ms(dynamodb), "init calls");
    Ok(Verify::new(store, publisher, links, sessions, config.failures))
}
