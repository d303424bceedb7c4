//! The studies beside the comparison: the release-profile study (`--profiles`) and the
//! instruction counts under callgrind (`--instructions`).

use super::functions::Function;
use super::lambda_shape::Shape;
use super::{BenchArgs, events, instructions, per_language, profiles, report, start};
use crate::layout::Layout;
use crate::local::template::Template;
use crate::local::{down, process};
use crate::ui;
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;

pub(super) async fn profile_study(
    layout: &Layout,
    bench: &Layout,
    template: &Template,
    python: PathBuf,
    shape: Shape,
    args: &BenchArgs,
) -> Result<()> {
    let built = profiles::build_all(layout).await?;
    let launcher = start(layout, bench, python, shape, args).await?;
    let (cold_starts, invocations) = (args.cold_starts, args.invocations.min(200));
    let mut events = events(template)?;
    let table = profiles::measure(&built, &launcher, &mut events, cold_starts, invocations).await;
    down::run(bench).await?;
    let text = profiles::study(&table?, cold_starts, invocations);
    std::fs::write(layout.root.join("bench/profile-study.md"), &text)?;
    println!("{text}\nwritten to bench/profile-study.md");
    Ok(())
}

pub(super) async fn instruction_counts(
    layout: &Layout,
    bench: &Layout,
    template: &Template,
    python: PathBuf,
    shape: Shape,
    args: &BenchArgs,
) -> Result<()> {
    instructions::available()?;
    let target = layout.root.join("target/instructions");
    ui::step(
        "Building create-user with its symbols (release, strip = false)",
        async |p| {
            let mut cargo = crate::cargo();
            cargo
                .args(["build", "--release", "-p", Function::CreateUser.name()])
                .args(["--config", "profile.release.strip=false"])
                .arg("--target-dir")
                .arg(&target)
                .current_dir(&layout.root);
            process::run_logged(cargo, &target.join("build.log"), p).await
        },
    )
    .await?;
    let mut launcher = start(layout, bench, python, shape, args).await?;
    launcher.rust_bin_dir = target.join("release");
    let mut events = events(template)?;
    let out = bench.logs_dir().join("callgrind");
    let counted = per_language(args, async |language| {
        let label = format!("{} create-user under callgrind", language.name());
        ui::step(&label, async |_| {
            instructions::count(&launcher, language, &mut events, &out).await
        })
        .await
    })
    .await;
    down::run(bench).await?;
    let section = report::instructions_section(&counted?, &revision(layout));
    let path = layout.root.join("bench/results.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, report::splice(&doc, report::INSTRUCTIONS_HEADING, &section))?;
    println!("{section}\nwritten to bench/results.md");
    Ok(())
}

/// The commit measured, and whether the measured code (not the docs, not the results the
/// benchmark itself writes) had changes on top of it.
fn revision(layout: &Layout) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&layout.root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "an unknown commit".into());
    let code = ["functions", "crates", "bench/peers", "Cargo.toml", "Cargo.lock"];
    let status = [&["status", "--porcelain", "--untracked-files=no", "--"][..], &code[..]].concat();
    let dirty = git(&status).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} with local changes")
    } else {
        commit
    }
}
