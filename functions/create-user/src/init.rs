//! Everything built once per execution environment: SDK clients, the JWT issuer, the use case.

use crate::config::{Config, SecretSource};
use crate::domain::signup::SignUp;
use crate::timing::Timed;
use crate::token::{IssuerError, JwtIssuer, SecretStore, Tokens};
use aws_config::SdkConfig;
use lambda_support::timing::{ms, timed};
use std::future::Future;
use std::pin::Pin;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};

/// The use case on DynamoDB and SNS, each call timed for the request's log line.
pub type LambdaSignUp = SignUp<Timed<DynamoUserStore>, Timed<SnsPublisher>>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
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
    let tokens = match &config.jwt_secret {
        SecretSource::Value(secret) => Tokens::from(JwtIssuer::new(secret.as_bytes(), config.tokens.clone())?),
        SecretSource::SsmParameter(name) => Tokens::read_on_first_use(
            SsmSecret::new(aws_sdk_ssm::Client::new(sdk), name.clone()),
            config.tokens.clone(),
        ),
    };
    // The secret is read now, beside the warm-ups: init lasts as long as the slowest of the
    // three, and reading it on the first sign-up instead was measured to gain nothing (the
    // warm-ups take as long), while an instance that has it keeps signing users up through an
    // SSM outage. If SSM fails now, init goes on: the first sign-up reads it again and answers
    // 503 `retryable` until it can, where failing init would have Lambda answer 500s and retry
    // the whole init. A secret too short is a deployment error: init fails at once.
    let ((secret, ssm), ((), dynamodb), ((), sns)) = tokio::join!(
        timed(tokens.issuer()),
        timed(store.warm_up()),
        timed(publisher.warm_up())
    );
    // Where init's time goes: it lasts as long as the slowest of the three.
    let ssm_ms = matches!(config.jwt_secret, SecretSource::SsmParameter(_)).then(|| ms(ssm));
    tracing::info!(ssm_ms, dynamodb_ms = ms(dynamodb), sns_ms = ms(sns), "init calls");
    match secret {
        Err(IssuerError::Invalid(e)) => return Err(InitError::Token(e)),
        Err(e) => tracing::warn!(error = %e, "JWT secret not read at init; the first sign-up reads it again"),
        Ok(_) => {}
    }
    Ok(SignUp::new(Timed(store), Timed(publisher), tokens, config.bcrypt_cost))
}

/// The JWT secret in an SSM SecureString parameter.
pub struct SsmSecret {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmSecret {
    pub fn new(client: aws_sdk_ssm::Client, name: String) -> Self {
        Self { client, name }
    }
}

impl SecretStore for SsmSecret {
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
        Box::pin(async move {
            let out = self
                .client
                .get_parameter()
                .name(&self.name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "SSM parameter {}: {}",
                        self.name,
                        aws_sdk_ssm::error::DisplayErrorContext(&e)
                    )
                })?;
            out.parameter
                .and_then(|p| p.value)
                .ok_or_else(|| format!("SSM parameter {} has no value", self.name))
        })
    }
}
