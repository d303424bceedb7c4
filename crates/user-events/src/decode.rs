//! Reading an SQS body as a user event: raw delivery or the SNS envelope, one contract version,
//! and errors that never quote what they read (they end up in log lines).

use crate::{UserEvent, VERSION, event_types};

/// Why one SQS message could not be read as a user event. Each is a failure of that message
/// only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("SNS envelope without a string Message")]
    BadEnvelope,
    #[error("event_type is {0:?}, not a user event")]
    WrongEventType(String),
    #[error("unsupported version {0} (this consumer reads version {VERSION})")]
    UnsupportedVersion(String),
    #[error("not a valid event of its type: {0}")]
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
pub fn decode_sqs_body(body: &str) -> Result<UserEvent, DecodeError> {
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
    let event_type = match event.get("event_type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        other => return Err(DecodeError::WrongEventType(other.map(quoted).unwrap_or_default())),
    };
    if !matches!(
        event_type.as_str(),
        event_types::USER_CREATED
            | event_types::VERIFICATION_REQUESTED
            | event_types::SIGN_UP_ATTEMPTED
            | event_types::USER_VERIFIED
    ) {
        return Err(DecodeError::WrongEventType(quoted(&serde_json::Value::String(
            event_type,
        ))));
    }
    match event.get("version") {
        Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
        other => {
            return Err(DecodeError::UnsupportedVersion(other.map(quoted).unwrap_or_default()));
        }
    }
    fn read<T: serde::de::DeserializeOwned>(event: serde_json::Value) -> Result<T, DecodeError> {
        serde_json::from_value(event).map_err(|e| DecodeError::Invalid(describe(&e)))
    }
    Ok(match event_type.as_str() {
        event_types::USER_CREATED => UserEvent::Created(read(event)?),
        event_types::VERIFICATION_REQUESTED => UserEvent::VerificationRequested(read(event)?),
        event_types::SIGN_UP_ATTEMPTED => UserEvent::SignUpAttempted(read(event)?),
        _ => UserEvent::Verified(read(event)?),
    })
}
