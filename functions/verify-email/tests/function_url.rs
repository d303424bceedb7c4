//! verify-email end to end through `cargo lambda watch` (started by `cargo xtask up`): a
//! sign-up over create-user's function URL, its verification email in LocalStack's SES, the
//! link opened (nothing changes) and its token POSTed with the sign-up's password as a user's
//! browser or app would, the keys
//! read from LocalStack's SSM by the functions' own init.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use tokens::session::{SessionIssuer, SessionPolicy};
use tokens::verification::{Confirmation, VerificationKey, VerifyPolicy};

fn http() -> reqwest::Client {
    // Loopback: never through a proxy the environment names.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A request's status, content type and body.
fn send(request: reqwest::RequestBuilder) -> (u16, String, String) {
    testkit::blocking(async {
        let response = request.send().await.expect("cargo lambda watch answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    })
}

/// The sign-ups' password.
const PASSWORD: &str = "correct horse";

fn post_token(stack: &HashMap<String, String>, token: &str) -> (u16, Value) {
    post_proof(stack, token, PASSWORD)
}

fn post_proof(stack: &HashMap<String, String>, token: &str, password: &str) -> (u16, Value) {
    let (status, content_type, body) = send(
        http()
            .post(&stack["VERIFY_URL"])
            .header("content-type", "application/json")
            .body(json!({"token": token, "password": password}).to_string()),
    );
    assert_eq!(content_type, "application/json", "{body}");
    (status, serde_json::from_str(&body).unwrap())
}

/// A new sign-up's address; the token of its link.
fn sign_up(stack: &HashMap<String, String>, tag: &str) -> (String, String) {
    let email = format!("verify.{tag}.{}@example.io", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "Vera", "email": email, "password": PASSWORD}).to_string();
    let (status, _, answer) = send(
        http()
            .post(&stack["CREATE_USER_URL"])
            .header("content-type", "application/json")
            .body(body),
    );
    assert_eq!(status, 202, "{answer}");
    let token = testkit::link_token(stack, &email, 1, Duration::from_secs(60));
    (email, token)
}

/// The value of the SSM parameter the stack's variable `variable` names.
fn secret(stack: &HashMap<String, String>, variable: &str) -> String {
    testkit::blocking(async {
        let ssm = aws_sdk_ssm::Client::new(&testkit::sdk_config(stack).await);
        let out = ssm
            .get_parameter()
            .name(&stack[variable])
            .with_decryption(true)
            .send()
            .await
            .unwrap();
        out.parameter.unwrap().value.unwrap()
    })
}

#[test]
fn opening_the_link_changes_nothing_and_posting_its_token_verifies_once() {
    let stack = testkit::stack();
    let (email, token) = sign_up(&stack, "flow");
    let link = format!("{}?token={token}", stack["VERIFY_URL"]);
    // A mail scanner, then the user: the page, twice, and nothing used up.
    for _ in 0..2 {
        let (status, content_type, page) = send(http().get(&link));
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/html; charset=utf-8"),
            "{page}"
        );
        assert!(page.contains("method=\"post\"") && page.contains(&token), "{page}");
    }

    // Someone else's password (that of whoever else might have signed up with this address)
    // proves nothing.
    let (status, refused) = post_proof(&stack, &token, "another horse");
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_credentials")),
        "{refused}"
    );
    let (status, verified) = post_token(&stack, &token);
    assert_eq!(status, 200, "{verified}");
    let user_id = testkit::user_of(&stack, &email).unwrap();
    assert_eq!(verified["user"]["id"], user_id.to_string());
    assert_eq!(verified["user"]["email"], email.as_str());
    // The session: signed with the stack's JWT secret (SSM), for the user, with the template's
    // issuer and audience.
    let policy = SessionPolicy {
        issuer: stack["JWT_ISSUER"].clone(),
        audience: "user-signup".into(),
        ttl_seconds: 3600,
    };
    let sessions = SessionIssuer::new(secret(&stack, "JWT_SECRET_PARAM").as_bytes(), policy).unwrap();
    let claims = sessions.verify(verified["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.sub, user_id.to_string());

    let (status, again) = post_token(&stack, &token);
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("token_used")),
        "once: {again}"
    );
    // The session JWT is no verification token.
    let (status, foreign) = post_token(&stack, verified["token"].as_str().unwrap());
    assert_eq!(
        (status, foreign["error"].as_str()),
        (400, Some("invalid_token")),
        "{foreign}"
    );
}

/// Tokens minted with the stack's own key (SSM) but expired, or for a sign-up that a newer one
/// replaced; and tampered or empty ones. Each a typed 4xx, and the user stays pending.
#[test]
fn expired_superseded_tampered_and_empty_tokens_are_refused_and_change_nothing() {
    let stack = testkit::stack();
    let (email, first) = sign_up(&stack, "refused");
    let user_id = testkit::user_of(&stack, &email).unwrap();
    let key = |ttl_seconds| {
        let policy = VerifyPolicy {
            issuer: stack["JWT_ISSUER"].clone(),
            ttl_seconds,
        };
        VerificationKey::new(secret(&stack, "VERIFY_TOKEN_SECRET_PARAM").as_bytes(), policy).unwrap()
    };
    let what = Confirmation {
        user_id,
        credential_id: user_events::first_credential(user_id),
        email_key: email.to_lowercase(),
    };
    let expired = key(1)
        .mint(&what, OffsetDateTime::now_utc() - time::Duration::seconds(5))
        .unwrap();
    let (status, body) = post_token(&stack, &expired);
    assert_eq!((status, body["error"].as_str()), (410, Some("token_expired")), "{body}");

    let tampered = format!(
        "{}{}",
        &first[..first.len() - 2],
        if first.ends_with("AA") { "BB" } else { "AA" }
    );
    for token in [tampered.as_str(), "", "not.a.token"] {
        let (status, body) = post_token(&stack, token);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_token")),
            "{token:?}: {body}"
        );
    }

    // A new sign-up with the address replaces the credential the first link confirms.
    let again = json!({"name": "Vera", "email": email, "password": "another horse"}).to_string();
    let (status, _, _) = send(
        http()
            .post(&stack["CREATE_USER_URL"])
            .header("content-type", "application/json")
            .body(again),
    );
    assert_eq!(status, 202);
    let second = testkit::link_token(&stack, &email, 2, Duration::from_secs(60));
    let (status, body) = post_token(&stack, &first);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("token_superseded")),
        "{body}"
    );
    let (status, body) = post_proof(&stack, &second, "another horse");
    assert_eq!(status, 200, "the newest link works, with the newest password: {body}");
}
