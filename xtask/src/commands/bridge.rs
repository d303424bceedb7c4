//! `cargo xtask bridge`: runs the local SQS -> send-email event source mapping in the
//! foreground (`up` starts it in the background).

use crate::bridge::Bridge;
use crate::env_file;
use crate::layout::Layout;
use crate::provision::{Endpoints, REGION, sdk_config};
use crate::template::Template;
use anyhow::{Context, Result};
use std::time::Duration;

/// The function the bridge feeds, by its binary name in template.yaml.
pub const FUNCTION: &str = "send-email";

#[derive(Debug, Clone, clap::Args)]
pub struct BridgeArgs {
    /// Seconds before a failed message is retried (AWS waits for the queue's visibility timeout).
    #[arg(long, default_value_t = 2)]
    pub retry_delay_seconds: u64,
}

pub async fn bridge_for(layout: &Layout, retry_delay: Duration) -> Result<Bridge> {
    let env = env_file::read(&layout.stack_env()).context("no stack.env: run `cargo xtask up` first")?;
    let var = |key: &str| {
        env_file::get(&env, key)
            .map(str::to_owned)
            .with_context(|| format!("{key} missing from stack.env"))
    };
    let endpoints = Endpoints {
        localstack: var("AWS_ENDPOINT_URL")?,
        dynamodb: var("AWS_ENDPOINT_URL_DYNAMODB")?,
    };
    let functions_port = var("FUNCTIONS_URL")?
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("FUNCTIONS_URL has no port")?;
    Ok(Bridge {
        sqs: aws_sdk_sqs::Client::new(&sdk_config(&endpoints).await),
        queue_url: var("EMAIL_QUEUE_URL")?,
        function: FUNCTION.to_owned(),
        functions_port,
        region: REGION.to_owned(),
        source: Template::load(&layout.template())?.sqs_event_source(FUNCTION)?,
        retry_delay,
    })
}

pub fn run(layout: &Layout, args: &BridgeArgs) -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        bridge_for(layout, Duration::from_secs(args.retry_delay_seconds))
            .await?
            .run_forever()
            .await
    })
}
