//! `cargo xtask test`: the project's test command, the README's one command that passes the
//! tests on a fresh machine. The suite, and everything it sets up first, is [`crate::suite`]'s.

use crate::layout::Layout;
use crate::local::up::UpArgs;
use anyhow::Result;

pub async fn run(layout: &Layout, up_args: &UpArgs, cargo_test_args: &[String]) -> Result<()> {
    crate::suite::run(layout, up_args, cargo_test_args).await
}
