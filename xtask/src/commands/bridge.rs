//! `cargo xtask bridge`: runs the local SQS -> send-email event source mapping in the
//! foreground (`up` starts it in the background).

use crate::bridge::Bridge;
use crate::env_file::StackEnv;
use crate::layout::Layout;
use crate::provision::{REGION, sdk_config};
use crate::template::Template;
use anyhow::Result;
use std::time::Duration;

/// The function the bridge feeds, by its binary name in template.yaml.
pub const FUNCTION: &str = "send-email";

#[derive(Debug, Clone, clap::Args)]
pub struct BridgeArgs {
    /// Seconds before a failed message is retried (AWS waits for the queue's visibility timeout).
    #[arg(long, default_value_t = 2)]
    pub retry_delay_seconds: u64,
    /// Seconds between runs of scheduled functions (AWS: their Schedule rate).
    #[arg(long, default_value_t = 5)]
    pub schedule_seconds: u64,
}

pub async fn bridge_for(layout: &Layout, args: &BridgeArgs) -> Result<Bridge> {
    let env = StackEnv::load(layout)?;
    let template = Template::load(&layout.template())?;
    Ok(Bridge {
        sqs: aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints()?).await),
        queue_url: env.var("EMAIL_QUEUE_URL")?,
        function: FUNCTION.to_owned(),
        functions_port: env.port("FUNCTIONS_URL")?,
        region: REGION.to_owned(),
        source: template.sqs_event_source(FUNCTION)?,
        retry_delay: Duration::from_secs(args.retry_delay_seconds),
        scheduled: template.scheduled_functions(),
        schedule_every: Duration::from_secs(args.schedule_seconds),
    })
}

pub fn run(layout: &Layout, args: &BridgeArgs) -> Result<()> {
    tokio::runtime::Runtime::new()?
        .block_on(async { std::sync::Arc::new(bridge_for(layout, args).await?).run_forever().await })
}
