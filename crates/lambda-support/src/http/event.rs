//! Reading the invoking event: its shape (HTTP API v2 / function URL, REST API v1 proxy, or a
//! direct invoke), and the request in it as one [`HttpRequest`] whatever the shape.

use super::body::{MAX_BODY_BYTES, too_large};
use super::{ErrorCode, Reply};
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::http::{HeaderMap, Method, header};
use aws_lambda_events::query_map::QueryMap;
use serde_json::Value;

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
        // duplicate keys silently, so unlike an HTTP body ([`crate::strict_json`]) it cannot be
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
