//! What Lambda charges, in one place: the price table the sweep's costs are computed at (with
//! where and when it was taken), and the arithmetic of a bill: each invocation's duration
//! rounded up to the next millisecond, GB-seconds at the function's memory size (GB = MB /
//! 1,024), the requests' charge, and the init phase billed as duration (since 1 August 2025).

use std::time::Duration;

/// A Lambda price table: one architecture, region and tier.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    pub architecture: &'static str,
    pub region: &'static str,
    pub tier: &'static str,
    /// Duration, in dollars per GB-second.
    pub per_gb_second: f64,
    /// Requests, in dollars per million.
    pub per_million_requests: f64,
    pub source: &'static str,
    /// When the figures were read off the source.
    pub taken: &'static str,
}

/// The prices the sweep uses: arm64 (the template's architecture), us-east-1, the first tier.
/// The free tier is not deducted.
pub const PRICES: Prices = Prices {
    architecture: "arm64",
    region: "us-east-1",
    tier: "first 7.5 billion GB-seconds a month",
    per_gb_second: 0.000_013_333_4,
    per_million_requests: 0.20,
    // The rates arm64 has had since its launch in 2021; this machine cannot reach the page to
    // read it again, so the date says when they were last written down, not fetched.
    source: "AWS Lambda pricing page, https://aws.amazon.com/lambda/pricing/ (arm64's rates since 2021)",
    taken: "2026-12",
};

/// Lambda bills each invocation's duration rounded up to the next millisecond.
pub fn billed_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// The mean of the invocations' billed durations, in ms (each rounded up before the mean:
/// that is what a bill adds up); zero when there are none.
pub fn mean_billed_ms(durations: &[Duration]) -> f64 {
    if durations.is_empty() {
        return 0.0;
    }
    durations.iter().map(|d| billed_ms(*d) as f64).sum::<f64>() / durations.len() as f64
}

/// A memory size in the GB Lambda bills by.
pub fn gb(memory_mb: u64) -> f64 {
    memory_mb as f64 / 1024.0
}

impl Prices {
    /// The duration charge of `billed_ms` at `memory_mb`, in dollars.
    pub fn duration_cost(&self, billed_ms: f64, memory_mb: u64) -> f64 {
        billed_ms / 1000.0 * gb(memory_mb) * self.per_gb_second
    }

    /// A million invocations like `durations` at `memory_mb`, in dollars: their mean billed
    /// duration a million times, and a million requests.
    pub fn per_million_invocations(&self, durations: &[Duration], memory_mb: u64) -> f64 {
        1e6 * self.duration_cost(mean_billed_ms(durations), memory_mb) + self.per_million_requests
    }

    /// A million cold starts' init phases of `init` each at `memory_mb`, in dollars: billed as
    /// duration, rounded up like an invocation's. Apart from the invocations' cost: how often
    /// an instance starts depends on the traffic, not on the function.
    pub fn init_per_million(&self, init: Duration, memory_mb: u64) -> f64 {
        1e6 * self.duration_cost(billed_ms(init) as f64, memory_mb)
    }

    /// The table as the sweep's report states it.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}, {}: ${} per GB-second (GB = MB / 1024) and ${:.2} per million requests; from the {}, \
             taken {}. The free tier is not deducted.",
            self.architecture,
            self.region,
            self.tier,
            self.per_gb_second,
            self.per_million_requests,
            self.source,
            self.taken
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn an_invocation_is_billed_up_to_the_next_millisecond() {
        assert_eq!(billed_ms(Duration::from_millis(5)), 5);
        assert_eq!(billed_ms(Duration::from_micros(5_001)), 6);
        assert_eq!(billed_ms(Duration::from_nanos(1)), 1);
        assert_eq!(billed_ms(Duration::from_micros(999)), 1);
        assert_eq!(billed_ms(Duration::from_secs(3) + Duration::from_nanos(1)), 3001);
        // Rounded one by one, then averaged: 2 and 3 ms, not 2.05 ms rounded.
        let durations = [Duration::from_micros(1_200), Duration::from_micros(2_900)];
        assert!(close(mean_billed_ms(&durations), 2.5));
        assert_eq!(mean_billed_ms(&[]), 0.0);
    }

    #[test]
    fn cost_per_million_invocations_is_gb_seconds_and_requests() {
        assert!(close(gb(1024), 1.0) && close(gb(128), 0.125));
        // One second at 1 GB: one GB-second each.
        let one_second = [Duration::from_secs(1)];
        assert!(close(PRICES.per_million_invocations(&one_second, 1024), 13.3334 + 0.20));
        // 100 ms at 128 MB: 0.0125 GB-seconds each.
        let hundred_ms = [Duration::from_micros(99_500)];
        assert!(close(
            PRICES.per_million_invocations(&hundred_ms, 128),
            0.0125 * 13.3334 + 0.20
        ));
        // Twice the memory for half the time costs the same.
        let half = [Duration::from_millis(500)];
        assert!(close(
            PRICES.per_million_invocations(&half, 2048),
            PRICES.per_million_invocations(&one_second, 1024)
        ));
        assert!(close(PRICES.per_million_invocations(&[], 1024), 0.20), "requests alone");
    }

    #[test]
    fn the_init_is_billed_as_duration_apart() {
        // 300.2 ms of init at 128 MB: 301 ms billed, 0.037625 GB-seconds.
        let init = Duration::from_micros(300_200);
        assert!(close(
            PRICES.init_per_million(init, 128),
            1e6 * 0.301 * 0.125 * 0.000_013_333_4
        ));
        assert!(close(PRICES.duration_cost(1000.0, 1024), PRICES.per_gb_second));
        let said = PRICES.describe();
        assert!(said.contains("arm64, us-east-1") && said.contains("$0.0000133334 per GB-second"));
        assert!(
            said.contains("$0.20 per million requests") && said.contains("taken 2026-12"),
            "{said}"
        );
    }
}
