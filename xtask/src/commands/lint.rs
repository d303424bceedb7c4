//! `cargo xtask lint`: the project's static checks; [`crate::checks`] runs them.

use crate::layout::Layout;
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    crate::checks::run(layout).await
}
