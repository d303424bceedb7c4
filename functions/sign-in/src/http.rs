//! sign-in's route, `POST /sessions` `{"email", "password"}`, and its answers.

use aws_lambda_events::http::{Method, header};
use lambda_support::http::{ErrorCode, Invocation, Reply, json_body};
use serde_json::{Value, json};

pub const SESSIONS_PATH: &str = "/sessions";

/// A request routed: its JSON body, still to validate, and the client's address.
#[derive(Debug)]
pub struct Routed {
    pub body: Value,
    /// None for a direct invoke (an IAM-authorised caller, not counted per client).
    pub source_ip: Option<String>,
}

/// Routes an invocation: a direct invoke is a sign-in whose payload is the body.
pub fn route(invocation: Invocation) -> Result<Routed, Reply> {
    let request = match invocation {
        Invocation::Direct(body) => return Ok(Routed { body, source_ip: None }),
        Invocation::Http(request) => request,
    };
    if !request.is(SESSIONS_PATH) {
        return Err(Reply::error(
            ErrorCode::NotFound,
            "no such route; sign in with POST /sessions",
        ));
    }
    request.allow(&[Method::POST])?;
    Ok(Routed {
        body: json_body(&request, "email and password")?,
        source_ip: request.source_ip,
    })
}

/// The one refusal: a wrong password, an unknown address, an address not verified yet.
pub fn invalid_credentials() -> Reply {
    Reply::error(
        ErrorCode::InvalidCredentials,
        "wrong email or password, or an address not confirmed yet",
    )
    .with_header(header::CACHE_CONTROL, "no-store".into())
}

/// The session.
pub fn signed_in(session: &str, user: &user_events::PublicUser) -> Reply {
    Reply::new(200, json!({"token": session, "user": user}))
        // It carries a bearer token: no cache, shared or private, may keep it.
        .with_header(header::CACHE_CONTROL, "no-store".into())
}
