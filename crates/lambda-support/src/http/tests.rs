//! The edge's requests read and replies written, through the functions' own entry points.

use super::*;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine;
use serde_json::{Value, json};

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
