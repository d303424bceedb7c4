//! One event's delivery end to end, over the in-memory ports: the email, its link, the caps,
//! the claim through every way a send ends, and the recipient's address kept out of errors.

use super::*;
use crate::domain::emails::Email;
use crate::testing::*;
use lambda_support::testing::{Logs, logs};
use std::future::Future;
use tokens::key::Key;
use tokens::verification::VerificationKey;
use user_events::testing::{sign_up_attempted, user_created, verification_requested};

pub fn event(email: &str) -> UserEvent {
    UserEvent::Created(user_created("Ann", email))
}

/// The token of the link in `email`.
fn token_in(email: &Email) -> String {
    let at = email.text.find("token=").expect("a link") + "token=".len();
    email.text[at..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_user_gets_a_link_bound_to_its_first_sign_up_and_address_and_no_name() {
    let d = deliver();
    let created = user_created("Mallory: your account is locked, call +1 555", "Ann@X.io");
    d.run(&UserEvent::Created(created.clone())).await.unwrap();
    let email = d.mailer.sent.lock().unwrap()[0].clone();
    assert!(email.text.contains("https://x.example/verify?token="), "{}", email.text);
    let key = VerificationKey::for_tests(&LINK_SECRET);
    let checked = key.check(&token_in(&email)).unwrap();
    assert_eq!(
        (checked.user_id, checked.credential_id),
        (created.user.id, first_credential(created.user.id))
    );
    assert!(key.is_bound_to(&checked, "ann@x.io"));
    for text in [&email.subject, &email.text, &email.html] {
        assert!(
            !text.contains("Mallory") && !text.contains("555"),
            "no text the requester typed: {text}"
        );
    }
}

#[tokio::test]
async fn a_request_again_links_its_credential_and_an_owner_gets_a_notice_without_a_link() {
    let d = deliver();
    let requested = verification_requested("ann@x.io");
    d.run(&UserEvent::VerificationRequested(requested.clone()))
        .await
        .unwrap();
    d.run(&UserEvent::SignUpAttempted(sign_up_attempted("bob@x.io")))
        .await
        .unwrap();
    let sent = d.mailer.sent.lock().unwrap().clone();
    let checked = VerificationKey::for_tests(&LINK_SECRET)
        .check(&token_in(&sent[0]))
        .unwrap();
    assert_eq!(checked.credential_id, requested.credential_id);
    assert_eq!(sent[1].subject, crate::domain::emails::NOTICE_SUBJECT);
    assert!(!sent[1].text.contains("token"));
}

#[tokio::test]
async fn user_verified_is_no_email() {
    let d = deliver();
    let verified =
        user_events::UserVerified::new(OffsetDateTime::now_utc(), user_events::testing::user("Ann", "a@x.io"));
    assert_eq!(d.run(&UserEvent::Verified(verified)).await, Ok(Delivered::NotAnEmail));
    assert!(d.mailer.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_address_gets_at_most_its_cap_an_hour_and_one_notice() {
    let d = deliver();
    let key = "ann@x.io";
    let mut outcomes = Vec::new();
    for i in 0..5 {
        let e = if i == 0 {
            event(key)
        } else {
            UserEvent::VerificationRequested(verification_requested(key))
        };
        outcomes.push(d.run(&e).await.unwrap());
    }
    let sent = outcomes.iter().filter(|o| matches!(o, Delivered::Sent { .. })).count();
    assert_eq!(sent, 3, "{outcomes:?}");
    assert_eq!(outcomes[3..], [Delivered::Capped, Delivered::Capped]);
    let capped = UserEvent::VerificationRequested(verification_requested(key));
    assert_eq!(d.run(&capped).await, Ok(Delivered::Capped));
    assert_eq!(d.run(&capped).await, Ok(Delivered::Duplicate), "a capped event is done");

    let d = deliver();
    let notice = || UserEvent::SignUpAttempted(sign_up_attempted("owner@x.io"));
    assert!(matches!(d.run(&notice()).await, Ok(Delivered::Sent { .. })));
    assert_eq!(d.run(&notice()).await, Ok(Delivered::Capped), "one notice an hour");
}

#[tokio::test]
async fn an_unreadable_key_fails_the_message_and_frees_its_claim_and_slot() {
    struct Down;
    impl tokens::key::SecretStore for Down {
        fn read(&self) -> std::pin::Pin<Box<dyn Future<Output = Result<tokens::key::Secret, String>> + Send + '_>> {
            Box::pin(async { Err("SSM did not answer".into()) })
        }
        fn read_version(
            &self,
            _: i64,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<tokens::key::Secret, String>> + Send + '_>> {
            self.read()
        }
    }
    let mut d = deliver();
    let policy = tokens::verification::VerifyPolicy {
        issuer: "test".into(),
        ttl_seconds: 60,
    };
    d.links.key = Key::read_on_first_use(Down, policy, tokens::key::DEFAULT_REFRESH);
    let e = event("a@x.io");
    assert!(matches!(d.run(&e).await, Err(DeliverError::Key(cause)) if cause.contains("SSM")));
    assert!(
        d.claims.state.lock().unwrap().is_empty(),
        "claim released for the retry"
    );
    d.links.key = Key::from(VerificationKey::for_tests(&LINK_SECRET));
    assert!(
        matches!(d.run(&e).await, Ok(Delivered::Sent { .. })),
        "the retry sends, its slot kept"
    );
    assert_eq!(d.log.logs.lock().unwrap()["a@x.io"].len(), 1, "one slot for the event");
}

#[tokio::test]
async fn sends_once_and_treats_redelivery_as_done() {
    let d = deliver();
    let e = event("ann@x.io");
    assert!(matches!(d.run(&e).await, Ok(Delivered::Sent { .. })));
    assert_eq!(d.run(&e).await, Ok(Delivered::Duplicate));
    assert_eq!(d.mailer.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_send_releases_the_claim_for_the_retry() {
    let d = deliver();
    let e = event("fail@x.io");
    assert!(matches!(d.run(&e).await, Err(DeliverError::Send(_))));
    assert!(d.claims.state.lock().unwrap().is_empty(), "claim released");
}

#[tokio::test]
async fn a_send_whose_outcome_is_unknown_keeps_its_claim_so_no_retry_sends_within_the_lease() {
    let d = deliver();
    let e = event("lost@x.io");
    let Err(DeliverError::OutcomeUnknown(error)) = d.run(&e).await else {
        panic!("the send's outcome is unknown")
    };
    assert!(error.0.contains("<recipient>"), "redacted: {error}");
    let record = d.claims.state.lock().unwrap()[&e.event_id()].clone();
    assert_eq!((record.unknown, record.sent), (true, None), "kept, marked unknown");
    assert_eq!(d.run(&e).await, Err(DeliverError::InProgress(e.event_id())));
    assert_eq!(d.mailer.sent.lock().unwrap().len(), 1, "no second email");
}

#[tokio::test]
async fn a_live_claim_of_another_consumer_fails_this_delivery() {
    let d = deliver();
    let e = event("ann@x.io");
    d.claims.claim(e.event_id()).await.unwrap();
    assert_eq!(d.run(&e).await, Err(DeliverError::InProgress(e.event_id())));
    assert!(d.mailer.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn only_the_owner_settles_a_claim() {
    let claims = MemoryClaims::default();
    let id = Uuid::new_v4();
    let Ok(Claim::Acquired(token)) = claims.claim(id).await else {
        panic!("a new claim is acquired")
    };
    let other = ClaimToken::random();
    assert_ne!(token, other, "every claim has a token of its own");
    assert_eq!(claims.release(id, &other).await, Err(SettleError::NotOwner));
    assert_eq!(claims.mark_sent(id, &other, "m").await, Err(SettleError::NotOwner));
    assert_eq!(
        claims.mark_sent(Uuid::new_v4(), &token, "m").await,
        Err(SettleError::NotOwner)
    );
    claims.mark_sent(id, &token, "m").await.unwrap();
    assert_eq!(
        claims.release(id, &token).await,
        Err(SettleError::NotOwner),
        "sent is final"
    );
}

#[tokio::test]
async fn an_email_sent_after_our_claim_was_taken_over_succeeds_and_leaves_the_new_owner_alone() {
    let logs = logs();
    let d = deliver();
    let e = event("ann@x.io");
    d.claims.taken_over.lock().unwrap().insert(e.event_id());
    assert!(
        matches!(d.run(&e).await, Ok(Delivered::Sent { .. })),
        "the email went out: the message is done"
    );
    assert_eq!(d.mailer.sent.lock().unwrap().len(), 1);
    let record = d.claims.state.lock().unwrap()[&e.event_id()].clone();
    assert_eq!(record.sent, None, "the new owner's claim is not marked by us");
    assert_warned_of_takeover(&logs, &e);
}

fn assert_warned_of_takeover(logs: &Logs, e: &UserEvent) {
    let lines = logs.lines_with(&e.event_id().to_string());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("another consumer took it over")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_failed_send_after_our_claim_was_taken_over_fails_and_leaves_the_new_owner_alone() {
    let logs = logs();
    let d = deliver();
    let e = event("fail@x.io");
    d.claims.taken_over.lock().unwrap().insert(e.event_id());
    assert!(
        matches!(d.run(&e).await, Err(DeliverError::Send(_))),
        "not sent: SQS retries it"
    );
    assert!(
        d.claims.state.lock().unwrap().contains_key(&e.event_id()),
        "the new owner's claim is not released by us"
    );
    assert_warned_of_takeover(&logs, &e);
}

#[tokio::test]
async fn a_send_error_that_quotes_the_recipient_is_redacted() {
    let d = deliver();
    let e = event("fail.Someone@X.io");
    let Err(DeliverError::Send(PortError(text))) = d.run(&e).await else {
        panic!("the send fails")
    };
    assert!(
        text.contains("failed the check") && text.contains("<recipient>"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("someone@x.io"), "{text}");
}
