//! publish-outbox: run on a schedule, publishes the `user.created` events that create-user
//! stored with their users but could not publish (SNS down or slow). The work itself is
//! `user_store::outbox::flush`; this is its Lambda handler and the numbers it runs by.

pub mod init;

use lambda_runtime::{Context, Error, LambdaEvent};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use user_store::outbox::{EventPublisher, FlushLimits, FlushReport, Outbox, flush};

/// Events younger than this are left to create-user, which is probably publishing them now.
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(30);

/// Time kept back from the invocation's deadline: the next page's query and one item's claim,
/// publish and delete, each bounded by the SDK's operation timeout, must finish before Lambda
/// stops the function.
pub const STOP_MARGIN: Duration = lambda_support::aws::OPERATION_TIMEOUT.saturating_mul(4);

/// The function's Timeout in template.yaml. It is the budget of a run whose runtime gives no
/// usable deadline, and the lease of the run's claims: a claim lasts as long as the run that
/// took it can, so it never expires under a live run (another run would publish its item
/// again), and no longer, so the items of a run that died are not held up for long.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The invocation's deadline as an `Instant`. Lambda gives it in epoch milliseconds; a runtime
/// that gives none, or one already past (cargo lambda watch sends 600000, ten minutes after
/// 1970), gets the template's timeout instead of a run that stops before it starts.
pub fn run_deadline(context: &Context) -> Instant {
    Instant::now() + lambda_support::deadline::remaining(context).unwrap_or(TIMEOUT)
}

/// The metrics every run reports (the `metrics` facade; `lambda_support::metrics` writes them
/// as EMF after each invocation).
pub mod metric {
    /// Events published by the run.
    pub const EVENTS_PUBLISHED: &str = "EventsPublished";
    /// Unreadable items the run moved out of the pending set.
    pub const EVENTS_SET_ASIDE: &str = "EventsSetAside";
    /// Age in seconds of the oldest item still pending after the run, 0 when none: what the
    /// OutboxStuckAlarm reads. A run that could not read it reports none (never a stale one).
    pub const OLDEST_PENDING_EVENT_AGE: &str = "OldestPendingEventAge";

    /// Units for the recorder; once, at init.
    pub fn describe() {
        metrics::describe_counter!(EVENTS_PUBLISHED, metrics::Unit::Count, "user.created events published");
        metrics::describe_counter!(
            EVENTS_SET_ASIDE,
            metrics::Unit::Count,
            "unreadable outbox items set aside"
        );
        metrics::describe_histogram!(
            OLDEST_PENDING_EVENT_AGE,
            metrics::Unit::Seconds,
            "age of the oldest pending outbox event"
        );
    }
}

/// One scheduled run: publishes what has been pending for longer than `min_age`, within the
/// invocation's deadline, and answers (and logs) what it did. Every run counts its metrics,
/// also one that published nothing or whose publishing failed.
pub async fn handle<O: Outbox, P: EventPublisher>(
    outbox: &O,
    publisher: &P,
    min_age: Duration,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let limits = FlushLimits::until(run_deadline(&event.context), STOP_MARGIN, TIMEOUT);
    let flushed = flush(outbox, publisher, OffsetDateTime::now_utc() - min_age, limits).await;
    let (published, set_aside) = flushed.as_ref().map_or((0, 0), |r| (r.published, r.set_aside));
    metrics::counter!(metric::EVENTS_PUBLISHED).increment(published as u64);
    metrics::counter!(metric::EVENTS_SET_ASIDE).increment(set_aside as u64);
    // A histogram, not a gauge: a gauge would repeat its last value on a run that could not
    // read the age; a histogram reports only what this run saw.
    match outbox.oldest_pending().await {
        Ok(oldest) => {
            let age = oldest.map_or(0.0, |at| (OffsetDateTime::now_utc() - at).as_seconds_f64().max(0.0));
            metrics::histogram!(metric::OLDEST_PENDING_EVENT_AGE).record(age);
        }
        Err(e) => tracing::error!(error = %e, "age of the oldest pending event not read"),
    }
    let report = flushed?;
    let FlushReport {
        published,
        set_aside,
        skipped,
        out_of_time,
        ..
    } = report;
    match &report.publish_error {
        // Not a function error: the events stay pending and the next run retries.
        Some(e) => tracing::error!(published, set_aside, skipped, error = %e, "outbox flush stopped: SNS failing"),
        None => tracing::info!(published, set_aside, skipped, out_of_time, "outbox flushed"),
    }
    Ok(json!(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_store::outbox::StoredEvent;
    use user_store::testing::{MemoryPublisher, MemoryStore};
    use user_store::users::UserStore;

    #[test]
    fn a_deadline_already_past_gets_the_template_timeout() {
        // cargo lambda watch's: ten minutes after 1970.
        let mut context = Context::default();
        context.deadline = 600_000;
        let before = Instant::now();
        let deadline = run_deadline(&context);
        assert!(deadline >= before + TIMEOUT && deadline <= Instant::now() + TIMEOUT);
    }

    #[tokio::test]
    async fn a_run_publishes_what_is_old_enough_and_reports_it() {
        let store = MemoryStore::default();
        let publisher = MemoryPublisher::default();
        let now = OffsetDateTime::now_utc();
        for (email, age) in [("old@x.io", DEFAULT_MIN_AGE * 2), ("young@x.io", Duration::ZERO)] {
            let event = StoredEvent::from(&user_events::testing::user_created("Ann", email));
            store.record(&event, now - age).await.unwrap();
        }
        let event = LambdaEvent::new(Value::Null, Context::default());
        let report = handle(&store, &publisher, DEFAULT_MIN_AGE, event).await.unwrap();
        assert_eq!(report["published"], 1, "{report}");
        assert_eq!(report["publish_error"], Value::Null);
        assert_eq!(store.pending_events().len(), 1, "the young one is left to create-user");
    }
}
