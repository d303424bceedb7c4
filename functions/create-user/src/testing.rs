//! Invoking events for tests: a sign-up as an HTTP API request (payload format 2.0) carries
//! it, built with [`lambda_support::testing::HttpApiRequest`]. For this crate's unit tests and,
//! through the `testing` feature, for its integration tests.

use lambda_support::testing::HttpApiRequest;
use serde_json::Value;

/// A JSON `POST /users` carrying `body`, as a sign-up form sends it.
pub fn sign_up(body: &str) -> Value {
    HttpApiRequest {
        path: "/users",
        body: Some(body.to_owned()),
        ..Default::default()
    }
    .event()
}
