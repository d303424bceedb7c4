//! The report written out: `bench/results.md` (its sections in order) and the charts.

use super::{Report, Target};
use crate::bench::artifacts::Artifact;
use crate::bench::chart::{self, Panel};
use crate::bench::curves::cores;
use crate::bench::stats::ROW_HEADER;
use std::fmt::Write as _;

impl Report {
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
        if !self.conditions.is_empty() {
            let _ = writeln!(out, "{}\n", self.conditions);
        }
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
