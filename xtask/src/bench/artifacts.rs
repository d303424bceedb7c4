//! The deployment zips the report compares: the Rust functions' arm64 zips, as
//! `cargo lambda build` makes them for a deployment, and the Python peer's, as
//! `bench/peers/python/package.py` makes them.

use crate::layout::Layout;
use crate::local::{install, process};
use crate::ui;
use anyhow::{Result, bail};
use std::path::Path;

/// One function's arm64 zip.
pub struct Artifact {
    /// Its binary (template.yaml's `BuildProperties.Binary`).
    pub function: String,
    /// The bootstrap inside the zip, uncompressed, and the zip.
    pub binary: u64,
    pub zip: u64,
}

/// `cargo lambda build --release --arm64 --output-format zip` of `functions`: what a deployment
/// uploads.
pub async fn build_rust_zips(layout: &Layout, functions: &[String]) -> Result<()> {
    install::tools(layout).await?;
    ui::step(
        "Building the arm64 release zips (cargo lambda build --arm64)",
        async |p| {
            let mut cmd = std::process::Command::new(layout.tools_bin().join("cargo-lambda"));
            cmd.args(["lambda", "build", "--release", "--arm64", "--output-format", "zip"])
                .args(functions.iter().flat_map(|f| ["-p", f]))
                .env("PATH", layout.path_with_tools())
                .current_dir(&layout.root);
            process::run_logged(cmd, &layout.logs_dir().join("build-arm64.log"), p).await
        },
    )
    .await
}

/// The zips [`build_rust_zips`] left of `functions`, with the size of the bootstrap inside each
/// (from the zip's central directory). A function without one is left out.
pub fn rust_zips(layout: &Layout, functions: &[String]) -> Vec<Artifact> {
    functions
        .iter()
        .filter_map(|f| {
            let zip = std::fs::read(layout.root.join("target/lambda").join(f).join("bootstrap.zip")).ok()?;
            // Central directory file header: signature PK\x01\x02, uncompressed size at +24.
            let header = zip.windows(4).position(|w| w == b"PK\x01\x02")?;
            let size = zip.get(header + 24..header + 28)?;
            Some(Artifact {
                function: f.clone(),
                binary: u32::from_le_bytes(size.try_into().ok()?).into(),
                zip: zip.len() as u64,
            })
        })
        .collect()
}

/// Packages the Python peer as one would for Lambda (python3.13, arm64; boto3 from the
/// runtime) into `out`; its zips' bytes by function.
pub fn python_zips(python: &Path, peer_dir: &Path, out: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let packaged = std::process::Command::new(python)
        .arg(peer_dir.join("package.py"))
        .arg(out)
        .output()?;
    if !packaged.status.success() {
        bail!(
            "packaging the Python peer failed: {}",
            String::from_utf8_lossy(&packaged.stderr)
        );
    }
    Ok(serde_json::from_slice(&packaged.stdout)?)
}
