//! Faults on a stack of the test's own (isolated from the developer's): LocalStack dies during
//! a sign-up and comes back; the bridge, then cargo lambda watch with the functions, die in the
//! middle of a backlog; SES fails until the messages sit in the DLQ, then the DLQ is redriven.
//! Afterwards every user has exactly one verification email: nothing lost, nothing doubled.

use local_stack::{StackEnv, sdk_config, ses};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xtask::layout::Layout;
use xtask::local::process::{self, ServiceRecord};
use xtask::local::services;
use xtask::local::template::Template;

mod support;
use support::{StackGuard, state_dir, up, up_with, xtask};

struct Stack {
    state: PathBuf,
    env: StackEnv,
    sqs: aws_sdk_sqs::Client,
    outbox: ses::Outbox,
    /// This test run, in the addresses and event ids it makes.
    run: u32,
}

impl Stack {
    /// How many emails SES accepted for each address (none while LocalStack is down).
    async fn emails_to(&self, addresses: &[String]) -> Vec<usize> {
        let outbox = self.outbox.emails().await.unwrap_or_default();
        addresses
            .iter()
            .map(|a| outbox.iter().filter(|m| ses::recipients(m).any(|to| to == a)).count())
            .collect()
    }

    /// Waits (up to `timeout`) for every address to have an email, then a little longer, and
    /// returns how many each has.
    async fn settle(&self, addresses: &[String], timeout: Duration) -> Vec<usize> {
        let deadline = Instant::now() + timeout;
        while self.emails_to(addresses).await.contains(&0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.emails_to(addresses).await
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
    let env = StackEnv::read(&state.join("stack.env")).unwrap();
    let stack = Stack {
        sqs: aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints().unwrap()).await),
        outbox: ses::Outbox::at(&env.var("AWS_ENDPOINT_URL").unwrap()),
        env,
        state,
        run: std::process::id(),
    };
    localstack_dies_during_a_sign_up(&stack).await;
    // The bridge, then cargo lambda watch (and the functions it runs), die while a backlog
    // drains; restarted, they lose and double nothing.
    a_consumer_dies_mid_backlog(&stack, services::BRIDGE).await;
    a_consumer_dies_mid_backlog(&stack, services::WATCH).await;
    ses_fails_until_the_dlq_then_the_dlq_is_redriven(&stack).await;
}

/// Phase 1: LocalStack (SNS, SQS, SES) dies; a sign-up still succeeds: the event waits in the
/// outbox.
async fn localstack_dies_during_a_sign_up(stack: &Stack) {
    stack.kill(services::LOCALSTACK);
    let email = format!("outage.{}@example.com", stack.run);
    let body = json!({"name": "Outage", "email": email, "password": "correct horse"});
    let response = local_stack::http_client()
        .post(stack.env.var("CREATE_USER_URL").unwrap())
        .timeout(Duration::from_secs(60))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 202, "{}", response.text().await.unwrap());
    // LocalStack comes back (empty: it keeps no state) and is provisioned again at the same
    // coordinates; publish-outbox's schedule publishes the pending event.
    up(&stack.state);
    assert_eq!(
        stack
            .settle(std::slice::from_ref(&email), Duration::from_secs(120))
            .await,
        [1],
        "exactly one email after the outage"
    );
}

/// Phases 2 and 3: `service` dies while a backlog drains, and is started again.
async fn a_consumer_dies_mid_backlog(stack: &Stack, service: &str) {
    let addresses: Vec<String> = (0..60)
        .map(|i| format!("{service}.{}.{i}@example.com", stack.run))
        .collect();
    stack.enqueue(&addresses).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.emails_to(&addresses).await.iter().all(|&c| c == 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.kill(service);
    let sent_before = stack.emails_to(&addresses).await.iter().filter(|&&c| c > 0).count();
    up(&stack.state);
    // Messages received before the kill come back when their visibility timeout ends.
    let counts = stack.settle(&addresses, Duration::from_secs(150)).await;
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

/// Phase 4: SES fails (its endpoint points at a closed port) until every message is in the
/// DLQ; SES back, `cargo xtask redrive` brings them back and each is emailed exactly once.
async fn ses_fails_until_the_dlq_then_the_dlq_is_redriven(stack: &Stack) {
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
    let addresses: Vec<String> = (0..5)
        .map(|i| format!("ses-down.{}.{i}@example.com", stack.run))
        .collect();
    stack.enqueue(&addresses).await;
    stack.wait_for_the_dlq(addresses.len()).await;
    assert!(
        stack.emails_to(&addresses).await.iter().all(|&c| c == 0),
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
        stack.settle(&addresses, Duration::from_secs(60)).await,
        vec![1; addresses.len()],
        "one email each after the redrive"
    );
    assert_eq!(dlq_depth(&stack.sqs, &stack.env.var("EMAIL_DLQ_URL").unwrap()).await, 0);
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
    /// Waits until `count` messages are in the DLQ: maxReceiveCount receives, each failing and
    /// then waiting out the claim lease before the next (the bridge retries no sooner), and the
    /// receive after the last moves the message: 5 spells of ~35 s (the 31 s retry, the
    /// batching window, the failing SES call), about 3 minutes here. Allowed: each spell with
    /// 15 s to spare, and a minute on top.
    async fn wait_for_the_dlq(&self, count: usize) {
        let dlq = self.env.var("EMAIL_DLQ_URL").unwrap();
        let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
        let (_, lease) = xtask::bridge::send_email_limits(&template).unwrap();
        let receives: u32 = template
            .parameter_default("EmailMaxReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap();
        let spell = xtask::bridge::event_source::retry_after(lease) + Duration::from_secs(15);
        let started = Instant::now();
        let deadline = started + spell * receives + Duration::from_secs(60);
        while dlq_depth(&self.sqs, &dlq).await < count {
            assert!(
                Instant::now() < deadline,
                "the failing messages never reached the DLQ ({} of {count} after {:?})",
                dlq_depth(&self.sqs, &dlq).await,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("SES down: {count} messages in the DLQ after {:?}", started.elapsed());
    }

    /// Queues one user.created event per address, straight into the email queue.
    async fn enqueue(&self, addresses: &[String]) {
        let queue = self.env.var("EMAIL_QUEUE_URL").unwrap();
        for chunk in addresses.chunks(10) {
            let mut batch = self.sqs.send_message_batch().queue_url(&queue);
            for (i, address) in chunk.iter().enumerate() {
                let event = user_events::testing::user_created("Backlog", address);
                batch = batch.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(event.to_json())
                        .build()
                        .unwrap(),
                );
            }
            batch.send().await.unwrap();
        }
    }
}
