//! `cargo xtask redrive`: the email DLQ's messages back to the email queue;
//! [`crate::local::redrive`] moves them.

use crate::layout::Layout;
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    crate::local::redrive::run(layout).await
}
