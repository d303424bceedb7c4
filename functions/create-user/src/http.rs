//! The edge: turns whatever event invoked us (HTTP API v2 / function URL, REST API v1 proxy, or
//! a direct invoke with the JSON body itself) into a JSON body for the core, and a [`Reply`]
//! back into the response shape that event expects.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use serde_json::{Value, json};

/// Larger sign-up bodies are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Which kind of event invoked the function; the reply takes the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    HttpApiV2,
    RestApiV1,
    Direct,
}

/// A status, a JSON body, and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(header::HeaderName, String)>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub fn error(status: u16, error: &str, message: &str) -> Self {
        Self::new(status, json!({"error": error, "message": message}))
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
pub fn parse_event(event: Value) -> (Transport, Result<Value, Reply>) {
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
            Transport::HttpApiV2,
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
            Transport::RestApiV1,
            request.map_err(unreadable_event).and_then(|r| route(&r)),
        )
    } else {
        // A direct invoke carries the body itself.
        let size = event.to_string().len();
        let result = if size > MAX_BODY_BYTES {
            Err(too_large())
        } else {
            Ok(event)
        };
        (Transport::Direct, result)
    }
}

fn unreadable_event(e: serde_json::Error) -> Reply {
    Reply::error(400, "invalid_event", &format!("not a readable API Gateway event: {e}"))
}

fn too_large() -> Reply {
    Reply::new(
        413,
        json!({"error": "payload_too_large", "message": "body too large", "limit_bytes": MAX_BODY_BYTES}),
    )
}

fn route(request: &HttpRequest) -> Result<Value, Reply> {
    // `/users` on an HTTP API's default stage, `/<stage>/users` on a named one.
    if !request.path.trim_end_matches('/').ends_with("/users") {
        return Err(Reply::error(
            404,
            "not_found",
            "no such route; sign up with POST /users",
        ));
    }
    if request.method != Method::POST {
        return Err(Reply::error(405, "method_not_allowed", "use POST").with_header(header::ALLOW, "POST".into()));
    }
    if let Some(content_type) = request.headers.get(header::CONTENT_TYPE)
        && !is_json(content_type)
    {
        return Err(Reply::error(
            415,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let raw = request.body.as_deref().unwrap_or_default();
    // Checked before decoding too, so a huge base64 body is never decoded.
    if raw.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(too_large());
    }
    let bytes = if request.base64 {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| Reply::error(400, "invalid_body", "body is marked base64 but is not valid base64"))?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::error(
            400,
            "invalid_json",
            "body is empty; send a JSON object with name, email and password",
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Reply::error(400, "invalid_body", "body is not valid UTF-8"))?;
    serde_json::from_str(text).map_err(|e| Reply::error(400, "invalid_json", &format!("body is not valid JSON: {e}")))
}

/// `application/json`, any `application/*+json`, with or without parameters.
fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The reply in the shape the invoking event expects.
pub fn render(reply: Reply, transport: Transport) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in &reply.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    }
    let body = Some(Body::Text(reply.body.to_string()));
    let response = match transport {
        Transport::HttpApiV2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = i64::from(reply.status);
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Transport::RestApiV1 => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = i64::from(reply.status);
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Transport::Direct => return json!({"statusCode": reply.status, "body": reply.body}),
    };
    response.expect("API Gateway responses always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(method: &str, path: &str, body: Option<&str>, base64: bool, content_type: Option<&str>) -> Value {
        let mut headers = serde_json::Map::new();
        if let Some(ct) = content_type {
            headers.insert("content-type".into(), json!(ct));
        }
        json!({"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
               "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                                  "requestId": "r", "stage": "$default", "timeEpoch": 0},
               "body": body, "isBase64Encoded": base64})
    }

    fn status(event: Value) -> Result<Value, u16> {
        parse_event(event).1.map_err(|r| r.status)
    }

    #[test]
    fn routes_post_users_only() {
        let body = Some(r#"{"a":1}"#);
        assert_eq!(
            status(v2("POST", "/users", body, false, Some("application/json"))),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            status(v2("POST", "/prod/users/", body, false, None)),
            Ok(json!({"a": 1}))
        );
        assert_eq!(status(v2("GET", "/users", None, false, None)), Err(405));
        assert_eq!(status(v2("POST", "/", body, false, None)), Err(404));
        assert_eq!(status(v2("POST", "/users/x", body, false, None)), Err(404));
    }

    #[test]
    fn decodes_base64_bodies_and_refuses_bad_ones() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"a":1}"#);
        assert_eq!(
            status(v2("POST", "/users", Some(&encoded), true, None)),
            Ok(json!({"a": 1}))
        );
        assert_eq!(status(v2("POST", "/users", Some("%%%"), true, None)), Err(400));
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        assert_eq!(status(v2("POST", "/users", Some(&not_utf8), true, None)), Err(400));
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
        assert_eq!(status(v2("POST", "/users", Some(&big), false, None)), Err(413));
        assert_eq!(status(v2("POST", "/users", Some("{"), false, None)), Err(400));
        assert_eq!(status(v2("POST", "/users", Some("  "), false, None)), Err(400));
        assert_eq!(status(v2("POST", "/users", None, false, None)), Err(400));
    }

    #[test]
    fn direct_invoke_is_the_body_and_gets_a_plain_reply() {
        let (transport, body) = parse_event(json!({"name": "Ann"}));
        assert_eq!((transport, body), (Transport::Direct, Ok(json!({"name": "Ann"}))));
        let big = json!({"name": "a".repeat(MAX_BODY_BYTES)});
        assert_eq!(parse_event(big).1.unwrap_err().status, 413);
        let reply = render(Reply::new(201, json!({"ok": true})), Transport::Direct);
        assert_eq!(reply, json!({"statusCode": 201, "body": {"ok": true}}));
    }

    #[test]
    fn api_gateway_replies_carry_status_json_body_and_headers() {
        let reply = Reply::error(405, "method_not_allowed", "use POST").with_header(header::ALLOW, "POST".into());
        let v2 = render(reply.clone(), Transport::HttpApiV2);
        assert_eq!(v2["statusCode"], 405);
        assert_eq!(v2["headers"]["content-type"], "application/json");
        assert_eq!(v2["headers"]["allow"], "POST");
        let body: Value = serde_json::from_str(v2["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "method_not_allowed");
        assert_eq!(render(reply, Transport::RestApiV1)["statusCode"], 405);
    }

    #[test]
    fn the_sample_events_are_valid_sign_ups() {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for (file, transport) in [
            ("create-user.json", Transport::HttpApiV2),
            ("create-user-direct.json", Transport::Direct),
        ] {
            let event: Value = serde_json::from_str(&std::fs::read_to_string(events.join(file)).unwrap()).unwrap();
            let (got, body) = parse_event(event);
            assert_eq!(got, transport, "{file}");
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
