//! send-email's adapters against the real local stack: idempotency claims on DynamoDB Local,
//! the SES transport on LocalStack, and the whole core over both.

use send_email::adapters::{dynamodb_claims::DynamoClaims, mailers::SesMailer};
use send_email::domain::deliver::{Claim, ClaimStore, Deliver, Delivered};
use user_events::{PublicUser, UserCreated};
use uuid::Uuid;

async fn adapters() -> (DynamoClaims, SesMailer, std::collections::HashMap<String, String>) {
    let stack = testkit::stack();
    let sdk = testkit::sdk_config(&stack).await;
    let claims = DynamoClaims::new(testkit::dynamodb(&sdk, &stack), stack["USERS_TABLE"].clone());
    let mailer = SesMailer::new(aws_sdk_ses::Client::new(&sdk), stack["EMAIL_FROM"].clone());
    (claims, mailer, stack)
}

#[tokio::test]
async fn claims_are_exclusive_until_released_and_final_once_sent() {
    let (claims, _, _) = adapters().await;
    let id = Uuid::new_v4();
    assert_eq!(claims.claim(id).await, Ok(Claim::Acquired));
    assert_eq!(
        claims.claim(id).await,
        Ok(Claim::InProgress),
        "a live lease excludes others"
    );
    claims.release(id).await.unwrap();
    assert_eq!(
        claims.claim(id).await,
        Ok(Claim::Acquired),
        "a released claim can be taken again"
    );
    claims.mark_sent(id, "ses-1").await.unwrap();
    assert_eq!(claims.claim(id).await, Ok(Claim::AlreadySent));
    assert!(claims.release(id).await.is_err(), "a sent record is never released");
    assert_eq!(claims.claim(id).await, Ok(Claim::AlreadySent));
}

#[tokio::test]
async fn delivers_one_welcome_email_through_ses_however_often_the_event_comes() {
    let (claims, mailer, stack) = adapters().await;
    let email = format!("ses.{}@example.io", Uuid::new_v4().simple());
    let now = time::OffsetDateTime::now_utc();
    let user = PublicUser {
        id: Uuid::new_v4(),
        name: "Dee <i>".into(),
        email: email.clone(),
        created_at: now,
    };
    let event = UserCreated::new(Uuid::new_v4(), now, user);
    let deliver = Deliver { claims, mailer };

    assert!(matches!(deliver.run(&event).await, Ok(Delivered::Sent { .. })));
    assert_eq!(deliver.run(&event).await, Ok(Delivered::Duplicate));
    let sent = testkit::emails_to(&stack, &email);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["Source"], stack["EMAIL_FROM"].as_str());
    assert_eq!(sent[0]["Subject"], "Welcome, Dee <i>!");
    assert!(sent[0]["Body"]["html_part"].as_str().unwrap().contains("Dee &lt;i&gt;"));
    assert!(sent[0]["Body"]["text_part"].as_str().unwrap().contains(&email));
}
