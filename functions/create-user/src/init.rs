//! Everything built once per execution environment: SDK clients, the JWT key, the use case.

use crate::config::{Config, SecretSource};
use crate::domain::signup::SignUp;
use crate::timing::Timed;
use crate::token::JwtIssuer;
use aws_config::SdkConfig;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};

/// The use case on DynamoDB and SNS, each call timed for the request's log line.
pub type LambdaSignUp = SignUp<Timed<DynamoUserStore>, Timed<SnsPublisher>>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("reading the JWT secret from SSM parameter {name}: {cause}")]
    Secret { name: String, cause: String },
    #[error("JWT: {0}")]
    Token(#[from] crate::token::TokenError),
}

/// Builds the use case from the environment. Endpoints (LocalStack, DynamoDB Local) come from
/// `AWS_ENDPOINT_URL[_DYNAMODB]`, which aws-config reads itself.
pub async fn from_env() -> Result<LambdaSignUp, InitError> {
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    build(&config, &sdk).await
}

pub async fn build(config: &Config, sdk: &SdkConfig) -> Result<LambdaSignUp, InitError> {
    let store = DynamoUserStore::new(aws_sdk_dynamodb::Client::new(sdk), config.users_table.clone());
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(sdk), config.topic_arn.clone());
    let secret = async {
        match &config.jwt_secret {
            SecretSource::Value(secret) => Ok(secret.clone()),
            SecretSource::SsmParameter(name) => read_secret(sdk, name).await,
        }
    };
    // All three at once: init lasts as long as the slowest, not their sum.
    let (secret, (), ()) = tokio::join!(secret, store.warm_up(), publisher.warm_up());
    let secret = secret?;
    let tokens = JwtIssuer::new(secret.as_bytes(), config.tokens.clone())?;
    Ok(SignUp::new(Timed(store), Timed(publisher), tokens, config.bcrypt_cost))
}

async fn read_secret(sdk: &SdkConfig, name: &str) -> Result<String, InitError> {
    let error = |cause: String| InitError::Secret {
        name: name.to_owned(),
        cause,
    };
    let out = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| error(aws_sdk_ssm::error::DisplayErrorContext(&e).to_string()))?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| error("parameter has no value".into()))
}
