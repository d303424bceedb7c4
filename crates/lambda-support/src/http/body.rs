//! Reading a request's body strictly: within [`MAX_BODY_BYTES`], of the media type the route
//! reads, valid UTF-8, and (JSON) no key twice or (a form) no field twice.

use super::{ErrorCode, HttpRequest, Reply};
use crate::strict_json;
use base64::Engine;
use serde_json::{Value, json};

/// Larger bodies are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

impl HttpRequest {
    /// The body's bytes: decoded from base64 if it is marked so, within the size limit.
    pub fn body_bytes(&self) -> Result<Vec<u8>, Reply> {
        let raw = self.body.as_deref().unwrap_or_default();
        // Checked before decoding too, so a huge base64 body is never decoded.
        if raw.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
            return Err(too_large());
        }
        let bytes = if self.base64 {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|_| Reply::error(ErrorCode::InvalidBody, "body is marked base64 but is not valid base64"))?
        } else {
            raw.as_bytes().to_vec()
        };
        if bytes.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

pub(super) fn too_large() -> Reply {
    Reply::error_with(
        ErrorCode::PayloadTooLarge,
        json!({"message": "body too large", "limit_bytes": MAX_BODY_BYTES}),
    )
}

/// The body of a JSON request as one JSON value: exactly one `Content-Type` naming JSON, within
/// the size limit, valid UTF-8, with no key twice. `what` says what to send, for the messages.
///
/// The media type is required, not just checked when present: a page on another site can POST
/// without a Content-Type (or as text/plain) in a CORS "simple request", with no preflight,
/// and so act for its visitors; it cannot send application/json without our CORS say-so.
pub fn json_body(request: &HttpRequest, what: &str) -> Result<Value, Reply> {
    if !request.media_type().as_deref().is_some_and(is_json) {
        return Err(Reply::error(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json, with Content-Type: application/json",
        ));
    }
    let bytes = request.body_bytes()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::error(
            ErrorCode::InvalidJson,
            &format!("body is empty; send a JSON object with {what}"),
        ));
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|_| Reply::error(ErrorCode::InvalidBody, "body is not valid UTF-8"))?;
    strict_json::parse(text).map_err(|e| match e.classify() {
        // The only data error [`strict_json::parse`] raises: a key twice.
        serde_json::error::Category::Data => Reply::error(
            ErrorCode::InvalidJson,
            &format!("body is ambiguous: {e}; send each key once"),
        ),
        _ => Reply::error(ErrorCode::InvalidJson, &format!("body is not valid JSON: {e}")),
    })
}

/// The fields of an `application/x-www-form-urlencoded` body (what an HTML form posts), each
/// name at most once.
pub fn form_body(request: &HttpRequest) -> Result<Vec<(String, String)>, Reply> {
    let bytes = request.body_bytes()?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| Reply::error(ErrorCode::InvalidBody, "body is not valid UTF-8"))?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name)?, percent_decode(value)?);
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(Reply::error(ErrorCode::InvalidBody, "a form field is sent twice"));
        }
        fields.push((name, value));
    }
    Ok(fields)
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space, `%XX` a
/// byte; the bytes must be UTF-8.
fn percent_decode(text: &str) -> Result<String, Reply> {
    let bad = || Reply::error(ErrorCode::InvalidBody, "the form body is not valid URL encoding");
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [rest.next().ok_or_else(bad)?, rest.next().ok_or_else(bad)?];
                let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
                bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// `application/json`, or any `application/*+json` (a media type already lower-cased and
/// without parameters: [`HttpRequest::media_type`]).
fn is_json(essence: &str) -> bool {
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}
