//! verify-email: the verification link's two halves. `GET /users/verify?token=` answers a page
//! whose button POSTs the token, and changes nothing (mail scanners open every link in a mail,
//! and must not use it up); `POST /users/verify` proves the address: the pending user becomes
//! verified, gets its session JWT, and `user.verified` is published. A plain core (`domain`)
//! over the users table's ports and the two keys, a thin handler around it (`http`, `handler`).

pub mod config;
pub mod domain;
pub mod handler;
pub mod http;
pub mod init;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
