//! The users table and its transactional outbox: a user, its email guard and its
//! `user.created` event written in one transaction, and the event published to SNS.
//!
//! A crate of its own because two functions need it and neither should depend on the other:
//! create-user writes users and publishes their events, publish-outbox publishes the events
//! create-user could not. Before, publish-outbox linked create-user's whole function crate
//! (HTTP, validation, JWT) to reach this code.
//!
//! The ports ([`users::UserStore`], [`outbox::Outbox`], [`outbox::EventPublisher`]) and the
//! outbox's [`outbox::flush`] are plain Rust; [`adapters`] implements the ports on DynamoDB
//! and SNS; `testing` (a cargo feature) has in-memory doubles for other crates' unit tests.

pub mod adapters;
pub mod outbox;
pub mod users;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
