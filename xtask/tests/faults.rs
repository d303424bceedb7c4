//! Faults on a stack of the test's own (isolated from the developer's): LocalStack dies during
//! a sign-up and comes back; the bridge dies in the middle of a backlog. Afterwards every user
//! has exactly one welcome email: nothing lost, nothing doubled.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xtask::env_file::StackEnv;
use xtask::layout::Layout;
use xtask::probe;
use xtask::process::{self, ServiceRecord};
use xtask::provision::sdk_config;
use xtask::services;

mod support;
use support::{StackGuard, state_dir, up};

struct Stack {
    state: PathBuf,
    env: StackEnv,
}

impl Stack {
    fn port(&self, key: &str) -> u16 {
        self.env.port(key).unwrap()
    }

    fn emails_to(&self, address: &str) -> usize {
        let Ok((_, outbox)) = probe::http(
            self.port("AWS_ENDPOINT_URL"),
            "GET",
            "/_aws/ses",
            None,
            Duration::from_secs(5),
        ) else {
            return 0;
        };
        let outbox: Value = serde_json::from_str(&outbox).unwrap_or_default();
        outbox["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Destination"]["ToAddresses"][0] == address)
            .count()
    }

    /// Waits (up to `timeout`) for every address to have an email, then a little longer, and
    /// returns how many each has.
    fn settle(&self, addresses: &[String], timeout: Duration) -> Vec<usize> {
        let deadline = Instant::now() + timeout;
        while addresses.iter().any(|a| self.emails_to(a) == 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_secs(3));
        addresses.iter().map(|a| self.emails_to(a)).collect()
    }

    fn kill(&self, service: &str) {
        let record = ServiceRecord::load(&self.state.join("run"), service).expect("service record");
        process::stop(&record, Duration::from_secs(10)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_lost_nothing_doubled_when_localstack_or_the_bridge_dies() {
    let state = state_dir("faults");
    let _guard = StackGuard(state.clone());
    up(&state);
    let stack = Stack {
        env: StackEnv::load(&Layout::new(Layout::workspace_root(), Some(state.clone()))).unwrap(),
        state,
    };
    let run = std::process::id();

    // 1. LocalStack (SNS, SQS, SES) dies; a sign-up still succeeds: the event waits in the outbox.
    stack.kill(services::LOCALSTACK);
    let email = format!("outage.{run}@example.com");
    let body = json!({"name": "Outage", "email": email, "password": "correct horse"}).to_string();
    let (status, reply) = probe::http(
        stack.port("FUNCTIONS_URL"),
        "POST",
        "/lambda-url/create-user/users",
        Some(&body),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(status, 201, "{reply}");
    // LocalStack comes back (empty: it keeps no state) and is provisioned again at the same
    // coordinates; publish-outbox's schedule publishes the pending event.
    up(&stack.state);
    assert_eq!(
        stack.settle(std::slice::from_ref(&email), Duration::from_secs(120)),
        [1],
        "exactly one email after the outage"
    );

    // 2. The bridge dies while a backlog drains; restarted, it loses and doubles nothing.
    let addresses: Vec<String> = (0..60).map(|i| format!("backlog.{run}.{i}@example.com")).collect();
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&stack.env.endpoints().unwrap()).await);
    for (chunk_no, chunk) in addresses.chunks(10).enumerate() {
        let mut batch = sqs
            .send_message_batch()
            .queue_url(stack.env.var("EMAIL_QUEUE_URL").unwrap());
        for (i, address) in chunk.iter().enumerate() {
            let n = chunk_no * 10 + i;
            let event = json!({"event_id": format!("00000000-0000-4000-8000-{:012}", u64::from(run) * 1000 + n as u64), "event_type": "user.created",
                               "version": 1, "occurred_at": "2026-11-27T10:00:00Z",
                               "user": {"id": "00000000-0000-4000-8000-000000000002", "name": "Backlog", "email": address,
                                        "created_at": "2026-11-27T10:00:00Z"}});
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(event.to_string())
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while addresses.iter().all(|a| stack.emails_to(a) == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stack.kill(services::BRIDGE);
    let sent_before_restart = addresses.iter().filter(|a| stack.emails_to(a) > 0).count();
    up(&stack.state);
    // Messages the dead bridge had received come back when their visibility timeout ends.
    let counts = stack.settle(&addresses, Duration::from_secs(120));
    assert!(
        counts.iter().all(|&c| c == 1),
        "one email each (sent before the kill: {sent_before_restart}): {counts:?}"
    );
}
