//! `cargo xtask bench --profiles`: the release-profile study. Builds the functions once per
//! candidate profile (each in its own target dir under `target/profile-study/`, so the
//! workspace's own build is untouched), then measures every build against the same stack:
//! binary size, cold start, warm latency (bcrypt cost 4 and 12), peak memory.

use super::functions::{self, Events, Function, Launcher, Runtime};
use super::stats::{ms, p50};
use crate::layout::Layout;
use crate::ui;
use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
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
pub fn build_all(layout: &Layout) -> Result<Vec<Built>> {
    VARIANTS
        .iter()
        .map(|variant| {
            let target = layout.root.join("target/profile-study").join(variant.name);
            let started = Instant::now();
            ui::step(&format!("Building the functions with profile {}", variant.name), |p| {
                let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
                cargo.args(["build", "--release", "-p", "create-user", "-p", "send-email"]);
                for config in variant.config {
                    cargo.args(["--config", config]);
                }
                cargo.arg("--target-dir").arg(&target).current_dir(&layout.root);
                crate::install::run_logged(cargo, &target.join("build.log"), p)
            })?;
            Ok(Built {
                variant,
                bin_dir: target.join("release"),
                build_time: started.elapsed(),
            })
        })
        .collect()
}

/// Measures each build on the running stack `launcher` points at; returns the report's table.
pub fn measure(built: &[Built], launcher: &Launcher, cold_starts: usize, invocations: usize) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "| profile | create-user binary | send-email binary | create-user init p50 | send-email init p50 | \
         create-user warm p50, cost 4 | overhead p50, cost 4 | warm p50, cost 12 | send-email batch p50 | peak RSS | build |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    let mut events = Events::new(format!("profile.{}", crate::provision::random_hex(4)?));
    for build in built {
        let launcher = Launcher {
            rust_bin_dir: build.bin_dir.clone(),
            python: launcher.python.clone(),
            peer_dir: launcher.peer_dir.clone(),
            env: launcher.env.clone(),
            logs: launcher.logs.clone(),
            pause: launcher.pause,
        };
        let size =
            |f: Function| -> Result<f64> { Ok(std::fs::metadata(build.bin_dir.join(f.name()))?.len() as f64 / 1e6) };
        let name = build.variant.name;
        let (init_cu, init_se) = ui::step(&format!("{name}: {cold_starts} cold starts of each function"), |_| {
            let mut init = |f: Function| -> Result<f64> {
                let samples = (0..cold_starts)
                    .map(|_| functions::cold_start(&launcher, Runtime::Rust, f, &mut events).map(|c| c.init))
                    .collect::<Result<Vec<_>>>()?;
                Ok(ms(p50(&samples)))
            };
            Ok((init(Function::CreateUser)?, init(Function::SendEmail)?))
        })?;
        let (cost4, cost12, batch) = ui::step(&format!("{name}: {invocations} warm invocations each"), |_| {
            let run = |f, cost, events: &mut Events| {
                functions::warm_run(&launcher, Runtime::Rust, f, cost, invocations, events)
            };
            Ok((
                run(Function::CreateUser, 4, &mut events)?,
                run(Function::CreateUser, 12, &mut events)?,
                run(Function::SendEmail, 4, &mut events)?,
            ))
        })?;
        let rss = [&cost4, &cost12, &batch].iter().map(|r| r.peak_rss).max().unwrap_or(0) as f64 / 1e6;
        writeln!(
            out,
            "| {name} | {:.2} MB | {:.2} MB | {init_cu:.1} ms | {init_se:.1} ms | {:.1} ms | {:.2} ms | {:.1} ms | {:.1} ms | {rss:.1} MB | {:.0} s |",
            size(Function::CreateUser)?,
            size(Function::SendEmail)?,
            ms(p50(&cost4.durations)),
            ms(p50(&cost4.overhead)),
            ms(p50(&cost12.durations)),
            ms(p50(&batch.durations)),
            build.build_time.as_secs_f64(),
        )?;
    }
    if built.is_empty() {
        bail!("no profile built");
    }
    Ok(out)
}
