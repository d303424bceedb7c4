//! create-user's own adapters. Its ports' real ones, DynamoDB's and SNS's, are the
//! `user-store` crate's, shared with the functions that read the same table; here is what this
//! function wraps them in.

pub mod timed;
