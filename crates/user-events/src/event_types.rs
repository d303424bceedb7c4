//! The `event_type` of each event, in the body and in the SNS message attribute of the same
//! name (the subscription's filter policy selects on it).

pub const USER_CREATED: &str = "user.created";
pub const VERIFICATION_REQUESTED: &str = "user.verification_requested";
pub const SIGN_UP_ATTEMPTED: &str = "user.sign_up_attempted";
pub const USER_VERIFIED: &str = "user.verified";
/// What the email queue's subscription takes: every event that is an email.
pub const EMAILED: [&str; 3] = [USER_CREATED, VERIFICATION_REQUESTED, SIGN_UP_ATTEMPTED];
