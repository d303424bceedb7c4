//! `cargo xtask sam-image`: makes sure `sam local` has an arm64 base image. Where AWS's
//! registry answers, that is AWS's own (`public.ecr.aws/lambda/provided:al2023-arm64`);
//! where none does (CI here), a stand-in built from Debian's packages, tagged with AWS's name
//! so that the README's `sam local` commands find it as they are written.

use crate::layout::Layout;
use crate::local::{docker, sam};
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    // An engine started here for the build is stopped when this returns; the image stays.
    let _engine = docker::ensure(layout).await?;
    let image = sam::ensure_base_image(layout).await?;
    eprintln!("{}", sam::describe(image));
    Ok(())
}
