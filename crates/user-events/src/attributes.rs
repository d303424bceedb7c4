//! SNS message attribute names; the subscription's filter policy selects on `event_type`.

pub const EVENT_TYPE: &str = "event_type";
pub const VERSION: &str = "version";
