//! SDK configuration for the emulators.

use anyhow::{Context, Result};
use aws_config::{ConfigLoader, SdkConfig};
use aws_sdk_sqs::types::QueueAttributeName;

/// The local stack's region: what `up` provisions in and writes to `stack.env`.
pub const REGION: &str = "us-east-1";
/// The emulators' test credentials (they accept any; these are the ones `stack.env` names).
pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test";

/// Where the emulators listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// LocalStack: every service but DynamoDB.
    pub localstack: String,
    /// DynamoDB Local.
    pub dynamodb: String,
}

impl Endpoints {
    pub fn on_ports(localstack: u16, dynamodb: u16) -> Self {
        Self {
            localstack: crate::loopback_url(localstack),
            dynamodb: crate::loopback_url(dynamodb),
        }
    }
}

/// [`sdk_config`] before it is loaded, for a caller that adds settings of its own (the tests
/// add the functions' deadlines; xtask's long polls must not have them).
pub fn sdk_config_loader(endpoints: &Endpoints) -> ConfigLoader {
    aws_config::defaults(lambda_support::aws::behavior_version())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "local-stack",
        ))
        .endpoint_url(&endpoints.localstack)
}

/// SDK configuration for the emulators: their test credentials, the local region, LocalStack as
/// the endpoint of every service (DynamoDB's is DynamoDB Local: [`dynamodb_client`]). Region,
/// credentials and endpoint are set here, so a shell's real AWS profile cannot redirect them.
pub async fn sdk_config(endpoints: &Endpoints) -> SdkConfig {
    sdk_config_loader(endpoints).load().await
}

/// A DynamoDB client for DynamoDB Local.
pub fn dynamodb_client(config: &SdkConfig, endpoints: &Endpoints) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(config)
        .endpoint_url(&endpoints.dynamodb)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A queue's ARN (what subscriptions, redrive policies and SQS events name it by), from its URL
/// (what `stack.env` holds).
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the ARN of {url}"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .with_context(|| format!("{url} has no ARN"))
}
