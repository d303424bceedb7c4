//! The Lambda handler: event -> route -> use case -> response; after the response, the
//! `user.verified` event's publish and one log line per request. Each request counts its
//! [`metric`]s.

use crate::domain::verify::{Verified, Verify, VerifyError};
use crate::http::{self, Answer, Request};
use aws_lambda_events::http::header;
use lambda_runtime::LambdaEvent;
use lambda_support::http::{ErrorCode, Reply, read_event, render};
use lambda_support::timing::ms;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use user_events::trace::TraceHeader;
use user_store::limits::RateLimiter;
use user_store::outbox::{EventPublisher, StoredEvent};
use user_store::users::UserStore;

/// The metrics a request reports (written as EMF after each invocation, in `main`).
pub mod metric {
    /// Addresses proven (200).
    pub const VERIFICATIONS: &str = "Verifications";
    /// Refusals and failures, by reason: every API function's.
    pub use lambda_support::http::metric::{
        REASON, REJECTIONS, REJECTIONS_BY_REASON, SERVER_ERRORS, SERVER_ERRORS_BY_REASON,
    };

    /// Units for the recorder; once, at init.
    pub fn describe() {
        metrics::describe_counter!(VERIFICATIONS, metrics::Unit::Count, "addresses verified");
        lambda_support::http::metric::describe();
    }
}

/// The answer to `event`, and the rest of the request, which the client does not wait for:
/// publishing `user.verified`, then the request's log line and its metrics. The event is
/// stored by then, and published by the outbox's flush if the rest never runs.
pub async fn handle<'a, S: UserStore + RateLimiter, P: EventPublisher>(
    verify: &'a Verify<S, P>,
    event: LambdaEvent<Value>,
) -> (Value, impl Future<Output = ()> + 'a) {
    let started = Instant::now();
    let request_id = event.context.request_id;
    let trace = event.context.xray_trace_id.as_deref().and_then(TraceHeader::parse);
    let (shape, invocation) = read_event(event.payload);
    let span = tracing::error_span!("verify", user_id = Empty, event_id = Empty);
    let (reply, pending) = respond(verify, invocation, trace, &request_id)
        .instrument(span.clone())
        .await;
    let (status, error) = (reply.status, reply.error);
    let answer = render(reply, shape);
    let latency = started.elapsed();
    let rest = async move {
        let published = match pending {
            Some(event) => Some(verify.publish(&event).await),
            None => None,
        };
        // The request line: ids, numbers and the status only, never the token.
        tracing::info!(
            status,
            error = error.map(ErrorCode::as_str),
            latency_ms = ms(latency),
            published,
            "verify-email"
        );
        metrics::counter!(metric::VERIFICATIONS).increment(u64::from(status == 200 && error.is_none()));
        lambda_support::http::metric::count(status, error);
    };
    (answer, rest.instrument(span))
}

async fn respond<S: UserStore + RateLimiter, P: EventPublisher>(
    verify: &Verify<S, P>,
    invocation: Result<lambda_support::http::Invocation, Reply>,
    trace: Option<TraceHeader>,
    request_id: &str,
) -> (Reply, Option<StoredEvent>) {
    let request = match invocation.and_then(http::route) {
        Ok(request) => request,
        Err(reply) => return (reply, None),
    };
    let (proof, answer) = match request {
        // Opening the link changes nothing.
        Request::Page(token) => return (http::confirm_page(&token), None),
        Request::Verify(proof, answer) => (proof, answer),
    };
    let (reply, pending) = match verify.run(&proof.token, &proof.password, trace).await {
        Ok(Verified { user, session, event }) => {
            let span = tracing::Span::current();
            span.record("user_id", tracing::field::display(user.id));
            span.record("event_id", tracing::field::display(event.event_id));
            tracing::info!("address verified");
            let reply = Reply::new(200, json!({"token": session, "user": user}))
                // It carries a bearer token: no cache, shared or private, may keep it.
                .with_header(header::CACHE_CONTROL, "no-store".into());
            (reply, Some(event))
        }
        Err(error) => (failure(error, request_id), None),
    };
    match answer {
        Answer::Json => (reply, pending),
        Answer::Page => (http::result_page(&reply), pending),
    }
}

/// Maps a failed verification to its reply. Server-side failures are logged here, once, with
/// their cause; the client gets the request id to quote, never internals.
fn failure(error: VerifyError, request_id: &str) -> Reply {
    match error {
        VerifyError::Invalid(why) => {
            tracing::info!(why, "not a verification token");
            http::invalid_token()
        }
        VerifyError::Expired => Reply::error(
            ErrorCode::TokenExpired,
            "this link, or the sign-up it confirms, has expired: sign up again for a new one",
        ),
        VerifyError::Used => Reply::error(ErrorCode::TokenUsed, "this address is verified already: sign in"),
        VerifyError::Superseded => Reply::error(
            ErrorCode::TokenSuperseded,
            "a newer sign-up with this address sent a newer link: use the latest email's",
        ),
        VerifyError::WrongPassword => http::wrong_password(),
        VerifyError::Limited { retry_after } => Reply::too_many_requests(retry_after),
        VerifyError::Unavailable(cause) => {
            tracing::error!(%cause, "users table or key unavailable");
            Reply::unavailable(request_id)
        }
        VerifyError::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            Reply::internal(request_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{LINK_SECRET, open_link, post, verify};
    use lambda_runtime::Context;
    use time::OffsetDateTime;
    use tokens::verification::{Confirmation, VerificationKey};
    use user_store::testing::{MemoryPublisher, MemoryStore, new_user};
    use user_store::users::UserState;
    use uuid::Uuid;

    async fn answer(v: &Verify<MemoryStore, MemoryPublisher>, event: Value) -> Value {
        let (answer, rest) = handle(v, LambdaEvent::new(event, Context::default())).await;
        rest.await;
        answer
    }

    const PASSWORD: &str = "correct horse";

    fn proof(token: &str) -> String {
        json!({"token": token, "password": PASSWORD}).to_string()
    }

    async fn pending_with_token(v: &Verify<MemoryStore, MemoryPublisher>) -> (Uuid, String) {
        let now = OffsetDateTime::now_utc();
        let mut user = new_user(&format!("{}@x.io", Uuid::new_v4().simple()), now);
        user.password_hash = user_store::passwords::hash(PASSWORD.into(), 4).await.unwrap();
        let event = StoredEvent::from(&user_events::UserCreated::new(Uuid::new_v4(), now, user.public()));
        v.store
            .create_pending(&user, now + time::Duration::hours(1), &event, now)
            .await
            .unwrap();
        let what = Confirmation {
            user_id: user.id,
            credential_id: user_events::first_credential(user.id),
            email_key: user.email_key.clone(),
        };
        (
            user.id,
            VerificationKey::for_tests(&LINK_SECRET).mint(&what, now).unwrap(),
        )
    }

    fn state(v: &Verify<MemoryStore, MemoryPublisher>, id: Uuid) -> UserState {
        v.store.users.lock().unwrap()[&id].stored.state
    }

    #[tokio::test]
    async fn opening_the_link_shows_the_button_and_changes_nothing_however_often() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending_with_token(&v).await;
        for _ in 0..3 {
            let page = answer(&v, open_link(&token)).await;
            assert_eq!(page["statusCode"], 200);
            assert_eq!(page["headers"]["content-type"], "text/html; charset=utf-8");
            assert!(page["body"].as_str().unwrap().contains(&token));
        }
        assert!(matches!(state(&v, id), UserState::Pending { .. }), "GET never verifies");
        assert!(v.publisher.events.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn posting_the_token_verifies_and_answers_the_session_uncached_then_publishes() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending_with_token(&v).await;
        let reply = answer(&v, post("application/json", &proof(&token))).await;
        assert_eq!(reply["statusCode"], 200, "{reply}");
        assert_eq!(reply["headers"]["cache-control"], "no-store");
        let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["user"]["id"], id.to_string());
        assert_eq!(body["token"].as_str().map(|t| t.split('.').count()), Some(3));
        assert_eq!(state(&v, id), UserState::Verified);
        assert_eq!(v.publisher.events.lock().unwrap()[0].event_type, "user.verified");
        let again = answer(&v, post("application/json", &proof(&token))).await;
        assert_eq!(again["statusCode"], 409);
        assert!(again["body"].as_str().unwrap().contains("token_used"));
    }

    #[tokio::test]
    async fn the_pages_form_post_verifies_and_answers_a_page_without_the_session() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending_with_token(&v).await;
        let page = answer(
            &v,
            post(
                "application/x-www-form-urlencoded",
                &format!("token={token}&password=correct+horse"),
            ),
        )
        .await;
        assert_eq!(page["statusCode"], 200);
        let html = page["body"].as_str().unwrap();
        assert!(html.contains("confirmed") && !html.contains("eyJ"), "{html}");
        assert_eq!(state(&v, id), UserState::Verified);
    }

    /// Someone else's password (the sign-up of an attacker who used this address, followed by
    /// its owner): a typed 401, and nothing verified.
    #[tokio::test]
    async fn a_password_that_is_not_the_sign_ups_verifies_nothing() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, token) = pending_with_token(&v).await;
        let body = json!({"token": token, "password": "the owner's own"}).to_string();
        let reply = answer(&v, post("application/json", &body)).await;
        assert_eq!(reply["statusCode"], 401, "{reply}");
        assert!(reply["body"].as_str().unwrap().contains("invalid_credentials"));
        assert!(matches!(state(&v, id), UserState::Pending { .. }));
        let page = answer(
            &v,
            post(
                "application/x-www-form-urlencoded",
                &format!("token={token}&password=nope"),
            ),
        )
        .await;
        assert_eq!(page["statusCode"], 401);
        assert!(page["body"].as_str().unwrap().contains("Wrong password"));
    }

    /// `token` with the first character of its signature changed: it carries six bits of the
    /// signature, where the last carries four and padding (changing that one can leave the
    /// same bytes: a flaky test).
    fn tampered(token: &str) -> String {
        let at = token.rfind('.').expect("a JWT") + 1;
        let other = if token[at..].starts_with('A') { "B" } else { "A" };
        format!("{}{other}{}", &token[..at], &token[at + 1..])
    }

    #[tokio::test]
    async fn every_bad_token_is_a_typed_4xx_json_and_changes_nothing() {
        let v = verify(MemoryStore::default(), MemoryPublisher::default());
        let (id, good) = pending_with_token(&v).await;
        let session = tokens::session::SessionIssuer::for_tests(&crate::testing::SESSION_SECRET)
            .issue(id, OffsetDateTime::now_utc())
            .unwrap();
        for (what, token, code) in [
            ("empty", String::new(), "invalid_token"),
            ("malformed", "not a token".into(), "invalid_token"),
            ("tampered", tampered(&good), "invalid_token"),
            ("the session JWT", session, "invalid_token"),
        ] {
            let reply = answer(&v, post("application/json", &proof(&token))).await;
            let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
            assert_eq!(
                (reply["statusCode"].as_u64(), body["error"].as_str()),
                (Some(400), Some(code)),
                "{what}: {body}"
            );
        }
        assert!(matches!(state(&v, id), UserState::Pending { .. }));
    }
}
