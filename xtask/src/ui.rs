//! Terminal output: quiet by default, one line per step, progress on anything slow; tables
//! in aligned columns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// A detail shown only with `-v`.
pub fn detail(msg: impl AsRef<str>) {
    if verbose() {
        eprintln!("    {}", msg.as_ref());
    }
}

/// A step the user waits for: prints its label, then `done (N.N s)` or `failed`.
pub async fn step<T>(label: &str, f: impl AsyncFnOnce(&mut Progress) -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprintln!("==> {label}");
    let mut progress = Progress {
        started: Instant::now(),
        last_report: 0,
    };
    let result = f(&mut progress).await;
    let secs = progress.started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => eprintln!("    done ({secs:.1} s)"),
        Err(_) => eprintln!("    failed after {secs:.1} s"),
    }
    result
}

/// Handed to a step's body; call [`Progress::tick`] while waiting so long waits show life.
pub struct Progress {
    started: Instant,
    last_report: u64,
}

impl Progress {
    /// Prints the elapsed time every 5 s.
    pub fn tick(&mut self, what: &str) {
        self.tick_with(|| what.to_owned());
    }

    /// Like [`Progress::tick`], with a label computed only when it is printed.
    pub fn tick_with(&mut self, what: impl FnOnce() -> String) {
        let secs = self.started.elapsed().as_secs();
        if secs >= self.last_report + 5 {
            self.last_report = secs - secs % 5;
            eprintln!("    ... {} ({secs} s)", what());
        }
    }

    /// Awaits `work`, ticking with `what` while it runs.
    pub async fn tick_while<T>(&mut self, what: &str, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                () = tokio::time::sleep(Duration::from_millis(200)) => self.tick(what),
            }
        }
    }
}

/// Rows as aligned columns, each as wide as its widest cell. A row's last cell is not padded
/// and does not widen its column, so a long path or note at the end of a row moves nothing.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let inner = rows.iter().filter(|r| c + 1 < r.len());
            inner.map(|r| r[c].chars().count()).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let (last, padded) = row.split_last().expect("a row has a name");
        for (c, cell) in padded.iter().enumerate() {
            out.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        out.push_str(last);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_line_up_whatever_the_longest_cell() {
        let rows = [
            row(&["cargo-lambda-watch", "running", "pid 7", "log a"]),
            row(&["x", "stopped"]),
            row(&["sqs-bridge", "running", "pid 12345678", "log b"]),
            row(&["coordinates", "/a/path/longer/than/any/cell/above/stack.env"]),
        ];
        let text = super::table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "cargo-lambda-watch  running  pid 7         log a");
        assert_eq!(lines[1], "x                   stopped");
        assert_eq!(lines[2], "sqs-bridge          running  pid 12345678  log b");
        assert_eq!(
            lines[3],
            "coordinates         /a/path/longer/than/any/cell/above/stack.env"
        );
    }
}
