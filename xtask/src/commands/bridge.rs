//! `cargo xtask bridge`: runs the local SQS -> send-email event source mapping in the
//! foreground (`up` starts it in the background).

use crate::bridge::{Bridge, Scheduled};
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
    /// Seconds between runs of scheduled functions (AWS: their Schedule rate).
    #[arg(long, default_value_t = 5)]
    pub schedule_seconds: u64,
}

/// send-email's Timeout (template.yaml) and its claim lease. The lease is the Timeout:
/// `LEASE_SECONDS` in functions/send-email/src/adapters/dynamodb_claims.rs is no shorter (a
/// send still running is never taken over) and is the Timeout itself. Failed messages are
/// retried no sooner than the lease, whatever runs the bridge: there is no knob to go below it.
pub fn send_email_limits(template: &Template) -> Result<(Duration, Duration)> {
    let timeout = template.function_timeout(FUNCTION)?;
    Ok((timeout, timeout))
}

pub async fn bridge_for(layout: &Layout, args: &BridgeArgs) -> Result<Bridge> {
    let env = StackEnv::load(layout)?;
    let template = Template::load(&layout.template())?;
    let (timeout, claim_lease) = send_email_limits(&template)?;
    let scheduled = template
        .scheduled_functions()
        .into_iter()
        .map(|function| {
            let timeout = template.function_timeout(&function)?;
            Ok(Scheduled { function, timeout })
        })
        .collect::<Result<_>>()?;
    Ok(Bridge {
        sqs: aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints()?).await),
        queue_url: env.var("EMAIL_QUEUE_URL")?,
        function: FUNCTION.to_owned(),
        timeout,
        claim_lease,
        functions_port: env.port("FUNCTIONS_URL")?,
        region: REGION.to_owned(),
        source: template.sqs_event_source(FUNCTION)?,
        scheduled,
        schedule_every: Duration::from_secs(args.schedule_seconds),
    })
}

pub fn run(layout: &Layout, args: &BridgeArgs) -> Result<()> {
    tokio::runtime::Runtime::new()?
        .block_on(async { std::sync::Arc::new(bridge_for(layout, args).await?).run_forever().await })
}
