//! The edge: turns whatever event invoked us (HTTP API v2 / function URL, REST API v1 proxy, or
//! a direct invoke with the JSON body itself) into a JSON body for the core, and a [`Reply`]
//! back into the response shape that event expects.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value, json};

/// Larger sign-up bodies are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Which kind of event invoked the function; the reply takes the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    HttpApiV2,
    RestApiV1,
    Direct,
}

/// Why a request was not signed up: the `error` of the answer's body, with its status. The
/// one list of them: the metrics' `Reason` dimension names these words and no others.
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
    /// 409: an account with the email exists.
    EmailTaken,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 415: not exactly one `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 404: not `/users`.
    NotFound,
    /// 405: not POST.
    MethodNotAllowed,
    /// 503, retryable: the user store failed or its transactions kept conflicting, or the JWT
    /// secret could not be read.
    ServiceUnavailable,
    /// 500.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::Validation,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidEvent,
        ErrorCode::EmailTaken,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ServiceUnavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "validation",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Validation | ErrorCode::InvalidJson | ErrorCode::InvalidBody | ErrorCode::InvalidEvent => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::EmailTaken => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Internal => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }
}

/// A status, a JSON body, and extra headers; for an error, its code.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(header::HeaderName, String)>,
    pub error: Option<ErrorCode>,
}

impl Reply {
    /// A success.
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
            error: None,
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

    pub fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The parts of an HTTP request this function looks at.
struct HttpRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Option<String>,
    base64: bool,
}

/// Reads the event: `Ok(body)` is the sign-up JSON to validate, `Err(reply)` an answer
/// already (wrong route, method, media type, size, or not JSON).
pub fn parse_event(event: Value) -> (EventShape, Result<Value, Reply>) {
    let is_v2 = event.pointer("/requestContext/http").is_some();
    let is_v1 = event.get("httpMethod").is_some();
    if is_v2 {
        let request = serde_json::from_value::<ApiGatewayV2httpRequest>(event).map(|r| HttpRequest {
            method: r.request_context.http.method,
            path: r.raw_path.or(r.request_context.http.path).unwrap_or_default(),
            headers: r.headers,
            body: r.body,
            base64: r.is_base64_encoded,
        });
        (
            EventShape::HttpApiV2,
            request.map_err(unreadable_event).and_then(|r| route(&r)),
        )
    } else if is_v1 {
        let request = serde_json::from_value::<ApiGatewayProxyRequest>(event).map(|r| HttpRequest {
            method: r.http_method,
            path: r.path.unwrap_or_default(),
            headers: r.headers,
            body: r.body,
            base64: r.is_base64_encoded,
        });
        (
            EventShape::RestApiV1,
            request.map_err(unreadable_event).and_then(|r| route(&r)),
        )
    } else {
        // A direct invoke carries the body itself. It reaches us already parsed: lambda_runtime
        // turns the invoke payload into a `Value` with serde_json, which keeps the last of
        // duplicate keys silently, so unlike an HTTP body ([`parse_json`]) it cannot be
        // checked for them here. Direct invokes need IAM rights to this function; HTTP bodies
        // come from anyone.
        let size = event.to_string().len();
        let result = if size > MAX_BODY_BYTES {
            Err(too_large())
        } else {
            Ok(event)
        };
        (EventShape::Direct, result)
    }
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

fn route(request: &HttpRequest) -> Result<Value, Reply> {
    // `/users` on an HTTP API's default stage, `/<stage>/users` on a named one.
    if !request.path.trim_end_matches('/').ends_with("/users") {
        return Err(Reply::error(
            ErrorCode::NotFound,
            "no such route; sign up with POST /users",
        ));
    }
    if request.method != Method::POST {
        return Err(Reply::error(ErrorCode::MethodNotAllowed, "use POST").with_header(header::ALLOW, "POST".into()));
    }
    // Required, not just checked when present: a page on another site can POST without a
    // Content-Type (or as text/plain) in a CORS "simple request", with no preflight, and so
    // sign its visitors up; it cannot send application/json without our CORS say-so. Exactly
    // one: two are ambiguous.
    let mut content_types = request.headers.get_all(header::CONTENT_TYPE).iter();
    if !matches!((content_types.next(), content_types.next()), (Some(ct), None) if is_json(ct)) {
        return Err(Reply::error(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json, with Content-Type: application/json",
        ));
    }
    json_body(request)
}

/// The body as one JSON value: decoded from base64 if it is marked so, within the size limit,
/// with no key twice.
fn json_body(request: &HttpRequest) -> Result<Value, Reply> {
    let raw = request.body.as_deref().unwrap_or_default();
    // Checked before decoding too, so a huge base64 body is never decoded.
    if raw.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(too_large());
    }
    let bytes = if request.base64 {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| Reply::error(ErrorCode::InvalidBody, "body is marked base64 but is not valid base64"))?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::error(
            ErrorCode::InvalidJson,
            "body is empty; send a JSON object with name, email and password",
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

/// `application/json`, any `application/*+json`, with or without parameters.
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The reply in the shape the invoking event expects.
pub fn render(reply: Reply, shape: EventShape) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in &reply.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    }
    let body = Some(Body::Text(reply.body.to_string()));
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
        EventShape::Direct => return json!({"statusCode": reply.status, "body": reply.body}),
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
            assert_eq!(reply.body, json!({"error": code.as_str(), "retryable": true}));
        }
    }

    fn v2(method: &str, path: &str, body: Option<&str>, base64: bool, content_type: Option<&str>) -> Value {
        lambda_support::testing::HttpApiRequest {
            method,
            path,
            content_type,
            body: body.map(str::to_owned),
            base64,
            ..Default::default()
        }
        .event()
    }

    fn status(event: Value) -> Result<Value, u16> {
        parse_event(event).1.map_err(|r| r.status)
    }

    const JSON: Option<&str> = Some("application/json");

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
        let refused = parse_event(v2("POST", "/users", body, false, None)).1.unwrap_err();
        assert_eq!(refused.status, 415);
        assert_eq!(refused.body["error"], "unsupported_media_type");
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
        // Two Content-Type headers are ambiguous, even if both say JSON.
        let mut headers = HeaderMap::new();
        for ct in ["application/json", "text/plain"] {
            headers.append(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let request = |headers: HeaderMap| HttpRequest {
            method: Method::POST,
            path: "/users".into(),
            headers,
            body: Some("{}".into()),
            base64: false,
        };
        assert_eq!(route(&request(headers.clone())).unwrap_err().status, 415);
        headers.remove(header::CONTENT_TYPE);
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(route(&request(headers.clone())), Ok(json!({})));
        headers.append(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(route(&request(headers)).unwrap_err().status, 415);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let post = |body: &str| parse_event(v2("POST", "/users", Some(body), false, JSON)).1;
        for body in [
            r#"{"name":"a","name":"b","email":"a@b.io","password":"12345678"}"#,
            r#"{"name":"a","email":"a@b.io","password":"12345678","name":"a"}"#,
            r#"{"name":"a","n\u0061me":"b"}"#,
            r#"{"x":{"name":1,"name":2}}"#,
            r#"[1,{"y":[{"name":1,"name":2}]}]"#,
        ] {
            let reply = post(body).expect_err(body);
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.body["error"], "invalid_json", "{body}");
            let message = reply.body["message"].as_str().unwrap();
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
        assert!(reply.body.to_string().len() < 300, "{}", reply.body);
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
        let (shape, body) = parse_event(json!({"name": "Ann"}));
        assert_eq!((shape, body), (EventShape::Direct, Ok(json!({"name": "Ann"}))));
        let big = json!({"name": "a".repeat(MAX_BODY_BYTES)});
        assert_eq!(parse_event(big).1.unwrap_err().status, 413);
        let reply = render(Reply::new(201, json!({"ok": true})), EventShape::Direct);
        assert_eq!(reply, json!({"statusCode": 201, "body": {"ok": true}}));
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

    #[test]
    fn the_sample_events_are_valid_sign_ups() {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for (file, shape) in [
            ("create-user.json", EventShape::HttpApiV2),
            ("create-user-direct.json", EventShape::Direct),
        ] {
            let event: Value = serde_json::from_str(&std::fs::read_to_string(events.join(file)).unwrap()).unwrap();
            let (got, body) = parse_event(event);
            assert_eq!(got, shape, "{file}");
            let body = body.unwrap_or_else(|r| panic!("{file}: {r:?}"));
            assert!(crate::domain::validation::validate(&body).is_ok(), "{file}");
        }
    }

    #[test]
    fn aws_fixture_events_get_json_errors() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/aws");
        let cases = [
            ("example-apigw-v2-request-no-authorizer.json", [404, 405].as_slice()),
            ("example-apigw-sam-http-request.json", &[404, 405]),
            ("example-apigw-request.json", &[400, 404]),
        ];
        for (file, allowed) in cases {
            let Ok(text) = std::fs::read_to_string(fixtures.join(file)) else {
                panic!("fixture {file} missing from {}", fixtures.display())
            };
            let (_, result) = parse_event(serde_json::from_str(&text).unwrap());
            let reply = result.expect_err(file);
            assert!(allowed.contains(&reply.status), "{file}: {}", reply.status);
            assert!(reply.body["error"].is_string());
        }
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
