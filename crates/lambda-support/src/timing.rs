//! Durations as the functions log and record them: milliseconds, as `f64`.

use std::future::Future;
use std::time::{Duration, Instant};

/// `d` in milliseconds, the unit of every `*_ms` log field and every time metric.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `work`'s output, and how long it took to complete.
pub async fn timed<F: Future>(work: F) -> (F::Output, Duration) {
    let started = Instant::now();
    let output = work.await;
    (output, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_their_fraction() {
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }

    #[tokio::test]
    async fn timed_measures_the_wait() {
        let (out, took) = timed(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        assert!(took >= Duration::from_millis(5), "{took:?}");
    }
}
