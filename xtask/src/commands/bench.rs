//! `cargo xtask bench`: the benchmark; [`crate::bench`] measures and writes the report.

use crate::bench::{self, BenchArgs};
use crate::layout::Layout;
use anyhow::Result;

pub async fn run(layout: &Layout, args: &BenchArgs) -> Result<()> {
    bench::run(layout, args).await
}
