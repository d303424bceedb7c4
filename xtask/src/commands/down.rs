//! `cargo xtask down`: brings the local stack down; [`crate::local::down`] does it.

use crate::layout::Layout;
use crate::local::down;
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    down::run(layout).await
}
