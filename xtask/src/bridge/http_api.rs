//! API Gateway's HTTP API, locally: every route of the template's HTTP API under one base URL
//! (`API_URL`), routed by the template's own route table (its functions' `HttpApi` events),
//! each request turned into the payload 2.0 event API Gateway sends, the function invoked at
//! cargo lambda's invoke endpoint within its `Timeout`, and its answer turned back into HTTP.
//!
//! API Gateway answers some requests itself, with its own `{"message": ...}` body (openapi.yaml's
//! `GatewayMessage`), and so does this: no route for the method and path, 404 `Not Found`; a
//! body over its 10 MB, 413 `Request Entity Too Large`; a function that failed, timed out or
//! answered what is no HTTP response, 500 `Internal Server Error`.
//!
//! Why not `cargo lambda watch`'s function URLs (`/lambda-url/<function>/...`): they serve one
//! function each under its own prefix, so no client can be pointed at "the API", and they
//! rebuild the request before the function sees it. Measured with cargo-lambda 1.9.2: a JSON
//! body that is not UTF-8, or a header value that is not, gets cargo lambda's own 500
//! (`{"type":"https://httpstatuses.com/500",...}`) and never reaches the function; a header
//! value that is UTF-8 but not ASCII is dropped (a second `Content-Type` with one reached the
//! function as if there were one `Content-Type`). Here the bytes are kept, as API Gateway
//! keeps them:
//!
//! - a body is passed as text when its `Content-Type` is one API Gateway passes as text
//!   (`text/*`, `application/json`, `application/xml`, `application/javascript`) and it is
//!   UTF-8; any other body is base64 with `isBase64Encoded: true`. The list is the one measured
//!   on AWS (HTTP API, payload 2.0) by ministack's maintainers (ministackorg/ministack#766):
//!   a form post (`application/x-www-form-urlencoded`) and a body without `Content-Type` come
//!   base64 too. A text type's body that is not UTF-8 is base64 here as well, so that the
//!   function sees its bytes and refuses them (`400 invalid_body`);
//! - a header value is passed as the text its bytes are in UTF-8, as API Gateway passes a
//!   UTF-8 one (lambda_http reads such values since aws-lambda-rust-runtime#800); bytes that are
//!   not UTF-8 are read as ISO-8859-1, their historical charset (RFC 9110 5.5), since the
//!   event is JSON and carries text.
//!
//! The rest of the event is API Gateway's: the route's key, `rawPath` and `rawQueryString` as
//! sent, the query's parameters decoded (a repeated one joined with commas), headers
//! lower-cased (a repeated one joined with commas), `cookies` from the `Cookie` headers, the
//! client's address as `sourceIp` (and `x-forwarded-for`), a request id (also the answer's
//! `apigw-requestid`) and the time. A request line per request goes to the bridge's log, with
//! no query string (tokens travel there) and no body.

mod event;
mod route;

use super::invoke;
use crate::local::template::Template;
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use event::{Received, request_id};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response};
pub use route::{Route, route};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// API Gateway's limit on an HTTP API request's body: past it, its own 413.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The local HTTP API: its routes, and where their functions are invoked.
pub struct HttpApi {
    pub http: reqwest::Client,
    pub functions_port: u16,
    pub routes: Vec<Route>,
}

impl HttpApi {
    /// The template's HTTP API: its routes, each with its function's `Timeout`.
    pub fn for_template(template: &Template, http: reqwest::Client, functions_port: u16) -> Result<Self> {
        let routes = template
            .http_api_routes()?
            .into_iter()
            .map(|r| {
                let timeout = template.function_timeout(&r.function)?;
                Ok(Route {
                    key: r.key,
                    function: r.function,
                    timeout,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if routes.is_empty() {
            bail!("template.yaml has no HttpApi events: no HTTP API to serve");
        }
        Ok(Self {
            http,
            functions_port,
            routes,
        })
    }

    /// Serves the API on `listener` until the process is stopped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        let keys: Vec<&str> = self.routes.iter().map(|r| r.key.as_str()).collect();
        eprintln!(
            "bridge: the HTTP API at {}: {}",
            local_stack::loopback_url(listener.local_addr()?.port()),
            keys.join(", ")
        );
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: the next accept may succeed.
                    eprintln!("bridge: api: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let api = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let api = api.clone();
                    async move { Ok::<_, std::convert::Infallible>(api.answer(request, peer).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = connection.await {
                    eprintln!("bridge: api: connection from {peer}: {e}");
                }
            });
        }
    }

    /// The answer to one request, as API Gateway would give it.
    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let request_id = request_id();
        let (parts, body) = request.into_parts();
        let (method, path) = (parts.method.as_str(), parts.uri.path());
        // Read whatever the answer, so that the client, done sending, reads it.
        let body = read_body(body).await;
        let (mut answer, what) = match (route(&self.routes, method, path), body) {
            (None, _) => (gateway(404, "Not Found"), format!("{method} {path}")),
            (Some((route, _)), Err(refusal)) => (refusal, route.key.clone()),
            (Some((route, parameters)), Ok(bytes)) => {
                let request = Received {
                    parts: &parts,
                    body: &bytes,
                    peer,
                    request_id: &request_id,
                };
                let answer = self.invoke(route, &request.event(route, &parameters)).await;
                (answer, route.key.clone())
            }
        };
        answer.headers_mut().insert(
            "apigw-requestid",
            HeaderValue::from_str(&request_id).expect("base64 is ASCII"),
        );
        eprintln!(
            "bridge: api {request_id} {} \"{what}\" {} {} ms",
            peer.ip(),
            answer.status().as_u16(),
            started.elapsed().as_millis()
        );
        answer
    }

    /// The function's answer, or API Gateway's 500 when it has none to give.
    async fn invoke(&self, route: &Route, event: &Value) -> Response<Full<Bytes>> {
        let reply = invoke(&self.http, self.functions_port, &route.function, event, route.timeout).await;
        // Not the answer itself in the log: it may carry a session token.
        let what = || format!("{}: its answer is no HTTP response", route.function);
        match reply.and_then(|reply| response(&reply).with_context(what)) {
            Ok(response) => response,
            Err(e) => {
                eprintln!("bridge: api: {e:#}");
                gateway(500, "Internal Server Error")
            }
        }
    }
}

/// The body, within API Gateway's limit (else its 413). A body over it is still read (up to
/// four times the limit), and dropped: a client still sending it would otherwise meet a closed
/// connection rather than the 413.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, Response<Full<Bytes>>> {
    let mut bytes = Vec::new();
    let mut length = 0;
    while let Some(frame) = body.frame().await {
        // The client went away mid-body, or sent a broken chunk.
        let frame = frame.map_err(|_| gateway(400, "Bad Request"))?;
        let Ok(data) = frame.into_data() else { continue };
        length += data.len();
        if length > 4 * MAX_BODY_BYTES {
            break;
        } else if length <= MAX_BODY_BYTES {
            bytes.extend_from_slice(&data);
        }
    }
    if length > MAX_BODY_BYTES {
        return Err(gateway(413, "Request Entity Too Large"));
    }
    Ok(bytes)
}

/// The HTTP response of a function's payload 2.0 answer. Format 2.0 reads `statusCode`,
/// `headers`, `cookies` (each a `Set-Cookie`), `body` and `isBase64Encoded`, and nothing else:
/// a `multiValueHeaders` (which lambda_http's and aws_lambda_events' responses carry beside
/// `headers`) is ignored, as API Gateway ignores it. An answer without `statusCode` is the body
/// itself: 200, JSON.
pub fn response(reply: &Value) -> Result<Response<Full<Bytes>>> {
    let Some(status) = reply.get("statusCode") else {
        return Ok(Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(reply.to_string())))?);
    };
    let status = status
        .as_u64()
        .filter(|s| (100..=599).contains(s))
        .with_context(|| format!("statusCode {status} is no HTTP status"))?;
    let mut builder = Response::builder().status(status as u16);
    for (name, value) in reply.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let value = match value {
            Value::String(text) => text.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            Value::Null => continue,
            other => bail!("the header {name} is {other}, not text"),
        };
        builder = builder.header(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(&value)?);
    }
    for cookie in reply.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        let cookie = cookie.as_str().context("a cookie that is not text")?;
        builder = builder.header("set-cookie", HeaderValue::from_str(cookie)?);
    }
    let body = match reply.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if reply["isBase64Encoded"] == true => {
            STANDARD.decode(text).context("a body marked base64 that is not")?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => bail!("the body is {other}, not text"),
    };
    Ok(builder.body(Full::new(Bytes::from(body)))?)
}

/// API Gateway's own answer: `{"message": ...}`, JSON.
fn gateway(status: u16, message: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(json!({ "message": message }).to_string())))
        .expect("a valid status and header")
}

/// Listens on `port` on loopback.
pub async fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind((local_stack::LOOPBACK, port))
        .await
        .with_context(|| format!("listening on {}", local_stack::loopback_url(port)))
}
