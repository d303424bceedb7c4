//! What the measurements say: the figures of the comparison table (and the chart's panels),
//! the distributions behind them, and `bench/results.md` and `bench/results.svg` written from
//! them. Here, the figures as they are recorded; `growth`: how cost grows with load, and
//! why; `markdown`: the report written out; `sections`: `bench/results.md`'s sections
//! that other runs write (the instruction counts).

mod growth;
mod markdown;
mod sections;

pub use markdown::machine;
pub use sections::{INSTRUCTIONS_HEADING, instructions_section, section, splice};

use super::artifacts::Artifact;
use super::chart;
use super::function_logs::OverheadParts;
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
    /// How cost grows: a Markdown section per curve, and its chart panels.
    curves: Vec<String>,
    curve_panels: Vec<chart::Curve>,
    /// The arm64 deployment zips: Rust's, and the Python peer's bytes by function.
    pub rust_zips: Vec<Artifact>,
    pub python_zips: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether answers' times tell cases apart ([`Report::one_time`]).
    one_time: Vec<String>,
    /// The conditions it ran under: shaped like Lambda or not (at what memory sizes), TLS or
    /// plain HTTP.
    pub conditions: String,
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
