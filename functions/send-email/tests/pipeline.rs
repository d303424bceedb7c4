//! The whole pipeline on the local stack, as `cargo xtask up` runs it: create-user behind
//! cargo lambda's function URL, SNS, the SQS queue, the bridge (the local event source
//! mapping), send-email, LocalStack's SES, and the DLQ.

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use user_events::UserCreated;
use uuid::Uuid;

fn unique_email(tag: &str) -> String {
    format!("{tag}.{}@example.io", Uuid::new_v4().simple())
}

/// Waits until `address` has `count` emails, then a little longer to catch any extra one.
fn wait_for_emails(stack: &HashMap<String, String>, address: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while testkit::emails_to(stack, address).len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    testkit::emails_to(stack, address)
}

fn event_for(email: &str) -> UserCreated {
    user_events::testing::user_created("Eve", email)
}

async fn publish(sns: &aws_sdk_sns::Client, topic: &str, body: &str) {
    let attr = |t: &str, v: &str| {
        MessageAttributeValue::builder()
            .data_type(t)
            .string_value(v)
            .build()
            .unwrap()
    };
    sns.publish()
        .topic_arn(topic)
        .message(body)
        .message_attributes("event_type", attr("String", "user.created"))
        .message_attributes("version", attr("Number", "1"))
        .send()
        .await
        .unwrap();
}

#[test]
fn a_sign_up_ends_in_exactly_one_verification_email() {
    let stack = testkit::stack();
    let email = unique_email("pipeline");
    let body = json!({"name": "Pipe Line", "email": email, "password": "correct horse"}).to_string();
    let status = testkit::blocking(async {
        // Loopback: never through a proxy the environment names.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = http
            .post(&stack["CREATE_USER_URL"])
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("cargo lambda watch answers");
        response.status().as_u16()
    });
    assert_eq!(status, 202);
    let emails = wait_for_emails(&stack, &email, 1);
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["Subject"], send_email::domain::emails::VERIFICATION_SUBJECT);
}

#[tokio::test]
async fn the_same_event_published_twice_is_one_email() {
    let stack = testkit::stack();
    let sns = aws_sdk_sns::Client::new(&testkit::sdk_config(&stack).await);
    let email = unique_email("twice");
    let event = event_for(&email).to_json();
    publish(&sns, &stack["USER_EVENTS_TOPIC_ARN"], &event).await;
    publish(&sns, &stack["USER_EVENTS_TOPIC_ARN"], &event).await;
    let emails = tokio::task::spawn_blocking(move || wait_for_emails(&stack, &email, 1))
        .await
        .unwrap();
    assert_eq!(emails.len(), 1, "{emails:?}");
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_intact_and_its_batch_mates_are_emailed() {
    let stack = testkit::stack();
    let sqs = aws_sdk_sqs::Client::new(&testkit::sdk_config(&stack).await);
    let queue = &stack["EMAIL_QUEUE_URL"];
    let goods: Vec<String> = (0..3).map(|i| unique_email(&format!("good{i}"))).collect();
    let poison = format!(
        "{{\"event_type\":\"user.created\",\"version\":1,\"poison\":\"{}\"}}",
        Uuid::new_v4()
    );
    let bodies = goods.iter().map(|e| event_for(e).to_json()).chain([poison.clone()]);
    send_batch(&sqs, queue, bodies).await;

    for email in &goods {
        let (stack, email) = (stack.clone(), email.clone());
        let emails = tokio::task::spawn_blocking(move || wait_for_emails(&stack, &email, 1))
            .await
            .unwrap();
        assert_eq!(emails.len(), 1);
    }
    // maxReceiveCount (5) deliveries, then SQS moves it. The bridge retries a failed message
    // no sooner than send-email's claim lease (30 s, plus a second), as Lambda's visibility
    // timeout would: four retries take about two minutes; the deadline leaves room for a
    // loaded machine.
    let deadline = Instant::now() + Duration::from_secs(5 * 31 + 120);
    take_from_dlq(&sqs, &stack["EMAIL_DLQ_URL"], &poison, deadline).await;
}

/// Sends `bodies` to `queue` in one call, so that they can reach send-email in one batch.
async fn send_batch(sqs: &aws_sdk_sqs::Client, queue: &str, bodies: impl Iterator<Item = String>) {
    let mut batch = sqs.send_message_batch().queue_url(queue);
    for (i, body) in bodies.enumerate() {
        batch = batch.entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .unwrap(),
        );
    }
    assert!(batch.send().await.unwrap().failed.is_empty());
}

/// Waits until the message with `body` is in the DLQ, and deletes it from there.
async fn take_from_dlq(sqs: &aws_sdk_sqs::Client, dlq: &str, body: &str, deadline: Instant) {
    loop {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            // A long poll shorter than testkit's attempt deadline (1.5 s, as in the functions).
            .wait_time_seconds(1)
            .visibility_timeout(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().iter().find(|m| m.body() == Some(body)) {
            sqs.delete_message()
                .queue_url(dlq)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "the poison message never reached the DLQ");
    }
}

/// Invokes send-email through cargo lambda's invoke endpoint, as the bridge does, with one
/// SQS message per `(message id, body)`; answers the ids of the failed messages.
async fn invoke_send_email(stack: &HashMap<String, String>, messages: &[(&str, &str)]) -> Vec<String> {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| json!({"messageId": id, "body": body, "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}}))
        .collect();
    let url = format!("{}/2015-03-31/functions/send-email/invocations", stack["FUNCTIONS_URL"]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Value = http
        .post(url)
        .json(&json!({"Records": records}))
        .send()
        .await
        .expect("cargo lambda watch answers")
        .json()
        .await
        .unwrap();
    reply["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("a batch response: {reply}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_batch_reports_its_counts_as_emf_in_the_functions_log() {
    let stack = testkit::stack();
    let tag = Uuid::new_v4().simple().to_string();
    let first = event_for(&unique_email("metrics-a")).to_json();
    let second = event_for(&unique_email("metrics-b")).to_json();
    let id = |n: &str| format!("metrics-{n}-{tag}");
    // The first event once, then again (a duplicate) with a new one and an undecodable body.
    assert!(invoke_send_email(&stack, &[(&id("a"), &first)]).await.is_empty());
    let failed = invoke_send_email(
        &stack,
        &[
            (&id("a-again"), &first),
            (&id("b"), &second),
            (&id("garbage"), "Message Body"),
        ],
    )
    .await;
    assert_eq!(failed, [id("garbage")]);

    let b = id("b");
    let (request_id, docs) =
        tokio::task::spawn_blocking(move || testkit::emf_of_invocation_with(&format!("message_id={b}")))
            .await
            .unwrap();
    let sum = |metric: &str, cause: Option<&str>| -> f64 {
        docs.iter()
            .filter(|d| d.string("Cause") == cause)
            .filter_map(|d| d.value(metric))
            .sum()
    };
    for doc in &docs {
        assert_eq!(doc.namespace, "UserSignup", "{request_id}");
        assert_eq!(doc.string("FunctionName"), Some("send-email"));
        let with_cause = doc.string("Cause").is_some();
        let want: &[&str] = if with_cause {
            &["Cause", "FunctionName"]
        } else {
            &["FunctionName"]
        };
        assert_eq!(doc.dimension_set(), want);
        for (name, unit) in &doc.metrics {
            assert_eq!(unit.as_deref(), Some("Count"), "{name}");
        }
    }
    assert_eq!(sum("EmailsSent", None), 1.0, "{docs:?}");
    assert_eq!(sum("DuplicatesSkipped", None), 1.0, "{docs:?}");
    assert_eq!(
        sum("EmailFailures", None),
        1.0,
        "the alarm's metric, FunctionName only: {docs:?}"
    );
    assert_eq!(sum("EmailFailuresByCause", Some("decode")), 1.0, "{docs:?}");
    let by_cause: f64 = docs.iter().filter_map(|d| d.value("EmailFailuresByCause")).sum();
    assert_eq!(by_cause, 1.0, "no other cause: {docs:?}");
}

/// The runtime's own lines carry the invocation's ids too: an event that is no SQS event is
/// refused by lambda_runtime before the handler runs, and its error line names the request.
#[tokio::test]
async fn the_runtimes_own_error_line_carries_the_request_id() {
    let stack = testkit::stack();
    let offset = testkit::watch_log_len();
    let url = format!("{}/2015-03-31/functions/send-email/invocations", stack["FUNCTIONS_URL"]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply = http
        .post(url)
        .json(&json!({"Records": "not a list of messages"}))
        .send()
        .await
        .expect("cargo lambda watch answers");
    assert!(!reply.status().is_success() || reply.text().await.unwrap().contains("error"));
    let what = "deserialization error line";
    let line = tokio::task::spawn_blocking(move || {
        testkit::wait_in_watch_log(offset, Duration::from_secs(20), what, |log| {
            log.lines()
                .find(|l| l.contains("deserialization into LambdaEvent"))
                .map(str::to_owned)
        })
    })
    .await
    .unwrap();
    assert!(testkit::request_id_of(&line).is_some(), "no request id: {line}");
    assert!(testkit::field_of(&line, "trace_id").is_some(), "no trace id: {line}");
}
