//! The local HTTP API (`API_URL`, the bridge's): API Gateway's part, done locally.
//!
//! - In-process, against fake functions served on cargo lambda's invoke path: every route of
//!   template.yaml invokes its function with the payload 2.0 event API Gateway sends (the
//!   template's route key, the client's address, the query, headers, cookies and body as API
//!   Gateway passes them), the function's answer becomes the HTTP response, and API Gateway's
//!   own answers (404, 413, 500) come where it gives them. No stack needed.
//! - Through the stack's `API_URL` (`cargo xtask up`; `cargo xtask test` runs one): every route
//!   answers as its function does at its function URL, a body that is not UTF-8 reaches the
//!   function (and gets its `400 invalid_body`, not a 500), and a route the template lacks gets
//!   API Gateway's 404.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xtask::bridge::http_api::{self, HttpApi, Route};
use xtask::layout::Layout;
use xtask::local::template::Template;

// ---------------------------------------------------------------------------------------------
// In-process, with fake functions

/// Serves `POST /2015-03-31/functions/<name>/invocations` on a free loopback port, as cargo
/// lambda does, each function answering by its name (see [`answer_of`]). Dropping it stops
/// the server.
struct FakeFunctions {
    port: u16,
    server: Arc<tiny_http::Server>,
    invocations: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeFunctions {
    fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let invocations = Arc::new(Mutex::new(Vec::new()));
        let (incoming, seen) = (server.clone(), invocations.clone());
        std::thread::spawn(move || {
            for mut request in incoming.incoming_requests() {
                let seen = seen.clone();
                // A thread each: a slow function must not hold the others up.
                std::thread::spawn(move || {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let event: Value = serde_json::from_str(&body).unwrap_or_default();
                    let function = request
                        .url()
                        .strip_prefix("/2015-03-31/functions/")
                        .and_then(|rest| rest.strip_suffix("/invocations"))
                        .unwrap_or("?")
                        .to_owned();
                    seen.lock().unwrap().push((function.clone(), event.clone()));
                    let answer = answer_of(&function, &event);
                    let _ = request.respond(tiny_http::Response::from_string(answer.to_string()));
                });
            }
        });
        Self {
            port,
            server,
            invocations,
        }
    }

    fn invoked(&self) -> Vec<(String, Value)> {
        self.invocations.lock().unwrap().clone()
    }
}

impl Drop for FakeFunctions {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// What each fake function answers: the template's functions echo their event as a JSON body.
fn answer_of(function: &str, event: &Value) -> Value {
    match function {
        "crash" => json!({"errorType": "Panic", "errorMessage": "boom"}),
        "slow" => {
            std::thread::sleep(Duration::from_secs(3));
            json!({"statusCode": 200})
        }
        "broken" => json!({"statusCode": "two hundred"}),
        "bare" => json!({"hello": "world"}),
        "shaped" => json!({
            "statusCode": 201,
            "headers": {"x-a": "1", "content-type": "application/octet-stream"},
            "multiValueHeaders": {"x-a": ["1"], "x-only-in-multi": ["2"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": STANDARD.encode([0u8, 255, 1]),
            "isBase64Encoded": true,
        }),
        _ => json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": event.to_string(),
        }),
    }
}

/// The local HTTP API of template.yaml, plus routes to the fake functions above, on a free port.
struct Gateway {
    url: String,
    functions: FakeFunctions,
}

async fn gateway() -> Gateway {
    let functions = FakeFunctions::start();
    let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
    let mut api = HttpApi::for_template(&template, local_stack::http_client(), functions.port).unwrap();
    for (key, function) in [
        ("GET /crash", "crash"),
        ("GET /slow", "slow"),
        ("GET /broken", "broken"),
        ("GET /bare", "bare"),
        ("GET /shaped", "shaped"),
    ] {
        api.routes.push(Route {
            key: key.into(),
            function: function.into(),
            timeout: Duration::from_secs(1),
        });
    }
    let listener = http_api::bind(0).await.unwrap();
    let url = local_stack::loopback_url(listener.local_addr().unwrap().port());
    tokio::spawn(Arc::new(api).serve(listener));
    Gateway { url, functions }
}

async fn send(method: Method, url: &str, headers: HeaderMap, body: Vec<u8>) -> (u16, HeaderMap, Vec<u8>) {
    let response: Response = local_stack::http_client()
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The event the fake function saw, from its echo.
async fn event_of(method: Method, url: &str, headers: HeaderMap, body: Vec<u8>) -> Value {
    let (status, _, body) = send(method, url, headers, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_bytes(value).unwrap());
    }
    map
}

#[tokio::test]
async fn every_template_route_invokes_its_function_with_its_route_key_and_the_clients_address() {
    let gateway = gateway().await;
    let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();
    let routes = template.http_api_routes().unwrap();
    assert!(routes.len() >= 5, "{routes:?}");
    for route in &routes {
        let (method, path) = route.key.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let event = event_of(
            method.clone(),
            &format!("{}{path}", gateway.url),
            HeaderMap::new(),
            Vec::new(),
        )
        .await;
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], route.key);
        assert_eq!(event["requestContext"]["routeKey"], route.key);
        assert_eq!(event["rawPath"], path);
        assert_eq!(event["requestContext"]["http"]["method"], method.as_str());
        assert_eq!(event["requestContext"]["http"]["path"], path);
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(event["requestContext"]["stage"], "$default");
        assert!(event["requestContext"]["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(event["requestContext"]["requestId"].as_str().unwrap().len(), 16);
        for absent in ["body", "cookies", "queryStringParameters"] {
            assert!(event.get(absent).is_none(), "{}: {absent} in {event}", route.key);
        }
        let (function, seen) = gateway.functions.invoked().pop().unwrap();
        assert_eq!(function, route.function, "{}", route.key);
        assert_eq!(seen, event);
    }
}

#[tokio::test]
async fn query_headers_cookies_and_bodies_reach_the_function_as_api_gateway_passes_them() {
    let gateway = gateway().await;
    let event = event_of(
        Method::GET,
        &format!("{}/users/verify?token=a%2Eb.c&x=1&x=2", gateway.url),
        headers(&[
            ("x-custom", b"a"),
            ("x-custom", b"b"),
            ("cookie", b"a=1; b=2"),
            ("cookie", b"c=3"),
            ("x-name", "Zoë".as_bytes()),
            // Not UTF-8: ISO-8859-1's î.
            ("x-latin", b"Beno\xeet"),
            ("user-agent", b"agent/1"),
            ("x-forwarded-for", b"198.51.100.7"),
        ]),
        Vec::new(),
    )
    .await;
    assert_eq!(event["rawQueryString"], "token=a%2Eb.c&x=1&x=2");
    assert_eq!(event["queryStringParameters"], json!({"token": "a.b.c", "x": "1,2"}));
    assert_eq!(event["headers"]["x-custom"], "a,b");
    assert_eq!(event["cookies"], json!(["a=1", "b=2", "c=3"]));
    assert!(event["headers"].get("cookie").is_none(), "{event}");
    assert_eq!(event["headers"]["x-name"], "Zoë");
    assert_eq!(event["headers"]["x-latin"], "Benoît");
    assert_eq!(event["requestContext"]["http"]["userAgent"], "agent/1");
    assert_eq!(event["headers"]["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");

    let post = |content_type: Option<&'static str>, body: &[u8]| {
        let mut map = HeaderMap::new();
        if let Some(ct) = content_type {
            map.insert("content-type", HeaderValue::from_static(ct));
        }
        let (url, body) = (format!("{}/users", gateway.url), body.to_vec());
        async move { event_of(Method::POST, &url, map, body).await }
    };
    let json_text = post(Some("application/json"), r#"{"name":"Zoë"}"#.as_bytes()).await;
    assert_eq!(
        (&json_text["body"], &json_text["isBase64Encoded"]),
        (&json!(r#"{"name":"Zoë"}"#), &json!(false))
    );
    for (content_type, body) in [
        (Some("application/json"), &b"{\"name\":\"\xff\xfe\"}"[..]),
        (Some("application/x-www-form-urlencoded"), b"token=a.b.c&password=x"),
        (Some("application/octet-stream"), b"abc"),
        (None, b"{}"),
    ] {
        let event = post(content_type, body).await;
        assert_eq!(event["isBase64Encoded"], true, "{content_type:?}");
        assert_eq!(STANDARD.decode(event["body"].as_str().unwrap()).unwrap(), body);
    }
}

#[tokio::test]
async fn the_functions_answer_becomes_the_http_response() {
    let gateway = gateway().await;
    let (status, headers, body) = send(
        Method::GET,
        &format!("{}/shaped", gateway.url),
        HeaderMap::new(),
        vec![],
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body, [0u8, 255, 1], "the base64 body, decoded");
    assert_eq!(headers["x-a"], "1");
    assert_eq!(headers["content-type"], "application/octet-stream");
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
    assert!(
        headers.get("x-only-in-multi").is_none(),
        "format 2.0 has no multiValueHeaders"
    );
    assert_eq!(headers["apigw-requestid"].len(), 16);

    let (status, headers, body) = send(Method::GET, &format!("{}/bare", gateway.url), HeaderMap::new(), vec![]).await;
    assert_eq!(
        (status, &headers["content-type"]),
        (200, &HeaderValue::from_static("application/json"))
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"hello": "world"})
    );
}

#[tokio::test]
async fn api_gateway_answers_what_no_function_does() {
    let gateway = gateway().await;
    let cases = [
        (Method::GET, "/nowhere", 404, "Not Found"),
        (Method::DELETE, "/users", 404, "Not Found"),
        (Method::POST, "/users/", 404, "Not Found"),
        (Method::OPTIONS, "/users", 404, "Not Found"),
        (Method::GET, "/crash", 500, "Internal Server Error"),
        (Method::GET, "/slow", 500, "Internal Server Error"),
        (Method::GET, "/broken", 500, "Internal Server Error"),
    ];
    for (method, path, status, message) in cases {
        let (got, headers, body) = send(
            method.clone(),
            &format!("{}{path}", gateway.url),
            HeaderMap::new(),
            vec![],
        )
        .await;
        assert_eq!(got, status, "{method} {path}");
        assert_eq!(headers["content-type"], "application/json", "{method} {path}");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({ "message": message })
        );
    }
    let invoked: Vec<String> = gateway.functions.invoked().into_iter().map(|(f, _)| f).collect();
    assert_eq!(invoked, ["crash", "slow", "broken"], "no route, no invocation");

    let over = vec![b' '; http_api::MAX_BODY_BYTES + 1];
    let json_type = headers(&[("content-type", b"application/json")]);
    let (status, _, body) = send(Method::POST, &format!("{}/users", gateway.url), json_type, over).await;
    assert_eq!(status, 413);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"message": "Request Entity Too Large"})
    );
}

// ---------------------------------------------------------------------------------------------
// Through the stack's API_URL

/// A request's status, `Content-Type` and body, through `url`.
async fn call(method: Method, url: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String, String) {
    let mut request = local_stack::http_client().request(method, url).body(body.to_vec());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn through_api_url_every_route_answers_as_its_function_does() {
    let stack = testkit::stack();
    let api = stack
        .get("API_URL")
        .expect("API_URL in stack.env: `cargo xtask up` again");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let json_type = Some("application/json");
    let sign_up = json!({"name": "Ann", "email": format!("api-url.{run}@example.com"), "password": "correct horse"});
    let not_ours = json!({"token": "a.b.c", "password": "correct horse"});
    let sign_in = json!({"email": format!("api-url.nobody.{run}@example.com"), "password": "correct horse"});
    // Each route through API_URL, and through its function URL: the same answer.
    let cases = [
        (Method::POST, "/users", "CREATE_USER_URL", "", sign_up.to_string(), 202),
        (
            Method::GET,
            "/users/verify",
            "VERIFY_URL",
            "?token=a.b.c",
            String::new(),
            200,
        ),
        (
            Method::GET,
            "/users/verify",
            "VERIFY_URL",
            "?token=not-a-token",
            String::new(),
            400,
        ),
        (
            Method::POST,
            "/users/verify",
            "VERIFY_URL",
            "",
            not_ours.to_string(),
            400,
        ),
        (Method::POST, "/sessions", "SIGN_IN_URL", "", sign_in.to_string(), 401),
        (
            Method::POST,
            "/users/verification",
            "RESEND_URL",
            "",
            json!({"email": "x@example.com"}).to_string(),
            202,
        ),
    ];
    for (method, path, function_url, query, body, status) in cases {
        let through_api = call(
            method.clone(),
            &format!("{api}{path}{query}"),
            json_type,
            body.as_bytes(),
        )
        .await;
        let direct = call(
            method.clone(),
            &format!("{}{query}", stack[function_url]),
            json_type,
            body.as_bytes(),
        )
        .await;
        assert_eq!(through_api.0, status, "{method} {path}{query}: {}", through_api.2);
        assert_eq!(
            through_api, direct,
            "{method} {path}{query}: API_URL and {function_url} differ"
        );
    }

    // A body that is not UTF-8 reaches the function, base64: its refusal, not a 500.
    let (status, _, body) = call(Method::POST, &format!("{api}/users"), json_type, b"{\"name\":\"\xff\"}").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "invalid_body");
    // The link page's form post comes base64 (as on AWS), and is read as a form.
    let form = Some("application/x-www-form-urlencoded");
    let (status, content_type, page) = call(
        Method::POST,
        &format!("{api}/users/verify"),
        form,
        b"token=a.b.c&password=correct+horse",
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "text/html; charset=utf-8"),
        "{page}"
    );

    // What the template does not route is API Gateway's 404, not a function's.
    for (method, path) in [
        (Method::DELETE, "/users"),
        (Method::GET, "/nowhere"),
        (Method::GET, "/sessions"),
    ] {
        let (status, _, body) = call(method.clone(), &format!("{api}{path}"), None, b"").await;
        assert_eq!(
            (status, body.as_str()),
            (404, r#"{"message":"Not Found"}"#),
            "{method} {path}"
        );
    }
}
