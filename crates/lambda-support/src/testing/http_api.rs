//! The invoking event of an HTTP API request (payload format 2.0), as API Gateway and function
//! URLs send it: one builder for create-user's tests and for the benchmark's inputs, so that
//! the event's shape is written once.

use serde_json::{Value, json};

/// One HTTP API request. The default is a JSON `POST /` without a body, on the `$default`
/// route (as a function URL sends it).
#[derive(Debug, Clone)]
pub struct HttpApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// `$default` for a function URL and an HTTP API's catch-all route, `POST /users` for an
    /// API Gateway route of its own (what the template declares).
    pub route_key: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Option<String>,
    /// Marks the body as base64, as API Gateway marks binary ones (encoded by the caller, or
    /// not, to test what a bad encoding gets).
    pub base64: bool,
    /// `?a=b&c=d`, without the `?`.
    pub query: &'a str,
    /// The client's address (`requestContext.http.sourceIp`).
    pub source_ip: &'a str,
}

impl Default for HttpApiRequest<'_> {
    fn default() -> Self {
        Self {
            method: "POST",
            path: "/",
            route_key: "$default",
            content_type: Some("application/json"),
            body: None,
            base64: false,
            query: "",
            source_ip: "203.0.113.1",
        }
    }
}

impl HttpApiRequest<'_> {
    /// The invoking event.
    pub fn event(&self) -> Value {
        let headers = match self.content_type {
            Some(ct) => json!({"content-type": ct}),
            None => json!({}),
        };
        let parameters: serde_json::Map<String, Value> = self
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), Value::from(v))
            })
            .collect();
        json!({
            "version": "2.0", "routeKey": self.route_key, "rawPath": self.path, "rawQueryString": self.query,
            "queryStringParameters": parameters,
            "headers": headers,
            "requestContext": {"http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                                        "sourceIp": self.source_ip, "userAgent": "test"},
                               "requestId": "test", "stage": "$default", "timeEpoch": 0},
            "body": self.body, "isBase64Encoded": self.base64
        })
    }
}
