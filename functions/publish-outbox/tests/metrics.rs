//! What a run reports as EMF, through the recorder the function installs (a test binary of
//! its own: the recorder is global to the process).

use lambda_runtime::{Context, LambdaEvent};
use lambda_support::metrics::emf::Document;
use publish_outbox::metric;
use serde_json::Value;
use time::OffsetDateTime;
use user_store::outbox::StoredEvent;
use user_store::testing::{MemoryPublisher, MemoryStore};
use user_store::users::UserStore;

async fn run(metrics: lambda_support::metrics::Metrics, store: &MemoryStore, publisher: &MemoryPublisher) -> Document {
    let event = LambdaEvent::new(Value::Null, Context::default());
    publish_outbox::handle(store, publisher, publish_outbox::DEFAULT_MIN_AGE, event)
        .await
        .unwrap();
    let mut out = Vec::new();
    metrics.flush_to(&mut out, "run-1").unwrap();
    let docs = Document::all_in(&String::from_utf8(out).unwrap());
    assert_eq!(docs.len(), 1, "one label set, one document: {docs:?}");
    docs.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_run_reports_its_counts_and_the_oldest_pending_age_even_when_nothing_happens() {
    let metrics = lambda_support::metrics::init(lambda_support::metrics::NAMESPACE, "publish-outbox").unwrap();
    metric::describe();
    let store = MemoryStore::default();
    let up = MemoryPublisher::default();

    // Nothing pending: zeros, and an age of 0.
    let quiet = run(metrics, &store, &up).await;
    assert_eq!(quiet.namespace, "UserSignup");
    assert_eq!(quiet.dimension_set(), ["FunctionName"]);
    assert_eq!(
        quiet.string("FunctionName"),
        Some(lambda_support::metrics::function_name("publish-outbox").as_str())
    );
    assert_eq!(quiet.string("RequestId"), Some("run-1"));
    for name in [metric::EVENTS_PUBLISHED, metric::EVENTS_SET_ASIDE] {
        assert_eq!(
            (quiet.value(name), quiet.unit(name)),
            (Some(0.0), Some("Count")),
            "{name}"
        );
    }
    let age = metric::OLDEST_PENDING_EVENT_AGE;
    assert_eq!((quiet.value(age), quiet.unit(age)), (Some(0.0), Some("Seconds")));

    // Two old events, SNS down: nothing published, and the age of the oldest.
    let now = OffsetDateTime::now_utc();
    for (email, minutes) in [("a@x.io", 10), ("b@x.io", 5)] {
        let event = StoredEvent::from(&user_events::testing::user_created("Ann", email));
        store
            .record(&event, now - time::Duration::minutes(minutes))
            .await
            .unwrap();
    }
    let down = MemoryPublisher {
        fail: true,
        ..Default::default()
    };
    let failing = run(metrics, &store, &down).await;
    assert_eq!(failing.value(metric::EVENTS_PUBLISHED), Some(0.0));
    let age = failing.value(metric::OLDEST_PENDING_EVENT_AGE).unwrap();
    assert!((600.0..660.0).contains(&age), "the oldest is ten minutes old: {age}");

    // SNS back: one published, the unreadable one set aside, nothing left.
    store.outbox.lock().unwrap()[1].event = Err("not JSON".into());
    let drained = run(metrics, &store, &up).await;
    assert_eq!(drained.value(metric::EVENTS_PUBLISHED), Some(1.0));
    assert_eq!(drained.value(metric::EVENTS_SET_ASIDE), Some(1.0));
    assert_eq!(drained.value(metric::OLDEST_PENDING_EVENT_AGE), Some(0.0));
}
