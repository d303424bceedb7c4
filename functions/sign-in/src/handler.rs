//! The Lambda handler: event -> route -> use case -> response; after the response, what the
//! attempt left to do (its account slot back, a re-hash) and one log line per request. Each
//! request counts its [`metric`]s.

use crate::domain::sign_in::{SignIn, SignInError, SignedIn, validate};
use crate::http;
use lambda_runtime::LambdaEvent;
use lambda_support::http::{ErrorCode, Reply, read_event, render};
use lambda_support::timing::ms;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use user_store::limits::RateLimiter;
use user_store::users::UserStore;

/// The metrics a request reports (written as EMF after each invocation, in `main`).
pub mod metric {
    /// Sessions given (200).
    pub const SIGN_INS: &str = "SignIns";
    /// Refused attempts (401): what the credential-stuffing alarm reads.
    pub const SIGN_IN_FAILURES: &str = "SignInFailures";
    /// Refusals and failures, by reason: every API function's.
    pub use lambda_support::http::metric::{
        REASON, REJECTIONS, REJECTIONS_BY_REASON, SERVER_ERRORS, SERVER_ERRORS_BY_REASON,
    };

    /// Units for the recorder; once, at init.
    pub fn describe() {
        use metrics::{Unit, describe_counter};
        describe_counter!(SIGN_INS, Unit::Count, "sessions given");
        describe_counter!(
            SIGN_IN_FAILURES,
            Unit::Count,
            "sign-ins refused: wrong password, unknown or unverified address"
        );
        lambda_support::http::metric::describe();
    }
}

/// The answer to `event`, and the rest of the request, which the client does not wait for.
pub async fn handle<'a, S: UserStore + RateLimiter>(
    sign_in: &'a SignIn<S>,
    event: LambdaEvent<Value>,
) -> (Value, impl Future<Output = ()> + 'a) {
    let started = Instant::now();
    let request_id = event.context.request_id;
    let (shape, invocation) = read_event(event.payload);
    let span = tracing::error_span!("sign_in", user_id = Empty);
    let (reply, afterwards) = async {
        let routed = match invocation.and_then(http::route) {
            Ok(routed) => routed,
            Err(reply) => return (reply, None),
        };
        let request = match validate(&routed.body) {
            Ok(request) => request,
            Err(fields) => {
                return (
                    Reply::error_with(ErrorCode::Validation, json!({"fields": fields})),
                    None,
                );
            }
        };
        let (result, afterwards) = sign_in.run(request, routed.source_ip.as_deref()).await;
        (answer(result, &request_id), Some(afterwards))
    }
    .instrument(span.clone())
    .await;
    let (status, error) = (reply.status, reply.error);
    let answer = render(reply, shape);
    let latency = started.elapsed();
    let rest = async move {
        if let Some(afterwards) = afterwards {
            sign_in.afterwards(afterwards).await;
        }
        // The request line: numbers and the status only, never the address or the password.
        tracing::info!(
            status,
            error = error.map(ErrorCode::as_str),
            latency_ms = ms(latency),
            "sign-in"
        );
        metrics::counter!(metric::SIGN_INS).increment(u64::from(status == 200));
        metrics::counter!(metric::SIGN_IN_FAILURES).increment(u64::from(error == Some(ErrorCode::InvalidCredentials)));
        lambda_support::http::metric::count(status, error);
    };
    (answer, rest.instrument(span))
}

/// The reply to an attempt. Server-side failures are logged here, once, with their cause; the
/// client gets the request id to quote, never internals.
fn answer(result: Result<SignedIn, SignInError>, request_id: &str) -> Reply {
    match result {
        Ok(SignedIn { user, session }) => {
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            tracing::info!("signed in");
            http::signed_in(&session, &user)
        }
        Err(SignInError::Invalid) => http::invalid_credentials(),
        Err(SignInError::Limited { retry_after }) => Reply::too_many_requests(retry_after),
        Err(SignInError::Unavailable(cause)) => {
            tracing::error!(%cause, "users table or session key unavailable");
            Reply::unavailable(request_id)
        }
        Err(SignInError::Internal(cause)) => {
            tracing::error!(%cause, "internal error");
            Reply::internal(request_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{post, sign_in};
    use lambda_runtime::Context;
    use time::OffsetDateTime;
    use user_store::outbox::StoredEvent;
    use user_store::testing::{MemoryStore, new_user};
    use uuid::Uuid;

    async fn answer(s: &SignIn<MemoryStore>, event: Value) -> Value {
        let (answer, rest) = handle(s, LambdaEvent::new(event, Context::default())).await;
        rest.await;
        answer
    }

    async fn user(s: &SignIn<MemoryStore>, email: &str, verified: bool) {
        let now = OffsetDateTime::now_utc();
        let mut user = new_user(email, now);
        user.password_hash = user_store::passwords::hash("correct horse".into(), 4).await.unwrap();
        let event = StoredEvent::from(&user_events::UserCreated::new(Uuid::new_v4(), now, user.public()));
        s.store
            .create_pending(&user, now + time::Duration::hours(1), &event, now)
            .await
            .unwrap();
        if verified {
            s.store.verify_now(email);
        }
    }

    fn body(email: &str, password: &str) -> String {
        json!({"email": email, "password": password}).to_string()
    }

    #[tokio::test]
    async fn the_three_refusals_are_one_answer_byte_for_byte_and_a_success_is_a_session() {
        let s = sign_in(MemoryStore::default());
        user(&s, "ann@x.io", true).await;
        user(&s, "pending@x.io", false).await;
        let ip = "198.51.100.7";
        let wrong = answer(&s, post(&body("ann@x.io", "wrong horse"), ip)).await;
        let unknown = answer(&s, post(&body("nobody@x.io", "correct horse"), ip)).await;
        let pending = answer(&s, post(&body("pending@x.io", "correct horse"), ip)).await;
        assert_eq!(wrong["statusCode"], 401, "{wrong}");
        assert_eq!(wrong, unknown);
        assert_eq!(wrong, pending);
        assert_eq!(
            serde_json::from_str::<Value>(wrong["body"].as_str().unwrap()).unwrap()["error"],
            "invalid_credentials"
        );
        let ok = answer(&s, post(&body("ann@x.io", "correct horse"), ip)).await;
        assert_eq!(ok["statusCode"], 200, "{ok}");
        assert_eq!(ok["headers"]["cache-control"], "no-store");
        let session: Value = serde_json::from_str(ok["body"].as_str().unwrap()).unwrap();
        assert_eq!(session["user"]["email"], "ann@x.io");
        assert_eq!(session["token"].as_str().map(|t| t.split('.').count()), Some(3));
    }

    #[tokio::test]
    async fn limits_answer_429_with_retry_after_and_bad_input_a_typed_400() {
        let mut s = sign_in(MemoryStore::default());
        s.account_limit.max = 2;
        for _ in 0..2 {
            assert_eq!(
                answer(&s, post(&body("ann@x.io", "x"), "198.51.100.8")).await["statusCode"],
                401
            );
        }
        let locked = answer(&s, post(&body("ann@x.io", "x"), "198.51.100.8")).await;
        assert_eq!(locked["statusCode"], 429);
        assert!(
            locked["headers"]["retry-after"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        for (bad, code) in [
            (post("{", "198.51.100.9"), "invalid_json"),
            (post(r#"{"email":"a@b.io"}"#, "198.51.100.9"), "validation"),
            (
                post(r#"{"email":"a@b.io","email":"c@d.io","password":"x"}"#, "198.51.100.9"),
                "invalid_json",
            ),
        ] {
            let reply = answer(&s, bad).await;
            let error: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
            assert_eq!(error["error"], code, "{reply}");
        }
    }
}
