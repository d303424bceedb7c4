//! What a function answers: a [`Reply`], and its rendering in the shape of the event that
//! invoked the function.

use super::{ErrorCode, EventShape};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value, json};

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
            json!({"message": "too many requests; try again later", "retry_after_seconds": seconds}),
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
