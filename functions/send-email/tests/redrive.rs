//! No event without its email: an event that ended in the DLQ (say, SES was down for all its
//! deliveries) is emailed exactly once after `cargo xtask redrive`, the documented way back.
//! In a test binary of its own, so that no other test's poison message is moved meanwhile.

use std::process::Command;
use std::time::{Duration, Instant};
use user_events::testing::user_created;
use uuid::Uuid;

fn redrive() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(env!("CARGO"))
        .args(["xtask", "redrive"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success(), "cargo xtask redrive failed");
}

#[tokio::test]
async fn a_redriven_event_is_emailed_exactly_once() {
    let stack = testkit::stack();
    let sqs = aws_sdk_sqs::Client::new(&testkit::sdk_config(&stack).await);
    let email = format!("redrive.{}@example.io", Uuid::new_v4().simple());
    let body = user_created("Red Rive", &email).to_json();
    sqs.send_message()
        .queue_url(&stack["EMAIL_DLQ_URL"])
        .message_body(&body)
        .send()
        .await
        .unwrap();

    redrive();
    let deadline = Instant::now() + Duration::from_secs(60);
    while testkit::emails_to(&stack, &email).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second redrive (an empty DLQ, or a duplicate) must not send it again.
    redrive();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(testkit::emails_to(&stack, &email).len(), 1);
}
