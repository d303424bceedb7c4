//! SES slow, hanging or unreachable, on the real stack, with the function's own SES client
//! (its deadlines, and no retry of a request that may have reached SES): exactly one email
//! whenever SES got the request, and none lost where it did not.
//!
//! A slow SES is a proxy in front of LocalStack that holds each request before passing it on
//! (SES sends, late); a hanging one a listener that never answers (SES never gets it); an
//! unreachable one a closed port.

mod support;

use support::Stack;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use send_email::domain::deliver::{Claim, ClaimStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use user_events::UserCreated;
use user_events::testing::user_created;
use uuid::Uuid;

fn batch_of(messages: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|(id, body)| {
            let mut message = SqsMessage::default();
            message.message_id = Some((*id).into());
            message.event_source = Some("aws:sqs".into());
            message.body = Some((*body).into());
            message
        })
        .collect();
    LambdaEvent::new(event, Context::default())
}

fn new_event(name: &str) -> UserCreated {
    user_created(name, &format!("slow.{}@example.io", Uuid::new_v4().simple()))
}

/// Handles one message of `event`; the ids of the failed ones.
async fn handle(deliver: Arc<support::Deliver>, messages: &[(&str, &str)]) -> Vec<String> {
    let requeue = send_email::testing::MemoryRequeue::default();
    send_email::handler::handle(deliver, &requeue, batch_of(messages))
        .await
        .expect("no function error: the batch is answered")
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

/// SES answering after 0.5, 2 and 5 s (it sends, it is late): every email is sent once, and
/// its message succeeds. Before, the SDK's 1.5 s attempt timeout retried SendEmail, and a 2 s
/// SES sent two emails and failed the message for SQS to send a third.
#[tokio::test]
async fn a_slow_ses_sends_exactly_one_email() {
    let stack = Stack::new().await;
    let ses = stack.vars["AWS_ENDPOINT_URL"].clone();
    for delay in [500, 2000, 5000].map(Duration::from_millis) {
        let proxy = testkit::DelayingProxy::start(&ses, delay);
        let event = new_event("Slow Ses");
        let deliver = stack.deliver(Some(&proxy.url), Duration::from_secs(30));
        let started = Instant::now();
        let failed = handle(deliver, &[("m-1", &event.to_json())]).await;
        assert!(failed.is_empty(), "SES answered after {delay:?}: {failed:?}");
        assert!(started.elapsed() >= delay, "the proxy held the request");
        let sent = testkit::emails_to(&stack.vars, &event.user.email);
        assert_eq!(sent.len(), 1, "SES answered after {delay:?}: {sent:?}");
        assert_eq!(
            stack.claim_status(event.event_id).await.as_deref(),
            Some("sent"),
            "{delay:?}"
        );
    }
}

/// SES never answering (a listener that holds the request): the send's outcome is unknown, so
/// its claim is kept (marked `unknown`) rather than released, and the message fails. Its batch
/// mate, emailed before, succeeds: the failure is the one message's. A redelivery while the
/// claim's lease lasts sends nothing; the one after it, with SES back, sends the email once.
#[tokio::test]
async fn a_hanging_ses_keeps_the_claim_and_the_redelivery_after_its_lease_sends_once() {
    let stack = Stack::new().await;
    let event = new_event("Han Ging");
    let email = event.user.email.clone();
    let body = event.to_json();
    let message_id = Uuid::new_v4().to_string();
    let mate = new_event("Batch Mate");
    let claims = stack.claims();
    let Claim::Acquired(token) = claims.claim(mate.event_id).await.unwrap() else {
        panic!("a new event's claim is ours")
    };
    claims.mark_sent(mate.event_id, &token, "earlier").await.unwrap();
    let (mate_id, mate_body) = (Uuid::new_v4().to_string(), mate.to_json());

    // The lease outlasts the SES attempt timeout (10 s) by a little, for the test's sake.
    let lease = send_email::adapters::mailers::SES_ATTEMPT_TIMEOUT + Duration::from_secs(4);
    let hang = testkit::HangingListener::start();
    let claimed = Instant::now();
    let failed = handle(
        stack.deliver(Some(&hang.url), lease),
        &[(&message_id, &body), (&mate_id, &mate_body)],
    )
    .await;
    assert_eq!(failed, [message_id.as_str()], "that message alone is failed");
    assert_eq!(
        stack.claim_status(event.event_id).await.as_deref(),
        Some("unknown"),
        "the claim is kept, as neither sent nor free"
    );
    assert!(testkit::emails_to(&stack.vars, &email).is_empty());
    drop(hang);

    // SES is back; a redelivery within the lease sends nothing.
    let back = stack.deliver(None, lease);
    assert!(claimed.elapsed() < lease, "the test is still within the lease");
    let failed = handle(back.clone(), &[(&message_id, &body)]).await;
    assert_eq!(failed, [message_id.as_str()], "in progress until the lease ends");
    assert!(testkit::emails_to(&stack.vars, &email).is_empty());

    // After it: sent once, and marked sent.
    tokio::time::sleep(lease.saturating_sub(claimed.elapsed()) + Duration::from_millis(200)).await;
    let failed = handle(back.clone(), &[(&message_id, &body)]).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(testkit::emails_to(&stack.vars, &email).len(), 1);
    assert_eq!(back.claims.claim(event.event_id).await, Ok(Claim::AlreadySent));
}

/// SES sending at once and answering after the attempt timeout: the attempt is not retried
/// (its request reached SES), so SES has one email, and the outcome is unknown to us: the
/// claim is kept. Without the function's retry rule the SDK sends SendEmail again.
#[tokio::test]
async fn an_answer_after_the_attempt_timeout_is_not_retried() {
    let stack = Stack::new().await;
    let delays = testkit::Delays {
        answer: send_email::adapters::mailers::SES_ATTEMPT_TIMEOUT + Duration::from_secs(1),
        ..testkit::Delays::default()
    };
    let proxy = testkit::DelayingProxy::with(&stack.vars["AWS_ENDPOINT_URL"], delays);
    let event = new_event("Late Answer");
    let failed = handle(
        stack.deliver(Some(&proxy.url), Duration::from_secs(30)),
        &[("m-1", &event.to_json())],
    )
    .await;
    assert_eq!(failed, ["m-1"]);
    assert_eq!(stack.claim_status(event.event_id).await.as_deref(), Some("unknown"));
    assert_eq!(
        testkit::emails_to(&stack.vars, &event.user.email).len(),
        1,
        "SES got the request once"
    );
}

/// SES unreachable (a closed port): the request provably never went out, so the claim is
/// released at once and the next delivery sends, without waiting for a lease.
#[tokio::test]
async fn an_unreachable_ses_releases_the_claim_for_the_next_delivery() {
    let stack = Stack::new().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let event = new_event("Un Reachable");
    let body = event.to_json();
    let failed = handle(stack.deliver(Some(&closed), Duration::from_secs(30)), &[("m-1", &body)]).await;
    assert_eq!(failed, ["m-1"]);
    assert_eq!(stack.claim_status(event.event_id).await, None, "released");

    let failed = handle(stack.deliver(None, Duration::from_secs(30)), &[("m-1", &body)]).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(testkit::emails_to(&stack.vars, &event.user.email).len(), 1);
}
