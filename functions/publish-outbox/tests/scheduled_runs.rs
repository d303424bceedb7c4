//! The stack's own publish-outbox (`cargo xtask up`: cargo lambda watch, run on the bridge's
//! schedule) reports its metrics as EMF on every run, with nothing pending too: the documents
//! in the functions' log.

use lambda_support::metrics::emf::Document;
use std::time::{Duration, Instant, SystemTime};

#[test]
fn every_scheduled_run_writes_its_counts_and_the_outbox_age() {
    testkit::stack();
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // The schedule runs it every few seconds locally.
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        let log = std::fs::read_to_string(testkit::watch_log()).unwrap_or_default();
        let run = Document::all_in(&log)
            .into_iter()
            .find(|d| d.string("FunctionName") == Some("publish-outbox") && d.timestamp >= since);
        if let Some(run) = run {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "no run's EMF in {}",
            testkit::watch_log().display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(run.namespace, "UserSignup");
    assert_eq!(run.dimension_set(), ["FunctionName"]);
    assert!(run.string("RequestId").is_some_and(|id| !id.is_empty()), "{run:?}");
    for (metric, unit) in [
        ("EventsPublished", "Count"),
        ("EventsSetAside", "Count"),
        ("OldestPendingEventAge", "Seconds"),
    ] {
        let value = run.value(metric).unwrap_or_else(|| panic!("{metric} in {run:?}"));
        assert!(value >= 0.0, "{metric}: {value}");
        assert_eq!(run.unit(metric), Some(unit), "{metric}");
    }
}
