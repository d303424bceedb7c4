//! No stored user without its event, on the real local stack. In a test binary of its own: its
//! flushes publish every pending event, which must not race the sign-ups of other tests.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use std::time::{Duration, Instant};
use support::{Harness, Overrides, harness, harness_publishing_to, harness_with, unique_email};
use testkit::HangingListener;
use user_store::adapters::dynamodb::{outbox_key, user_key};
use user_store::outbox::{FlushLimits, FlushReport, Outbox, StoredEvent, flush};

fn limits() -> FlushLimits {
    let lease = Duration::from_secs(60);
    FlushLimits::until(Instant::now() + lease, Duration::from_secs(10), lease)
}

/// An invocation's context with Lambda's trace header `trace`.
fn traced(trace: &user_events::trace::TraceHeader) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.xray_trace_id = Some(trace.as_str().to_owned());
    context
}

/// What publish-outbox does on its schedule, through `h`'s real store and publisher.
async fn flush_now(h: &Harness) -> FlushReport {
    flush(
        &h.signup.store,
        &h.signup.publisher,
        time::OffsetDateTime::now_utc(),
        limits(),
    )
    .await
    .unwrap()
}

/// The pending event of the user with `email`, read through the adapter's own paging.
async fn pending_for(h: &Harness, email: &str) -> Vec<StoredEvent> {
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .signup
            .store
            .pending(time::OffsetDateTime::now_utc(), 100, after)
            .await
            .unwrap();
        for item in page.items {
            if let Ok(event) = item.event
                && serde_json::from_str::<serde_json::Value>(&event.json).unwrap()["user"]["email"] == email
            {
                found.push(event);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return found,
        }
    }
}

#[tokio::test]
async fn with_sns_failing_the_user_is_created_and_its_event_is_published_later_exactly_once() {
    let broken = harness_publishing_to("arn:aws:sns:us-east-1:000000000000:no-such-topic").await;
    let email = unique_email();
    let trace = user_events::testing::trace_header();
    // The user exists and its event is durable: 202.
    let id = broken.sign_up_in("Out Box", &email, traced(&trace)).await;
    let stored = broken.item(&user_key(&id)).await;
    assert!(stored.is_some(), "user stored");
    let pending = pending_for(&broken, &email).await;
    assert_eq!(pending.len(), 1, "one pending event for the user");
    let event_id = pending[0].event_id;

    // SNS is back: a flush (what publish-outbox runs on a schedule) publishes it once.
    let h = harness().await;
    let report = flush_now(&h).await;
    assert!(report.published >= 1 && report.publish_error.is_none(), "{report:?}");
    let events = h.events_for(&email, Duration::from_secs(4)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].body().unwrap(),
        pending[0].json,
        "the stored JSON, byte for byte"
    );
    assert_eq!(
        user_events::decode_sqs_body(events[0].body().unwrap())
            .unwrap()
            .event_id(),
        event_id
    );
    // Published under the sign-up's trace: SNS handed it to SQS as the AWSTraceHeader.
    let attribute = events[0]
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader));
    assert_eq!(attribute.map(String::as_str), Some(trace.as_str()));
    assert!(
        h.item(&outbox_key(&event_id)).await.is_none(),
        "published events leave the outbox"
    );
}

/// SNS accepts the connection and never answers. The sign-up must not wait for it: 202 after
/// the publish budget, the event pending; and then the verification email arrives all the same,
/// through the stack's own publish-outbox (run by the bridge's schedule) and send-email, and
/// send-email's line for it names the sign-up's trace, not publish-outbox's.
#[tokio::test]
async fn with_sns_hanging_the_sign_up_answers_202_and_the_email_still_arrives() {
    let hang = HangingListener::start();
    let h = harness_with(Overrides {
        sns: Some(hang.url.clone()),
        ..Default::default()
    })
    .await;
    let email = unique_email();
    let trace = user_events::testing::trace_header();
    let id = h.sign_up_in("Hung", &email, traced(&trace)).await;
    assert_eq!(pending_for(&h, &email).await.len(), 1, "the event waits in the outbox");

    // publish-outbox leaves events younger than 30 s to create-user; allow for that, a few
    // schedule ticks and a batch.
    let vars = testkit::stack();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut emails = Vec::new();
    while emails.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        emails = testkit::emails_to(&vars, &email);
    }
    assert_eq!(emails.len(), 1, "one verification email, via the outbox");
    let user = format!("user_id={id}");
    let wait = move || testkit::watch_log_line(&["email sent", &user], Duration::from_secs(20));
    let emailed = tokio::task::spawn_blocking(wait).await.unwrap();
    assert_eq!(
        testkit::field_of(&emailed, "upstream_trace_id").as_deref(),
        Some(trace.trace_id()),
        "{emailed}"
    );
}

#[tokio::test]
async fn an_unreadable_outbox_item_is_set_aside_and_the_others_are_published() {
    let broken = harness_publishing_to("arn:aws:sns:us-east-1:000000000000:no-such-topic").await;
    let email = unique_email();
    broken.sign_up("Good One", &email).await;
    // A poison item, as a bug or a hand edit might leave one: pending, old, not JSON.
    let poison = format!("OUTBOX#poison-{}", uuid::Uuid::new_v4());
    broken
        .ddb
        .put_item()
        .table_name(&broken.table)
        .item("pk", AttributeValue::S(poison.clone()))
        .item("outbox_state", AttributeValue::S("pending".into()))
        .item("outbox_at", AttributeValue::N("1".into()))
        .item("event", AttributeValue::S("{not json".into()))
        .send()
        .await
        .unwrap();

    let h = harness().await;
    let report = flush_now(&h).await;
    // Other tests' flushes run at the same time and may be the ones that handle these items.
    assert!(report.publish_error.is_none(), "{report:?}");
    assert_eq!(
        h.events_for(&email, Duration::from_secs(4)).await.len(),
        1,
        "the good one is published"
    );
    let aside = h.item(&poison).await.expect("the poison item is kept for a human");
    assert_eq!(aside["outbox_state"].as_s().unwrap(), "set_aside");
    assert!(aside.contains_key("set_aside_reason"));
}

#[tokio::test]
async fn two_flushes_at_once_publish_each_event_once() {
    // Subscribed first: the other tests' flushes may publish these events at any moment.
    let (a, b) = (harness().await, harness().await);
    let broken = harness_publishing_to("arn:aws:sns:us-east-1:000000000000:no-such-topic").await;
    let mut emails = Vec::new();
    for _ in 0..12 {
        let email = unique_email();
        broken.sign_up("Twice", &email).await;
        emails.push(email);
    }
    let now = time::OffsetDateTime::now_utc();
    let (ra, rb) = tokio::join!(
        flush(&a.signup.store, &a.signup.publisher, now, limits()),
        flush(&b.signup.store, &b.signup.publisher, now, limits())
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.publish_error.is_none() && rb.publish_error.is_none(),
        "{ra:?} {rb:?}"
    );
    let received = a.all_events(Duration::from_secs(4)).await;
    for email in &emails {
        let copies = received
            .iter()
            .filter(|m| m.body().unwrap().contains(email.as_str()))
            .count();
        assert_eq!(copies, 1, "{email}: published once");
    }
}
