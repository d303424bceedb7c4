//! `cargo xtask bench --profiles`: the release-profile study. Builds the functions once per
//! candidate profile (each in its own target dir under `target/profile-study/`, so the
//! workspace's own build is untouched), then measures every build against the same stack:
//! binary size, cold start, warm latency (bcrypt cost 4 and 12), peak memory.

use super::events::Events;
use super::functions::{self, Function, Language, Launcher};
use super::stats::{ms, p50};
use crate::layout::Layout;
use crate::local::process;
use crate::ui;
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Variant {
    pub name: &'static str,
    pub why: &'static str,
    /// `cargo --config` overrides of `[profile.release]`.
    pub config: &'static [&'static str],
}

/// The candidates. Cargo's defaults first: what a new project ships without thinking.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "cargo-default",
        why: "cargo's release defaults: opt-level 3, no LTO, 16 codegen units, debuginfo stripped",
        config: &[
            "profile.release.lto=false",
            "profile.release.codegen-units=16",
            "profile.release.strip=\"debuginfo\"",
        ],
    },
    Variant {
        name: "thin-lto",
        why: "thin LTO, 1 codegen unit, symbols stripped",
        config: &[
            "profile.release.lto=\"thin\"",
            "profile.release.codegen-units=1",
            "profile.release.strip=true",
        ],
    },
    Variant {
        name: "fat-lto",
        why: "fat LTO, 1 codegen unit, symbols stripped",
        config: &[
            "profile.release.lto=\"fat\"",
            "profile.release.codegen-units=1",
            "profile.release.strip=true",
        ],
    },
    Variant {
        name: "size-s",
        why: "fat-lto with opt-level \"s\"",
        config: &[
            "profile.release.lto=\"fat\"",
            "profile.release.codegen-units=1",
            "profile.release.strip=true",
            "profile.release.opt-level=\"s\"",
        ],
    },
    Variant {
        name: "size-z",
        why: "fat-lto with opt-level \"z\"",
        config: &[
            "profile.release.lto=\"fat\"",
            "profile.release.codegen-units=1",
            "profile.release.strip=true",
            "profile.release.opt-level=\"z\"",
        ],
    },
];

pub struct Built {
    pub variant: &'static Variant,
    pub bin_dir: PathBuf,
    pub build_time: Duration,
}

/// Builds every variant that is not built yet (reruns are incremental).
pub async fn build_all(layout: &Layout) -> Result<Vec<Built>> {
    let mut built = Vec::with_capacity(VARIANTS.len());
    for variant in VARIANTS {
        let target = layout.root.join("target/profile-study").join(variant.name);
        let started = Instant::now();
        let label = format!("Building the functions with profile {}", variant.name);
        ui::step(&label, async |p| {
            let mut cargo = crate::cargo();
            cargo.arg("build").arg("--release");
            cargo.args(Function::ALL.iter().flat_map(|f| ["-p", f.name()]));
            for config in variant.config {
                cargo.args(["--config", config]);
            }
            cargo.arg("--target-dir").arg(&target).current_dir(&layout.root);
            process::run_logged(cargo, &target.join("build.log"), p).await
        })
        .await?;
        built.push(Built {
            variant,
            bin_dir: target.join("release"),
            build_time: started.elapsed(),
        });
    }
    Ok(built)
}

/// `bench/profile-study.md`: the variants, and `table` (from [`measure`]).
pub fn study(table: &str, cold_starts: usize, invocations: usize) -> String {
    let mut text = format!(
        "# Release profile study\n\nWritten by `cargo xtask bench --profiles` on {}: each profile's build of \
         the functions (x86_64, this machine), measured against the same stack in one run ({cold_starts} \
         cold starts, {invocations} warm invocations per figure; times at the runtime API, p50). \
         A build time is a clean build's only when that profile had not been built before.\n\n",
        super::report::machine()
    );
    for variant in VARIANTS {
        let config = variant.config.join("`, `");
        let _ = writeln!(text, "- **{}**: {} (`{config}`)", variant.name, variant.why);
    }
    let _ = writeln!(text, "\n{table}");
    text
}

/// Measures each build on the running stack `launcher` points at; returns the report's table.
pub async fn measure(
    built: &[Built],
    launcher: &Launcher,
    events: &mut Events,
    cold_starts: usize,
    invocations: usize,
) -> Result<String> {
    if built.is_empty() {
        bail!("no profile built");
    }
    let mut out = String::new();
    writeln!(
        out,
        "| profile | create-user binary | send-email binary | create-user init p50 | send-email init p50 | \
         create-user warm p50, cost 4 | overhead p50, cost 4 | warm p50, cost 12 | send-email batch p50 | peak RSS | build |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for build in built {
        let launcher = Launcher {
            rust_bin_dir: build.bin_dir.clone(),
            ..launcher.clone()
        };
        writeln!(
            out,
            "{}",
            measure_one(build, &launcher, events, cold_starts, invocations).await?
        )?;
    }
    Ok(out)
}

/// One build's row of the table.
async fn measure_one(
    build: &Built,
    launcher: &Launcher,
    events: &mut Events,
    cold_starts: usize,
    invocations: usize,
) -> Result<String> {
    let name = build.variant.name;
    let size = |f: Function| -> Result<f64> { Ok(std::fs::metadata(build.bin_dir.join(f.name()))?.len() as f64 / 1e6) };
    let label = format!("{name}: {cold_starts} cold starts of each function");
    let [init_cu, init_se] = ui::step(&label, async |_| {
        let mut init = [0.0; 2];
        for (p50_ms, f) in init.iter_mut().zip(Function::ALL) {
            let mut samples = Vec::with_capacity(cold_starts);
            for _ in 0..cold_starts {
                samples.push(
                    functions::cold_start(launcher, Language::Rust, f, 4, functions::WARM_AFTER_FIRST, events)
                        .await?
                        .init,
                );
            }
            *p50_ms = ms(p50(&samples));
        }
        Ok(init)
    })
    .await?;
    let label = format!("{name}: {invocations} warm invocations each");
    let (cost4, cost12, batch) = ui::step(&label, async |_| {
        let run = async |f, cost, events: &mut Events| {
            functions::warm_run(launcher, Language::Rust, f, cost, invocations, events).await
        };
        Ok((
            run(Function::CreateUser, 4, events).await?,
            run(Function::CreateUser, 12, events).await?,
            run(Function::SendEmail, 4, events).await?,
        ))
    })
    .await?;
    let rss = [&cost4, &cost12, &batch].iter().map(|r| r.peak_rss).max().unwrap_or(0) as f64 / 1e6;
    Ok(format!(
        "| {name} | {:.2} MB | {:.2} MB | {init_cu:.1} ms | {init_se:.1} ms | {:.1} ms | {:.2} ms | {:.1} ms | {:.1} ms | {rss:.1} MB | {:.0} s |",
        size(Function::CreateUser)?,
        size(Function::SendEmail)?,
        ms(p50(&cost4.durations)),
        ms(p50(&cost4.overhead)),
        ms(p50(&cost12.durations)),
        ms(p50(&batch.durations)),
        build.build_time.as_secs_f64(),
    ))
}
