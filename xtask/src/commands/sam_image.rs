//! `cargo xtask sam-image`: makes sure `sam local` has an arm64 base image. Where AWS's
//! registry answers, that is AWS's own (`public.ecr.aws/lambda/provided:al2023-arm64`);
//! where none does (CI here), a stand-in built from Debian's packages, tagged with AWS's name
//! so that the README's `sam local` commands find it as they are written.

use crate::layout::Layout;
use crate::local::sam::{self, BaseImage};
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    match sam::ensure_base_image(layout).await? {
        BaseImage::Aws => eprintln!("{}: AWS's own image", sam::AWS_BASE_IMAGE),
        BaseImage::StandIn => eprintln!(
            "{}: the stand-in {} (no registry answered)",
            sam::AWS_BASE_IMAGE,
            sam::STANDIN_IMAGE
        ),
    }
    Ok(())
}
