//! The plain core: what the emails say, and how one event becomes at most one email, within the
//! recipient's caps.

pub mod deliver;
pub mod emails;
