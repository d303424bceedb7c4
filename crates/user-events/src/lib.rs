//! The `user.created` event, version 1: the contract between create-user (publisher) and
//! send-email (consumer). The same JSON bytes travel as the SNS message and, with raw delivery,
//! as the SQS body; with the SNS envelope they sit in its `Message` field.
//!
//! The event carries the public user only. There is no field for a password or its hash, so no
//! code path can put one in an event.

pub mod trace;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The value of `event_type`, in the body and in the SNS message attribute of the same name.
pub const EVENT_TYPE: &str = "user.created";
/// The contract version this crate reads and writes.
pub const VERSION: u32 = 1;

/// SNS message attribute names; the subscription's filter policy selects on `event_type`.
pub mod attributes {
    pub const EVENT_TYPE: &str = "event_type";
    pub const VERSION: &str = "version";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    pub event_id: Uuid,
    pub event_type: String,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub user: PublicUser,
}

/// What other services may know about a user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The id and the time only: a `{:?}` of a user (or of its event) in a log line must carry
/// neither a name nor an address.
impl std::fmt::Debug for PublicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicUser")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl UserCreated {
    pub fn new(event_id: Uuid, occurred_at: OffsetDateTime, user: PublicUser) -> Self {
        Self {
            event_id,
            event_type: EVENT_TYPE.to_owned(),
            version: VERSION,
            occurred_at,
            user,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event of strings, numbers and uuids always serialises")
    }
}

/// Why one SQS message could not be read as a `user.created` v1 event. Each is a failure of
/// that message only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("SNS envelope without a string Message")]
    BadEnvelope,
    #[error("event_type is {0:?}, not {EVENT_TYPE:?}")]
    WrongEventType(String),
    #[error("unsupported version {0} (this consumer reads version {VERSION})")]
    UnsupportedVersion(String),
    #[error("not a valid user.created event: {0}")]
    Invalid(String),
}

/// A JSON error as a log line may carry it: what kind of error and where, never the text it
/// quotes (serde quotes the offending value, which may be an email address or worse).
pub fn describe(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "wrong shape or type",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// A field's value as an error may quote it: short scalars as they are, anything else by its
/// kind only (the error ends up in a log line).
fn quoted(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let plain = matches!(
        value,
        serde_json::Value::String(_) | serde_json::Value::Number(_) | serde_json::Value::Bool(_)
    );
    if plain && text.len() <= 32 && !text.contains('@') {
        text
    } else {
        "<a value not shown>".into()
    }
}

/// Decodes an SQS body that is either the SNS envelope (`Type: Notification`, the event in
/// `Message`) or the event itself (raw delivery). Unknown fields are ignored.
pub fn decode_sqs_body(body: &str) -> Result<UserCreated, DecodeError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| DecodeError::NotJson(describe(&e)))?;
    let event = if value.get("Type").and_then(|t| t.as_str()) == Some("Notification") {
        let message = value
            .get("Message")
            .and_then(|m| m.as_str())
            .ok_or(DecodeError::BadEnvelope)?;
        serde_json::from_str(message).map_err(|e| DecodeError::NotJson(describe(&e)))?
    } else {
        value
    };
    match event.get("event_type") {
        Some(serde_json::Value::String(t)) if t == EVENT_TYPE => {}
        other => {
            return Err(DecodeError::WrongEventType(other.map(quoted).unwrap_or_default()));
        }
    }
    match event.get("version") {
        Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
        other => {
            return Err(DecodeError::UnsupportedVersion(other.map(quoted).unwrap_or_default()));
        }
    }
    serde_json::from_value(event).map_err(|e| DecodeError::Invalid(describe(&e)))
}

/// Events for tests, from one source: the producers' and consumers' tests build theirs here
/// (the `testing` feature) instead of each writing its own copy of the contract.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::{PublicUser, UserCreated};
    use time::OffsetDateTime;
    use uuid::Uuid;

    /// A user named `name` with `email`, with a fresh id, created now.
    pub fn user(name: &str, email: &str) -> PublicUser {
        PublicUser {
            id: Uuid::new_v4(),
            name: name.into(),
            email: email.into(),
            created_at: OffsetDateTime::now_utc(),
        }
    }

    /// The `user.created` event of a new [`user`]: a fresh event id, occurring as it is created.
    pub fn user_created(name: &str, email: &str) -> UserCreated {
        let user = user(name, email);
        UserCreated::new(Uuid::new_v4(), user.created_at, user)
    }

    /// A fresh X-Ray trace header of a sampled trace, as Lambda hands one to an invocation.
    pub fn trace_header() -> crate::trace::TraceHeader {
        let [id, parent] = [Uuid::new_v4().simple().to_string(), Uuid::new_v4().simple().to_string()];
        let seconds = OffsetDateTime::now_utc().unix_timestamp();
        let header = format!("Root=1-{seconds:08x}-{};Parent={};Sampled=1", &id[..24], &parent[..16]);
        crate::trace::TraceHeader::parse(&header).expect("a well-formed header")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn sample() -> UserCreated {
        UserCreated::new(
            Uuid::from_u128(1),
            datetime!(2026-11-27 10:00:00 UTC),
            PublicUser {
                id: Uuid::from_u128(2),
                name: "Ann".into(),
                email: "ann@example.com".into(),
                created_at: datetime!(2026-11-27 10:00:00 UTC),
            },
        )
    }

    #[test]
    fn serialises_to_the_documented_shape() {
        let json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(
            json,
            json!({"event_id": "00000000-0000-0000-0000-000000000001", "event_type": "user.created", "version": 1,
                   "occurred_at": "2026-11-27T10:00:00Z",
                   "user": {"id": "00000000-0000-0000-0000-000000000002", "name": "Ann", "email": "ann@example.com",
                            "created_at": "2026-11-27T10:00:00Z"}})
        );
    }

    #[test]
    fn debug_shows_no_name_and_no_address() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("Ann") && !shown.contains("ann@"), "{shown}");
        assert!(
            shown.contains("00000000-0000-0000-0000-000000000002"),
            "the user's id: {shown}"
        );
    }

    #[test]
    fn decodes_raw_delivery_and_the_sns_envelope_alike() {
        let raw = sample().to_json();
        let envelope = json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn", "Message": raw}).to_string();
        assert_eq!(decode_sqs_body(&raw), Ok(sample()));
        assert_eq!(decode_sqs_body(&envelope), Ok(sample()));
    }

    #[test]
    fn ignores_unknown_fields() {
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        value["added_later"] = json!({"x": 1});
        value["user"]["plan"] = json!("pro");
        assert_eq!(decode_sqs_body(&value.to_string()), Ok(sample()));
    }

    #[test]
    fn rejects_what_is_not_a_v1_user_created_event() {
        let mut v2: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v2["version"] = json!(2);
        assert!(matches!(decode_sqs_body(&v2.to_string()), Err(DecodeError::UnsupportedVersion(v)) if v == "2"));
        let mut other: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        other["event_type"] = json!("user.deleted");
        assert!(matches!(
            decode_sqs_body(&other.to_string()),
            Err(DecodeError::WrongEventType(_))
        ));
        assert!(matches!(decode_sqs_body("Message Body"), Err(DecodeError::NotJson(_))));
        assert_eq!(
            decode_sqs_body(r#"{"Type":"Notification","Message":7}"#),
            Err(DecodeError::BadEnvelope)
        );
        let no_user = json!({"event_type": "user.created", "version": 1, "event_id": "x"}).to_string();
        assert!(matches!(decode_sqs_body(&no_user), Err(DecodeError::Invalid(_))));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn event(name: String, email: String, seed: u128) -> UserCreated {
        let at = OffsetDateTime::from_unix_timestamp((seed % 4_000_000_000) as i64).unwrap();
        UserCreated::new(
            Uuid::from_u128(seed),
            at,
            PublicUser {
                id: Uuid::from_u128(seed.rotate_left(7)),
                name,
                email,
                created_at: at,
            },
        )
    }

    proptest! {
        /// Any string is decoded or refused; none panics.
        #[test]
        fn decoding_never_panics(body in ".*") {
            let _ = decode_sqs_body(&body);
        }

        /// Raw and enveloped deliveries of any event decode to the event.
        #[test]
        fn round_trips_raw_and_enveloped(name in ".*", email in ".*", seed in any::<u128>()) {
            let event = event(name, email, seed);
            let raw = event.to_json();
            let envelope = serde_json::json!({"Type": "Notification", "Message": raw}).to_string();
            prop_assert_eq!(decode_sqs_body(&raw), Ok(event.clone()));
            prop_assert_eq!(decode_sqs_body(&envelope), Ok(event));
        }

        /// Any version but 1 fails only as an unsupported version.
        #[test]
        fn other_versions_are_refused(version in any::<i64>().prop_filter("not 1", |v| *v != 1)) {
            let mut value: serde_json::Value = serde_json::from_str(&event("A".into(), "a@b.io".into(), 1).to_json()).unwrap();
            value["version"] = version.into();
            let is_unsupported = matches!(decode_sqs_body(&value.to_string()), Err(DecodeError::UnsupportedVersion(_)));
            prop_assert!(is_unsupported);
        }
    }
}
