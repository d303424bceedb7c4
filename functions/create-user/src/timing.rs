//! Where a sign-up's time went: hashing, the user store (the limit's counter, the guard read
//! and the transaction) and publishing (SNS, and the deletion of the outbox item). Measured at
//! the edge, where the waiting happens: [`crate::adapters::timed::Timed`] around the store and
//! the publisher, [`crate::password`] around
//! bcrypt; logged by the handler on its request line, so that our own overhead can be told
//! apart from the time spent waiting on DynamoDB and SNS (the benchmark reads them there).
//! The domain knows nothing of it.
//!
//! So a phase is the time in its calls, and nothing between them: the pauses before retrying a
//! transaction cancelled by a conflict ([`crate::domain::signup::ConflictRetry`]) are not in
//! `store`, they fall in our own overhead. The benchmark never meets one (DynamoDB Local never
//! reports a conflict); in Lambda, a sign-up that paused has the pause in its `latency_ms`
//! only, and a "transaction conflict; retrying" debug line.
//!
//! The clock is task-local: no allocation and no lock per call, and nothing for the use case
//! to carry. Work timed outside [`measure`] (tests that call the adapters directly) is not
//! counted anywhere.

use std::cell::Cell;
use std::future::Future;
use tokio::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Hash,
    Store,
    Publish,
}

/// Time spent per phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub hash: Duration,
    pub store: Duration,
    pub publish: Duration,
}

impl Timings {
    /// The time of two parts of one request (its answer, then its publish), phase by phase.
    pub fn and(self, other: Self) -> Self {
        Self {
            hash: self.hash + other.hash,
            store: self.store + other.store,
            publish: self.publish + other.publish,
        }
    }

    fn add(mut self, phase: Phase, elapsed: Duration) -> Self {
        let total = match phase {
            Phase::Hash => &mut self.hash,
            Phase::Store => &mut self.store,
            Phase::Publish => &mut self.publish,
        };
        *total += elapsed;
        self
    }
}

tokio::task_local! {
    static CLOCK: Cell<Timings>;
}

/// Runs `work` with a clock of its own: its output, and where its time went.
pub async fn measure<F: Future>(work: F) -> (F::Output, Timings) {
    CLOCK
        .scope(Cell::new(Timings::default()), async move {
            let output = work.await;
            (output, CLOCK.with(Cell::get))
        })
        .await
}

/// Counts the time `work` takes as `phase` of the current [`measure`], from its first poll
/// until it finishes or is dropped (a publish given up after its budget spent that budget all
/// the same). So `work` must start nothing before it is polled.
pub async fn in_phase<F: Future>(phase: Phase, work: F) -> F::Output {
    let _stopwatch = Stopwatch {
        phase,
        started: Instant::now(),
    };
    work.await
}

struct Stopwatch {
    phase: Phase,
    started: Instant,
}

impl Drop for Stopwatch {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        // Outside `measure` there is no clock, and nothing to count.
        let _ = CLOCK.try_with(|clock| clock.set(clock.get().add(self.phase, elapsed)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::sleep;

    /// Virtual time (a paused clock): the sums are exact, whatever the machine's speed.
    #[tokio::test(start_paused = true)]
    async fn each_phase_sums_the_time_of_its_calls() {
        let ((), timings) = measure(async {
            in_phase(Phase::Store, sleep(Duration::from_millis(3))).await;
            sleep(Duration::from_millis(100)).await; // untimed: our own work
            in_phase(Phase::Store, sleep(Duration::from_millis(2))).await;
            in_phase(Phase::Publish, sleep(Duration::from_millis(7))).await;
        })
        .await;
        let ms = Duration::from_millis;
        assert_eq!(
            timings,
            Timings {
                hash: Duration::ZERO,
                store: ms(5),
                publish: ms(7)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_given_up_counts_until_it_was_dropped() {
        let budget = Duration::from_secs(1);
        let (given_up, timings) = measure(tokio::time::timeout(
            budget,
            in_phase(Phase::Publish, std::future::pending::<()>()),
        ))
        .await;
        assert!(given_up.is_err());
        assert_eq!(timings.publish, budget);
    }

    #[tokio::test]
    async fn outside_a_measure_nothing_is_counted_and_nothing_fails() {
        assert_eq!(in_phase(Phase::Hash, async { 7 }).await, 7);
        let ((), timings) = measure(async {}).await;
        assert_eq!(timings, Timings::default(), "a clock of its own, not a leftover");
    }
}
