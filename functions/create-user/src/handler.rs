//! The Lambda handler: event -> use case -> response, and one log line per request.

use crate::domain::signup::{EventPublisher, SignUp, SignUpError, UserStore};
use crate::domain::validation::validate;
use crate::http::{self, Reply};
use aws_lambda_events::http::header;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use std::time::Instant;

pub async fn handle<S: UserStore, P: EventPublisher>(
    signup: &SignUp<S, P>,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let started = Instant::now();
    let request_id = event.context.request_id.clone();
    let (transport, body) = http::parse_event(event.payload);
    let reply = match body {
        Err(reply) => reply,
        Ok(body) => match validate(&body) {
            Err(fields) => Reply::new(400, json!({"error": "validation", "fields": fields})),
            Ok(request) => match signup.run(request).await {
                Ok(done) => {
                    tracing::info!(user_id = %done.user.id, event_id = %done.event_id, "user created");
                    Reply::new(201, json!({"user": done.user, "token": done.token}))
                        .with_header(header::LOCATION, format!("/users/{}", done.user.id))
                }
                Err(error) => failure(error, &request_id),
            },
        },
    };
    tracing::info!(
        status = reply.status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id,
        "create-user"
    );
    Ok(http::render(reply, transport))
}

/// Maps a failed sign-up to its reply. Server-side failures are logged here, once, with their
/// cause; the client gets the request id to quote, never internals.
fn failure(error: SignUpError, request_id: &str) -> Reply {
    match error {
        SignUpError::EmailTaken => Reply::error(409, "email_taken", "an account with this email already exists"),
        SignUpError::Store(cause) => {
            tracing::error!(%cause, request_id, "user store failed");
            Reply::new(503, json!({"error": "service_unavailable", "request_id": request_id}))
                .with_header(header::RETRY_AFTER, "1".into())
        }
        SignUpError::Publish(cause) => {
            tracing::error!(%cause, request_id, "publishing user.created failed");
            Reply::new(500, json!({"error": "internal", "request_id": request_id}))
        }
        SignUpError::Internal(cause) => {
            tracing::error!(%cause, request_id, "internal error");
            Reply::new(500, json!({"error": "internal", "request_id": request_id}))
        }
    }
}
