//! Everything built once per execution environment.

use crate::adapters::{
    dynamodb_claims::DynamoClaims,
    mailers::{AnyMailer, LogMailer, SesMailer, ses_client},
    pacing::Paced,
    recipient_log::DynamoRecipientLog,
    requeue::SqsRequeue,
};
use crate::config::{Config, MailTransport};
use crate::domain::deliver::{Deliver, Links};
use aws_config::SdkConfig;
use lambda_support::config::{ConfigError, Vars};
use std::sync::Arc;
use tokens::key::Key;
use tokens::verification::VerifyPolicy;

/// One per instance: every message task of every batch shares its claims, its recipient log,
/// its SES client, its send rate limit and its verification key.
pub type LambdaDeliver = Deliver<DynamoClaims, Paced<AnyMailer>, DynamoRecipientLog>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the verification key: {0}")]
    Key(#[from] tokens::TokenError),
}

/// The use case, and where a message over the send rate goes back to ([`SqsRequeue`]).
pub async fn from_env() -> Result<(Arc<LambdaDeliver>, Option<SqsRequeue>), InitError> {
    let config = Config::from_vars(&Vars::env())?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deliver = build(&config, &sdk)?;
    let requeue = config
        .queue_url
        .clone()
        .map(|url| SqsRequeue::new(aws_sdk_sqs::Client::new(&sdk), url));
    // The key's secret (SSM) is read beside the warm-up and into the first batch: a batch
    // needs it only once its claims are taken. SES is not warmed: its only read-only calls
    // (GetSendQuota, ...) need `Resource: "*"`, and the template grants no wildcard.
    deliver.links.key.read_after_init("verification");
    let ((), dynamodb) = lambda_support::timing::timed(deliver.claims.warm_up()).await;
    tracing::info!(dynamodb_ms = lambda_support::timing::ms(dynamodb), "init calls");
    // Shared with the tasks of a batch's messages.
    Ok((Arc::new(deliver), requeue))
}

pub fn build(config: &Config, sdk: &SdkConfig) -> Result<LambdaDeliver, InitError> {
    let mailer = match config.transport {
        MailTransport::Ses => AnyMailer::Ses(SesMailer::new(
            ses_client(sdk),
            config.from.clone(),
            config.configuration_set.clone(),
        )),
        MailTransport::Log => AnyMailer::Log(LogMailer),
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let policy = VerifyPolicy {
        issuer: config.issuer.clone(),
        ttl_seconds: config.verify_ttl_seconds,
    };
    Ok(Deliver {
        claims: DynamoClaims::new(dynamodb.clone(), config.table.clone()),
        mailer: Paced::new(mailer, config.send_interval),
        log: DynamoRecipientLog::new(dynamodb, config.table.clone()),
        links: Links {
            key: Key::from_source(&config.verify_key, policy, &aws_sdk_ssm::Client::new(sdk))?,
            base: config.verify_url_base.clone(),
        },
        caps: config.caps,
    })
}
