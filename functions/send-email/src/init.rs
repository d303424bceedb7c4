//! Everything built once per execution environment.

use crate::adapters::{
    dynamodb_claims::DynamoClaims,
    mailers::{AnyMailer, LogMailer, SesMailer},
    pacing::Paced,
};
use crate::config::{Config, MailTransport};
use crate::domain::deliver::Deliver;
use aws_config::SdkConfig;

/// One per instance: every message task of every batch shares its claims, its SES client and
/// its send rate limit.
pub type LambdaDeliver = Deliver<DynamoClaims, Paced<AnyMailer>>;

pub async fn from_env() -> Result<LambdaDeliver, crate::config::ConfigError> {
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deliver = build(&config, &sdk);
    // SES is not warmed: its only read-only calls (GetSendQuota, ...) need `Resource: "*"`,
    // and the template grants no wildcard.
    let ((), dynamodb) = lambda_support::timing::timed(deliver.claims.warm_up()).await;
    tracing::info!(dynamodb_ms = lambda_support::timing::ms(dynamodb), "init calls");
    Ok(deliver)
}

pub fn build(config: &Config, sdk: &SdkConfig) -> LambdaDeliver {
    let mailer = match config.transport {
        MailTransport::Ses => AnyMailer::Ses(SesMailer::new(aws_sdk_ses::Client::new(sdk), config.from.clone())),
        MailTransport::Log => AnyMailer::Log(LogMailer),
    };
    Deliver {
        claims: DynamoClaims::new(aws_sdk_dynamodb::Client::new(sdk), config.table.clone()),
        mailer: Paced::new(mailer, config.send_interval),
    }
}
