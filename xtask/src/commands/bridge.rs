//! `cargo xtask bridge`: runs [`crate::bridge`], the local stand-in for Lambda's event sources
//! (the SQS -> send-email event source mapping and the schedules), in the foreground; `up`
//! starts it in the background.

use crate::bridge;
use crate::layout::Layout;
use anyhow::Result;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct BridgeArgs {
    /// Seconds between runs of scheduled functions (AWS: their Schedule rate).
    #[arg(long, default_value_t = 5)]
    pub schedule_seconds: u64,
}

pub async fn run(layout: &Layout, args: &BridgeArgs) -> Result<()> {
    let (mapping, scheduler) = bridge::for_stack(layout, Duration::from_secs(args.schedule_seconds)).await?;
    bridge::run(mapping, scheduler).await
}
