//! For tests: the use case with test keys, and the invoking events of the two routes. For this
//! crate's unit tests and, through the `testing` feature, its integration tests.

use crate::domain::verify::Verify;
use lambda_support::testing::HttpApiRequest;
use serde_json::Value;
use tokens::key::Key;
use tokens::session::SessionIssuer;
use tokens::verification::VerificationKey;
use user_store::limits::RateLimiter;
use user_store::outbox::EventPublisher;
use user_store::users::UserStore;

/// The secrets of the test keys: [`VerificationKey::for_tests`] and
/// [`SessionIssuer::for_tests`] of these.
pub const LINK_SECRET: [u8; 32] = [8u8; 32];
pub const SESSION_SECRET: [u8; 32] = [9u8; 32];

/// The use case over `store` and `publisher`, with the test keys and 10 wrong passwords per
/// user per 15 minutes.
pub fn verify<S: UserStore + RateLimiter, P: EventPublisher>(store: S, publisher: P) -> Verify<S, P> {
    Verify::new(
        store,
        publisher,
        Key::from(VerificationKey::for_tests(&LINK_SECRET)),
        Key::from(SessionIssuer::for_tests(&SESSION_SECRET)),
        (10, std::time::Duration::from_secs(900)),
    )
}

/// `GET /users/verify?token=<token>`, as a browser (or a mail scanner) opens the link.
pub fn open_link(token: &str) -> Value {
    let query = format!("token={token}");
    HttpApiRequest {
        method: "GET",
        path: "/users/verify",
        content_type: None,
        query: &query,
        ..Default::default()
    }
    .event()
}

/// `POST /users/verify` with `body` as `content_type`.
pub fn post(content_type: &str, body: &str) -> Value {
    HttpApiRequest {
        path: "/users/verify",
        content_type: Some(content_type),
        body: Some(body.to_owned()),
        ..Default::default()
    }
    .event()
}
