//! sign-in end to end: through `cargo lambda watch` (started by `cargo xtask up`) for the
//! answers a client sees, and in-process on DynamoDB Local for the limits with a window short
//! enough to wait out.

use serde_json::{Value, json};
use sign_in::domain::sign_in::{SignInError, SignInRequest};
use std::collections::HashMap;
use std::time::Duration;
use tokens::session::{SessionIssuer, SessionPolicy};
use user_store::adapters::dynamodb::DynamoUserStore;

/// A POST's status, headers but the date, and body.
fn post(url: &str, body: &Value) -> (u16, Vec<(String, String)>, String) {
    testkit::blocking(async {
        // Loopback: never through a proxy the environment names.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("cargo lambda watch answers");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        (status, headers, response.text().await.unwrap())
    })
}

/// Signs `email` up with `password`; verified through its link when `verify`.
fn user(stack: &HashMap<String, String>, email: &str, password: &str, verify: bool) {
    let (status, _, body) = post(
        &stack["CREATE_USER_URL"],
        &json!({"name": "Sina", "email": email, "password": password}),
    );
    assert_eq!(status, 202, "{body}");
    if verify {
        let token = testkit::link_token(stack, email, 1, Duration::from_secs(60));
        let (status, _, body) = post(&stack["VERIFY_URL"], &json!({"token": token, "password": password}));
        assert_eq!(status, 200, "{body}");
    }
}

fn address(tag: &str) -> String {
    format!("sign-in.{tag}.{}@example.io", uuid::Uuid::new_v4().simple())
}

#[test]
fn a_verified_user_signs_in_and_every_refusal_is_one_answer() {
    let stack = testkit::stack();
    let (verified, pending) = (address("verified"), address("pending"));
    user(&stack, &verified, "correct horse", true);
    user(&stack, &pending, "correct horse", false);
    let url = &stack["SIGN_IN_URL"];

    let (status, headers, body) = post(url, &json!({"email": verified, "password": "correct horse"}));
    assert_eq!(status, 200, "{body}");
    assert!(
        headers.contains(&("cache-control".into(), "no-store".into())),
        "{headers:?}"
    );
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["user"]["email"], verified.as_str());
    // The session of the one issuer: the stack's JWT secret, its issuer and audience.
    let secret = testkit::blocking(async {
        let ssm = aws_sdk_ssm::Client::new(&testkit::sdk_config(&stack).await);
        let parameter = ssm
            .get_parameter()
            .name(&stack["JWT_SECRET_PARAM"])
            .with_decryption(true)
            .send()
            .await
            .unwrap();
        parameter.parameter.unwrap().value.unwrap()
    });
    let policy = SessionPolicy {
        issuer: stack["JWT_ISSUER"].clone(),
        audience: "user-signup".into(),
        ttl_seconds: 3600,
    };
    let claims = SessionIssuer::new(secret.as_bytes(), policy)
        .unwrap()
        .verify(session["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, session["user"]["id"].as_str().unwrap());

    let wrong = post(url, &json!({"email": verified, "password": "wrong horse"}));
    let unknown = post(url, &json!({"email": address("nobody"), "password": "correct horse"}));
    let unverified = post(url, &json!({"email": pending, "password": "correct horse"}));
    assert_eq!(wrong.0, 401, "{wrong:?}");
    assert_eq!(wrong, unknown, "an unknown address: the same answer, headers and all");
    assert_eq!(
        wrong, unverified,
        "a pending account cannot sign in, and says nothing more"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&wrong.2).unwrap()["error"],
        "invalid_credentials"
    );
}

/// The account's limit on DynamoDB Local, in-process with a 2 s window: failures up to the
/// limit, then 429 for every attempt (the right password's too), then, the window over, the
/// right password signs in. The store's real adapter takes and gives back the slots.
#[tokio::test]
async fn an_accounts_failures_lock_it_for_the_window_and_no_longer() {
    let stack = testkit::stack();
    let email = address("locked");
    tokio::task::spawn_blocking({
        let (stack, email) = (stack.clone(), email.clone());
        move || user(&stack, &email, "correct horse", true)
    })
    .await
    .unwrap();
    let sdk = testkit::sdk_config(&stack).await;
    let store = DynamoUserStore::new(testkit::dynamodb(&sdk, &stack), stack["USERS_TABLE"].clone());
    let mut sign_in = sign_in::testing::sign_in(store);
    sign_in.account_limit.max = 3;
    sign_in.account_limit.window = Duration::from_secs(2);
    let attempt = async |password: &str| {
        let request = SignInRequest {
            email: email.clone(),
            password: password.into(),
        };
        let (result, afterwards) = sign_in.run(request, None).await;
        sign_in.afterwards(afterwards).await;
        result.map(|signed_in| signed_in.user.id)
    };
    // A window of its own: start at one's beginning, so the test does not straddle two.
    let into_window = time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 2_000_000_000;
    tokio::time::sleep(Duration::from_nanos((2_000_000_000 - into_window) as u64)).await;
    assert!(
        attempt("correct horse").await.is_ok(),
        "a success takes no slot for good"
    );
    for _ in 0..3 {
        assert_eq!(attempt("wrong horse").await, Err(SignInError::Invalid));
    }
    match attempt("correct horse").await {
        Err(SignInError::Limited { retry_after }) => assert!(retry_after <= Duration::from_secs(2)),
        other => panic!("locked for the window: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        attempt("correct horse").await.is_ok(),
        "the window over, the owner signs in"
    );
}
