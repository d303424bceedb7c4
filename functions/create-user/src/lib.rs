//! create-user: `POST /users` signs a user up. A plain core (`domain`) with ports for storage
//! and publishing, AWS adapters at the edge (`adapters`), and a thin Lambda handler that maps
//! the invoking event to the use case and back (`http`, `handler`).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod handler;
pub mod http;
pub mod init;
pub mod token;
