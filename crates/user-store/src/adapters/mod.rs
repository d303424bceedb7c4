//! The ports' AWS implementations.

pub mod dynamodb;
pub mod sns;
