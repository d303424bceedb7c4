//! No stored user without its event, on the real local stack. In a test binary of its own: its
//! flush publishes every pending event, which must not race the sign-ups of other tests.

mod support;

use create_user::domain::outbox::{Outbox, flush};
use serde_json::json;
use std::time::Duration;
use support::{harness, harness_publishing_to, unique_email};

#[tokio::test]
async fn with_sns_failing_the_user_is_created_and_its_event_is_published_later_exactly_once() {
    let broken = harness_publishing_to("arn:aws:sns:us-east-1:000000000000:no-such-topic").await;
    let email = unique_email();
    let (status, body) = broken
        .post(json!({"name": "Out Box", "email": email, "password": "correct horse"}))
        .await;
    assert_eq!(status, 201, "the user exists and its event is durable: {body}");
    let event_id = {
        let stored = broken
            .item(&format!("USER#{}", body["user"]["id"].as_str().unwrap()))
            .await;
        assert!(stored.is_some(), "user stored");
        let pending = broken
            .signup
            .store
            .pending(time::OffsetDateTime::now_utc(), 1000)
            .await
            .unwrap();
        let mine: Vec<_> = pending.into_iter().filter(|e| e.user.email == email).collect();
        assert_eq!(mine.len(), 1, "one pending event for the user");
        mine[0].event_id
    };

    // SNS is back: a flush (what publish-outbox runs on a schedule) publishes it once.
    let h = harness().await;
    let report = flush(&h.signup.store, &h.signup.publisher, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(report.published >= 1 && report.publish_error.is_none(), "{report:?}");
    let events = h.events_for(&email, Duration::from_secs(4)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        user_events::decode_sqs_body(events[0].body().unwrap())
            .unwrap()
            .event_id,
        event_id
    );
    assert!(
        h.item(&format!("OUTBOX#{event_id}")).await.is_none(),
        "published events leave the outbox"
    );
}
