//! The JWT secret read from SSM, and read again by the sign-ups while SSM fails, on the real
//! local stack: LocalStack's SSM, and a listener that never answers for SSM hanging.

mod support;

use create_user::init::SsmSecret;
use create_user::token::{IssuerError, TokenPolicy, Tokens};
use serde_json::json;
use support::{PASSWORD, harness, unique_email};
use testkit::HangingListener;
use time::OffsetDateTime;
use uuid::Uuid;

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: "test".into(),
        audience: "test".into(),
        ttl_seconds: 60,
    }
}

/// A parameter missing at first (SSM answers ParameterNotFound) is no issuer, and not kept:
/// once the parameter exists, the next ask reads it and signs with it.
#[tokio::test]
async fn the_secret_is_read_on_first_use_and_a_failed_read_is_tried_again() {
    let vars = testkit::stack();
    let ssm = aws_sdk_ssm::Client::new(&testkit::sdk_config(&vars).await);
    let name = format!("/test/jwt-secret-{}", Uuid::new_v4().simple());
    let tokens = Tokens::read_on_first_use(SsmSecret::new(ssm.clone(), name.clone()), policy());
    match tokens.issuer().await {
        Err(IssuerError::Unreadable(cause)) => assert!(cause.contains("ParameterNotFound"), "{cause}"),
        other => panic!("a missing parameter: {:?}", other.map(|_| "an issuer")),
    }

    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    ssm.put_parameter()
        .name(&name)
        .value(&secret)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let issuer = tokens.issuer().await.expect("read on the next use");
    let token = issuer.issue(Uuid::nil(), OffsetDateTime::now_utc()).unwrap();
    // Signed with the parameter's value, not anything else.
    let expected = create_user::token::JwtIssuer::new(secret.as_bytes(), policy()).unwrap();
    assert!(expected.verify(&token).is_ok());
    ssm.delete_parameter().name(&name).send().await.unwrap();
}

/// SSM accepts the connection and never answers (at init and since): a sign-up answers 503
/// `retryable` within the SDK's deadlines, and stores nothing (its retry must not meet a 409).
#[tokio::test]
async fn with_ssm_hanging_the_first_sign_up_answers_503_and_stores_nothing() {
    let hang = HangingListener::start();
    let vars = testkit::stack();
    let sdk = testkit::sdk_config(&vars).await;
    let ssm = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(&sdk).endpoint_url(&hang.url).build());
    let mut h = harness().await;
    h.signup.tokens = Tokens::read_on_first_use(SsmSecret::new(ssm, "/test/jwt-secret".into()), policy());

    let email = unique_email();
    let (status, body) = h
        .post(json!({"name": "Hung", "email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (body["error"].as_str(), body["retryable"].as_bool()),
        (Some("service_unavailable"), Some(true))
    );
    let guard = h
        .item(&user_store::adapters::dynamodb::guard_key(&email.to_lowercase()))
        .await;
    assert!(guard.is_none(), "nothing stored: the retry signs up");
}
