//! create-user against the real local stack (`cargo xtask up`): DynamoDB Local for the table,
//! LocalStack's SNS for the topic, and a queue of the test's own subscribed to read what was
//! published. Run through `cargo xtask test`, or `cargo test` after `cargo xtask up`.

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{Overrides, PASSWORD, harness, harness_with, s, unique_email};
use user_events::UserEvent;
use user_store::adapters::dynamodb::{guard_key, outbox_key, user_key};
use user_store::outbox::StoredEvent;
use user_store::users::UserStore;
use uuid::Uuid;

/// The event messages our queue got for `email`, decoded.
/// The events published for `email` within `wait`, in the order they happened: a standard
/// SQS queue delivers in no particular order (under load, a later event first).
async fn events(h: &support::Harness, email: &str, wait: Duration) -> Vec<UserEvent> {
    let messages = h.events_for(email, wait).await;
    let mut events: Vec<UserEvent> = messages
        .iter()
        .map(|m| user_events::decode_sqs_body(m.body().unwrap()).unwrap())
        .collect();
    events.sort_by_key(UserEvent::occurred_at);
    events
}

#[tokio::test]
async fn a_sign_up_stores_a_pending_user_and_guard_and_publishes_exactly_the_contract() {
    let h = harness().await;
    let email = unique_email();
    let (status, body) = h
        .post(json!({"name": " Ann ", "email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, 202, "{body}");
    let id = h.user_of(&email).await.expect("a guard");

    let stored = h.item(&user_key(&id)).await.expect("user item");
    let hash = s(&stored, "password_hash");
    assert!(bcrypt::verify(PASSWORD, &hash).unwrap());
    assert_eq!(
        (s(&stored, "name"), s(&stored, "email")),
        ("Ann".to_owned(), email.clone())
    );
    assert_eq!(stored["verified"].as_bool(), Ok(&false), "pending");
    let expires: i64 = stored["expires_at"].as_n().unwrap().parse().unwrap();
    let ttl = expires - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (3500..=3600).contains(&ttl),
        "expires with the pending TTL (an hour here): {ttl}"
    );
    let guard = h
        .item(&guard_key(&email.to_lowercase()))
        .await
        .expect("email guard item");
    assert_eq!(s(&guard, "user_id"), id.to_string());
    assert_eq!(guard["verified"].as_bool(), Ok(&false));
    assert!(guard.contains_key("expires_at"), "the guard expires with its user");
    assert!(
        !body.to_string().contains(&id.to_string()),
        "no user id in the answer: {body}"
    );

    let messages = h.events_for(&email, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1, "exactly one user.created");
    let raw = messages[0].body().unwrap();
    assert!(!raw.contains(PASSWORD) && !raw.contains(&hash) && !raw.contains("password"));
    let UserEvent::Created(event) = user_events::decode_sqs_body(raw).unwrap() else {
        panic!("user.created: {raw}")
    };
    assert_eq!((event.user.id, event.user.email.as_str()), (id, email.as_str()));
    assert!(
        h.item(&outbox_key(&event.event_id)).await.is_none(),
        "a published event leaves the outbox"
    );
    let attrs = messages[0].message_attributes().unwrap();
    assert_eq!(attrs["event_type"].string_value(), Some("user.created"));
    assert_eq!(
        (attrs["version"].data_type(), attrs["version"].string_value()),
        ("Number", Some("1"))
    );
}

/// A second sign-up with a pending address, in another case and another password: the same
/// answer, the new password under a new credential, and a request for the email again.
#[tokio::test]
async fn the_same_pending_address_again_takes_the_new_password_and_asks_for_the_email_again() {
    let h = harness().await;
    let email = unique_email();
    let first = h.sign_up("Ann", &email).await;
    let (status, _) = h
        .post(json!({"name": "Ann Again", "email": email.to_uppercase(), "password": "other horse"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(h.user_of(&email).await, Some(first), "still one user");
    let stored = h.item(&user_key(&first)).await.unwrap();
    assert!(bcrypt::verify("other horse", &s(&stored, "password_hash")).unwrap());
    let credential = s(&stored, "credential_id");
    assert_eq!(
        s(
            &h.item(&guard_key(&email.to_lowercase())).await.unwrap(),
            "credential_id"
        ),
        credential
    );
    let published = events(&h, &email, Duration::from_secs(8)).await;
    assert_eq!(published.len(), 2, "{published:?}");
    let UserEvent::VerificationRequested(again) = &published[1] else {
        panic!("{published:?}")
    };
    assert_eq!((again.user.id, again.credential_id.to_string()), (first, credential));
}

#[tokio::test]
async fn a_verified_address_keeps_its_password_and_its_owner_gets_a_notice_event() {
    let h = harness().await;
    let email = unique_email();
    let id = h.sign_up("Ann", &email).await;
    let user = h.signup.store.user(id).await.unwrap().unwrap();
    let verified = StoredEvent::from(&user_events::UserVerified::new(
        time::OffsetDateTime::now_utc(),
        user.user.clone(),
    ));
    h.signup
        .store
        .verify(&user, user.credential_id, &verified, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let hash = s(&h.item(&user_key(&id)).await.unwrap(), "password_hash");
    let (status, _) = h
        .post(json!({"name": "Mallory", "email": email, "password": "taken over"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        s(&h.item(&user_key(&id)).await.unwrap(), "password_hash"),
        hash,
        "unchanged"
    );
    let published = events(&h, &email, Duration::from_secs(8)).await;
    assert!(
        matches!(published.last(), Some(UserEvent::SignUpAttempted(e)) if e.user.id == id),
        "{published:?}"
    );
}

/// DynamoDB Local, like DynamoDB, does not delete an item the moment its TTL passes (measured
/// here: expired items still read back 15 minutes later): the expired pending user and guard
/// are still there, and the address signs up afresh all the same.
#[tokio::test]
async fn an_expired_pending_address_signs_up_afresh_while_its_items_are_still_there() {
    let mut h = harness().await;
    h.signup.pending_ttl = Duration::from_secs(1);
    let email = unique_email();
    let first = h.sign_up("Ann", &email).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(h.item(&user_key(&first)).await.is_some(), "expired, not deleted");
    let second = h.sign_up("Ann", &email).await;
    assert_ne!(second, first, "a new user");
    let published = events(&h, &email, Duration::from_secs(8)).await;
    let created: Vec<Uuid> = published
        .iter()
        .filter_map(|e| match e {
            UserEvent::Created(e) => Some(e.user.id),
            _ => None,
        })
        .collect();
    assert_eq!(created, [first, second]);
}

#[tokio::test]
async fn fifty_concurrent_sign_ups_with_one_email_create_exactly_one_user() {
    let h = Arc::new(harness().await);
    let email = unique_email();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let h = h.clone();
            let body = json!({"name": format!("Racer {i}"), "email": email, "password": PASSWORD});
            tokio::spawn(async move { h.post(body).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(statuses.iter().all(|&s| s == 202), "{statuses:?}");
    let id = h.user_of(&email).await.unwrap();
    let published = events(&h, &email, Duration::from_secs(6)).await;
    let created = published.iter().filter(|e| matches!(e, UserEvent::Created(_))).count();
    assert_eq!(created, 1, "exactly one user: {published:?}");
    assert!(
        published.iter().all(|e| e.user_id() == id),
        "every event is that user's"
    );
    assert_eq!(published.len(), 50, "one event per sign-up: {}", published.len());
}

/// The per-client limit, counted in DynamoDB Local: sign-ups and resends together, then 429
/// with Retry-After, for that client only.
#[tokio::test]
async fn a_client_over_its_limit_gets_429_with_retry_after() {
    let mut h = harness().await;
    h.signup.limit.max = 3;
    // A client of this run's own: the counters of earlier runs live on in the table.
    let ip = format!("test-client-{}", Uuid::new_v4().simple());
    let event = |path: &str, body: Value, ip: &str| {
        lambda_support::testing::HttpApiRequest {
            path,
            body: Some(body.to_string()),
            source_ip: ip,
            ..Default::default()
        }
        .event()
    };
    let sign_up = |ip: &str| {
        event(
            "/users",
            json!({"name": "Ann", "email": unique_email(), "password": PASSWORD}),
            ip,
        )
    };
    for _ in 0..2 {
        assert_eq!(h.invoke(sign_up(&ip)).await["statusCode"], 202);
    }
    let resend = event("/users/verification", json!({"email": unique_email()}), &ip);
    assert_eq!(h.invoke(resend.clone()).await["statusCode"], 202);
    let over = h.invoke(resend).await;
    assert_eq!(over["statusCode"], 429, "{over}");
    let retry_after: u64 = over["headers"]["retry-after"].as_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{over}");
    let other = format!("{ip}-other");
    assert_eq!(h.invoke(sign_up(&other)).await["statusCode"], 202, "another client");
}

/// A resend answers at once, the same for every address, and afterwards stores a request for
/// the email again for a pending address only (its publish is the outbox flush's: see
/// `SignUp::resend`).
#[tokio::test]
async fn a_resend_asks_for_the_email_again_for_a_pending_address_only() {
    let h = harness().await;
    let (pending, unknown) = (unique_email(), unique_email());
    let id = h.sign_up("Ann", &pending).await;
    let resend = |email: &str| {
        lambda_support::testing::HttpApiRequest {
            path: "/users/verification",
            body: Some(json!({"email": email}).to_string()),
            ..Default::default()
        }
        .event()
    };
    let (a, b) = (h.invoke(resend(&pending)).await, h.invoke(resend(&unknown)).await);
    assert_eq!(a, b, "one answer");
    assert_eq!(a["statusCode"], 202);
    let waiting = pending_events_for(&h, &pending).await;
    assert!(
        matches!(&waiting[..], [UserEvent::VerificationRequested(e)] if e.user.id == id && e.reason == user_events::RequestReason::Resend),
        "{waiting:?}"
    );
    assert!(pending_events_for(&h, &unknown).await.is_empty());
}

/// The events still in the outbox for `email`.
async fn pending_events_for(h: &support::Harness, email: &str) -> Vec<UserEvent> {
    use user_store::outbox::Outbox;
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .signup
            .store
            .pending(time::OffsetDateTime::now_utc(), 100, after)
            .await
            .unwrap();
        for item in page.items {
            if let Ok(event) = item.event
                && let Ok(event) = user_events::decode_sqs_body(&event.json)
                && matches!(&event, UserEvent::VerificationRequested(e) if e.user.email.eq_ignore_ascii_case(email))
            {
                found.push(event);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return found,
        }
    }
}

#[tokio::test]
async fn with_dynamodb_down_it_answers_503_and_publishes_nothing() {
    // A port nothing listens on: the real SDK gets connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let h = harness_with(Overrides {
        dynamodb: Some(testkit::loopback_url(closed)),
        ..Default::default()
    })
    .await;
    let email = unique_email();
    let (status, body) = h
        .post(json!({"name": "Down", "email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (body["error"].as_str(), body["retryable"].as_bool()),
        (Some("service_unavailable"), Some(true))
    );
    assert!(body["request_id"].is_string());
    let text = body.to_string().to_lowercase();
    assert!(
        !text.contains("dynamo") && !text.contains("connect"),
        "no internals in the answer: {body}"
    );
    assert!(
        h.events_for(&email, Duration::from_secs(3)).await.is_empty(),
        "nothing published"
    );
}

/// DynamoDB answering slowly (each answer 1.2 s late: under the attempt timeout, so every call
/// succeeds), in an invocation with 3 s left: the sign-up's calls add up past its deadline, and
/// it answers 503 `retryable` before it, where Lambda would have cut it off and answered 500.
/// Each call alone is fine: only the invocation's own budget ends it (with none, the same
/// sign-up is accepted, slowly).
#[tokio::test]
async fn with_dynamodb_slow_it_answers_503_retryable_by_the_invocations_deadline() {
    let vars = testkit::stack();
    let delays = testkit::Delays {
        answer: Duration::from_millis(1200),
        ..Default::default()
    };
    let slow = testkit::DelayingProxy::with(&vars["AWS_ENDPOINT_URL_DYNAMODB"], delays);
    let h = harness_with(Overrides {
        dynamodb: Some(slow.url.clone()),
        ..Default::default()
    })
    .await;
    let email = unique_email();
    let body = json!({"name": "Slow", "email": email, "password": PASSWORD});
    let context = lambda_support::testing::context_with_deadline_in(Duration::from_secs(3));
    let (status, answer) = h.post_in(body.clone(), context).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["retryable"].as_bool(), Some(true), "{answer}");

    // Without a deadline the same slow calls finish: slowness alone is no error.
    let (status, answer) = h
        .post(json!({"name": "Slow", "email": unique_email(), "password": PASSWORD}))
        .await;
    assert_eq!(status, 202, "{answer}");
}

/// DynamoDB accepts connections and never answers: the sign-up must answer 503 `retryable`
/// on its own, well inside the function's 10 s timeout (after which Lambda would answer 500
/// for it), and publish nothing.
#[tokio::test]
async fn with_dynamodb_hanging_it_answers_503_retryable_before_the_function_times_out() {
    let hang = testkit::HangingListener::start();
    let h = harness_with(Overrides {
        dynamodb: Some(hang.url.clone()),
        ..Default::default()
    })
    .await;
    let email = unique_email();
    // The function's Timeout (template.yaml): past it Lambda kills the invocation, and the
    // client gets a 500 however the story ends. Not a speed threshold: without the SDK's
    // deadlines the call below never returns at all.
    let function_timeout = Duration::from_secs(10);
    let sign_up = h.post(json!({"name": "Hang", "email": email, "password": PASSWORD}));
    let (status, body) = tokio::time::timeout(function_timeout, sign_up)
        .await
        .expect("an answer within the function's timeout");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["retryable"].as_bool(), Some(true), "{body}");
    assert!(
        h.events_for(&email, Duration::from_secs(2)).await.is_empty(),
        "nothing published"
    );
}
