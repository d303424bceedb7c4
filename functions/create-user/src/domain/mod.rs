//! The plain core: what a sign-up is and what makes one valid. No Lambda, no AWS.

pub mod signup;
pub mod validation;
