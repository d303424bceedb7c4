//! `cargo xtask gen`: regenerates files derived from template.yaml that are committed because
//! a tool outside this workspace reads them (a test fails while they are stale): today
//! LocalStack's Docker deployment, [`crate::local::template::localstack`]'s.

use crate::layout::Layout;
use crate::local::template::localstack::{docker_stack, docker_stack_path};
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    let path = docker_stack_path(layout);
    std::fs::write(&path, docker_stack(layout)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
