//! `sam local invoke` and `sam local start-api` against the local stack: the functions as built
//! for AWS (`sam build`'s arm64 `bootstrap`), in SAM's container with its runtime interface
//! emulator, talking to the emulators on the host.
//!
//! Two things make that work with no flag to add. `cargo xtask up` writes `.local/sam-env.json`
//! (samconfig.toml points `sam local` at it) with the addresses a container reaches the host at
//! (the docker bridge's gateway) and the stack's names and ARNs. And where no registry can be
//! reached, a stand-in for AWS's `provided.al2023` base image is built here from Debian's
//! packages ([`ensure_standin_image`]).

use super::packages::{self, MMDEBSTRAP, UPDATE_BINFMTS};
use super::process::run_logged;
use super::template::Template;
use crate::layout::Layout;
use crate::ui;
use anyhow::{Context, Result, bail};
use local_stack::StackEnv;
use serde_json::{Map, Value, json};
use std::process::Command;

/// The base image SAM uses for `provided.al2023` on arm64, from AWS's public registry.
pub const AWS_BASE_IMAGE: &str = "public.ecr.aws/lambda/provided:al2023-arm64";
/// The stand-in built here: Debian (arm64, run under qemu), with what SAM's image build needs
/// (`/bin/sh`, `mv`, `chmod`) and CA certificates. SAM adds its own runtime interface emulator.
pub const STANDIN_IMAGE: &str = "user-signup/lambda-provided-standin:al2023-arm64";

/// The docker bridge's gateway address: where a container reaches this host. None when no
/// Docker engine answers (then `sam local` cannot run, and `up` writes no env-vars file).
pub fn docker_gateway() -> Option<String> {
    let inspect = |format: &str| docker(&["network", "inspect", "bridge", "--format", format]);
    let gateway = inspect("{{range .IPAM.Config}}{{.Gateway}}{{end}}")?;
    if !gateway.is_empty() {
        return Some(gateway);
    }
    // Docker 20.10's default bridge records no gateway: it is the bridge interface's address.
    let interface = inspect(r#"{{index .Options "com.docker.network.bridge.name"}}"#)?;
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &interface])
        .output()
        .ok()?;
    // "4: docker0    inet 172.17.0.1/16 brd ... scope global docker0"
    let text = String::from_utf8_lossy(&out.stdout);
    let address = text.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
    address.split('/').next().map(str::to_owned)
}

/// The env-vars file's contents: every variable a function declares that the stack knows (its
/// table, topic, sender, secret's name; `overrides` on top, a later one winning), and the
/// emulators' endpoints at `gateway`.
pub fn env_vars(
    template: &Template,
    stack: &StackEnv,
    overrides: &[(String, String)],
    gateway: &str,
    localstack_port: u16,
    dynamodb_port: u16,
) -> Value {
    let endpoints = [
        ("AWS_ENDPOINT_URL", format!("http://{gateway}:{localstack_port}")),
        ("AWS_ENDPOINT_URL_DYNAMODB", format!("http://{gateway}:{dynamodb_port}")),
    ];
    let mut file = Map::new();
    for (function, declared) in template.function_variables() {
        let value_of = |name: &str| {
            endpoints
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
                .or_else(|| overrides.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
                .or_else(|| stack.get(name))
        };
        let vars: Map<String, Value> = declared
            .iter()
            .filter_map(|name| value_of(name).map(|v| (name.clone(), json!(v))))
            .collect();
        file.insert(function, Value::Object(vars));
    }
    Value::Object(file)
}

/// Writes `.local/sam-env.json` when a Docker engine runs (and removes a stale one when not).
pub fn write_env_vars(
    layout: &Layout,
    template: &Template,
    stack: &StackEnv,
    overrides: &[(String, String)],
    ports: (u16, u16),
) -> Result<Option<String>> {
    let path = layout.sam_env();
    let Some(gateway) = docker_gateway() else {
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    };
    let vars = env_vars(template, stack, overrides, &gateway, ports.0, ports.1);
    std::fs::write(&path, serde_json::to_string_pretty(&vars)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(gateway))
}

/// Builds the stand-in base image once (about 3 minutes: Debian's essential packages for arm64,
/// installed under qemu) and keeps it in Docker's image store.
pub async fn ensure_standin_image(layout: &Layout) -> Result<()> {
    if docker_gateway().is_none() {
        bail!("no Docker engine answers (`docker info`): `cargo xtask test` and `cargo xtask sam-image` start one");
    }
    if image_exists(STANDIN_IMAGE) {
        return Ok(());
    }
    packages::ensure(
        layout,
        &[MMDEBSTRAP, UPDATE_BINFMTS],
        "the stand-in base image for `sam local` (no registry answered)",
    )
    .await?;
    let dir = layout.run_dir().join("standin");
    std::fs::create_dir_all(&dir)?;
    let log = layout.logs_dir().join("standin-image.log");
    ui::step(
        "Building the arm64 stand-in base image (mmdebstrap, under qemu)",
        async |progress| {
            let mut cmd = Command::new("mmdebstrap");
            cmd.args([
                "--arch=arm64",
                "--variant=essential",
                "--include=ca-certificates",
                "stable",
            ])
            .arg(dir.join("rootfs.tar"))
            .arg("http://deb.debian.org/debian");
            run_logged(cmd, &log, progress).await?;
            // A build rather than `docker import`, which records the host's architecture: SAM
            // builds its image for arm64 and would look for an arm64 base in a registry.
            std::fs::write(
                dir.join("Dockerfile"),
                "FROM scratch\nADD rootfs.tar /\nCMD [\"/bin/sh\"]\n",
            )?;
            let mut build = Command::new("docker");
            build
                .args(["build", "--platform", "linux/arm64", "-t", STANDIN_IMAGE])
                .arg(&dir);
            run_logged(build, &log, progress).await
        },
    )
    .await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Which base image `sam local` (as the README prints it, without `--invoke-image`) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseImage {
    /// AWS's own, pulled from its registry.
    Aws,
    /// No registry answered: the stand-in, tagged with AWS's name so that SAM finds it.
    StandIn,
}

/// Which image `sam local` runs on, in words.
pub fn describe(image: BaseImage) -> String {
    match image {
        BaseImage::Aws => format!("{AWS_BASE_IMAGE}: AWS's own image"),
        BaseImage::StandIn => format!("{AWS_BASE_IMAGE}: the stand-in {STANDIN_IMAGE} (no registry answered)"),
    }
}

/// Makes sure SAM has a base image: AWS's if it is here or can be pulled, else the stand-in
/// under AWS's name (an offline machine, CI here). A machine that can pull never gets the
/// stand-in in AWS's place.
pub async fn ensure_base_image(layout: &Layout) -> Result<BaseImage> {
    if let Some(present) = image_id(AWS_BASE_IMAGE) {
        let standin = image_id(STANDIN_IMAGE).is_some_and(|id| id == present);
        return Ok(if standin { BaseImage::StandIn } else { BaseImage::Aws });
    }
    let pulled = Command::new("docker")
        .args(["pull", "--platform", "linux/arm64", AWS_BASE_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if pulled {
        return Ok(BaseImage::Aws);
    }
    ensure_standin_image(layout).await?;
    let status = Command::new("docker")
        .args(["tag", STANDIN_IMAGE, AWS_BASE_IMAGE])
        .status()?;
    if !status.success() {
        bail!("docker tag {STANDIN_IMAGE} {AWS_BASE_IMAGE} failed");
    }
    Ok(BaseImage::StandIn)
}

/// The image's id in Docker's store, if it is there.
fn image_id(image: &str) -> Option<String> {
    docker(&["image", "inspect", "--format", "{{.Id}}", image])
}

/// What `docker <args>` printed, trimmed, if it succeeded.
fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn image_exists(image: &str) -> bool {
    image_id(image).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_file_sets_what_each_function_declares_and_nothing_else() {
        let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
        let stack = StackEnv::parse(
            "USERS_TABLE=user-signup-users\nUSER_EVENTS_TOPIC_ARN=arn:topic\n\
             EMAIL_FROM=welcome@example.com\nEMAIL_QUEUE_URL=http://q",
        );
        let overrides = [("BCRYPT_COST".to_owned(), "4".to_owned())];
        let vars = env_vars(&template, &stack, &overrides, "172.17.0.1", 4566, 8000);
        let create_user = &vars["CreateUserFunction"];
        assert_eq!(create_user["AWS_ENDPOINT_URL"], "http://172.17.0.1:4566");
        assert_eq!(create_user["AWS_ENDPOINT_URL_DYNAMODB"], "http://172.17.0.1:8000");
        assert_eq!(create_user["USERS_TABLE"], "user-signup-users");
        assert_eq!(create_user["BCRYPT_COST"], "4");
        assert_eq!(vars["SendEmailFunction"]["EMAIL_FROM"], "welcome@example.com");
        assert_eq!(vars["SendEmailFunction"]["EMAIL_QUEUE_URL"], "http://q");
        assert!(
            vars["SendEmailFunction"].get("USER_EVENTS_TOPIC_ARN").is_none(),
            "not declared"
        );
        assert!(vars["SendEmailFunction"].get("BCRYPT_COST").is_none(), "not declared");
    }
}
