//! The HTTP edge every API function shares: whatever event invoked the function (HTTP API v2 /
//! function URL, REST API v1 proxy, or a direct invoke with the JSON body itself) read into one
//! [`Invocation`], the body read strictly ([`json_body`]: size, media type, encoding, no key
//! twice), and a [`Reply`] written back in the shape that event expects. The error codes of
//! every answer are [`ErrorCode`]'s: the one list of them.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value, json};

/// Larger bodies are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Which kind of event invoked the function; the reply takes the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    HttpApiV2,
    RestApiV1,
    Direct,
}

impl EventShape {
    /// The shape of an invoking event, by the keys only its kind has.
    pub fn of(event: &Value) -> Self {
        if event.pointer("/requestContext/http").is_some() {
            EventShape::HttpApiV2
        } else if event.get("httpMethod").is_some() {
            EventShape::RestApiV1
        } else {
            EventShape::Direct
        }
    }
}

/// Why a request was not done: the `error` of the answer's body, with its status. The one list
/// of them, for every function of the HTTP API: the metrics' `Reason` dimension names these
/// words and no others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the fields broke the rules (`fields` says which, how).
    Validation,
    /// 400: the body is not one JSON object with each key once.
    InvalidJson,
    /// 400: the body is not UTF-8, or not the base64 it is marked as.
    InvalidBody,
    /// 400: the invoking event is no API Gateway event this function reads.
    InvalidEvent,
    /// 400: not a verification token of ours (malformed, empty, tampered with, another key's,
    /// another purpose's).
    InvalidToken,
    /// 401: wrong password, unknown address, or an address not verified yet: one answer for
    /// the three.
    InvalidCredentials,
    /// 409: the verification link was used (the address is verified).
    TokenUsed,
    /// 409: a newer sign-up with the address replaced the one this link confirms.
    TokenSuperseded,
    /// 410: the verification link, or the pending sign-up it confirms, has expired.
    TokenExpired,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 415: not exactly one `Content-Type` the route reads.
    UnsupportedMediaType,
    /// 404: no such route.
    NotFound,
    /// 405: the route has no such method.
    MethodNotAllowed,
    /// 429: this client sent more than its limit; `Retry-After` says when to try again.
    TooManyRequests,
    /// 503, retryable: a dependency failed or timed out (the users table, a signing key).
    ServiceUnavailable,
    /// 500.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::Validation,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidEvent,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidCredentials,
        ErrorCode::TokenUsed,
        ErrorCode::TokenSuperseded,
        ErrorCode::TokenExpired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TooManyRequests,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "validation",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TokenUsed => "token_used",
            ErrorCode::TokenSuperseded => "token_superseded",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Validation
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidBody
            | ErrorCode::InvalidEvent
            | ErrorCode::InvalidToken => 400,
            ErrorCode::InvalidCredentials => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TokenUsed | ErrorCode::TokenSuperseded => 409,
            ErrorCode::TokenExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }
}

/// What a reply carries: JSON, or a page.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    Json(Value),
    Html(String),
}

/// A status, a body, and extra headers; for an error, its code.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Vec<(header::HeaderName, String)>,
    pub error: Option<ErrorCode>,
}

impl Reply {
    /// A success.
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
            error: None,
        }
    }

    /// A page (`text/html`).
    pub fn html(status: u16, page: String) -> Self {
        Self {
            body: ReplyBody::Html(page),
            ..Self::new(status, Value::Null)
        }
    }

    /// An error with a message for a person.
    pub fn error(code: ErrorCode, message: &str) -> Self {
        Self::error_with(code, json!({"message": message}))
    }

    /// An error with other fields than a message: `details` is a JSON object, merged into the
    /// body after `error`.
    pub fn error_with(code: ErrorCode, details: Value) -> Self {
        let mut body = Map::from_iter([("error".to_owned(), Value::from(code.as_str()))]);
        if let Value::Object(details) = details {
            body.extend(details);
        }
        Self {
            error: Some(code),
            ..Self::new(code.status(), Value::Object(body))
        }
    }

    /// 503, retryable, with the request id to quote: the client's retry, a second later, can
    /// succeed.
    pub fn unavailable(request_id: &str) -> Self {
        Self::error_with(
            ErrorCode::ServiceUnavailable,
            json!({"retryable": true, "request_id": request_id}),
        )
        .with_header(header::RETRY_AFTER, "1".into())
    }

    /// 500, with the request id to quote (the cause is in the log, never in the answer).
    pub fn internal(request_id: &str) -> Self {
        Self::error_with(ErrorCode::Internal, json!({"request_id": request_id}))
    }

    /// 429: over a limit until `retry_after` seconds from now.
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let seconds = retry_after.as_secs().max(1);
        Self::error_with(
            ErrorCode::TooManyRequests,
            json!({"message": "too many requests from this client; try again later", "retry_after_seconds": seconds}),
        )
        .with_header(header::RETRY_AFTER, seconds.to_string())
    }

    pub fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The JSON body, if it is one.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            ReplyBody::Json(value) => Some(value),
            ReplyBody::Html(_) => None,
        }
    }
}

/// The parts of an HTTP request the functions look at.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub query: QueryMap,
    pub body: Option<String>,
    pub base64: bool,
    /// The client's address as API Gateway saw it (`requestContext.http.sourceIp`, REST v1's
    /// `identity.sourceIp`): what per-client limits count by.
    pub source_ip: Option<String>,
}

impl HttpRequest {
    /// Whether the path is `route`: on an HTTP API's default stage it is the path itself, on a
    /// named stage `/<stage><route>`; a trailing slash is the same path.
    pub fn is(&self, route: &str) -> bool {
        let path = self.path.trim_end_matches('/');
        path == route
            || path
                .strip_suffix(route)
                .is_some_and(|stage| stage.starts_with('/') && !stage[1..].contains('/'))
    }

    /// `Err(405)` naming `allowed` unless the method is one of them.
    pub fn allow(&self, allowed: &[Method]) -> Result<(), Reply> {
        if allowed.contains(&self.method) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let list = names.join(", ");
        Err(Reply::error(ErrorCode::MethodNotAllowed, &format!("use {list}")).with_header(header::ALLOW, list))
    }

    /// The one `Content-Type`'s media type, lower-cased, without parameters; `None` if there
    /// is none or more than one (two are ambiguous).
    pub fn media_type(&self) -> Option<String> {
        let mut content_types = self.headers.get_all(header::CONTENT_TYPE).iter();
        match (content_types.next(), content_types.next()) {
            (Some(ct), None) => ct
                .to_str()
                .ok()
                .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
                .filter(|essence| !essence.contains(',')),
            _ => None,
        }
    }

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

/// What invoked the function.
#[derive(Debug, Clone)]
pub enum Invocation {
    Http(HttpRequest),
    /// A direct invoke: the payload is the body itself.
    Direct(Value),
}

/// Reads the event: `Ok` the request to route, `Err(reply)` an answer already (an event this
/// function does not read, or a direct invoke too large).
pub fn read_event(event: Value) -> (EventShape, Result<Invocation, Reply>) {
    let shape = EventShape::of(&event);
    if shape == EventShape::HttpApiV2 {
        let request = serde_json::from_value::<ApiGatewayV2httpRequest>(event).map(|r| HttpRequest {
            method: r.request_context.http.method,
            path: r.raw_path.or(r.request_context.http.path).unwrap_or_default(),
            headers: r.headers,
            query: r.query_string_parameters,
            body: r.body,
            base64: r.is_base64_encoded,
            source_ip: r.request_context.http.source_ip,
        });
        (
            EventShape::HttpApiV2,
            request.map(Invocation::Http).map_err(unreadable_event),
        )
    } else if shape == EventShape::RestApiV1 {
        let request = serde_json::from_value::<ApiGatewayProxyRequest>(event).map(|r| HttpRequest {
            method: r.http_method,
            path: r.path.unwrap_or_default(),
            headers: every_value(r.headers, r.multi_value_headers),
            query: r.query_string_parameters,
            body: r.body,
            base64: r.is_base64_encoded,
            source_ip: r.request_context.identity.source_ip,
        });
        (
            EventShape::RestApiV1,
            request.map(Invocation::Http).map_err(unreadable_event),
        )
    } else {
        // A direct invoke carries the body itself. It reaches us already parsed: lambda_runtime
        // turns the invoke payload into a `Value` with serde_json, which keeps the last of
        // duplicate keys silently, so unlike an HTTP body ([`parse_json`]) it cannot be
        // checked for them here. Direct invokes need IAM rights to the function; HTTP bodies
        // come from anyone.
        let size = event.to_string().len();
        let result = if size > MAX_BODY_BYTES {
            Err(too_large())
        } else {
            Ok(Invocation::Direct(event))
        };
        (EventShape::Direct, result)
    }
}

/// A REST API v1 event's headers with every value: `headers` holds only the last value of a
/// repeated header, `multiValueHeaders` all of them. Reading `headers` alone would take
/// `Content-Type: text/plain` then `Content-Type: application/json` for one JSON header.
fn every_value(last: HeaderMap, all: HeaderMap) -> HeaderMap {
    let mut headers = all;
    for (name, value) in &last {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers
}

fn unreadable_event(e: serde_json::Error) -> Reply {
    Reply::error(
        ErrorCode::InvalidEvent,
        &format!("not a readable API Gateway event: {e}"),
    )
}

fn too_large() -> Reply {
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
    parse_json(text).map_err(|e| match e.classify() {
        // The only data error [`Unique`] raises.
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

/// Like `serde_json::from_str::<Value>`, but an object that has a key twice, at any depth, is
/// an error rather than its last value: parsers disagree on which one wins (first, last, or an
/// error), so a proxy, a WAF or a log reader could see another sign-up than we store. Keys
/// are compared as decoded, so `"name"` and `"n\u0061me"` are one key. serde_json's nesting
/// limit (128) still applies.
fn parse_json(text: &str) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Unique(value) = Unique::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value whose objects have no duplicate keys.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own Value: JSON text has no NaN or infinity to reach this with.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                // Cut, so that a huge key sent twice does not make a huge error body.
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format_args!("duplicate key {shown:?}")));
            }
            let Unique(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// `application/json`, or any `application/*+json` (a media type already lower-cased and
/// without parameters: [`HttpRequest::media_type`]).
fn is_json(essence: &str) -> bool {
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The metrics every API function reports of its answers: its refusals and failures, by
/// [`ErrorCode`] (the `metrics` facade; [`crate::metrics`] writes them as EMF).
pub mod metric {
    use super::ErrorCode;

    /// Requests answered 4xx, all reasons: FunctionName only.
    pub const REJECTIONS: &str = "Rejections";
    /// The same by [`REASON`], the answer's error code (a document has one dimension set:
    /// hence a metric of its own).
    pub const REJECTIONS_BY_REASON: &str = "RejectionsByReason";
    /// Requests answered 5xx (503 retryable, 500), all reasons: FunctionName only.
    pub const SERVER_ERRORS: &str = "ServerErrors";
    /// The same by [`REASON`]: `service_unavailable` or `internal`.
    pub const SERVER_ERRORS_BY_REASON: &str = "ServerErrorsByReason";
    /// The dimension: the answer's [`ErrorCode`], fixed words of the code, never a value from
    /// the request.
    pub const REASON: &str = "Reason";

    /// Units for the recorder; once, at init.
    pub fn describe() {
        use metrics::{Unit, describe_counter};
        describe_counter!(REJECTIONS, Unit::Count, "requests answered 4xx");
        describe_counter!(
            REJECTIONS_BY_REASON,
            Unit::Count,
            "requests answered 4xx, by error code"
        );
        describe_counter!(SERVER_ERRORS, Unit::Count, "requests answered 5xx");
        describe_counter!(
            SERVER_ERRORS_BY_REASON,
            Unit::Count,
            "requests answered 5xx, by error code"
        );
    }

    /// Counts one answer: the totals on every request (0 when it moved none), the reason's
    /// count when it had one.
    pub fn count(status: u16, error: Option<ErrorCode>) {
        let (rejected, failed) = ((400..500).contains(&status), status >= 500);
        metrics::counter!(REJECTIONS).increment(u64::from(rejected));
        metrics::counter!(SERVER_ERRORS).increment(u64::from(failed));
        if let Some(code) = error {
            let name = if failed {
                SERVER_ERRORS_BY_REASON
            } else {
                REJECTIONS_BY_REASON
            };
            metrics::counter!(name, REASON => code.as_str()).increment(1);
        }
    }
}

/// The reply in the shape the invoking event expects.
pub fn render(reply: Reply, shape: EventShape) -> Value {
    let mut headers = HeaderMap::new();
    let (content_type, text) = match &reply.body {
        ReplyBody::Json(value) => ("application/json", value.to_string()),
        ReplyBody::Html(page) => ("text/html; charset=utf-8", page.clone()),
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in &reply.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    }
    let body = Some(Body::Text(text));
    let response = match shape {
        EventShape::HttpApiV2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = i64::from(reply.status);
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        EventShape::RestApiV1 => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = i64::from(reply.status);
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        EventShape::Direct => {
            let body = match reply.body {
                ReplyBody::Json(value) => value,
                ReplyBody::Html(page) => Value::String(page),
            };
            return json!({"statusCode": reply.status, "body": body});
        }
    };
    response.expect("API Gateway responses always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_a_word_of_its_own_with_a_4xx_or_5xx_status() {
        let words: std::collections::BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(words.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert!(
                code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code:?}"
            );
            let reply = Reply::error_with(code, json!({"retryable": true}));
            assert_eq!((reply.status, reply.error), (code.status(), Some(code)));
            assert_eq!(reply.json(), Some(&json!({"error": code.as_str(), "retryable": true})));
        }
    }

    fn v2(method: &str, path: &str, body: Option<&str>, base64: bool, content_type: Option<&str>) -> Value {
        crate::testing::HttpApiRequest {
            method,
            path,
            content_type,
            body: body.map(str::to_owned),
            base64,
            ..Default::default()
        }
        .event()
    }

    /// What the sign-up route reads of `event`: its JSON body, or the status it is refused with.
    fn status(event: Value) -> Result<Value, u16> {
        post_json(event).map_err(|r| r.status)
    }

    fn post_json(event: Value) -> Result<Value, Reply> {
        match read_event(event).1? {
            Invocation::Http(request) => {
                if !request.is("/users") {
                    return Err(Reply::error(ErrorCode::NotFound, "no such route"));
                }
                request.allow(&[Method::POST])?;
                json_body(&request, "name, email and password")
            }
            Invocation::Direct(body) => Ok(body),
        }
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn a_route_is_its_path_on_any_stage_and_nothing_under_it() {
        let request = |path: &str| match read_event(v2("GET", path, None, false, None)).1.unwrap() {
            Invocation::Http(r) => r,
            Invocation::Direct(_) => unreachable!(),
        };
        assert!(request("/users").is("/users"));
        assert!(request("/users/").is("/users"));
        assert!(request("/prod/users").is("/users"));
        assert!(request("/users/verify").is("/users/verify"));
        assert!(!request("/users/verify").is("/users"));
        assert!(!request("/a/b/users").is("/users"));
        assert!(!request("/xusers").is("/users"));
        assert!(!request("/").is("/users"));
    }

    #[test]
    fn the_client_address_is_api_gateways_source_ip() {
        let Invocation::Http(v2) = read_event(v2("POST", "/users", None, false, JSON)).1.unwrap() else {
            unreachable!()
        };
        assert_eq!(v2.source_ip.as_deref(), Some("203.0.113.1"));
        let v1 = json!({"httpMethod": "POST", "path": "/users", "headers": {},
                        "requestContext": {"httpMethod": "POST", "identity": {"sourceIp": "198.51.100.7"}}});
        let Invocation::Http(v1) = read_event(v1).1.unwrap() else {
            unreachable!()
        };
        assert_eq!(v1.source_ip.as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn form_bodies_are_url_decoded_with_each_field_once() {
        let form = |body: &str| {
            let Invocation::Http(r) = read_event(v2(
                "POST",
                "/users/verify",
                Some(body),
                false,
                Some("application/x-www-form-urlencoded"),
            ))
            .1
            .unwrap() else {
                unreachable!()
            };
            form_body(&r).map_err(|r| r.status)
        };
        assert_eq!(
            form("token=a.b-c_d&x=1+2%21"),
            Ok(vec![("token".into(), "a.b-c_d".into()), ("x".into(), "1 2!".into())])
        );
        assert_eq!(form("token=a&token=b"), Err(400));
        assert_eq!(form("token=%zz"), Err(400));
        assert_eq!(form("token=%ff"), Err(400), "not UTF-8");
        assert_eq!(form(""), Ok(vec![]));
    }

    #[test]
    fn routes_post_users_only() {
        let body = Some(r#"{"a":1}"#);
        assert_eq!(status(v2("POST", "/users", body, false, JSON)), Ok(json!({"a": 1})));
        assert_eq!(
            status(v2("POST", "/prod/users/", body, false, JSON)),
            Ok(json!({"a": 1}))
        );
        // The route and the method are checked before the media type.
        assert_eq!(status(v2("GET", "/users", None, false, None)), Err(405));
        assert_eq!(status(v2("POST", "/", body, false, None)), Err(404));
        assert_eq!(status(v2("POST", "/users/x", body, false, JSON)), Err(404));
    }

    #[test]
    fn decodes_base64_bodies_and_refuses_bad_ones() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"a":1}"#);
        assert_eq!(
            status(v2("POST", "/users", Some(&encoded), true, JSON)),
            Ok(json!({"a": 1}))
        );
        assert_eq!(status(v2("POST", "/users", Some("%%%"), true, JSON)), Err(400));
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        assert_eq!(status(v2("POST", "/users", Some(&not_utf8), true, JSON)), Err(400));
        assert_eq!(
            status(v2("POST", "/users", Some(&encoded), true, None)),
            Err(415),
            "base64 needs the header too"
        );
    }

    #[test]
    fn a_content_type_is_required() {
        let body = Some(r#"{"a":1}"#);
        let refused = post_json(v2("POST", "/users", body, false, None)).unwrap_err();
        assert_eq!(refused.status, 415);
        assert_eq!(refused.json().unwrap()["error"], "unsupported_media_type");
        for bad in [
            "",
            "json",
            "application/jsonx",
            "text/json",
            "application/json, text/plain",
        ] {
            assert_eq!(
                status(v2("POST", "/users", body, false, Some(bad))),
                Err(415),
                "{bad:?}"
            );
        }
        // REST API v1 as well, whatever the header's case.
        let v1 = |headers: Value| {
            json!({"httpMethod": "POST", "path": "/users", "headers": headers, "requestContext": {"httpMethod": "POST"},
                   "body": r#"{"a":1}"#, "isBase64Encoded": false})
        };
        assert_eq!(status(v1(json!({}))), Err(415));
        assert_eq!(
            status(v1(json!({"Content-Type": "application/json"}))),
            Ok(json!({"a": 1}))
        );
        // REST v1 puts a repeated header's last value in `headers`, all of them in
        // `multiValueHeaders`: two are two, whatever the last one says.
        let v1_multi = |multi: Value| {
            let mut event = v1(json!({"Content-Type": "application/json"}));
            event["multiValueHeaders"] = multi;
            event
        };
        assert_eq!(
            status(v1_multi(json!({"Content-Type": ["text/plain", "application/json"]}))),
            Err(415)
        );
        assert_eq!(
            status(v1_multi(json!({"Content-Type": ["application/json"]}))),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            status(v1_multi(json!({"Accept": ["*/*"]}))),
            Ok(json!({"a": 1})),
            "a header only in `headers` still counts"
        );
        // Two Content-Type headers are ambiguous, even if both say JSON.
        let mut headers = HeaderMap::new();
        for ct in ["application/json", "text/plain"] {
            headers.append(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let request = |headers: HeaderMap| HttpRequest {
            method: Method::POST,
            path: "/users".into(),
            headers,
            query: QueryMap::default(),
            body: Some("{}".into()),
            base64: false,
            source_ip: None,
        };
        let body = |headers: HeaderMap| json_body(&request(headers), "fields");
        assert_eq!(body(headers.clone()).unwrap_err().status, 415);
        headers.remove(header::CONTENT_TYPE);
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(body(headers.clone()), Ok(json!({})));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(body(headers).unwrap_err().status, 415);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let post = |body: &str| post_json(v2("POST", "/users", Some(body), false, JSON));
        for body in [
            r#"{"name":"a","name":"b","email":"a@b.io","password":"12345678"}"#,
            r#"{"name":"a","email":"a@b.io","password":"12345678","name":"a"}"#,
            r#"{"name":"a","n\u0061me":"b"}"#,
            r#"{"x":{"name":1,"name":2}}"#,
            r#"[1,{"y":[{"name":1,"name":2}]}]"#,
        ] {
            let reply = post(body).expect_err(body);
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.json().unwrap()["error"], "invalid_json", "{body}");
            let message = reply.json().unwrap()["message"].as_str().unwrap();
            assert!(message.contains(r#"duplicate key "name""#), "{body}: {message}");
        }
        // One key in two objects is no duplicate.
        assert_eq!(
            post(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#),
            Ok(json!({"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}))
        );
        // A huge key sent twice makes no huge error.
        let key = "k".repeat(5000);
        let reply = post(&format!(r#"{{"{key}":1,"{key}":2}}"#)).unwrap_err();
        assert!(reply.json().unwrap().to_string().len() < 300, "{:?}", reply.body);
    }

    #[test]
    fn media_type_size_and_syntax() {
        assert_eq!(
            status(v2("POST", "/users", Some("{}"), false, Some("text/plain"))),
            Err(415)
        );
        assert!(
            status(v2(
                "POST",
                "/users",
                Some("{}"),
                false,
                Some("Application/JSON; charset=utf-8")
            ))
            .is_ok()
        );
        assert!(
            status(v2(
                "POST",
                "/users",
                Some("{}"),
                false,
                Some("application/merge-patch+json")
            ))
            .is_ok()
        );
        let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(status(v2("POST", "/users", Some(&big), false, JSON)), Err(413));
        assert_eq!(status(v2("POST", "/users", Some("{"), false, JSON)), Err(400));
        assert_eq!(status(v2("POST", "/users", Some("{} x"), false, JSON)), Err(400));
        assert_eq!(status(v2("POST", "/users", Some("  "), false, JSON)), Err(400));
        assert_eq!(status(v2("POST", "/users", None, false, JSON)), Err(400));
        assert_eq!(status(v2("POST", "/users", Some("{}"), false, None)), Err(415));
    }

    #[test]
    fn direct_invoke_is_the_body_and_gets_a_plain_reply() {
        let (shape, body) = read_event(json!({"name": "Ann"}));
        assert_eq!(shape, EventShape::Direct);
        assert!(matches!(body, Ok(Invocation::Direct(b)) if b == json!({"name": "Ann"})));
        let big = json!({"name": "a".repeat(MAX_BODY_BYTES)});
        assert_eq!(read_event(big).1.unwrap_err().status, 413);
        let reply = render(Reply::new(202, json!({"ok": true})), EventShape::Direct);
        assert_eq!(reply, json!({"statusCode": 202, "body": {"ok": true}}));
        let page = render(Reply::html(200, "<p>hi</p>".into()), EventShape::HttpApiV2);
        assert_eq!(page["headers"]["content-type"], "text/html; charset=utf-8");
        assert_eq!(page["body"], "<p>hi</p>");
    }

    #[test]
    fn api_gateway_replies_carry_status_json_body_and_headers() {
        let reply = Reply::error(ErrorCode::MethodNotAllowed, "use POST").with_header(header::ALLOW, "POST".into());
        let v2 = render(reply.clone(), EventShape::HttpApiV2);
        assert_eq!(v2["statusCode"], 405);
        assert_eq!(v2["headers"]["content-type"], "application/json");
        assert_eq!(v2["headers"]["allow"], "POST");
        let body: Value = serde_json::from_str(v2["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "method_not_allowed");
        assert_eq!(render(reply, EventShape::RestApiV1)["statusCode"], 405);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..6).prop_map(|m| json!(m)),
            ]
        })
    }

    proptest! {
        /// Where no key repeats, the strict parser reads what serde_json reads.
        #[test]
        fn parses_like_serde_json_without_duplicates(value in any_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
            prop_assert_eq!(parse_json(&text).unwrap(), serde_json::from_str::<Value>(&text).unwrap());
        }

        /// On any text: what it accepts, serde_json accepts and reads the same.
        #[test]
        fn accepts_nothing_serde_json_refuses(text in r#"[\[\]{}":,0-9a-z\\ .eE+-]{0,40}"#) {
            if let Ok(value) = parse_json(&text) {
                prop_assert_eq!(Ok(value), serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
            }
        }
    }
}
