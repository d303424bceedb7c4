//! For tests: the use case with a test key and small limits no test meets unless it lowers
//! them, and the invoking event of a sign-in. For this crate's unit tests and, through the
//! `testing` feature, its integration tests.

use crate::domain::sign_in::{Limits, SignIn};
use lambda_support::testing::HttpApiRequest;
use serde_json::Value;
use std::time::Duration;
use tokens::key::Key;
use tokens::session::SessionIssuer;
use user_store::limits::RateLimiter;
use user_store::users::UserStore;

/// The secret of the test key: [`SessionIssuer::for_tests`] of it.
pub const SESSION_SECRET: [u8; 32] = [9u8; 32];

/// The use case over `store`: bcrypt cost 4, the test key, limits of 10,000.
pub fn sign_in<S: UserStore + RateLimiter>(store: S) -> SignIn<S> {
    let limits = Limits {
        per_client: (10_000, Duration::from_secs(300)),
        failures_per_account: (10_000, Duration::from_secs(900)),
    };
    SignIn::new(store, Key::from(SessionIssuer::for_tests(&SESSION_SECRET)), 4, limits)
}

/// `POST /sessions` with `body`, from the client `source_ip`.
pub fn post(body: &str, source_ip: &str) -> Value {
    HttpApiRequest {
        path: "/sessions",
        body: Some(body.to_owned()),
        source_ip,
        ..Default::default()
    }
    .event()
}
