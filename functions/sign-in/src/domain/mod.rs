//! The plain core: what signing in checks, and in what order. No Lambda, no AWS.

pub mod sign_in;
