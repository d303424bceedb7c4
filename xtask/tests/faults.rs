//! Faults on a stack of the test's own (isolated from the developer's): LocalStack dies during
//! a sign-up and comes back; the bridge, then cargo lambda watch with the functions, die in the
//! middle of a backlog; SES fails until the messages sit in the DLQ, then the DLQ is redriven.
//! Afterwards every user has exactly one welcome email: nothing lost, nothing doubled.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xtask::env_file::StackEnv;
use xtask::layout::Layout;
use xtask::probe;
use xtask::process::{self, ServiceRecord};
use xtask::provision::sdk_config;
use xtask::services;
use xtask::template::Template;

mod support;
use support::{StackGuard, state_dir, up, up_with, xtask};

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
async fn nothing_lost_when_localstack_the_bridge_the_functions_or_ses_fail() {
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

    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&stack.env.endpoints().unwrap()).await);

    // 2. and 3. The bridge, then cargo lambda watch (and the functions it runs), die while a
    // backlog drains; restarted, they lose and double nothing.
    for (phase, service) in [(2u64, services::BRIDGE), (3, services::WATCH)] {
        let addresses: Vec<String> = (0..60).map(|i| format!("{service}.{run}.{i}@example.com")).collect();
        stack.enqueue(&sqs, &addresses, phase).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while addresses.iter().all(|a| stack.emails_to(a) == 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stack.kill(service);
        let sent_before = addresses.iter().filter(|a| stack.emails_to(a) > 0).count();
        up(&stack.state);
        // Messages received before the kill come back when their visibility timeout ends.
        let counts = stack.settle(&addresses, Duration::from_secs(150));
        assert!(
            counts.iter().all(|&c| c >= 1),
            "{service} killed ({sent_before} sent before), lost: {counts:?}"
        );
        if service == services::BRIDGE {
            // The functions finished what they had; only their replies were lost.
            assert!(counts.iter().all(|&c| c == 1), "bridge killed, doubled: {counts:?}");
        } else {
            // A function killed after SES accepted an email but before its claim was marked
            // sent resends it once its lease expires: at-least-once, the one window SES leaves
            // open (see deliver.rs). Never more than once more.
            assert!(counts.iter().all(|&c| c <= 2), "watch killed: {counts:?}");
            let doubled = counts.iter().filter(|&&c| c > 1).count();
            eprintln!("watch killed mid-batch: {doubled} of {} in flight resent", counts.len());
        }
    }

    // 4. SES fails (its endpoint points at a closed port) until every message is in the DLQ;
    // SES back, `cargo xtask redrive` brings them back and each is emailed exactly once.
    stack.kill(services::WATCH);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    up_with(
        &stack.state,
        &[
            "--function-env",
            &format!("AWS_ENDPOINT_URL_SES=http://127.0.0.1:{closed}"),
        ],
    );
    let addresses: Vec<String> = (0..5).map(|i| format!("ses-down.{run}.{i}@example.com")).collect();
    stack.enqueue(&sqs, &addresses, 4).await;
    let dlq = stack.env.var("EMAIL_DLQ_URL").unwrap();
    // maxReceiveCount receives, each failing and then waiting out the claim lease before the
    // next (the bridge retries no sooner), and the receive after the last moves the message:
    // 5 spells of ~35 s (the 31 s retry, the batching window, the failing SES call), about
    // 3 minutes here. Allowed: each spell with 15 s to spare, and a minute on top.
    let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
    let (_, lease) = xtask::commands::bridge::send_email_limits(&template).unwrap();
    let receives: u32 = template
        .parameter_default("EmailMaxReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap();
    let spell = xtask::bridge::retry_after(lease) + Duration::from_secs(15);
    let started = Instant::now();
    let deadline = started + spell * receives + Duration::from_secs(60);
    while dlq_depth(&sqs, &dlq).await < addresses.len() {
        assert!(
            Instant::now() < deadline,
            "the failing messages never reached the DLQ ({} of {} after {:?})",
            dlq_depth(&sqs, &dlq).await,
            addresses.len(),
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "SES down: {} messages in the DLQ after {:?}",
        addresses.len(),
        started.elapsed()
    );
    assert!(
        addresses.iter().all(|a| stack.emails_to(a) == 0),
        "nothing sent while SES fails"
    );
    stack.kill(services::WATCH);
    up(&stack.state);
    let out = xtask(&stack.state, &["redrive"]);
    assert!(
        out.status.success(),
        "redrive failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stack.settle(&addresses, Duration::from_secs(60)),
        vec![1; addresses.len()],
        "one email each after the redrive"
    );
    assert_eq!(dlq_depth(&sqs, &dlq).await, 0);
}

async fn dlq_depth(sqs: &aws_sdk_sqs::Client, dlq: &str) -> usize {
    let name = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages;
    let out = sqs
        .get_queue_attributes()
        .queue_url(dlq)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap();
    out.attributes
        .and_then(|a| a.get(&name).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

impl Stack {
    /// Queues one user.created event per address, straight into the email queue.
    async fn enqueue(&self, sqs: &aws_sdk_sqs::Client, addresses: &[String], phase: u64) {
        let queue = self.env.var("EMAIL_QUEUE_URL").unwrap();
        let run = u64::from(std::process::id());
        for (chunk_no, chunk) in addresses.chunks(10).enumerate() {
            let mut batch = sqs.send_message_batch().queue_url(&queue);
            for (i, address) in chunk.iter().enumerate() {
                let n = (run * 10 + phase) * 1000 + (chunk_no * 10 + i) as u64;
                let event = json!({"event_id": format!("00000000-0000-4000-8000-{:012}", n % 1_000_000_000_000),
                                   "event_type": "user.created", "version": 1, "occurred_at": "2026-11-27T10:00:00Z",
                                   "user": {"id": "00000000-0000-4000-8000-000000000002", "name": "Backlog",
                                            "email": address, "created_at": "2026-11-27T10:00:00Z"}});
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
    }
}
