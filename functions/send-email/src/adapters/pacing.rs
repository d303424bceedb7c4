//! The per-instance SES send rate (`EMAIL_MAX_SENDS_PER_SECOND`): a [`Mailer`] that hands
//! each send a start slot at least `1/rate` after the previous one's, so that all the message
//! tasks of one instance (they share the `Deliver`, hence this) start at most `rate` sends a
//! second. SES's own limit is per account and region: with `MaximumConcurrency` instances
//! polling the queue, `MaximumConcurrency x rate <= the account's max send rate` keeps every
//! send under it instead of into `Throttling` errors.
//!
//! A wrapper rather than part of `Deliver`: the use case stays about exactly-once, the limit
//! belongs to the transport (whichever it is), and waiting happens after the claim, so a
//! duplicate delivery (answered from the claim) never uses a slot.

use crate::domain::deliver::{Mailer, PortError, SendError};
use crate::domain::emails::Email;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a send waits for its slot. A waiting send holds its claim and runs inside the
/// function's 30 s timeout; after the wait come SES
/// ([`crate::adapters::mailers::SES_OPERATION_TIMEOUT`], 13 s at most) and the claim's mark
/// or release (3 s at most), and the claim itself took up to 3 s before. A send that would
/// wait longer fails at once: its claim is released and SQS retries the message later,
/// instead of the whole batch running into the timeout. At the SES sandbox's 1 send a second
/// a batch of 10 waits 9 s at most.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Start slots at least `interval` apart: the next free one, behind a lock held only to take it.
pub struct Pacer {
    interval: Duration,
    max_wait: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            max_wait: MAX_WAIT,
            next: Mutex::new(None),
        }
    }

    /// Waits for this send's slot; an error if it is more than the longest wait away (no slot
    /// is taken then).
    pub async fn slot(&self) -> Result<(), PortError> {
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let start = next.map_or(now, |next| next.max(now));
            if start - now > self.max_wait {
                return Err(PortError(format!(
                    "send rate limit: no slot free within {} s (EMAIL_MAX_SENDS_PER_SECOND); retry later",
                    self.max_wait.as_secs()
                )));
            }
            *next = Some(start + self.interval);
            start
        };
        tokio::time::sleep_until(start).await;
        Ok(())
    }
}

/// `inner`, paced by `pacer` (or not at all).
pub struct Paced<M> {
    inner: M,
    pacer: Option<Pacer>,
}

impl<M> Paced<M> {
    /// `interval`: the least time between two sends' starts; `None` for no limit.
    pub fn new(inner: M, interval: Option<Duration>) -> Self {
        Self {
            inner,
            pacer: interval.map(Pacer::new),
        }
    }

    pub fn inner(&self) -> &M {
        &self.inner
    }
}

impl<M: Mailer> Mailer for Paced<M> {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        if let Some(pacer) = &self.pacer {
            pacer.slot().await.map_err(SendError::Throttled)?;
        }
        self.inner.send(email).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Records when each send started, in (virtual) time.
    #[derive(Default)]
    struct Clocked {
        starts: Mutex<Vec<Instant>>,
    }

    impl Mailer for Clocked {
        async fn send(&self, _: &Email) -> Result<String, SendError> {
            self.starts.lock().unwrap().push(Instant::now());
            Ok("m".into())
        }
    }

    fn email() -> Email {
        Email {
            to: "a@x.io".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        }
    }

    /// `n` concurrent sends, as a batch's message tasks make them; their start offsets from now.
    async fn concurrent_sends(mailer: Arc<Paced<Clocked>>, n: usize) -> (Vec<Duration>, usize) {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let mailer = mailer.clone();
                tokio::spawn(async move { mailer.send(&email()).await })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                refused += 1;
            }
        }
        let mut starts: Vec<Duration> = mailer.inner().starts.lock().unwrap().iter().map(|s| *s - t0).collect();
        starts.sort();
        (starts, refused)
    }

    #[tokio::test(start_paused = true)]
    async fn sends_start_at_least_one_interval_apart() {
        let rate = 4.0; // sends per second
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mailer = Arc::new(Paced::new(Clocked::default(), Some(interval)));
        let (starts, refused) = concurrent_sends(mailer.clone(), 6).await;
        assert_eq!((starts.len(), refused), (6, 0));
        assert_eq!(starts[0], Duration::ZERO, "the first send does not wait");
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= interval, "{starts:?}");
        }
        assert_eq!(
            starts[5],
            5 * interval,
            "and none waits longer than its slot: {starts:?}"
        );

        // Later sends keep the pace with the earlier ones; after a quiet spell, no wait.
        let t = Instant::now();
        mailer.send(&email()).await.unwrap();
        assert_eq!(Instant::now() - t, interval, "slot 6 is one interval after slot 5");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = Instant::now();
        mailer.send(&email()).await.unwrap();
        assert_eq!(Instant::now() - t, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_nothing_waits() {
        let mailer = Arc::new(Paced::new(Clocked::default(), None));
        let (starts, refused) = concurrent_sends(mailer, 20).await;
        assert_eq!((starts.len(), refused), (20, 0));
        assert!(starts.iter().all(|s| *s == Duration::ZERO), "{starts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_whose_slot_is_too_far_off_fails_at_once_and_takes_no_slot() {
        let mailer = Arc::new(Paced::new(Clocked::default(), Some(Duration::from_secs(1))));
        // Slots at 0, 1, ..., 10 s are within the longest wait; the rest are refused.
        let (starts, refused) = concurrent_sends(mailer.clone(), 15).await;
        assert_eq!((starts.len(), refused), (11, 4), "{starts:?}");
        assert_eq!(starts.last(), Some(&MAX_WAIT));
        // The refused ones took no slot: the next send starts one interval after the last
        // accepted one (at 11 s, not 15 s).
        let t = Instant::now();
        mailer.send(&email()).await.unwrap();
        assert_eq!(Instant::now() - t, Duration::from_secs(1));
    }
}
