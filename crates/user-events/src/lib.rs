//! The user events: the contract between their publishers (create-user, verify-email) and
//! their consumers (send-email, and whatever a team subscribes to the topic). The same JSON
//! bytes travel as the SNS message and, with raw delivery, as the SQS body; with the SNS
//! envelope they sit in its `Message` field.
//!
//! | `event_type` | published when | send-email |
//! |---|---|---|
//! | `user.created` | a sign-up with a new address: the user is stored, pending | the verification email |
//! | `user.verification_requested` | a sign-up again, or a resend, for a pending address | the verification email again |
//! | `user.sign_up_attempted` | a sign-up with an address whose owner is verified | a short notice, no link |
//! | `user.verified` | the address is proven (verify-email) | nothing (the subscription filters it out) |
//!
//! Every event is version 1. The events carry no password and no hash (there is no field for
//! one), and no token: send-email mints the verification link itself.

pub mod address;
pub mod attributes;
mod decode;
pub mod event_types;
pub mod trace;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use decode::{DecodeError, decode_sqs_body, describe};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The contract version this crate reads and writes, of every event type.
pub const VERSION: u32 = 1;

/// What a publisher needs of an event: its id, type and version, and its JSON.
pub trait Event: Serialize {
    fn event_id(&self) -> Uuid;
    fn event_type(&self) -> &str;
    fn version(&self) -> u32;
    fn to_json(&self) -> String;
}

/// The header every event starts with.
macro_rules! event {
    ($name:ident, $doc:literal, { $($(#[$meta:meta])* pub $field:ident: $ty:ty),* $(,)? }) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub event_id: Uuid,
            pub event_type: String,
            pub version: u32,
            #[serde(with = "time::serde::rfc3339")]
            pub occurred_at: OffsetDateTime,
            $($(#[$meta])* pub $field: $ty),*
        }

        impl $name {
            /// The event's JSON, as published.
            pub fn to_json(&self) -> String {
                serde_json::to_string(self).expect("an event of strings, numbers and uuids always serialises")
            }
        }

        impl Event for $name {
            fn event_id(&self) -> Uuid {
                self.event_id
            }
            fn event_type(&self) -> &str {
                &self.event_type
            }
            fn version(&self) -> u32 {
                self.version
            }
            fn to_json(&self) -> String {
                Self::to_json(self)
            }
        }
    };
}

event!(UserCreated, "A sign-up with a new address: the user is stored, pending until the address is proven. Its credential (the password it set) is the user's first: [`first_credential`].", {
    pub user: PublicUser,
});

event!(VerificationRequested, "A pending address asked for its verification email again: a new sign-up, which replaced the password and so the credential, or a resend.", {
    pub user: Recipient,
    /// The credential a link must confirm: the one the pending user holds now.
    pub credential_id: Uuid,
    pub reason: RequestReason,
});

event!(SignUpAttempted, "Someone signed up with the address of a verified user: the owner gets a notice.", {
    pub user: Recipient,
});

event!(UserVerified, "The address of a pending user is proven: the user can sign in.", {
    pub user: PublicUser,
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
});

/// Why a verification email is asked for again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestReason {
    /// `POST /users` again, with a new password.
    SignUpAgain,
    /// `POST /users/verification`.
    Resend,
}

/// The form two addresses are compared in: `Ann@X.io` and `ann@x.io` are one account, one
/// guard, one recipient.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// The credential of a user's first sign-up has the user's id: a `user.created` event needs
/// no field for it, and a link minted from one confirms that first sign-up.
pub fn first_credential(user_id: Uuid) -> Uuid {
    user_id
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

/// Whom an email goes to: the user's id and address, and nothing the user typed besides.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub id: Uuid,
    pub email: String,
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

/// The id only, as [`PublicUser`]'s.
impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl UserCreated {
    pub fn new(event_id: Uuid, occurred_at: OffsetDateTime, user: PublicUser) -> Self {
        Self {
            event_id,
            event_type: event_types::USER_CREATED.to_owned(),
            version: VERSION,
            occurred_at,
            user,
        }
    }
}

impl VerificationRequested {
    pub fn new(occurred_at: OffsetDateTime, user: Recipient, credential_id: Uuid, reason: RequestReason) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type: event_types::VERIFICATION_REQUESTED.to_owned(),
            version: VERSION,
            occurred_at,
            user,
            credential_id,
            reason,
        }
    }
}

impl SignUpAttempted {
    pub fn new(occurred_at: OffsetDateTime, user: Recipient) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type: event_types::SIGN_UP_ATTEMPTED.to_owned(),
            version: VERSION,
            occurred_at,
            user,
        }
    }
}

impl UserVerified {
    pub fn new(verified_at: OffsetDateTime, user: PublicUser) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type: event_types::USER_VERIFIED.to_owned(),
            version: VERSION,
            occurred_at: verified_at,
            user,
            verified_at,
        }
    }
}

/// Any event of the topic, as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    Created(UserCreated),
    VerificationRequested(VerificationRequested),
    SignUpAttempted(SignUpAttempted),
    Verified(UserVerified),
}

impl UserEvent {
    pub fn event_id(&self) -> Uuid {
        match self {
            Self::Created(e) => e.event_id,
            Self::VerificationRequested(e) => e.event_id,
            Self::SignUpAttempted(e) => e.event_id,
            Self::Verified(e) => e.event_id,
        }
    }

    /// When it happened.
    pub fn occurred_at(&self) -> OffsetDateTime {
        match self {
            Self::Created(e) => e.occurred_at,
            Self::VerificationRequested(e) => e.occurred_at,
            Self::SignUpAttempted(e) => e.occurred_at,
            Self::Verified(e) => e.occurred_at,
        }
    }

    /// The user the event is about.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::Created(e) => e.user.id,
            Self::VerificationRequested(e) => e.user.id,
            Self::SignUpAttempted(e) => e.user.id,
            Self::Verified(e) => e.user.id,
        }
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
    fn every_event_type_round_trips_with_its_own_type_and_version_1() {
        let created = testing::user_created("Ann", "ann@x.io");
        let requested = testing::verification_requested("ann@x.io");
        let attempted = testing::sign_up_attempted("ann@x.io");
        let verified = UserVerified::new(OffsetDateTime::now_utc(), testing::user("Ann", "ann@x.io"));
        let cases: [(String, UserEvent, &str); 4] = [
            (
                created.to_json(),
                UserEvent::Created(created.clone()),
                event_types::USER_CREATED,
            ),
            (
                requested.to_json(),
                UserEvent::VerificationRequested(requested.clone()),
                event_types::VERIFICATION_REQUESTED,
            ),
            (
                attempted.to_json(),
                UserEvent::SignUpAttempted(attempted.clone()),
                event_types::SIGN_UP_ATTEMPTED,
            ),
            (
                verified.to_json(),
                UserEvent::Verified(verified.clone()),
                event_types::USER_VERIFIED,
            ),
        ];
        for (json, event, event_type) in cases {
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                (value["event_type"].as_str(), value["version"].as_u64()),
                (Some(event_type), Some(1))
            );
            assert_eq!(decode_sqs_body(&json), Ok(event.clone()), "{event_type}");
            for word in ["password", "hash", "token"] {
                assert!(!json.contains(word), "{event_type} has no field for a {word}: {json}");
            }
            let shown = format!("{event:?}");
            assert!(!shown.contains("ann@") && !shown.contains("Ann"), "{shown}");
        }
        assert_eq!(
            serde_json::to_value(&requested).unwrap()["reason"],
            "resend",
            "a word of the contract"
        );
        assert_eq!(first_credential(created.user.id), created.user.id);
    }

    #[test]
    fn decodes_raw_delivery_and_the_sns_envelope_alike() {
        let raw = sample().to_json();
        let envelope = json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn", "Message": raw}).to_string();
        assert_eq!(decode_sqs_body(&raw), Ok(UserEvent::Created(sample())));
        assert_eq!(decode_sqs_body(&envelope), Ok(UserEvent::Created(sample())));
    }

    #[test]
    fn ignores_unknown_fields() {
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        value["added_later"] = json!({"x": 1});
        value["user"]["plan"] = json!("pro");
        assert_eq!(decode_sqs_body(&value.to_string()), Ok(UserEvent::Created(sample())));
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
            prop_assert_eq!(decode_sqs_body(&raw), Ok(UserEvent::Created(event.clone())));
            prop_assert_eq!(decode_sqs_body(&envelope), Ok(UserEvent::Created(event)));
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
