//! create-user: `POST /users` signs a user up, pending until the address is proven;
//! `POST /users/verification` asks for the verification email again. A plain core (`domain`)
//! over the ports of the users table (the `user-store` crate, with its DynamoDB and SNS
//! adapters), its own adapters (`adapters`: the phase clock's decorators), the edge around it
//! (`password`, `timing`, `request_line`), and a thin Lambda handler that maps the
//! invoking event to the use case and back (`http`, `handler`).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod handler;
pub mod http;
pub mod init;
pub mod password;
pub mod request_line;
pub mod timing;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
