//! `cargo xtask demo`: the main job, one sign-up shown from request to session;
//! [`crate::demo`] runs it.

use crate::layout::Layout;
use crate::local::up::UpArgs;
use anyhow::Result;

pub async fn run(layout: &Layout, up_args: &UpArgs) -> Result<()> {
    crate::demo::run(layout, up_args).await
}
