//! Terminal output: quiet by default, one line per step, progress on anything slow.

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
