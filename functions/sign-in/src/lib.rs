//! sign-in: `POST /sessions` gives a verified user a session again. A wrong password, an
//! unknown address and an address not verified yet get one answer, after the same work, so
//! neither its body nor its time tells them apart; a client and an account each have a limit.
//! A plain core (`domain`) over the users table's ports and the session key, a thin handler
//! around it (`http`, `handler`).

pub mod config;
pub mod domain;
pub mod handler;
pub mod http;
pub mod init;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
