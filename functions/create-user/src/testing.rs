//! For tests: the invoking event of a sign-up (an HTTP API request, payload format 2.0, built
//! with [`lambda_support::testing::HttpApiRequest`]), and the use case with test settings. For
//! this crate's unit tests and, through the `testing` feature, for its integration tests.

use crate::domain::signup::SignUp;
use lambda_support::testing::HttpApiRequest;
use serde_json::Value;
use std::time::Duration;
use user_store::limits::RateLimiter;
use user_store::outbox::EventPublisher;
use user_store::users::UserStore;

/// A JSON `POST /users` carrying `body`, as a sign-up form sends it.
pub fn sign_up(body: &str) -> Value {
    HttpApiRequest {
        path: "/users",
        body: Some(body.to_owned()),
        ..Default::default()
    }
    .event()
}

/// The use case over `store` and `publisher`: bcrypt cost 4, pending for an hour, and a
/// per-client limit no test meets unless it lowers it.
pub fn signup<S: UserStore + RateLimiter, P: EventPublisher>(store: S, publisher: P) -> SignUp<S, P> {
    SignUp::new(
        store,
        publisher,
        4,
        Duration::from_secs(3600),
        (10_000, Duration::from_secs(300)),
    )
}
