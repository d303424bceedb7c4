//! The plain core: what proving an address does. No Lambda, no AWS.

pub mod verify;
