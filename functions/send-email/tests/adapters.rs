//! send-email's adapters against the real local stack: idempotency claims on DynamoDB Local,
//! the SES transport on LocalStack, and the whole core over both.

mod support;

use support::Stack;

use aws_sdk_dynamodb::types::AttributeValue;
use send_email::adapters::{dynamodb_claims::DynamoClaims, recipient_log::DynamoRecipientLog};
use send_email::domain::deliver::{
    Admission, Caps, Claim, ClaimStore, ClaimToken, Delivered, Kind, RecipientLog, Sent, SettleError,
};
use send_email::domain::emails::VERIFICATION_SUBJECT;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokens::verification::VerificationKey;
use user_events::UserEvent;
use user_events::testing::user_created;
use user_store::claims;
use uuid::Uuid;

fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(s) | AttributeValue::N(s) => Some(s),
        _ => None,
    }
}

async fn acquire(claims: &DynamoClaims, id: Uuid) -> ClaimToken {
    match claims.claim(id).await {
        Ok(Claim::Acquired(token)) => token,
        other => panic!("expected to acquire the claim, got {other:?}"),
    }
}

#[tokio::test]
async fn claims_are_exclusive_until_released_and_final_once_sent() {
    let stack = Stack::new().await;
    let claims = stack.claims();
    let id = Uuid::new_v4();
    let first = acquire(&claims, id).await;
    assert_eq!(
        claims.claim(id).await,
        Ok(Claim::InProgress),
        "a live lease excludes others"
    );
    claims.release(id, &first).await.unwrap();
    let second = acquire(&claims, id).await;
    assert_ne!(first, second, "each claim has its own owner token");
    claims.mark_sent(id, &second, "ses-1").await.unwrap();
    assert_eq!(claims.claim(id).await, Ok(Claim::AlreadySent));
    assert_eq!(
        claims.release(id, &second).await,
        Err(SettleError::NotOwner),
        "a sent record is never released, not even by its owner"
    );
    assert_eq!(claims.claim(id).await, Ok(Claim::AlreadySent));
}

#[tokio::test]
async fn only_the_token_holder_settles_a_live_claim() {
    let stack = Stack::new().await;
    let claims = stack.claims();
    let id = Uuid::new_v4();
    let owner = acquire(&claims, id).await;
    let stranger = ClaimToken::random();
    assert_eq!(claims.release(id, &stranger).await, Err(SettleError::NotOwner));
    assert_eq!(
        claims.mark_sent(id, &stranger, "ses-x").await,
        Err(SettleError::NotOwner)
    );
    let item = stack.item(id).await.expect("the claim is still there");
    assert_eq!(attr(&item, "status"), Some("sending"));
    assert_eq!(attr(&item, claims::OWNER), Some(owner.to_string().as_str()));
    assert_eq!(claims.claim(id).await, Ok(Claim::InProgress));
}

#[tokio::test]
async fn an_expired_claim_is_taken_over_and_its_stale_owner_can_neither_release_nor_mark_it() {
    let stack = Stack::new().await;
    // The stale consumer's lease is over as soon as it is taken, as if its send had outlasted it.
    let stale_consumer = stack.claims().with_lease(Duration::ZERO);
    let new_consumer = stack.claims();
    let id = Uuid::new_v4();
    let stale = acquire(&stale_consumer, id).await;
    let owner = acquire(&new_consumer, id).await;
    assert_ne!(stale, owner);

    assert_eq!(
        stale_consumer.release(id, &stale).await,
        Err(SettleError::NotOwner),
        "the stale owner cannot delete the new owner's claim"
    );
    assert_eq!(
        stale_consumer.mark_sent(id, &stale, "ses-stale").await,
        Err(SettleError::NotOwner),
        "nor mark it sent"
    );
    let item = stack.item(id).await.expect("the new owner's claim is still there");
    assert_eq!(attr(&item, claims::OWNER), Some(owner.to_string().as_str()));
    assert_eq!(attr(&item, "status"), Some("sending"));
    assert_eq!(attr(&item, "message_id"), None);
    assert_eq!(new_consumer.claim(id).await, Ok(Claim::InProgress), "its lease is live");

    // The new owner settles it as usual.
    new_consumer.mark_sent(id, &owner, "ses-new").await.unwrap();
    let item = stack.item(id).await.unwrap();
    assert_eq!(
        (attr(&item, "status"), attr(&item, "message_id")),
        (Some("sent"), Some("ses-new"))
    );
}

/// The claim's write is done and its answer lost (the attempt timed out): the SDK's retry
/// finds the item claimed, by our own token, and that claim is ours, not another consumer's
/// in progress (which would hold the email back for a whole visibility timeout).
#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_ours() {
    let stack = Stack::new().await;
    let late = lambda_support::aws::ATTEMPT_TIMEOUT + Duration::from_millis(500);
    let (dynamodb, _proxy) = testkit::dynamodb_losing_first_answer(&stack.sdk, &stack.vars, late);
    let claims = DynamoClaims::new(dynamodb, stack.vars["USERS_TABLE"].clone());
    let id = Uuid::new_v4();
    let token = acquire(&claims, id).await;
    let item = stack.item(id).await.unwrap();
    assert_eq!(attr(&item, claims::OWNER), Some(token.as_str()));
    claims.mark_sent(id, &token, "ses-1").await.unwrap();
}

#[tokio::test]
async fn mark_sent_never_creates_a_record() {
    let stack = Stack::new().await;
    let claims = stack.claims();
    let id = Uuid::new_v4();
    assert_eq!(
        claims.mark_sent(id, &ClaimToken::random(), "ses-ghost").await,
        Err(SettleError::NotOwner)
    );
    assert_eq!(stack.item(id).await, None, "no item without a claim");
    // A released claim is gone too: marking it afterwards creates nothing either.
    let token = acquire(&claims, id).await;
    claims.release(id, &token).await.unwrap();
    assert_eq!(
        claims.mark_sent(id, &token, "ses-late").await,
        Err(SettleError::NotOwner)
    );
    assert_eq!(stack.item(id).await, None);
}

#[tokio::test]
async fn a_sent_record_keeps_its_ttl() {
    let stack = Stack::new().await;
    let claims = stack.claims();
    let id = Uuid::new_v4();
    let token = acquire(&claims, id).await;
    let claimed = stack.item(id).await.unwrap();
    claims.mark_sent(id, &token, "ses-1").await.unwrap();
    let sent = stack.item(id).await.unwrap();
    assert_eq!(attr(&sent, "status"), Some("sent"));
    assert_eq!(attr(&sent, claims::UNTIL), None, "no lease once sent");
    let expires_at: u64 = attr(&sent, "expires_at")
        .expect("a sent record has its TTL attribute")
        .parse()
        .expect("whole seconds, as TTL wants");
    assert_eq!(attr(&sent, "expires_at"), attr(&claimed, "expires_at"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(expires_at > now + 7 * 24 * 3600, "kept for longer than any redelivery");
}

/// The whole core over DynamoDB Local and LocalStack's SES: one verification email, whose
/// link's token is the user's and carries no text the requester typed, in any part.
#[tokio::test]
async fn delivers_one_verification_email_through_ses_however_often_the_event_comes() {
    let stack = Stack::new().await;
    let email = format!("ses.{}@example.io", Uuid::new_v4().simple());
    let created = user_created("Dee <i> your account is locked, call +1 555 0100", &email);
    let event = UserEvent::Created(created.clone());
    let deliver = support::deliver(
        &stack.dynamodb,
        &stack.vars,
        send_email::adapters::mailers::ses_client(&stack.sdk),
    );

    assert!(matches!(deliver.run(&event).await, Ok(Delivered::Sent { .. })));
    assert_eq!(deliver.run(&event).await, Ok(Delivered::Duplicate));
    let sent = testkit::emails_to(&stack.vars, &email);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["Source"], stack.vars["EMAIL_FROM"].as_str());
    assert_eq!(sent[0]["Subject"], VERIFICATION_SUBJECT);
    let (text, html) = (
        sent[0]["Body"]["text_part"].as_str().unwrap(),
        sent[0]["Body"]["html_part"].as_str().unwrap(),
    );
    for part in [text, html, sent[0]["Subject"].as_str().unwrap()] {
        assert!(
            !part.contains("Dee") && !part.contains("locked") && !part.contains("555"),
            "{part}"
        );
    }
    assert!(
        text.contains(&email),
        "the recipient's address is the one user datum: {text}"
    );
    let at = text.find("token=").unwrap() + "token=".len();
    let token = text[at..].split_whitespace().next().unwrap();
    let key = VerificationKey::for_tests(&send_email::testing::LINK_SECRET);
    let checked = key.check(token).unwrap();
    assert_eq!(checked.user_id, created.user.id);
    assert!(key.is_bound_to(&checked, &email.to_lowercase()));
}

/// The recipient log on DynamoDB Local: consumers admitting emails to one address at once
/// admit no more than the cap between them (its version makes each write conditional on the
/// log it read), and an event admitted before is admitted again without a new slot.
#[tokio::test]
async fn concurrent_admissions_to_one_address_stay_within_its_cap() {
    let stack = Arc::new(Stack::new().await);
    let address = format!("cap.{}@example.io", Uuid::new_v4().simple());
    let sent = |kind| Sent {
        event_id: Uuid::new_v4(),
        kind,
        at: time::OffsetDateTime::now_utc(),
    };
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (stack, address) = (stack.clone(), address.clone());
            tokio::spawn(async move {
                stack
                    .log()
                    .admit(&address, sent(Kind::Verification), Caps::DEFAULT)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut admitted = Vec::new();
    for task in tasks {
        admitted.push(task.await.unwrap());
    }
    let allowed = admitted.iter().filter(|a| **a == Admission::Allowed).count();
    assert_eq!(allowed, Caps::DEFAULT.per_hour as usize, "{admitted:?}");

    let other = format!("cap.{}@example.io", Uuid::new_v4().simple());
    let notice = sent(Kind::Notice);
    assert_eq!(
        stack.log().admit(&other, notice, Caps::DEFAULT).await,
        Ok(Admission::Allowed)
    );
    assert_eq!(
        stack.log().admit(&other, notice, Caps::DEFAULT).await,
        Ok(Admission::Allowed),
        "the same event again"
    );
    assert_eq!(
        stack.log().admit(&other, sent(Kind::Notice), Caps::DEFAULT).await,
        Ok(Admission::Capped),
        "a second notice"
    );
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.vars["USERS_TABLE"])
        .key("pk", DynamoRecipientLog::key(&other))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["sent"].as_l().unwrap().len(), 1);
    assert!(
        attr(&item, "expires_at").is_some(),
        "the log expires with the table's TTL"
    );
}

/// A deferred message's copy on LocalStack's SQS: the same body, its message attributes, one
/// more deferral, and its trace header; after its delay.
#[tokio::test]
async fn a_deferred_message_goes_back_to_the_queue_as_a_delayed_copy() {
    use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
    use send_email::adapters::requeue::SqsRequeue;
    use send_email::handler::{DEFERRALS_ATTRIBUTE, Requeue};
    let stack = Stack::new().await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("send-email-requeue-test-{}", Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut message = SqsMessage::default();
    message.message_id = Some("m-1".into());
    message.body = Some(r#"{"event_type":"user.created"}"#.into());
    let mut event_type = SqsMessageAttribute::default();
    event_type.string_value = Some("user.created".into());
    event_type.data_type = Some("String".into());
    message.message_attributes.insert("event_type".into(), event_type);
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    message.attributes.insert("AWSTraceHeader".into(), trace.into());

    let requeue = SqsRequeue::new(sqs.clone(), queue.clone());
    requeue.later(&message, 3, Duration::from_secs(1)).await.unwrap();
    let mut received = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            // Within the stack config's 3 s operation timeout.
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        received.extend(out.messages.unwrap_or_default());
        if !received.is_empty() {
            break;
        }
    }
    assert_eq!(received.len(), 1, "one copy");
    let copy = &received[0];
    assert_eq!(copy.body(), message.body.as_deref());
    let attributes = copy.message_attributes.clone().unwrap_or_default();
    assert_eq!(attributes[DEFERRALS_ATTRIBUTE].string_value(), Some("3"));
    assert_eq!(attributes["event_type"].string_value(), Some("user.created"));
    let system = copy.attributes.clone().unwrap_or_default();
    assert_eq!(
        system
            .get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader)
            .map(String::as_str),
        Some(trace)
    );
    sqs.delete_queue().queue_url(&queue).send().await.ok();
}
