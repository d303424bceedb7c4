//! The users table: users and their email guards through their life (pending, verified), the
//! transactional outbox that writes each change with its event and publishes it to SNS, and the
//! rate limits counted in the same table.
//!
//! A crate of its own because several functions need it and none should depend on another:
//! create-user and verify-email write users and publish their events, publish-outbox publishes
//! the events they could not. Before, publish-outbox linked create-user's whole function crate
//! (HTTP, validation, JWT) to reach this code.
//!
//! The ports ([`users::UserStore`], [`outbox::Outbox`], [`outbox::EventPublisher`],
//! [`limits::RateLimiter`]) and the
//! outbox's [`outbox::flush`] are plain Rust; [`adapters`] implements the ports on DynamoDB
//! and SNS; `testing` (a cargo feature) has in-memory doubles for other crates' unit tests.
//! [`claims`] and [`dynamo`] are what this crate's DynamoDB code shares with send-email's.

pub mod adapters;
pub mod claims;
pub mod dynamo;
pub mod limits;
pub mod outbox;
pub mod passwords;
pub mod users;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
