//! `cargo xtask up`: brings the local stack up; [`crate::local::up`] does it.

use crate::layout::Layout;
use crate::local::up::{self, UpArgs};
use anyhow::Result;

pub async fn run(layout: &Layout, args: &UpArgs) -> Result<()> {
    up::run(layout, args).await
}
