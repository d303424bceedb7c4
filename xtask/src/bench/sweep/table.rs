//! What the sweep says: each cell's figures (init, first answer, warm p50 and p99, billed
//! duration, cost per million invocations and the init's cost), the cheapest size meeting each
//! objective, and `bench/sweep.md` and `bench/sweep.svg` written from them.

use super::plan::{self, Candidate, Iterations, Workload};
use super::pricing::{self, PRICES};
use crate::bench::chart::{self, Scatter, figure};
use crate::bench::functions::ColdStart;
use crate::bench::report::PerLanguage;
use crate::bench::stats::{ms, p50, percentile};
use std::fmt::Write as _;
use std::time::Duration;

/// What one cell measured: one size, one workload, one language.
#[derive(Debug, Clone)]
pub struct Measured {
    pub cold: Vec<ColdStart>,
    pub warm: Vec<Duration>,
    pub peak_rss: u64,
}

/// One size and workload: each language's cell, measured or why not.
#[derive(Debug, Clone)]
pub struct Cell {
    pub memory_mb: u64,
    pub workload: Workload,
    pub iterations: Iterations,
    pub runs: PerLanguage<Result<Measured, String>>,
}

/// A cell's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub init: Duration,
    pub first_answer: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// The warm invocations' mean billed duration, in ms.
    pub billed_ms: f64,
    /// Dollars per million warm invocations.
    pub cost: f64,
    /// Dollars per million cold starts, for their init alone (its p50).
    pub init_cost: f64,
    pub peak_rss: u64,
}

impl Figures {
    pub fn of(measured: &Measured, memory_mb: u64) -> Self {
        let init = p50(&measured.cold.iter().map(|c| c.init).collect::<Vec<_>>());
        Figures {
            init,
            first_answer: p50(&measured.cold.iter().map(|c| c.first_answer).collect::<Vec<_>>()),
            p50: p50(&measured.warm),
            p99: percentile(&measured.warm, 99.0),
            billed_ms: pricing::mean_billed_ms(&measured.warm),
            cost: PRICES.per_million_invocations(&measured.warm, memory_mb),
            init_cost: PRICES.init_per_million(init, memory_mb),
            peak_rss: measured.peak_rss,
        }
    }
}

/// A whole sweep, as run.
pub struct Sweep {
    pub cells: Vec<Cell>,
    pub sizes: Vec<u64>,
    /// send-email's batch size (the template's).
    pub batch_size: i32,
    pub quick: bool,
    /// How long the measuring took (the stack's start and the builds aside).
    pub elapsed: Duration,
    pub machine: String,
    /// How the functions reached the emulators: over TLS, or `--plain-http`.
    pub transport: &'static str,
    /// Each function's `MemorySize` in template.yaml, for the chosen sizes' table.
    pub template_mb: Vec<(&'static str, u64)>,
}

type Both = PerLanguage<Result<Figures, String>>;

impl Sweep {
    /// Each cell of `workload`, by size, with its figures.
    fn rows(&self, workload: &Workload) -> Vec<(&Cell, Both)> {
        self.cells
            .iter()
            .filter(|c| c.workload == *workload)
            .map(|c| {
                (
                    c,
                    c.runs
                        .map(|r| r.as_ref().map(|m| Figures::of(m, c.memory_mb)).map_err(Clone::clone)),
                )
            })
            .collect()
    }

    /// Per language, the cheapest size meeting `workload`'s objective (none: no objective, or no
    /// size met it).
    pub fn chosen(&self, workload: &Workload) -> PerLanguage<Option<Candidate>> {
        let rows = self.rows(workload);
        let pick = |python: bool| {
            let candidates: Vec<Candidate> = rows
                .iter()
                .filter_map(|(cell, both)| {
                    let figures = if python { both.python.as_ref()? } else { &both.rust };
                    let f = figures.as_ref().ok()?;
                    Some(Candidate {
                        memory_mb: cell.memory_mb,
                        p99: f.p99,
                        cost: f.cost,
                    })
                })
                .collect();
            plan::cheapest_meeting(&candidates, workload.objective.as_ref()?)
        };
        PerLanguage {
            rust: pick(false),
            python: self
                .cells
                .first()
                .and_then(|c| c.runs.python.as_ref())
                .map(|_| pick(true)),
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let build = if self.quick {
            "debug builds (`--quick`: it proves the sweep works; Rust's figures are not a release build's)"
        } else {
            "release builds"
        };
        let _ = writeln!(
            out,
            "# Memory-size sweep\n\n\
             `cargo xtask bench --sweep`, the offline counterpart of AWS Lambda Power Tuning: create-user and \
             send-email, Rust and the Python peer, each function process shaped like Lambda at each memory size \
             (a cgroup of its own: a CPU quota of `memory / 1769` of a CPU, memory limited to the size; the \
             emulators unshaped, on loopback). {} This run: {} MB, {build}, on {}, {:.1} min of measuring. \
             See [docs/benchmark.md](../docs/benchmark.md#memory-size-sweep) for what it cannot model.\n",
            self.transport,
            self.sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            self.machine,
            self.elapsed.as_secs_f64() / 60.0
        );
        let goals: Vec<String> = plan::WORKLOADS
            .iter()
            .filter_map(|w| Some(format!("{}: {}", w.function.name(), w.goal(self.batch_size)?)))
            .collect();
        let _ = writeln!(
            out,
            "**Objectives**: {}. Chosen: for each function and runtime, the cheapest size (by the warm \
             invocations' cost per million) that meets its objective, to pick the template's `MemorySize` from.\n\n\
             **Prices**: {}\n\n\
             **Billing**: each invocation's duration rounded up to the next 1 ms (\"billed\" is their mean); the \
             cost per million invocations is a million times that mean in GB-seconds at the size, at the \
             GB-second price, plus a million requests. Since 1 August 2025 Lambda bills the init phase too, as \
             duration: its cost is apart, per million cold starts (init p50, billed the same way), as how often \
             instances start depends on the traffic.\n\n\
             **Iterations**: {} Cold starts: a fresh process each, at the workload's bcrypt cost, timed from exec \
             to its first `next` (init) and to its first answer. Warm: one process, 5 uncounted warm-up \
             invocations, then the counted ones, {} ms apart; p99 by nearest rank (of 20 or fewer, the slowest). \
             Each figure is Rust / Python.\n",
            goals.join("; "),
            PRICES.describe(),
            plan::iterations_described(self.quick, self.batch_size),
            super::PAUSE.as_millis()
        );
        let _ = writeln!(out, "![Cost against latency at each memory size](sweep.svg)\n");
        self.chosen_table(&mut out);
        for workload in &plan::WORKLOADS {
            self.workload_table(&mut out, workload);
        }
        out
    }

    fn chosen_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Chosen sizes\n\n| function | objective | template.yaml now | Rust | Python peer |\n|---|---|---|---|---|"
        );
        for workload in plan::WORKLOADS.iter().filter(|w| w.objective.is_some()) {
            let name = workload.function.name();
            let now = self.template_mb.iter().find(|(f, _)| *f == name).map(|(_, mb)| mb);
            let chosen = self.chosen(workload);
            let say = |c: &Option<Candidate>| match c {
                Some(c) => format!(
                    "**{} MB** (${} per M, p99 {} ms)",
                    c.memory_mb,
                    dollars(c.cost),
                    figure(ms(c.p99))
                ),
                None => "none of the sizes swept".into(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} |",
                workload.goal(self.batch_size).unwrap_or_default(),
                now.map_or("-".into(), |mb| format!("{mb} MB")),
                say(&chosen.rust),
                chosen.python.as_ref().map_or("-".into(), say)
            );
        }
        out.push('\n');
    }

    fn workload_table(&self, out: &mut String, workload: &Workload) {
        let objective = workload.goal(self.batch_size);
        let _ = writeln!(
            out,
            "## {}\n\n{}\n",
            workload.label(self.batch_size),
            objective
                .as_ref()
                .map_or("No objective: for comparison.".into(), |g| format!("Objective: {g}."))
        );
        let met_column = if objective.is_some() { " meets it |" } else { "" };
        let _ = writeln!(
            out,
            "| MB | CPU | cold, warm | init p50 | first answer p50 | warm p50 | warm p99 |{met_column} billed | \
             $ per M invocations | init, $ per M cold starts | peak RSS | Rust/Python p50, $ |"
        );
        let _ = writeln!(out, "|{}", "---|".repeat(if objective.is_some() { 13 } else { 12 }));
        let mut failures = Vec::new();
        for (cell, both) in self.rows(workload) {
            let time = |f: fn(&Figures) -> Duration| pair(&both, |x| figure(ms(f(x))), " ms");
            let met = match workload.objective {
                Some(o) => format!(
                    " {} |",
                    pair(&both, |f| if o.met(f.p99) { "yes" } else { "no" }.into(), "")
                ),
                None => String::new(),
            };
            let ratio = match (&both.rust, &both.python) {
                (Ok(r), Some(Ok(p))) => format!("{}, {}", figure(ms(r.p50) / ms(p.p50)), figure(r.cost / p.cost)),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {:.3} | {}, {} | {} | {} | {} | {} |{met} {} | {} | {} | {} | {ratio} |",
                cell.memory_mb,
                crate::bench::lambda_shape::cpu_share(cell.memory_mb),
                cell.iterations.cold,
                cell.iterations.warm,
                time(|f| f.init),
                time(|f| f.first_answer),
                time(|f| f.p50),
                time(|f| f.p99),
                pair(&both, |f| figure(f.billed_ms), " ms"),
                pair(&both, |f| format!("${}", dollars(f.cost)), ""),
                pair(&both, |f| format!("${}", dollars(f.init_cost)), ""),
                pair(&both, |f| figure(f.peak_rss as f64 / 1024.0 / 1024.0), " MB"),
            );
            for (language, run) in cell.runs.iter() {
                if let Err(e) = run {
                    failures.push(format!("- {} MB, {}: {e}", cell.memory_mb, language.name()));
                }
            }
        }
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailed:\n\n{}", failures.join("\n"));
        }
        out.push('\n');
    }

    /// `bench/sweep.svg`: a panel per workload, cost per million invocations against warm p50.
    pub fn svg(&self) -> String {
        let panels: Vec<Scatter> = plan::WORKLOADS
            .iter()
            .map(|workload| {
                let rows = self.rows(workload);
                let points = |python: bool| -> Vec<(String, f64, f64)> {
                    rows.iter()
                        .filter_map(|(cell, both)| {
                            let figures = if python { both.python.as_ref()? } else { &both.rust };
                            let f = figures.as_ref().ok()?;
                            Some((cell.memory_mb.to_string(), ms(f.p50), f.cost))
                        })
                        .collect()
                };
                Scatter {
                    title: workload.label(self.batch_size),
                    x_unit: "warm p50 (ms)",
                    y_unit: "$ per million invocations",
                    rust: points(false),
                    python: points(true),
                }
            })
            .collect();
        let title = format!(
            "Memory-size sweep: cost against latency, one point per size in MB ({} prices, {})",
            PRICES.architecture, PRICES.taken
        );
        chart::scatter_svg(&title, &panels)
    }
}

/// `rust / python` and the unit, each as `show` writes it; `failed` for a cell that failed,
/// Rust alone when Python did not run.
fn pair(both: &Both, show: impl Fn(&Figures) -> String, unit: &str) -> String {
    let one = |r: &Result<Figures, String>| r.as_ref().map_or("failed".into(), &show);
    match &both.python {
        Some(python) => format!("{} / {}{unit}", one(&both.rust), one(python)),
        None => format!("{}{unit}", one(&both.rust)),
    }
}

/// Dollars to three significant figures, however small.
pub fn dollars(value: f64) -> String {
    if value >= 1.0 || value <= 0.0 {
        return format!("{value:.2}");
    }
    let decimals = (2.0 - value.log10().floor()) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::functions::Function;

    fn ms_(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn measured(init: u64, first: u64, warm: &[u64]) -> Measured {
        let cold = ColdStart {
            init: ms_(init),
            first_answer: ms_(first),
            first: ms_(first - init),
            warm: Duration::ZERO,
            first_waited: None,
            init_calls: Vec::new(),
        };
        Measured {
            cold: vec![cold.clone(), cold],
            warm: warm.iter().map(|&n| ms_(n)).collect(),
            peak_rss: 50 << 20,
        }
    }

    /// create-user at cost 12: Rust fast enough from 512 MB, Python never; a failed cell.
    fn sweep() -> Sweep {
        let [cost12, ..] = plan::WORKLOADS;
        let cell = |memory_mb: u64, rust: Result<Measured, String>, python: Measured| Cell {
            memory_mb,
            workload: cost12,
            iterations: Iterations { cold: 2, warm: 3 },
            runs: PerLanguage {
                rust,
                python: Some(Ok(python)),
            },
        };
        Sweep {
            cells: vec![
                cell(
                    128,
                    Err("the function exited".into()),
                    measured(4000, 8000, &[3500, 3600, 3700]),
                ),
                cell(
                    512,
                    Ok(measured(100, 1000, &[880, 900, 950])),
                    measured(1000, 2000, &[1000, 1000, 1100]),
                ),
                cell(
                    1024,
                    Ok(measured(50, 500, &[460, 470, 480])),
                    measured(500, 1000, &[1050, 1100, 1200]),
                ),
            ],
            sizes: vec![128, 512, 1024],
            batch_size: 10,
            quick: true,
            elapsed: Duration::from_secs(90),
            machine: "2 cores (test)".into(),
            transport: "Plain HTTP.",
            template_mb: vec![(Function::CreateUser.name(), 1024), (Function::SendEmail.name(), 128)],
        }
    }

    #[test]
    fn a_cells_figures_are_its_billed_and_priced_invocations() {
        let f = Figures::of(&measured(100, 1000, &[880, 900, 950]), 512);
        assert_eq!(
            (f.init, f.first_answer, f.p50, f.p99),
            (ms_(100), ms_(1000), ms_(900), ms_(950))
        );
        assert!((f.billed_ms - 910.0).abs() < 1e-9);
        assert!((f.cost - (1e6 * 0.910 * 0.5 * PRICES.per_gb_second + 0.20)).abs() < 1e-9);
        assert!((f.init_cost - 1e6 * 0.1 * 0.5 * PRICES.per_gb_second).abs() < 1e-9);
    }

    #[test]
    fn the_cheapest_passing_size_is_chosen_per_language_and_every_cell_is_shown() {
        let sweep = sweep();
        let chosen = sweep.chosen(&plan::WORKLOADS[0]);
        // 512 and 1024 both meet it for Rust: 470 ms at 1 GB costs more than 910 at 0.5 GB.
        assert_eq!(chosen.rust.map(|c| c.memory_mb), Some(512));
        assert_eq!(chosen.python, Some(None), "Python's p99 is never under 1 s");
        assert_eq!(sweep.chosen(&plan::WORKLOADS[1]).rust, None, "no objective, no choice");
        let text = sweep.markdown();
        assert!(
            text.contains("| create-user | warm p99 under 1 s at BCRYPT_COST=12 | 1024 MB | **512 MB**"),
            "{text}"
        );
        assert!(text.contains("none of the sizes swept"));
        assert!(text.contains("| 128 | 0.072 | 2, 3 | failed / 4000 ms |"), "{text}");
        assert!(text.contains("- 128 MB, Rust: the function exited"));
        assert!(
            text.contains(
                "| 512 | 0.289 | 2, 3 | 100 / 1000 ms | 1000 / 2000 ms | 900 / 1000 ms | 950 / 1100 ms | yes / no |"
            ),
            "{text}"
        );
        assert!(text.contains("taken 2026-12") && text.contains("1 August 2025"));
        let svg = sweep.svg();
        assert_eq!(svg.matches("<circle").count(), 2 + 3, "a point per measured cell");
    }

    #[test]
    fn dollars_keep_three_significant_figures() {
        assert_eq!(dollars(6.194), "6.19");
        assert_eq!(dollars(0.2834), "0.283");
        assert_eq!(dollars(0.02131), "0.0213");
        assert_eq!(dollars(0.0), "0.00");
    }
}
