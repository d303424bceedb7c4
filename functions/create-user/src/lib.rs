//! create-user: `POST /users` signs a user up. A plain core (`domain`) over the ports of the
//! users table (the `user-store` crate, with its DynamoDB and SNS adapters), the edge around
//! it (`password`, `token`, `timing`), and a thin Lambda handler that maps the invoking event
//! to the use case and back (`http`, `handler`).

pub mod config;
pub mod domain;
pub mod handler;
pub mod http;
pub mod init;
pub mod password;
pub mod timing;
pub mod token;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
