//! `cargo xtask bridge`: runs [`crate::bridge`], the local stand-in for Lambda's event sources
//! (the SQS -> send-email event source mapping, the schedules and the HTTP API), in the
//! foreground; `up` starts it in the background.

use crate::bridge;
use crate::layout::Layout;
use crate::local::{process, services};
use anyhow::Result;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct BridgeArgs {
    /// Seconds between runs of scheduled functions (AWS: their Schedule rate).
    #[arg(long, default_value_t = 5)]
    pub schedule_seconds: u64,
    /// The HTTP API's port (default: 9200 if free, else any free port).
    #[arg(long, env = "API_PORT")]
    pub api_port: Option<u16>,
}

pub async fn run(layout: &Layout, args: &BridgeArgs) -> Result<()> {
    let bridge = bridge::for_stack(layout, Duration::from_secs(args.schedule_seconds)).await?;
    let port = process::choose_port("the HTTP API", args.api_port, services::API_DEFAULT_PORT)?;
    bridge::run(bridge, bridge::http_api::bind(port).await?).await
}
