//! Percentiles and the Markdown rows the report is made of.

use std::time::Duration;

/// The `p`th percentile (nearest rank) of `samples`; zero when there are none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied().unwrap_or_default()
}

pub fn p50(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// The functions' own unit for durations, so that the report's milliseconds are theirs.
pub use lambda_support::timing::ms;

/// `| what | n | p50 | p95 | p99 | max |`
pub fn row(what: &str, samples: &[Duration]) -> String {
    let cell = |d: Duration| format!("{:.1} ms", ms(d));
    format!(
        "| {what} | {} | {} | {} | {} | {} |",
        samples.len(),
        cell(percentile(samples, 50.0)),
        cell(percentile(samples, 95.0)),
        cell(percentile(samples, 99.0)),
        cell(percentile(samples, 100.0))
    )
}

pub const ROW_HEADER: &str = "| measurement | n | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        assert!(row("x", &samples).starts_with("| x | 100 | 50.0 ms |"));
    }
}
