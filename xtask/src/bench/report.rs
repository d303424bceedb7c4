//! What the measurements say: the figures of the comparison table (and the chart's panels),
//! the distributions behind them, and `bench/results.md` and `bench/results.svg` written from
//! them.

use super::artifacts::Artifact;
use super::chart::{self, Panel};
use super::curves::{CPU_COLUMN, Cpu, LOCALSTACK_SATURATED, LatencyPoint, cores};
use super::functions::{ColdStart, Function, Language, OverheadParts, WarmRun};
use super::instructions::{COUNTED, Counted, Part, WARM_UP};
use super::stats::{ROW_HEADER, ms, p50, percentile, row};
use super::throughput::Drained;
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
    /// How cost grows: a Markdown section per curve, and its chart panels.
    curves: Vec<String>,
    curve_panels: Vec<chart::Curve>,
    /// The arm64 deployment zips: Rust's, and the Python peer's bytes by function.
    pub rust_zips: Vec<Artifact>,
    pub python_zips: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether answers' times tell cases apart ([`Report::one_time`]).
    one_time: Vec<String>,
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
            // Where the first invocation's time goes: the emulators' part, and the rest.
            let waited: Vec<(Duration, Duration)> = starts
                .iter()
                .filter_map(|c| Some((c.first_waited?, c.first.saturating_sub(c.first_waited?))))
                .collect();
            if !waited.is_empty() {
                let name = language.name();
                let (emulators, own): (Vec<_>, Vec<_>) = waited.into_iter().unzip();
                self.details.push(row(
                    &format!("{name} {f}: first invocation, waiting on DynamoDB/SNS"),
                    &emulators,
                ));
                self.details
                    .push(row(&format!("{name} {f}: first invocation, the rest"), &own));
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
        // create-user's init is held to the floor a Rust function reaches (send-email's is there).
        let (init_goal, init_share) = match function {
            Function::CreateUser => ("≤ 1/20 of Python", 20.0),
            Function::SendEmail => ("≤ 1/10 of Python", 10.0),
        };
        let mut figure = Figure::new(format!("{f} init, exec to first `next` (ms, p50)"), "ms", init);
        if let Some(python) = python_init {
            figure = figure.target(init_goal, |rust| rust <= python / init_share);
        }
        self.figures.push(figure.charted(format!("{f} init")));
        let answer = cold.map(|c| ms(p50(&c.iter().map(|c| c.first_answer).collect::<Vec<_>>())));
        let python_answer = answer.python;
        let mut figure = Figure::new(format!("{f} exec to first answer (ms, p50)"), "ms", answer);
        if let (Function::CreateUser, Some(python)) = (function, python_answer) {
            figure = figure.target("≤ 1/10 of Python", |rust| rust <= python / 10.0);
        }
        self.figures.push(figure.charted(format!("{f} exec to first answer")));
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
        let python_p50 = runs.python.as_ref().map(|r| ms(p50(&r.durations)));
        for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
            let at = runs.map(|r| ms(percentile(&r.durations, p)));
            let mut figure = Figure::new(format!("{what}, warm (ms, {name})"), "ms", at);
            if let (Function::SendEmail, 99.0, Some(python)) = (function, p, python_p50) {
                figure = figure.target("< Python's p50", |rust| rust < python);
            }
            self.figures.push(if p == 50.0 {
                figure.charted(format!("{what}, warm p50"))
            } else {
                figure
            });
        }
        self.figures.push(Figure::new(
            format!("{what}, CPU per warm invocation, after its answer included (ms)"),
            "ms",
            runs.map(|r| ms(r.cpu_per_invocation)),
        ));
        if function == Function::CreateUser && cost == 4 {
            let overhead = runs.map(|r| ms(p50(&r.overhead)));
            self.figures.push(
                Figure::new(
                    format!("{what}, own overhead: warm minus DynamoDB/SNS time (ms, p50)"),
                    "ms",
                    overhead,
                )
                .target("≤ 2.5 ms", |rust| rust <= 2.5)
                .charted(format!("{what}, own overhead")),
            );
            // Each part's own median: they add up invocation by invocation, their medians
            // only roughly.
            for (i, part) in OverheadParts::NAMES.iter().enumerate() {
                let at = runs.map(|r| {
                    let samples: Vec<Duration> = r.overhead_parts.iter().map(|p| p.parts()[i]).collect();
                    ms(p50(&samples))
                });
                self.figures.push(Figure::new(
                    format!("{what}, of its overhead: {part} (ms, p50)"),
                    "ms",
                    at,
                ));
            }
        }
    }

    /// create-user's latency at each step of load, at `cost`: a table, where it bends and why,
    /// and a chart panel for its p50 and its p99.
    pub fn sign_up_curve(&mut self, cost: u32, runs: &PerLanguage<Vec<LatencyPoint>>) {
        let what = format!("create-user (BCRYPT_COST={cost})");
        let mut text = format!(
            "\n### {what}: latency with more sign-ups at once\n\n\
             | at once | n | Rust p50 | Rust p99 | Python p50 | Python p99 | Rust/Python p50 | shed (503 `retryable`), Rust / Python | Rust run: {CPU_COLUMN} | Python run: {CPU_COLUMN} |\n\
             |---|---|---|---|---|---|---|---|---|---|\n"
        );
        let at = |point: &LatencyPoint, q: f64| ms(percentile(&point.durations, q));
        for (rust, python) in steps(runs) {
            let (r50, r99) = (at(rust, 50.0), at(rust, 99.0));
            let py = |q: f64| python.map(|p| format!("{} ms", chart::figure(at(p, q))));
            let _ = writeln!(
                text,
                "| {} | {} | {} ms | {} ms | {} | {} | {} | {} / {} | {} | {} |",
                rust.at_once,
                rust.durations.len() + rust.shed,
                chart::figure(r50),
                chart::figure(r99),
                py(50.0).unwrap_or_else(|| "-".into()),
                py(99.0).unwrap_or_else(|| "-".into()),
                python.map_or("-".into(), |p| format!(
                    "{:.3}",
                    r50 / at(p, 50.0).max(f64::MIN_POSITIVE)
                )),
                rust.shed,
                python.map_or("-".into(), |p| p.shed.to_string()),
                rust.cpu,
                python.map_or("-".into(), |p| p.cpu.to_string()),
            );
        }
        for (language, points) in runs.iter() {
            let _ = writeln!(text, "\n{}", latency_bend(language, points));
            let shed: Vec<String> = points
                .iter()
                .filter(|p| p.shed > 0)
                .map(|p| format!("{} of {} at {} at once", p.shed, p.shed + p.durations.len(), p.at_once))
                .collect();
            if !shed.is_empty() {
                let _ = writeln!(
                    text,
                    "{} shed sign-ups with 503 `retryable` (nothing stored; the client retries): {}.",
                    language.name(),
                    shed.join(", ")
                );
            }
        }
        self.curves.push(text);
        for (q, name) in [(50.0, "p50"), (99.0, "p99")] {
            self.curve_panels.push(chart::Curve {
                title: format!("{what}, {name}"),
                steps: "sign-ups at once",
                unit: "ms",
                lower_is_better: true,
                points: steps(runs)
                    .map(|(rust, python)| (rust.at_once, at(rust, q), python.map(|p| at(p, q))))
                    .collect(),
            });
        }
    }

    /// send-email's throughput at each number of pollers: a table, where it bends and why, a
    /// chart panel; and the comparison table's figure at the template's pollers.
    pub fn throughput_curve(
        &mut self,
        events: usize,
        batch_size: i32,
        template_pollers: usize,
        runs: &PerLanguage<Vec<Drained>>,
    ) {
        let mut text = format!(
            "\n### send-email: throughput with more pollers ({events} events queued, batches of {batch_size})\n\n\
             | pollers | Rust emails/s | Python emails/s | Rust/Python | retried Rust / Python | Rust run: {CPU_COLUMN} | Python run: {CPU_COLUMN} |\n\
             |---|---|---|---|---|---|---|\n"
        );
        for (rust, python) in steps(runs) {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} / {} | {} | {} |",
                rust.pollers,
                chart::figure(rust.per_second()),
                python.map_or("-".into(), |p| chart::figure(p.per_second())),
                python.map_or("-".into(), |p| format!(
                    "{:.3}",
                    rust.per_second() / p.per_second().max(f64::MIN_POSITIVE)
                )),
                rust.retried,
                python.map_or("-".into(), |p| p.retried.to_string()),
                rust.cpu,
                python.map_or("-".into(), |p| p.cpu.to_string()),
            );
        }
        for (language, points) in runs.iter() {
            let _ = writeln!(text, "\n{}", throughput_bend(language, points));
        }
        if steps(runs).any(|(rust, python)| rust.retried + python.map_or(0, |p| p.retried) > 0) {
            text.push_str(
                "\nRetried: messages whose SES call outlasted the function's operation timeout on a \
                 busy LocalStack; the function reported them as batch item failures and the queue \
                 delivered them again after its visibility timeout, which the step's time includes, \
                 as it would on AWS.\n",
            );
        }
        self.curves.push(text);
        self.curve_panels.push(chart::Curve {
            title: "send-email throughput".into(),
            steps: "pollers",
            unit: "emails/s",
            lower_is_better: false,
            points: steps(runs)
                .map(|(rust, python)| (rust.pollers, rust.per_second(), python.map(Drained::per_second)))
                .collect(),
        });
        let at_template = runs.map(|points| {
            points
                .iter()
                .find(|d| d.pollers == template_pollers)
                .map_or(0.0, Drained::per_second)
        });
        let python = at_template.python;
        let mut figure = Figure::new(
            format!("send-email throughput, {events} events queued, {template_pollers} pollers x batches of {batch_size} (emails/s)"),
            "emails/s",
            at_template,
        )
        .higher_is_better()
        .charted("send-email throughput".into());
        if let Some(python) = python {
            figure = figure.target("≥ 2x Python", |rust| rust >= 2.0 * python);
        }
        self.figures.push(figure);
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

    /// A section on whether an answer's time tells cases apart (see [`super::one_answer`]):
    /// each case's distribution, and the p50 of each of `compared` against `baseline`'s
    /// (target 0.9-1.1).
    pub fn one_time(
        &mut self,
        title: &str,
        explanation: &str,
        cases: &[(&str, &[Duration])],
        baseline: usize,
        compared: &[usize],
    ) {
        let mut section = format!(
            "\n## {title}\n\n{explanation} Target: each p50 within 0.9-1.1 of {}'s.\n\n{ROW_HEADER}\n",
            cases[baseline].0
        );
        for (name, samples) in cases {
            let _ = writeln!(section, "{}", row(name, samples));
        }
        let base = ms(p50(cases[baseline].1));
        for &i in compared {
            let ratio = ms(p50(cases[i].1)) / base.max(f64::MIN_POSITIVE);
            let met = if (0.9..=1.1).contains(&ratio) {
                "met"
            } else {
                "**missed**"
            };
            let _ = writeln!(
                section,
                "\np50 of {} / p50 of {}: **{ratio:.3}** (0.9-1.1: {met})",
                cases[i].0, cases[baseline].0
            );
        }
        self.one_time.push(section);
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
        for section in &self.one_time {
            out.push_str(section);
        }
        self.curves_section(&mut out);
        self.distributions(&mut out);
        out
    }

    fn curves_section(&self, out: &mut String) {
        if self.curves.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n## How cost grows with load\n\n![How cost grows](curves.svg)\n\n\
             Each step runs as many instances as it has clients (sign-ups at once) or pollers, \
             started one after the other and warmed before the clock starts. \"cores busy\" is \
             the machine's average over the step, of {} cores, with the functions' own processes' \
             share in brackets; the rest is the emulators (LocalStack, DynamoDB Local) and the \
             benchmark, on the same cores.",
            cores()
        );
        for section in &self.curves {
            out.push_str(section);
        }
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
             most of every warm figure; the overhead row subtracts what each function logs it waited \
             before answering (`store_ms`, and for Python `publish_ms`: Rust's create-user answers, \
             then publishes). Warm invocations are {pause_ms} ms apart (`--pause-ms`).\n"
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

impl Report {
    /// `bench/curves.svg`, when the curves ran.
    pub fn curves_svg(&self) -> Option<String> {
        (!self.curve_panels.is_empty()).then(|| {
            chart::curves_svg(
                "How cost grows with load: Rust vs the Python peer (cargo xtask bench)",
                &self.curve_panels,
            )
        })
    }
}

/// Each step of a curve: Rust's point, and Python's at the same step when it ran.
fn steps<T>(runs: &PerLanguage<Vec<T>>) -> impl Iterator<Item = (&T, Option<&T>)> {
    runs.rust
        .iter()
        .enumerate()
        .map(move |(i, rust)| (rust, runs.python.as_ref().and_then(|p| p.get(i))))
}

/// Where a latency curve leaves the flat: the first step whose p50 is over 1.5x the first's.
fn latency_bend(language: Language, points: &[LatencyPoint]) -> String {
    let p50 = |p: &LatencyPoint| ms(percentile(&p.durations, 50.0));
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return String::new();
    };
    let (name, base) = (language.name(), p50(first));
    match points.iter().position(|p| p50(p) > 1.5 * base) {
        None => format!(
            "{name}: p50 stays within 1.5x of one at a time's ({} ms) up to {} at once, where {}.",
            chart::figure(base),
            last.at_once,
            why(last.cpu)
        ),
        Some(i) => {
            let p = &points[i];
            format!(
                "{name}: p50 bends at {} at once, {:.1}x one at a time's ({} ms){}: {}.",
                p.at_once,
                p50(p) / base,
                chart::figure(base),
                if i > 1 {
                    format!(", after staying within 1.5x up to {}", points[i - 1].at_once)
                } else {
                    String::new()
                },
                why(p.cpu)
            )
        }
    }
}

/// Each step's gain in throughput against the ideal (as many times more as there are more
/// pollers), and the first step that gains less than half of it.
fn throughput_bend(language: Language, points: &[Drained]) -> String {
    let gain = |w: &[Drained]| w[1].per_second() / w[0].per_second().max(f64::MIN_POSITIVE);
    let ideal = |w: &[Drained]| w[1].pollers as f64 / w[0].pollers.max(1) as f64;
    let steps: Vec<String> = points
        .windows(2)
        .map(|w| {
            format!(
                "{} to {} pollers x{:.2} (ideal x{:.1})",
                w[0].pollers,
                w[1].pollers,
                gain(w),
                ideal(w)
            )
        })
        .collect();
    let name = language.name();
    match points.windows(2).find(|w| gain(w) - 1.0 < 0.5 * (ideal(w) - 1.0)) {
        Some(w) => format!(
            "{name}: {}; it bends from {} to {} pollers (less than half the ideal gain): {}.",
            steps.join(", "),
            w[0].pollers,
            w[1].pollers,
            why(w[1].cpu)
        ),
        None => format!(
            "{name}: {}; no bend up to {} pollers: {}.",
            steps.join(", "),
            points.last().map_or(0, |p| p.pollers),
            points.last().map_or_else(String::new, |p| why(p.cpu))
        ),
    }
}

/// Why a step costs what it does: whether the cores were saturated, and by whom, or LocalStack's
/// one interpreter.
fn why(cpu: Cpu) -> String {
    let (cores, rest) = (cores(), (cpu.busy - cpu.functions).max(0.0));
    let busy = format!("{:.2} of {cores} cores busy", cpu.busy);
    let saturated = cpu.busy >= 0.85 * cores;
    if !saturated && cpu.localstack >= LOCALSTACK_SATURATED {
        format!(
            "LocalStack is at its limit ({:.2} of a core: one Python process, which its interpreter lock keeps to one core; {busy}, {:.2} of them the functions')",
            cpu.localstack, cpu.functions
        )
    } else if !saturated {
        format!(
            "the cores are not saturated ({busy}, {:.2} of them the functions'): the time goes to waiting on the emulators",
            cpu.functions
        )
    } else if cpu.functions >= rest {
        format!(
            "CPU-bound on the functions ({busy}, {:.2} of them the functions')",
            cpu.functions
        )
    } else {
        format!(
            "CPU-bound on the emulators and the benchmark ({busy}, {rest:.2} of them theirs, {:.2} the functions')",
            cpu.functions
        )
    }
}

/// The heading of the instruction counts' section of `bench/results.md`, which
/// `cargo xtask bench --instructions` writes and a full run carries over as it is.
pub const INSTRUCTIONS_HEADING: &str = "## Where create-user's own time goes: instructions per warm invocation";

/// The instruction counts' section, from `--instructions` on `revision`.
pub fn instructions_section(counted: &PerLanguage<Counted>, revision: &str) -> String {
    let millions = |n: f64| format!("{:.2} M", n / 1e6);
    let mut out = format!(
        "{INSTRUCTIONS_HEADING}\n\n\
         Written by `cargo xtask bench --instructions` on {revision}: each process under valgrind's \
         callgrind answered {WARM_UP} sign-ups (BCRYPT_COST=4), then {COUNTED} counted ones; \
         instructions executed per counted invocation, in every thread, grouped by the function \
         that executed them (its own instructions, not its callees'). Rust: the release build with \
         its symbols kept. A count does not move with the machine's load as wall time does; it \
         weighs an instruction of bcrypt the same as one of a cache-missing hash lookup, so it says \
         where the work is, not exactly where the milliseconds are.\n\n\
         | executed by | Rust | Python | Rust/Python |\n|---|---|---|---|\n"
    );
    let parts: std::collections::BTreeSet<Part> = counted
        .iter()
        .flat_map(|(_, c)| c.per_invocation.keys().copied())
        .collect();
    let python = counted.python.as_ref();
    for part in parts {
        let rust = counted.rust.per_invocation.get(&part).copied().unwrap_or(0.0);
        let py = python.map(|p| p.per_invocation.get(&part).copied().unwrap_or(0.0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            part.describe(),
            millions(rust),
            py.map_or("-".into(), millions),
            py.filter(|p| *p > 0.0)
                .map_or("-".into(), |p| format!("{:.2}", rust / p)),
        );
    }
    let (rust, py) = (counted.rust.total(), python.map(Counted::total));
    let _ = writeln!(
        out,
        "| **all** | **{}** | **{}** | **{}** |",
        millions(rust),
        py.map_or("-".into(), millions),
        py.map_or("-".into(), |p| format!("{:.2}", rust / p.max(1.0))),
    );
    for (language, c) in counted.iter() {
        let _ = writeln!(
            out,
            "\nThe heaviest functions, {} (own instructions per invocation):\n",
            language.name()
        );
        for (function, n) in c.top.iter().take(10) {
            let _ = writeln!(out, "- {} `{}`", millions(*n), function.replace('`', "'"));
        }
    }
    out
}

/// `doc` with its `heading` section (up to the next `## ` heading) replaced by `section`, or,
/// without one, `section` put before the distributions (or at the end).
pub fn splice(doc: &str, heading: &str, section: &str) -> String {
    let section = format!("{}\n\n", section.trim_end());
    if let Some(old) = self::section(doc, heading) {
        return doc.replacen(old, &section, 1);
    }
    match doc.find("\n## Distributions") {
        Some(at) => format!("{}{section}{}", &doc[..at + 1], &doc[at + 1..]),
        None => format!("{}\n\n{section}", doc.trim_end()),
    }
}

/// The section under `heading` in `doc` (to the next `## ` heading or the end), when there is
/// one.
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(heading)?;
    let after = start + heading.len();
    let end = doc[after..].find("\n## ").map_or(doc.len(), |i| after + i + 1);
    Some(&doc[start..end])
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
    fn why_names_what_saturated_the_cores_or_localstacks_interpreter() {
        let cpu = |busy, functions, localstack| Cpu {
            busy: busy * cores() / 2.0,
            functions: functions * cores() / 2.0,
            localstack,
        };
        assert!(why(cpu(1.4, 0.1, 0.95)).starts_with("LocalStack is at its limit (0.95 of a core"));
        assert!(why(cpu(1.4, 0.1, 0.5)).contains("waiting on the emulators"));
        assert!(why(cpu(2.0, 1.5, 0.3)).starts_with("CPU-bound on the functions"));
        assert!(why(cpu(2.0, 0.3, 0.95)).starts_with("CPU-bound on the emulators"));
    }

    #[test]
    fn the_instructions_section_is_replaced_inserted_or_carried_over() {
        let doc = "# r\n\nfigures\n\n## Distributions\n\n| d |\n";
        let first = splice(doc, INSTRUCTIONS_HEADING, &format!("{INSTRUCTIONS_HEADING}\n\nold"));
        assert!(
            first.find("old").unwrap() < first.find("## Distributions").unwrap(),
            "{first}"
        );
        let second = splice(&first, INSTRUCTIONS_HEADING, &format!("{INSTRUCTIONS_HEADING}\n\nnew"));
        assert!(second.contains("new") && !second.contains("old"), "{second}");
        assert!(second.ends_with("## Distributions\n\n| d |\n"), "{second}");
        let carried = section(&second, INSTRUCTIONS_HEADING).unwrap();
        assert_eq!(splice(doc, INSTRUCTIONS_HEADING, carried), second);
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
