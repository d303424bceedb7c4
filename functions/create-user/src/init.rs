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
    // Init waits for DynamoDB's warm-up only: a sign-up's first call after its hash. The JWT
    // secret (needed once the hash is done) is read in a task of its own that starts with init,
    // beside DynamoDB's warm-up, and that the first invocation overlaps: on LocalStack it took
    // 11-44 ms p50 against 4-6 for DynamoDB (bench/results.md, "init call"). A sign-up arriving first
    // waits for the read in flight (`Tokens::issuer`), never starts a second one, and one
    // arriving during an SSM outage after that read still has the secret. If the read fails,
    // the sign-ups read again, beside their hash, answering 503 `retryable` until SSM answers; a
    // secret too short is a deployment error, logged here and answered 500. Where Lambda
    // freezes the environment right after init (provisioned concurrency), the task resumes at
    // the thaw, and a call timed out meanwhile is one more failed read.
    //
    // SNS is not warmed: a sign-up publishes after its answer, so its first publish opens the
    // connection when the caller already has the answer, and a warm-up would only compete with
    // the first invocation (for LocalStack here, for the vCPU's share on AWS).
    if let SecretSource::SsmParameter(_) = config.jwt_secret {
        tokio::spawn(read_secret_after_init(tokens.clone()));
    }
    let ((), dynamodb) = timed(store.warm_up()).await;
    tracing::info!(dynamodb_ms = ms(dynamodb), "init calls");
    Ok(SignUp::new(Timed(store), Timed(publisher), tokens, config.bcrypt_cost))
}

/// The secret's read, while init's DynamoDB warm-up and the first invocation run. Logged as
/// the call that ends after init.
async fn read_secret_after_init(tokens: Tokens) {
    let (secret, ssm) = timed(tokens.issuer()).await;
    match secret {
        Err(e @ IssuerError::Invalid(_)) => {
            tracing::error!(error = %e, "sign-ups answer 500 until the JWT secret is replaced")
        }
        Err(e) => tracing::warn!(error = %e, "JWT secret not read after init; the next sign-up reads it again"),
        Ok(_) => {}
    }
    tracing::info!(ssm_ms = ms(ssm), "init calls after init");
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
