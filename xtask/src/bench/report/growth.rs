//! How cost grows with load: create-user's latency and send-email's throughput at each step,
//! where each curve bends, and why (the cores, or LocalStack's one interpreter).

use super::{Figure, PerLanguage, Report};
use crate::bench::chart;
use crate::bench::curves::{CPU_COLUMN, Cpu, LOCALSTACK_SATURATED, LatencyPoint, cores};
use crate::bench::functions::Language;
use crate::bench::stats::{ms, percentile};
use crate::bench::throughput::Drained;
use std::fmt::Write as _;

impl Report {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
