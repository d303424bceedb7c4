//! The batch handler end to end over the in-memory ports: every message alone (bad bodies,
//! panics, records that are no SQS message), deferrals over the send rate, the deadline, and
//! logs that name no address.

use super::*;
use crate::testing::{MemoryRequeue, deliver};
use lambda_runtime::Context;
use lambda_support::testing::context_with_deadline_in;
use std::time::Duration;
use user_events::testing::user_created;
use uuid::Uuid;

fn message(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.event_source = Some("aws:sqs".into());
    m.body = Some(body.into());
    m
}

fn event_for(email: &str) -> String {
    user_created("Ann", email).to_json()
}

async fn run(messages: Vec<SqsMessage>) -> (Vec<String>, usize) {
    run_with(messages, &MemoryRequeue::default()).await
}

async fn run_with(messages: Vec<SqsMessage>, requeue: &MemoryRequeue) -> (Vec<String>, usize) {
    run_in(messages, requeue, Context::default()).await
}

/// The batch of `messages` in the invocation `context`: the ids failed, and how many
/// emails went out.
async fn run_in(messages: Vec<SqsMessage>, requeue: &MemoryRequeue, context: Context) -> (Vec<String>, usize) {
    let deliver = Arc::new(deliver());
    let mut event = SqsEvent::default();
    event.records = messages;
    let response = handle(deliver.clone(), requeue, LambdaEvent::new(event, context))
        .await
        .unwrap();
    let failed = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    (failed, deliver.mailer.sent.lock().unwrap().len())
}

/// A record from elsewhere than SQS (a direct invoke with a crafted event) sends nothing:
/// it is a failed item when it has an id, and left out of the answer when it has none
/// (an empty identifier would fail the whole batch); its batch mates are delivered.
#[tokio::test]
async fn records_that_are_no_sqs_messages_send_nothing_and_fail_alone() {
    let mut forged = message("m-forged", &event_for("victim@x.io"));
    forged.event_source = Some("aws:sns".into());
    let mut no_id = message("", &event_for("victim2@x.io"));
    no_id.message_id = None;
    let mut empty_id = message("", &event_for("victim3@x.io"));
    empty_id.message_id = Some(String::new());
    let good = message("m-good", &event_for("ann@x.io"));
    let (failed, sent) = run(vec![forged, no_id, empty_id, good]).await;
    assert_eq!(failed, ["m-forged"]);
    assert_eq!(sent, 1, "only the SQS message's email");
}

/// Over the send rate (SES throttling, the pacing's longest wait): sent back to the queue
/// as a delayed copy, counting its deferrals, and the original succeeds, so no receive
/// counts towards the DLQ; after MAX_DEFERRALS, or when the copy cannot be sent, failed.
#[tokio::test]
async fn a_message_over_the_send_rate_is_deferred_not_failed_a_bounded_number_of_times() {
    let requeue = MemoryRequeue::default();
    let throttled = message("m-1", &event_for("throttle@x.io"));
    let (failed, sent) = run_with(
        vec![throttled.clone(), message("m-2", &event_for("ann@x.io"))],
        &requeue,
    )
    .await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(sent, 1);
    let copies = requeue.sent.lock().unwrap().clone();
    assert_eq!(copies.len(), 1);
    let (id, body, deferrals, delay) = &copies[0];
    assert_eq!(
        (id.as_str(), body, *deferrals),
        ("m-1", throttled.body.as_ref().unwrap(), 1)
    );
    assert!((30..=60).contains(&delay.as_secs()), "{delay:?}");

    let mut tenth = throttled.clone();
    let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
    attribute.string_value = Some(MAX_DEFERRALS.to_string());
    attribute.data_type = Some("Number".into());
    tenth.message_attributes.insert(DEFERRALS_ATTRIBUTE.into(), attribute);
    let (failed, _) = run_with(vec![tenth], &requeue).await;
    assert_eq!(failed, ["m-1"], "deferred too often: towards the DLQ");

    requeue.down.store(true, std::sync::atomic::Ordering::Relaxed);
    let (failed, _) = run_with(vec![throttled], &requeue).await;
    assert_eq!(failed, ["m-1"], "not sent back: failed, for SQS to retry");
    assert_eq!(requeue.sent.lock().unwrap().len(), 1);
}

/// SQS not answering while a deferred copy is sent back: the message fails at the
/// invocation's deadline, before Lambda's timeout would fail the whole batch.
#[tokio::test(start_paused = true)]
async fn sending_a_copy_back_is_within_the_deadline_too() {
    let requeue = MemoryRequeue::default();
    requeue.hang.store(true, std::sync::atomic::Ordering::Relaxed);
    let messages = vec![message("m-1", &event_for("throttle@x.io"))];
    let (failed, _) = run_in(messages, &requeue, context_with_deadline_in(Duration::from_secs(5))).await;
    assert_eq!(failed, ["m-1"]);
}

/// A message still running when the invocation's deadline nears (SES never answering
/// here) fails alone, answered before Lambda's timeout would fail the whole batch.
#[tokio::test(start_paused = true)]
async fn a_message_still_running_at_the_deadline_fails_alone_before_it() {
    let messages = vec![
        message("m-stuck", &event_for("hang@x.io")),
        message("m-good", &event_for("ann@x.io")),
    ];
    let context = context_with_deadline_in(Duration::from_secs(5));
    let (failed, sent) = run_in(messages, &MemoryRequeue::default(), context).await;
    assert_eq!(failed, ["m-stuck"]);
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn one_bad_message_fails_alone_even_when_it_panics() {
    let v2 = event_for("v2@x.io").replace("\"version\":1", "\"version\":2");
    let (failed, sent) = run(vec![
        message("good-1", &event_for("a@x.io")),
        message("garbage", "Message Body"),
        message("panics", &event_for("panic@x.io")),
        message("ses-fails", &event_for("fail@x.io")),
        message("unknown-version", &v2),
        message("good-2", &event_for("b@x.io")),
    ])
    .await;
    assert_eq!(failed, ["garbage", "panics", "ses-fails", "unknown-version"]);
    assert_eq!(sent, 2);
}

#[tokio::test]
async fn every_bad_body_fails_alone() {
    let good = event_for("good@x.io");
    let with = |path: &str, value: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(&event_for("bad@x.io")).unwrap();
        *v.pointer_mut(path).unwrap() = value;
        v.to_string()
    };
    let envelope =
        |message: serde_json::Value| serde_json::json!({"Type": "Notification", "Message": message}).to_string();
    let bad: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("whitespace", "  \n".into()),
        ("null", "null".into()),
        ("array", "[]".into()),
        ("empty object", "{}".into()),
        ("truncated", event_for("t@x.io")[..40].to_owned()),
        ("not JSON", "Message Body".into()),
        ("deep nesting", format!("{}{}", "[".repeat(500), "]".repeat(500))),
        ("huge garbage", "x".repeat(256 * 1024)),
        ("other event type", with("/event_type", "user.deleted".into())),
        ("version as string", with("/version", "1".into())),
        ("version 2", with("/version", 2.into())),
        ("version null", with("/version", serde_json::Value::Null)),
        ("no user", with("/user", serde_json::Value::Null)),
        ("email a number", with("/user/email", 7.into())),
        ("event id not a uuid", with("/event_id", "not-a-uuid".into())),
        ("occurred_at not RFC 3339", with("/occurred_at", "yesterday".into())),
        (
            "envelope Message not a string",
            envelope(serde_json::json!({"event_type": "user.created"})),
        ),
        ("envelope Message not JSON", envelope("Message Body".into())),
        ("envelope of version 2", envelope(with("/version", 2.into()).into())),
        ("NUL bytes", "\u{0}\u{0}".into()),
    ];
    let mut messages = vec![message("good", &good)];
    messages.extend(bad.iter().map(|(id, body)| message(id, body)));
    let (failed, sent) = run(messages).await;
    let want: Vec<&str> = bad.iter().map(|(id, _)| *id).collect();
    assert_eq!(failed, want, "exactly the bad ones fail");
    assert_eq!(sent, 1, "the good one is sent");
}

#[tokio::test]
async fn the_same_event_twice_in_a_batch_is_one_email() {
    let body = event_for("a@x.io");
    let (failed, sent) = run(vec![message("m1", &body), message("m2", &body)]).await;
    // Concurrent duplicates: one sends, the other either sees it sent or in progress
    // (then SQS retries it and it finds it sent). Never two emails.
    assert_eq!(sent, 1);
    assert!(failed.len() <= 1);
}

#[tokio::test]
async fn no_email_address_is_logged_at_info_or_above() {
    let logs = lambda_support::testing::logs();
    let id = |tag: &str| format!("{tag}-{}", Uuid::new_v4());
    let (sent, dup, fails, panics, garbage) = (id("sent"), id("dup"), id("fails"), id("panics"), id("garbage"));
    let good = event_for("ann.private@x.io");
    let failing = event_for("fail.private@x.io");
    let event_id = |body: &str| user_events::decode_sqs_body(body).unwrap().event_id().to_string();
    let (failed, _) = run(vec![
        message(&sent, &good),
        message(&dup, &good),
        message(&fails, &failing),
        message(&panics, &event_for("panic.private@x.io")),
        message(&garbage, "{\"user\": {\"email\": \"bad.private@x.io\"}}"),
    ])
    .await;
    for id in [&fails, &panics, &garbage] {
        assert!(failed.contains(id), "{id} failed: {failed:?}");
    }
    // The capture sees this batch's lines at INFO and above...
    let has = |needle: &str, what: &str| {
        let lines = logs.lines_with(needle);
        assert!(lines.iter().any(|l| l.contains(what)), "{what:?} in {lines:?}");
    };
    has(&event_id(&good), "email sent");
    has(&event_id(&failing), "SQS will retry");
    has(&panics, "panicked");
    has(&garbage, "undecodable");
    // ...and none of them names an address.
    let leaked = logs.lines_with("private@");
    assert!(leaked.is_empty(), "addresses logged: {leaked:?}");
    assert!(logs.lines_with("PRIVATE@").is_empty());
}

/// The line of each message names its upstream trace (the sign-up's), its event and its
/// user: the line an operator following one sign-up looks for. A malformed header is none.
#[tokio::test]
async fn a_messages_lines_carry_its_upstream_trace_event_and_user() {
    let logs = lambda_support::testing::logs();
    let trace = user_events::testing::trace_header();
    let (traced, forged) = (user_created("Ann", "t@x.io"), user_created("Bob", "f@x.io"));
    let mut with_trace = message(&format!("traced-{}", Uuid::new_v4()), &traced.to_json());
    with_trace
        .attributes
        .insert(trace::SQS_ATTRIBUTE.into(), trace.as_str().into());
    let mut with_forgery = message(&format!("forged-{}", Uuid::new_v4()), &forged.to_json());
    with_forgery
        .attributes
        .insert(trace::SQS_ATTRIBUTE.into(), "Root=1-\u{1b}[31m".into());
    run(vec![with_trace, with_forgery]).await;

    let line = logs.lines_with(&traced.user.id.to_string()).join("\n");
    assert!(
        line.contains("email sent") && line.contains("event_type=\"user.created\""),
        "{line}"
    );
    for field in [
        format!("upstream_trace_id=\"{}\"", trace.trace_id()),
        format!("event_id={}", traced.event_id),
        format!("user_id={}", traced.user.id),
    ] {
        assert!(line.contains(&field), "{field} not in {line}");
    }
    let line = logs.lines_with(&forged.user.id.to_string()).join("\n");
    assert!(
        line.contains("email sent") && !line.contains("upstream_trace_id"),
        "{line}"
    );
}

#[tokio::test]
async fn the_sample_events_deliver() {
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    for file in ["send-email-raw.json", "send-email-sns-envelope.json"] {
        let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(events.join(file)).unwrap()).unwrap();
        assert_eq!(run(event.records).await, (vec![], 1), "{file}");
    }
}

#[tokio::test]
async fn aws_sample_sqs_event_is_a_failure_not_a_panic() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/aws/example-sqs-event.json");
    let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let id = event.records[0].message_id.clone().unwrap();
    let (failed, sent) = run(event.records).await;
    assert_eq!((failed, sent), (vec![id], 0));
}
