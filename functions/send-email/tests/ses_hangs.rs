//! SES hanging (it accepts connections and never answers) on the real stack: the handler
//! answers in the SDK's deadlines with that message failed, its claim released, and the
//! retry, with SES back, delivers the email.

mod support;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use send_email::adapters::dynamodb_claims::DynamoClaims;
use send_email::domain::deliver::{Claim, ClaimStore};
use std::sync::Arc;
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
            message.body = Some((*body).into());
            message
        })
        .collect();
    LambdaEvent::new(event, Context::default())
}

fn new_event(name: &str) -> UserCreated {
    user_created(name, &format!("hang.{}@example.io", Uuid::new_v4().simple()))
}

/// Records `event` as emailed before, as an earlier delivery of it would have.
async fn already_sent(claims: &DynamoClaims, event: &UserCreated) {
    let Claim::Acquired(token) = claims.claim(event.event_id).await.unwrap() else {
        panic!("a new event's claim is ours")
    };
    claims.mark_sent(event.event_id, &token, "earlier").await.unwrap();
}

#[tokio::test]
async fn a_hanging_ses_fails_the_message_releases_its_claim_and_the_retry_delivers() {
    let stack = testkit::stack();
    let sdk = testkit::sdk_config(&stack).await;
    let dynamodb = testkit::dynamodb(&sdk, &stack);
    let table = stack["USERS_TABLE"].clone();
    let claims = || DynamoClaims::new(dynamodb.clone(), table.clone());

    let event = new_event("Han Ging");
    let email = event.user.email.clone();
    let body = event.to_json();
    let message_id = Uuid::new_v4().to_string();
    // Its batch mate was emailed before: a redelivery needs no SES, and must succeed even
    // while SES hangs. The failure is the one message's, not the batch's.
    let mate = new_event("Batch Mate");
    already_sent(&claims(), &mate).await;
    let (mate_id, mate_body) = (Uuid::new_v4().to_string(), mate.to_json());

    // SES hangs: the SES client of the stack's config (production deadlines), pointed at a
    // listener that never answers.
    let hang = testkit::HangingListener::start();
    let hanging_ses =
        aws_sdk_ses::Client::from_conf(aws_sdk_ses::config::Builder::from(&sdk).endpoint_url(&hang.url).build());
    let deliver = Arc::new(support::deliver(&dynamodb, &stack, hanging_ses));
    let batch = batch_of(&[(&message_id, &body), (&mate_id, &mate_body)]);
    let response = send_email::handler::handle(deliver, batch)
        .await
        .expect("no function error: the batch is answered");
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [message_id.as_str()],
        "that message alone is failed, for SQS to retry"
    );

    assert_eq!(
        support::claim_item(&dynamodb, &table, event.event_id).await,
        None,
        "the claim was released"
    );
    assert!(testkit::emails_to(&stack, &email).is_empty(), "nothing sent");
    drop(hang);

    // SES is back (LocalStack's): the same message, redelivered, is emailed once.
    let deliver = Arc::new(support::deliver(&dynamodb, &stack, aws_sdk_ses::Client::new(&sdk)));
    let response = send_email::handler::handle(deliver.clone(), batch_of(&[(&message_id, &body)]))
        .await
        .unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let sent = testkit::emails_to(&stack, &email);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        deliver.claims.claim(event.event_id).await,
        Ok(Claim::AlreadySent),
        "and marked sent"
    );
}
