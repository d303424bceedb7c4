//! What the measurements say: the figures of the comparison table (and the chart's panels),
//! the distributions behind them, and `bench/results.md` and `bench/results.svg` written from
//! them.

use super::artifacts::Artifact;
use super::chart::{self, Panel};
use super::functions::{ColdStart, Function, Language, WarmRun};
use super::stats::{ROW_HEADER, ms, p50, percentile, row};
use std::fmt::Write as _;
use std::time::Duration;

/// Something measured for each language: the Rust function's, and its Python peer's when it
/// ran (not with `--functions-only`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerLanguage<T> {
    pub rust: T,
    pub python: Option<T>,
}

impl<T> PerLanguage<T> {
    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> PerLanguage<U> {
        PerLanguage {
            rust: f(&self.rust),
            python: self.python.as_ref().map(f),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Language, &T)> {
        std::iter::once((Language::Rust, &self.rust)).chain(self.python.iter().map(|p| (Language::Python, p)))
    }

    /// Each language's value beside `other`'s of the same language.
    pub fn zip<'a, U>(&'a mut self, other: &'a PerLanguage<U>) -> impl Iterator<Item = (&'a mut T, &'a U)> {
        std::iter::once((&mut self.rust, &other.rust)).chain(self.python.iter_mut().zip(other.python.iter()))
    }
}

/// The highest resident memory seen of each function's processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakRss {
    create_user: u64,
    send_email: u64,
}

impl PeakRss {
    pub fn note(&mut self, function: Function, bytes: u64) {
        let peak = match function {
            Function::CreateUser => &mut self.create_user,
            Function::SendEmail => &mut self.send_email,
        };
        *peak = (*peak).max(bytes);
    }

    pub fn of(&self, function: Function) -> u64 {
        match function {
            Function::CreateUser => self.create_user,
            Function::SendEmail => self.send_email,
        }
    }
}

/// A goal the figure is held to, and whether the Rust function meets it.
struct Target {
    goal: String,
    met: bool,
}

/// One line of the comparison table (and, when `chart`, one panel of the chart).
struct Figure {
    what: String,
    unit: &'static str,
    value: PerLanguage<f64>,
    lower_is_better: bool,
    target: Option<Target>,
    /// The chart panel's title, when it gets one.
    chart: Option<String>,
}

impl Figure {
    /// Lower is better, no target, no panel: what most figures are.
    fn new(what: String, unit: &'static str, value: PerLanguage<f64>) -> Self {
        Self {
            what,
            unit,
            value,
            lower_is_better: true,
            target: None,
            chart: None,
        }
    }

    fn target(mut self, goal: &str, met: impl FnOnce(f64) -> bool) -> Self {
        let met = met(self.value.rust);
        self.target = Some(Target { goal: goal.into(), met });
        self
    }

    fn higher_is_better(mut self) -> Self {
        self.lower_is_better = false;
        self
    }

    fn charted(mut self, title: String) -> Self {
        self.chart = Some(title);
        self
    }
}

#[derive(Default)]
pub struct Report {
    figures: Vec<Figure>,
    /// Distribution tables (n, p50, p95, p99, max) of every timed sample.
    details: Vec<String>,
    pipeline: Vec<String>,
    /// The arm64 deployment zips: Rust's, and the Python peer's bytes by function.
    pub rust_zips: Vec<Artifact>,
    pub python_zips: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How the report names a warm run's workload.
pub fn label(function: Function, cost: u32, batch_size: i32) -> String {
    match function {
        Function::CreateUser => format!("create-user (BCRYPT_COST={cost})"),
        Function::SendEmail => format!("send-email (batches of {batch_size})"),
    }
}

impl Report {
    pub fn cold_starts(&mut self, function: Function, cold: &PerLanguage<Vec<ColdStart>>) {
        let f = function.name();
        for (language, starts) in cold.iter() {
            for (what, pick) in [
                (
                    "init (exec to first `next`)",
                    (|c: &ColdStart| c.init) as fn(&ColdStart) -> Duration,
                ),
                ("exec to first answer", |c| c.first_answer),
                ("first invocation", |c| c.first),
                ("warm invocations after it (median of 5)", |c| c.warm),
            ] {
                let samples: Vec<Duration> = starts.iter().map(pick).collect();
                self.details
                    .push(row(&format!("{} {f}: {what}", language.name()), &samples));
            }
            // Init lasts as long as its slowest call (they run side by side): which one it is.
            let calls = starts.first().map(|c| c.init_calls.clone()).unwrap_or_default();
            for (call, _) in calls {
                let samples: Vec<Duration> = starts
                    .iter()
                    .filter_map(|c| c.init_calls.iter().find(|(name, _)| *name == call).map(|(_, d)| *d))
                    .collect();
                self.details
                    .push(row(&format!("{} {f}: init call `{call}`", language.name()), &samples));
            }
        }
        let init = cold.map(|c| ms(p50(&c.iter().map(|c| c.init).collect::<Vec<_>>())));
        let python_init = init.python;
        let mut figure = Figure::new(format!("{f} init, exec to first `next` (ms, p50)"), "ms", init);
        if let Some(python) = python_init {
            figure = figure.target("≤ 1/10 of Python", |rust| rust <= python / 10.0);
        }
        self.figures.push(figure.charted(format!("{f} init")));
        let answer = cold.map(|c| ms(p50(&c.iter().map(|c| c.first_answer).collect::<Vec<_>>())));
        self.figures.push(
            Figure::new(format!("{f} exec to first answer (ms, p50)"), "ms", answer)
                .charted(format!("{f} exec to first answer")),
        );
        // Per cold start: its first invocation over the warm ones that followed it.
        let ratio = cold.map(|c| {
            let ratios: Vec<Duration> = c
                .iter()
                .map(|c| Duration::from_secs_f64(c.first.as_secs_f64() / c.warm.as_secs_f64().max(1e-9)))
                .collect();
            p50(&ratios).as_secs_f64()
        });
        self.figures.push(
            Figure::new(format!("{f} first invocation / warm (x, p50)"), "x", ratio)
                .target("≤ 3x", |rust| rust <= 3.0),
        );
    }

    /// `what` is the run's [`label`].
    pub fn warm_runs(&mut self, what: &str, function: Function, cost: u32, runs: &PerLanguage<WarmRun>) {
        for (language, run) in runs.iter() {
            let name = language.name();
            self.details.push(row(&format!("{name} {what}, warm"), &run.durations));
            if !run.overhead.is_empty() {
                self.details.push(row(
                    &format!("{name} {what}, own overhead (minus DynamoDB and SNS time)"),
                    &run.overhead,
                ));
            }
        }
        for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
            let at = runs.map(|r| ms(percentile(&r.durations, p)));
            let figure = Figure::new(format!("{what}, warm (ms, {name})"), "ms", at);
            self.figures.push(if p == 50.0 {
                figure.charted(format!("{what}, warm p50"))
            } else {
                figure
            });
        }
        if function == Function::CreateUser && cost == 4 {
            let overhead = runs.map(|r| ms(p50(&r.overhead)));
            self.figures.push(
                Figure::new(
                    format!("{what}, own overhead: warm minus DynamoDB/SNS time (ms, p50)"),
                    "ms",
                    overhead,
                )
                .target("≤ 3 ms", |rust| rust <= 3.0)
                .charted(format!("{what}, own overhead")),
            );
        }
    }

    pub fn throughput(&mut self, what: String, emails_per_second: PerLanguage<f64>) {
        self.figures.push(
            Figure::new(what, "emails/s", emails_per_second)
                .higher_is_better()
                .charted("send-email throughput".into()),
        );
    }

    pub fn peak_rss(&mut self, function: Function, rss: &PerLanguage<PeakRss>) {
        let f = function.name();
        let megabytes = rss.map(|r| r.of(function) as f64 / 1e6);
        self.figures.push(
            Figure::new(format!("{f} peak RSS (MB)"), "MB", megabytes)
                .target("≤ 32 MB", |rust| rust <= 32.0)
                .charted(format!("{f} peak RSS")),
        );
    }

    /// A row of the whole pipeline's table.
    pub fn pipeline(&mut self, what: &str, samples: &[Duration]) {
        self.pipeline.push(row(what, samples));
    }

    /// `bench/results.md`, of a run with `--quick` or not, and `--pause-ms`.
    pub fn markdown(&self, quick: bool, pause_ms: u64) -> String {
        let mut out = String::new();
        self.intro(&mut out, quick, pause_ms);
        self.comparison(&mut out);
        self.zips(&mut out);
        self.distributions(&mut out);
        out
    }

    fn intro(&self, out: &mut String, quick: bool, pause_ms: u64) {
        let _ = writeln!(
            out,
            "# Benchmark results\n\nWritten by `cargo xtask bench{}` on {}, all in one run.\n",
            if quick { " --quick" } else { "" },
            machine()
        );
        let _ = writeln!(
            out,
            "Both runtimes are exec'd by the benchmark against its own Lambda runtime API and run \
             against the same emulators (LocalStack in host mode, DynamoDB Local, on the same 2 cores): \
             Rust = the release binaries, Python = `bench/peers/python` (comparison only) under \
             `awslambdaric`. Times are taken at the runtime API's socket. The emulators' own time is \
             most of every warm figure; the overhead row subtracts it using each function's logged \
             `store_ms` and `publish_ms`. Warm invocations are {pause_ms} ms apart (`--pause-ms`).\n"
        );
        let _ = writeln!(out, "![Rust vs Python](results.svg)\n");
    }

    fn comparison(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| figure | Rust | Python | Rust/Python | target |\n|---|---|---|---|---|"
        );
        for f in &self.figures {
            let rust = f.value.rust;
            let python = f.value.python.map(chart::figure).unwrap_or_else(|| "-".into());
            let ratio = f
                .value
                .python
                .map(|p| format!("{:.3}", rust / p.max(f64::MIN_POSITIVE)))
                .unwrap_or_else(|| "-".into());
            let target = match &f.target {
                Some(Target { goal, met: true }) => format!("{goal}: met"),
                Some(Target { goal, met: false }) => format!("{goal}: **missed**"),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {python} | {ratio} | {target} |",
                f.what,
                chart::figure(rust)
            );
        }
    }

    fn zips(&self, out: &mut String) {
        if self.rust_zips.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n| arm64 deployment zip | Rust bootstrap | Rust zip | Python zip | target |\n|---|---|---|---|---|"
        );
        for Artifact { function, binary, zip } in &self.rust_zips {
            let python = self
                .python_zips
                .as_ref()
                .and_then(|z| z.get(function))
                .and_then(serde_json::Value::as_u64)
                .map(|bytes| format!("{:.3} MB", bytes as f64 / 1e6))
                .unwrap_or_else(|| "-".into());
            let (binary, zip) = (*binary as f64 / 1e6, *zip as f64 / 1e6);
            let met = if zip <= 5.0 { "met" } else { "**missed**" };
            let _ = writeln!(
                out,
                "| {function} | {binary:.2} MB | {zip:.2} MB | {python} | ≤ 5 MB: {met} |"
            );
        }
        let _ = writeln!(
            out,
            "\nRust: `cargo lambda build --release --arm64 --output-format zip`, the whole program. \
             Python: `bench/peers/python/package.py`, the handler and its aarch64 wheels only: the \
             python3.13 runtime brings CPython and boto3 (tens of MB) that Lambda loads on every \
             cold start, which the init figures above include."
        );
    }

    fn distributions(&self, out: &mut String) {
        let _ = writeln!(out, "\n## Distributions\n\n{ROW_HEADER}");
        for line in &self.details {
            let _ = writeln!(out, "{line}");
        }
        if !self.pipeline.is_empty() {
            let _ = writeln!(
                out,
                "\n## The whole pipeline (Rust, through `cargo lambda watch` and the bridge, BCRYPT_COST=4)\n\n{ROW_HEADER}"
            );
            for line in &self.pipeline {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// `bench/results.svg`: a panel for each charted figure that has both languages.
    pub fn svg(&self) -> String {
        let panels: Vec<Panel> = self
            .figures
            .iter()
            .filter_map(|f| {
                Some(Panel {
                    title: f.chart.clone()?,
                    unit: f.unit,
                    rust: f.value.rust,
                    python: f.value.python?,
                    lower_is_better: f.lower_is_better,
                })
            })
            .collect();
        chart::svg(
            "Rust vs the Python peer, same machine, same run (cargo xtask bench)",
            &panels,
        )
    }
}

/// The machine the figures were taken on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores ({cpu})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(create_user: u64, send_email: u64) -> PeakRss {
        let mut rss = PeakRss::default();
        rss.note(Function::CreateUser, create_user);
        rss.note(Function::SendEmail, send_email);
        rss.note(Function::SendEmail, 1); // a lower peak later changes nothing
        rss
    }

    #[test]
    fn figures_compare_the_languages_that_ran_and_hold_rust_to_its_targets() {
        let mut both = Report::default();
        both.peak_rss(
            Function::CreateUser,
            &PerLanguage {
                rust: rss(12_000_000, 0),
                python: Some(rss(48_000_000, 0)),
            },
        );
        both.peak_rss(
            Function::SendEmail,
            &PerLanguage {
                rust: rss(0, 40_000_000),
                python: Some(rss(0, 50_000_000)),
            },
        );
        let text = both.markdown(true, 20);
        assert!(
            text.contains("| create-user peak RSS (MB) | 12.0 | 48.0 | 0.250 | ≤ 32 MB: met |"),
            "{text}"
        );
        assert!(
            text.contains("| send-email peak RSS (MB) | 40.0 | 50.0 | 0.800 | ≤ 32 MB: **missed** |"),
            "{text}"
        );
        assert_eq!(both.svg().matches("peak RSS</text>").count(), 2);

        let mut rust_only = Report::default();
        let alone = PerLanguage {
            rust: rss(12_000_000, 0),
            python: None,
        };
        rust_only.peak_rss(Function::CreateUser, &alone);
        let text = rust_only.markdown(true, 20);
        assert!(
            text.contains("| create-user peak RSS (MB) | 12.0 | - | - | ≤ 32 MB: met |"),
            "{text}"
        );
        assert!(!rust_only.svg().contains("peak RSS"), "a panel needs both languages");
    }
}
