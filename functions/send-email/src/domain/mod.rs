//! The plain core: what the welcome email says, and how one event becomes exactly one email.

pub mod deliver;
pub mod welcome;
