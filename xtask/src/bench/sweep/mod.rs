//! The memory-size sweep (`cargo xtask bench --sweep`), the offline counterpart of AWS Lambda
//! Power Tuning: at each memory size ([`plan::SIZES`] or `--sizes`), each function process
//! shaped like Lambda at that size ([`Shape`]), each of the [`plan::WORKLOADS`] for Rust and
//! then the Python peer: a few cold starts and a warm run ([`functions::cold_start`],
//! [`functions::warm_run`]). [`table`] turns them into billed durations and costs at
//! [`pricing::PRICES`], chooses the cheapest size meeting each objective, and writes
//! `bench/sweep.md` and `bench/sweep.svg` (`--quick`: into the bench's logs, `bench/` untouched).

pub mod plan;
pub mod pricing;
pub mod table;

use super::events::Events;
use super::functions::{self, Function, Language, Launcher};
use super::lambda_shape::Shape;
use super::{BenchArgs, email_source, events, no_secrets_logged, per_language, start, throughput, transport};
use crate::layout::Layout;
use crate::local::down;
use crate::local::template::Template;
use crate::ui;
use anyhow::Result;
use local_stack::{Endpoints, StackEnv};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use table::{Cell, Measured, Sweep};

/// Between warm invocations: the benchmark's default `--pause-ms`, which the sweep keeps.
pub const PAUSE: Duration = Duration::from_millis(20);

/// `shape` is the run's (shaped: `--sweep` excludes `--unshaped`); each size gets its own.
pub(super) async fn run(
    layout: &Layout,
    bench: &Layout,
    template: &Template,
    python: PathBuf,
    shape: Shape,
    args: &BenchArgs,
) -> Result<()> {
    let sizes = sizes(&args.sizes);
    let mut args = args.clone();
    args.pause_ms = PAUSE.as_millis() as u64;
    let launcher = start(layout, bench, python, shape, &args).await?;
    let started = Instant::now();
    let result = measure(bench, &launcher, template, &args, &sizes)
        .await
        .and_then(|cells| no_secrets_logged(bench, &launcher).map(|()| cells));
    down::run(bench).await?;
    let sweep = Sweep {
        cells: result?,
        sizes,
        batch_size: email_source(template)?.batch_size,
        quick: args.quick,
        elapsed: started.elapsed(),
        machine: super::report::machine(),
        transport: transport(&launcher),
        template_mb: Function::ALL
            .iter()
            .map(|f| Ok((f.name(), template.function_memory_mb(f.name())?)))
            .collect::<Result<_>>()?,
    };
    let dir = if args.quick {
        bench.logs_dir().join("sweep-quick")
    } else {
        layout.root.join("bench")
    };
    std::fs::create_dir_all(&dir)?;
    let text = sweep.markdown();
    std::fs::write(dir.join("sweep.md"), &text)?;
    std::fs::write(dir.join("sweep.svg"), sweep.svg())?;
    let quick = if args.quick {
        " (--quick: bench/ left as it was)"
    } else {
        ""
    };
    println!(
        "{text}\nwritten to {} and sweep.svg beside it{quick}",
        dir.join("sweep.md").display()
    );
    Ok(())
}

/// `--sizes` (already within Lambda's range), in order, each once; [`plan::SIZES`] if none.
fn sizes(asked: &[u64]) -> Vec<u64> {
    let mut sizes = if asked.is_empty() {
        plan::SIZES.to_vec()
    } else {
        asked.to_vec()
    };
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Every size, workload and language, in that order; a cell that fails is recorded as failed
/// (a function that cannot answer at a size is a finding) and the sweep goes on.
async fn measure(
    bench: &Layout,
    launcher: &Launcher,
    template: &Template,
    args: &BenchArgs,
    sizes: &[u64],
) -> Result<Vec<Cell>> {
    let env = StackEnv::read(&bench.stack_env())?;
    let (endpoints, stack_queue) = (env.endpoints()?, env.var("EMAIL_QUEUE_URL")?);
    let batch_size = email_source(template)?.batch_size;
    let functions = template.function_binaries();
    let mut events = events(template)?;
    let mut cells = Vec::new();
    for &memory_mb in sizes {
        let mut launcher = launcher.clone();
        launcher.shape = Shape::new(template, &functions, Some(memory_mb), false)?;
        for workload in plan::WORKLOADS {
            let iterations = plan::iterations(&workload, memory_mb, args.quick);
            let what = workload.label(batch_size);
            let runs = per_language(args, async |language| {
                let label = format!(
                    "{memory_mb} MB, {} {what}: {} cold starts, {} warm invocations",
                    language.name(),
                    iterations.cold,
                    iterations.warm
                );
                let quiet = (&endpoints, stack_queue.as_str());
                let measured = ui::step(&label, async |_| {
                    measure_cell(&launcher, language, &workload, iterations, quiet, &mut events).await
                })
                .await;
                Ok(measured.map_err(|e| {
                    eprintln!("    {e:#}");
                    format!("{e:#}")
                }))
            })
            .await?;
            cells.push(Cell {
                memory_mb,
                workload,
                iterations,
                runs,
            });
        }
    }
    Ok(cells)
}

/// One cell: its cold starts, each once the emulators are done with the previous events
/// (`quiet`: the stack's endpoints and its email queue), then its warm run.
async fn measure_cell(
    launcher: &Launcher,
    language: Language,
    workload: &plan::Workload,
    iterations: plan::Iterations,
    (endpoints, stack_queue): (&Endpoints, &str),
    events: &mut Events,
) -> Result<Measured> {
    let (function, cost) = (workload.function, workload.cost);
    let mut cold = Vec::with_capacity(iterations.cold);
    for _ in 0..iterations.cold {
        throughput::wait_until_quiet(endpoints, stack_queue).await?;
        cold.push(functions::cold_start(launcher, language, function, cost, 0, events).await?);
    }
    let warm = functions::warm_run(launcher, language, function, cost, iterations.warm, events).await?;
    Ok(Measured {
        cold,
        warm: warm.durations,
        peak_rss: warm.peak_rss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sizes_are_sorted_once_each_or_the_default() {
        assert_eq!(sizes(&[]), plan::SIZES.to_vec());
        assert_eq!(sizes(&[1024, 128, 1024]), vec![128, 1024]);
    }
}
