//! `sam build`'s output (`.aws-sam/build`: the functions' arm64 `bootstrap`s as deployed, and
//! the template that points at them), which `sam local` runs: built when it is missing or
//! older than its sources.
//!
//! Older by what: xtask touches a stamp, `.aws-sam/xtask-build-started`, just *before* it runs
//! `sam build`, and keeps it only when the build succeeds. The output is fresh when that stamp
//! is there and every input is older than it. The stamp's time is the build's start, not its
//! end, so that a file saved while the build ran (and perhaps read before the save) counts as
//! newer; and a failed build leaves no stamp. A `sam build` run by hand leaves no stamp either:
//! the next `cargo xtask test` builds once more (cargo's own cache makes it quick), which is
//! redundant, never wrong.

use super::install;
use super::process::run_logged;
use crate::layout::Layout;
use crate::ui;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The built template; `sam local` reads it, and its presence says a build completed.
pub const BUILT_TEMPLATE: &str = ".aws-sam/build/template.yaml";
/// Touched before a build, kept after a successful one: see the module's doc.
const STAMP: &str = ".aws-sam/xtask-build-started";
const STAMP_BUILDING: &str = ".aws-sam/xtask-build-started.building";

/// Runs `sam build` unless its output is newer than every input.
pub async fn ensure(layout: &Layout) -> Result<()> {
    let Some(why) = stale(&layout.root)? else {
        ui::detail("sam build's output (.aws-sam/build) is newer than its sources");
        return Ok(());
    };
    install::tools(layout).await?;
    let log = layout.logs_dir().join("sam-build.log");
    let label =
        format!("sam build: the functions as deployed (cargo lambda, arm64) into .aws-sam/, for `sam local` ({why})");
    ui::step(&label, async |progress| {
        // sam build runs a cargo lambda build per function; each would install this target
        // itself if it were missing, and the ones that lose the race fail.
        if super::packages::find("rustup").is_some() {
            let mut rustup = Command::new("rustup");
            rustup.args(["target", "add", "aarch64-unknown-linux-gnu"]);
            run_logged(rustup, &log, progress).await?;
        }
        let (stamp, building) = (layout.root.join(STAMP), layout.root.join(STAMP_BUILDING));
        let _ = fs::remove_file(&stamp);
        let dir = layout.root.join(".aws-sam");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::write(&building, "").with_context(|| format!("writing {}", building.display()))?;
        let mut sam = Command::new(layout.tools_bin().join("sam"));
        sam.arg("build")
            .current_dir(&layout.root)
            .env("PATH", layout.path_with_tools())
            .env("SAM_CLI_TELEMETRY", "0");
        let built = run_logged(sam, &log, progress).await;
        if built.is_err() {
            let _ = fs::remove_file(&building);
            return built;
        }
        // A rename keeps the file's time: the build's start.
        fs::rename(&building, &stamp)?;
        Ok(())
    })
    .await
}

/// Why `.aws-sam/build` must be built under `root`, or None when it is fresh.
pub fn stale(root: &Path) -> Result<Option<String>> {
    let Ok(built) = modified(&root.join(STAMP)) else {
        return Ok(Some("not built by xtask yet".into()));
    };
    if !root.join(BUILT_TEMPLATE).exists() {
        return Ok(Some(format!("no {BUILT_TEMPLATE}")));
    }
    for input in inputs(root)? {
        // Equal times count as newer: a save within the clock's resolution of the stamp.
        if modified(&input)? >= built {
            let name = input.strip_prefix(root).unwrap_or(&input);
            return Ok(Some(format!("{} changed since the last build", name.display())));
        }
    }
    Ok(None)
}

/// What `sam build` builds from: the template and SAM's settings, the workspace's manifests,
/// lock file and cargo configuration, and every package under functions/ and crates/ (its
/// manifest, build script and sources; not its tests, which no `bootstrap` holds).
pub fn inputs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = [
        "template.yaml",
        "samconfig.toml",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "rust-toolchain.toml",
        "rust-toolchain",
    ]
    .iter()
    .map(|name| root.join(name))
    .filter(|path| path.exists())
    .collect();
    for group in ["functions", "crates"] {
        for package in sorted_entries(&root.join(group))? {
            for name in ["Cargo.toml", "build.rs"] {
                let file = package.join(name);
                if file.exists() {
                    files.push(file);
                }
            }
            let src = package.join("src");
            if src.is_dir() {
                files_under(&src, &mut files)?;
            }
        }
    }
    Ok(files)
}

fn files_under(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            files_under(&entry, files)?;
        } else {
            files.push(entry);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

fn modified(path: &Path) -> Result<SystemTime> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the time of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A workspace in a temporary directory: a template, a function with a source file, and
    /// (if `built`) a completed build stamped at `stamped`.
    struct Workspace(PathBuf);

    impl Workspace {
        fn new(tag: &str) -> Self {
            let root = std::env::temp_dir().join(format!("xtask-sam-build-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            for dir in [
                "functions/f/src/adapters",
                "functions/f/tests",
                "crates",
                ".aws-sam/build",
            ] {
                fs::create_dir_all(root.join(dir)).unwrap();
            }
            for file in [
                "template.yaml",
                "Cargo.toml",
                "Cargo.lock",
                "functions/f/Cargo.toml",
                "functions/f/src/main.rs",
                "functions/f/src/adapters/ses.rs",
                "functions/f/tests/flow.rs",
            ] {
                fs::write(root.join(file), "").unwrap();
            }
            Self(root)
        }

        fn set_time(&self, file: &str, time: SystemTime) {
            let file = fs::File::options().write(true).open(self.0.join(file)).unwrap();
            file.set_modified(time).unwrap();
        }

        /// A completed build, started at `at`, and every input as old as `inputs_at`.
        fn built(&self, at: SystemTime, inputs_at: SystemTime) {
            fs::write(self.0.join(BUILT_TEMPLATE), "").unwrap();
            fs::write(self.0.join(STAMP), "").unwrap();
            self.set_time(STAMP, at);
            for input in inputs(&self.0).unwrap() {
                self.set_time(input.strip_prefix(&self.0).unwrap().to_str().unwrap(), inputs_at);
            }
        }
    }

    impl Drop for Workspace {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ago(secs: u64) -> SystemTime {
        SystemTime::now() - Duration::from_secs(secs)
    }

    #[test]
    fn the_inputs_are_the_template_manifests_and_sources_not_tests() {
        let ws = Workspace::new("inputs");
        let names: Vec<String> = inputs(&ws.0)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&ws.0).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "template.yaml",
                "Cargo.toml",
                "Cargo.lock",
                "functions/f/Cargo.toml",
                "functions/f/src/adapters/ses.rs",
                "functions/f/src/main.rs",
            ]
        );
    }

    #[test]
    fn the_workspaces_inputs_hold_the_template_and_every_functions_sources() {
        let root = Layout::workspace_root();
        let inputs = inputs(&root).unwrap();
        for file in [
            "template.yaml",
            "Cargo.lock",
            "functions/create-user/Cargo.toml",
            "functions/create-user/src/main.rs",
            "crates/user-events/src/lib.rs",
        ] {
            assert!(inputs.contains(&root.join(file)), "{file} is an input of sam build");
        }
        assert!(
            !inputs
                .iter()
                .any(|p| p.starts_with(root.join("xtask")) || p.components().any(|c| c.as_os_str() == "tests")),
            "xtask and the packages' tests build no bootstrap"
        );
    }

    #[test]
    fn no_build_or_no_stamp_is_stale() {
        let ws = Workspace::new("none");
        assert_eq!(stale(&ws.0).unwrap().unwrap(), "not built by xtask yet");
        ws.built(ago(10), ago(100));
        fs::remove_file(ws.0.join(BUILT_TEMPLATE)).unwrap();
        assert!(stale(&ws.0).unwrap().unwrap().starts_with("no .aws-sam/build"));
    }

    #[test]
    fn a_build_newer_than_every_input_is_fresh() {
        let ws = Workspace::new("fresh");
        ws.built(ago(10), ago(100));
        assert_eq!(stale(&ws.0).unwrap(), None);
        // A test file is no input of a bootstrap.
        ws.set_time("functions/f/tests/flow.rs", ago(1));
        assert_eq!(stale(&ws.0).unwrap(), None);
    }

    #[test]
    fn any_input_changed_since_the_build_started_makes_it_stale() {
        for changed in [
            "template.yaml",
            "Cargo.lock",
            "functions/f/Cargo.toml",
            "functions/f/src/adapters/ses.rs",
        ] {
            let ws = Workspace::new("changed");
            ws.built(ago(10), ago(100));
            // Saved while the build ran: after its start, before its end.
            ws.set_time(changed, ago(5));
            assert_eq!(
                stale(&ws.0).unwrap().unwrap(),
                format!("{changed} changed since the last build")
            );
        }
    }
}
