//! The invoking event of an HTTP API request (payload format 2.0), as API Gateway and function
//! URLs send it: one builder for the functions' tests, the benchmark's inputs and the local
//! HTTP API (xtask's bridge), so that the event's shape is written once.

use serde_json::{Map, Value, json};

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
    /// The other headers, as API Gateway passes them: names lower-cased, a repeated header's
    /// values joined with commas, no `cookie` (that is [`Self::cookies`]).
    pub headers: &'a [(String, String)],
    /// The request's cookies, one each, from its `Cookie` headers.
    pub cookies: &'a [String],
    /// The route's path parameters (`{id}` in `/users/{id}`) as the path carries them; the
    /// event has them decoded.
    pub path_parameters: &'a [(String, String)],
    pub body: Option<String>,
    /// Marks the body as base64, as API Gateway marks binary ones (encoded by the caller, or
    /// not, to test what a bad encoding gets).
    pub base64: bool,
    /// `?a=b&c=d`, without the `?`, as the client sent it; `queryStringParameters` are its
    /// parameters decoded, a repeated one's values joined with commas.
    pub query: &'a str,
    /// The client's address (`requestContext.http.sourceIp`).
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// `requestContext.requestId`: API Gateway's id of the request.
    pub request_id: &'a str,
    /// When the request came, in epoch milliseconds (`requestContext.timeEpoch`) and as API
    /// Gateway writes it (`requestContext.time`, `12/Mar/2020:19:03:58 +0000`).
    pub time_epoch_ms: u64,
    pub time: &'a str,
}

impl Default for HttpApiRequest<'_> {
    fn default() -> Self {
        Self {
            method: "POST",
            path: "/",
            route_key: "$default",
            content_type: Some("application/json"),
            headers: &[],
            cookies: &[],
            path_parameters: &[],
            body: None,
            base64: false,
            query: "",
            source_ip: "203.0.113.1",
            user_agent: "test",
            request_id: "test",
            time_epoch_ms: 0,
            time: "01/Jan/1970:00:00:00 +0000",
        }
    }
}

impl HttpApiRequest<'_> {
    /// The invoking event. Like API Gateway's, it has no `body`, `cookies`,
    /// `queryStringParameters` or `pathParameters` when the request has none.
    pub fn event(&self) -> Value {
        let mut headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect();
        if let Some(ct) = self.content_type {
            headers.insert("content-type".into(), ct.into());
        }
        let mut parameters: Map<String, Value> = Map::new();
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decoded(value);
            match parameters.get_mut(&percent_decoded(name)) {
                Some(Value::String(joined)) => *joined = format!("{joined},{value}"),
                _ => {
                    parameters.insert(percent_decoded(name), value.into());
                }
            }
        }
        let mut event = json!({
            "version": "2.0", "routeKey": self.route_key, "rawPath": self.path, "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {"http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                                        "sourceIp": self.source_ip, "userAgent": self.user_agent},
                               "requestId": self.request_id, "routeKey": self.route_key, "stage": "$default",
                               "time": self.time, "timeEpoch": self.time_epoch_ms},
            "isBase64Encoded": self.base64
        });
        let optional = [
            ("body", self.body.clone().map(Value::from)),
            ("cookies", (!self.cookies.is_empty()).then(|| json!(self.cookies))),
            (
                "queryStringParameters",
                (!parameters.is_empty()).then(|| parameters.into()),
            ),
            (
                "pathParameters",
                (!self.path_parameters.is_empty()).then(|| {
                    let parameters: Map<String, Value> = self
                        .path_parameters
                        .iter()
                        .map(|(name, value)| (name.clone(), Value::from(percent_decoded(value))))
                        .collect();
                    parameters.into()
                }),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                event[key] = value;
            }
        }
        event
    }
}

/// `%XX` decoded, as API Gateway decodes query parameters; bytes that are not UTF-8 become
/// U+FFFD (the event is JSON, which carries text).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_a_repeated_one_joined() {
        let event = HttpApiRequest {
            query: "token=a%2Eb&x=1&x=2&flag",
            ..Default::default()
        }
        .event();
        assert_eq!(event["rawQueryString"], "token=a%2Eb&x=1&x=2&flag");
        assert_eq!(
            event["queryStringParameters"],
            json!({"token": "a.b", "x": "1,2", "flag": ""})
        );
    }

    #[test]
    fn what_the_request_lacks_the_event_lacks() {
        let event = HttpApiRequest::default().event();
        for key in ["body", "cookies", "queryStringParameters", "pathParameters"] {
            assert!(event.get(key).is_none(), "{key} in {event}");
        }
        assert_eq!(percent_decoded("%e2%82%ac%zz%"), "€%zz%");
        assert_eq!(percent_decoded("%ff"), "\u{fffd}");
    }
}
