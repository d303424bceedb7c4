//! openapi.yaml, the HTTP API described once for its clients, held to what serves it: its
//! operations are template.yaml's HttpApi routes (and the functions that serve them), its
//! `ErrorCode` schema is `ErrorCode::ALL`, every error it names is answered with its status,
//! it is self-contained OpenAPI 3.1, and its examples are what the functions accept and answer.
//!
//! Why a test rather than generating the document from the code: the document is written for
//! the people who write clients, with prose (why one 202 for every address, why GET changes
//! nothing, what API Gateway answers on its own), examples and limits that no derive macro
//! knows, and the functions read raw API Gateway events rather than typed handlers a generator
//! could walk. Generating it would mean annotating every function with a second copy of the
//! same prose, or a document without it. What matters is that it does not drift from the code,
//! and drift is what these checks catch: a route added to the template, a code added to
//! `ErrorCode`, a message or a header changed, a limit's constant changed, an example the
//! functions would refuse. (What JSON Schema cannot say, such as a name's invisible
//! characters or a password's bytes, is said in prose, read off the validation by hand.)

use lambda_support::http::{ErrorCode, Reply, read_event};
use lambda_support::testing::HttpApiRequest;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A YAML file as JSON (through xtask's reading of the template: a tag in its long form).
fn yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    xtask::local::template::yaml_to_json(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn document() -> Value {
    yaml("openapi.yaml")
}

/// The target of a local `$ref` (`#/a/b~1c`).
fn pointer<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// `value`, or what its `$ref` names, to the end of the chain.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                value = pointer(doc, reference).unwrap_or_else(|| panic!("{reference} resolves to nothing"))
            }
            None => return value,
        }
    }
    panic!("a $ref chain longer than 16: a loop?")
}

/// `(METHOD, path)` -> the operation, for every operation of the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()), operation);
            }
        }
    }
    out
}

/// The operation whose `operationId` is `id`.
fn operation<'a>(doc: &'a Value, id: &str) -> &'a Value {
    operations(doc)
        .into_values()
        .find(|op| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// `(METHOD, path)` -> the function (its binary) that serves it, for every event of type
/// HttpApi of every function of template.yaml.
fn template_routes() -> BTreeMap<(String, String), String> {
    let template = yaml("template.yaml");
    let mut routes = BTreeMap::new();
    for (id, resource) in template["Resources"].as_object().expect("Resources") {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no binary"));
        for (name, event) in resource["Properties"]["Events"].as_object().into_iter().flatten() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            let (Some(method), Some(path)) = (properties["Method"].as_str(), properties["Path"].as_str()) else {
                panic!("{id}'s {name} has no literal Method and Path")
            };
            let route = (method.to_uppercase(), path.to_owned());
            let before = routes.insert(route.clone(), function.to_owned());
            assert!(before.is_none(), "{route:?} is declared twice");
        }
    }
    assert!(
        !routes.is_empty(),
        "template.yaml has no HttpApi routes: has its shape changed?"
    );
    routes
}

#[test]
fn the_operations_are_the_templates_http_api_routes_and_name_their_function() {
    let doc = document();
    let documented = operations(&doc);
    let routes = template_routes();
    let undocumented: Vec<_> = routes.keys().filter(|r| !documented.contains_key(*r)).collect();
    let unserved: Vec<_> = documented.keys().filter(|r| !routes.contains_key(*r)).collect();
    assert!(
        undocumented.is_empty(),
        "routes template.yaml serves that openapi.yaml does not describe: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "operations of openapi.yaml that template.yaml does not route: {unserved:?}"
    );
    for (route, function) in &routes {
        assert_eq!(
            documented[route]["tags"],
            json!([function]),
            "{route:?} is served by {function}: its one tag names it"
        );
    }
}

/// The wire names of every [`ErrorCode`].
fn wire_names() -> BTreeMap<&'static str, u16> {
    ErrorCode::ALL.iter().map(|c| (c.as_str(), c.status())).collect()
}

#[test]
fn the_error_code_schema_is_error_code_all() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["ErrorCode"];
    let listed: Vec<&str> = schema["enum"]
        .as_array()
        .expect("ErrorCode has an enum")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a code twice: {listed:?}");
    let codes = wire_names();
    assert_eq!(
        unique,
        codes.keys().copied().collect::<BTreeSet<_>>(),
        "components/schemas/ErrorCode must list exactly ErrorCode::ALL's wire names"
    );
    // Its description says each code's status: the one the code answers it with.
    let description = schema["description"].as_str().expect("ErrorCode is described");
    for (code, status) in codes {
        assert!(
            description.contains(&format!("`{code}` ({status})")),
            "ErrorCode's description should say `{code}` ({status})"
        );
    }
}

#[test]
fn it_is_openapi_3_1_and_every_ref_resolves_inside_it() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("openapi: a string");
    assert!(version.starts_with("3.1."), "openapi: {version}, not 3.1.x");
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "the document uses its components");
    let broken: Vec<_> = all.iter().filter(|r| pointer(&doc, r).is_none()).collect();
    assert!(
        broken.is_empty(),
        "$refs that resolve to nothing in the document: {broken:?}"
    );
}

#[test]
fn every_operation_has_an_id_a_success_its_refusals_and_its_failures() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (route, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{route:?} has no operationId");
        assert!(ids.insert(id), "operationId {id} twice");
        let statuses: Vec<&String> = op["responses"].as_object().expect("responses").keys().collect();
        let any = |range: std::ops::Range<u16>| {
            statuses
                .iter()
                .any(|s| s.parse::<u16>().is_ok_and(|s| range.contains(&s)))
        };
        assert!(any(200..300), "{id}: no success");
        assert!(any(400..500), "{id}: no 4xx");
        assert!(any(500..600), "{id}: no 500 or 503");
        // Every body is read by `json_body`/`form_body`: too large, or not a type it reads.
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(
                    statuses.iter().any(|s| *s == status),
                    "{id} takes a body: {status} is among its answers"
                );
            }
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            assert!(
                deref(&doc, response)["description"].is_string(),
                "{id} {status}: a response without a description"
            );
        }
    }
}

/// The codes a schema narrows `properties.error` to (`const`, `enum`), through `$ref`s,
/// `allOf`, `anyOf` and `oneOf`; and whether it is the shared `Error` shape at all.
fn narrowed_codes(doc: &Value, schema: &Value, codes: &mut BTreeSet<String>, is_error: &mut bool) {
    if schema.get("$ref").and_then(Value::as_str) == Some("#/components/schemas/Error") {
        *is_error = true;
    }
    let schema = deref(doc, schema);
    if let Some(error) = schema.pointer("/properties/error") {
        codes.extend(error.get("const").and_then(Value::as_str).map(str::to_owned));
        codes.extend(
            error
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for inner in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            narrowed_codes(doc, inner, codes, is_error);
        }
    }
}

/// The examples of a media type, by name, their `$ref`s resolved.
fn examples<'a>(doc: &'a Value, media: &'a Value) -> Vec<(&'a String, &'a Value)> {
    media["examples"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, example)| (name, &deref(doc, example)["value"]))
        .collect()
}

/// Every error response narrows `error` to codes the functions answer with that very status,
/// and its examples name those codes; an answer the code always sends `Retry-After` with
/// declares the header.
#[test]
fn every_error_named_is_answered_with_its_status() {
    let doc = document();
    let statuses = wire_names();
    for op in operations(&doc).into_values() {
        let id = op["operationId"].as_str().unwrap();
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = deref(&doc, response);
            let Some(json) = response.pointer("/content/application~1json") else {
                continue;
            };
            let (mut codes, mut is_error) = (BTreeSet::new(), false);
            narrowed_codes(&doc, &json["schema"], &mut codes, &mut is_error);
            if !is_error {
                assert!(codes.is_empty(), "{id} {status}: names codes without the Error shape");
                continue;
            }
            assert!(
                !codes.is_empty(),
                "{id} {status}: narrow `error` to the codes of this status"
            );
            for code in &codes {
                let answered = statuses.get(code.as_str());
                assert_eq!(
                    answered.map(u16::to_string).as_deref(),
                    Some(status.as_str()),
                    "{id} {status}: `{code}` is answered with {answered:?}"
                );
            }
            for (name, value) in examples(&doc, json) {
                if let Some(code) = value.get("error").and_then(Value::as_str) {
                    assert!(codes.contains(code), "{id} {status}: example {name} is `{code}`");
                }
            }
            if codes.contains("too_many_requests") || codes.contains("service_unavailable") {
                assert!(
                    response.pointer("/headers/Retry-After").is_some(),
                    "{id} {status}: the function sends Retry-After with it"
                );
            }
        }
    }
}

/// What a function does with one request, up to the point where its answer no longer depends
/// on the body: `Err` the reply it refuses the request with (as its handler writes it), `Ok`
/// when it would go on to do the work.
fn routed(operation_id: &str, event: Value) -> Result<(), Reply> {
    let invalid = |fields| Reply::error_with(ErrorCode::Validation, json!({"fields": fields}));
    let invocation = read_event(event).1?;
    match operation_id {
        "signUp" | "resendVerification" => {
            use create_user::domain::validation::{validate, validate_resend};
            use create_user::http::Route;
            let routed = create_user::http::route(invocation)?;
            let route = if operation_id == "signUp" {
                Route::SignUp
            } else {
                Route::Resend
            };
            assert_eq!(routed.route, route, "{operation_id} routed to {:?}", routed.route);
            match route {
                Route::SignUp => validate(&routed.body).map(drop),
                Route::Resend => validate_resend(&routed.body).map(drop),
            }
            .map_err(invalid)
        }
        "signIn" => {
            let routed = sign_in::http::route(invocation)?;
            sign_in::domain::sign_in::validate(&routed.body)
                .map(drop)
                .map_err(invalid)
        }
        "openVerificationLink" | "verifyAddress" => {
            use verify_email::http::Request;
            match (operation_id, verify_email::http::route(invocation)?) {
                ("openVerificationLink", Request::Page(_)) | ("verifyAddress", Request::Verify(..)) => Ok(()),
                (_, other) => panic!("{operation_id} routed to {other:?}"),
            }
        }
        other => panic!("an operation this test does not know, {other}: route it here"),
    }
}

/// `application/x-www-form-urlencoded`, as a browser encodes a form.
fn form_encode(fields: &Map<String, Value>) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v.as_str().expect("form fields are strings"))))
        .collect::<Vec<_>>()
        .join("&")
}

/// The HTTP API event of `method path` with `content_type` and `body`.
fn request(method: &str, path: &str, content_type: Option<&str>, body: Option<String>, query: &str) -> Value {
    HttpApiRequest {
        method,
        path,
        route_key: "$default",
        content_type,
        body,
        query,
        ..Default::default()
    }
    .event()
}

/// Every request example (bodies in each media type, query parameters) is one the function
/// that serves the route accepts: past its routing, media type, size and validation.
#[test]
fn the_request_examples_are_accepted_by_the_functions() {
    let doc = document();
    let mut checked = 0;
    for ((method, path), op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap();
        let content = op.pointer("/requestBody/content").and_then(Value::as_object);
        for (media_type, media) in content.into_iter().flatten() {
            let examples = examples(&doc, media);
            assert!(!examples.is_empty(), "{id} {media_type}: no example");
            for (name, value) in examples {
                let body = match media_type.as_str() {
                    "application/json" => value.to_string(),
                    "application/x-www-form-urlencoded" => form_encode(value.as_object().expect("a form's fields")),
                    other => panic!("{id}: a media type this test cannot encode: {other}"),
                };
                let event = request(&method, &path, Some(media_type), Some(body), "");
                if let Err(reply) = routed(id, event) {
                    panic!("{id}: example {name} ({media_type}) is refused: {:?}", reply.json());
                }
                checked += 1;
            }
        }
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            assert_eq!(parameter["in"], "query", "{id}: only query parameters are read");
            for (name, value) in parameter["examples"].as_object().into_iter().flatten() {
                let value = deref(&doc, value)["value"].as_str().expect("a query value is a string");
                let query = format!("{}={value}", parameter["name"].as_str().unwrap());
                if let Err(reply) = routed(id, request(&method, &path, None, None, &query)) {
                    panic!("{id}: parameter example {name} is refused: {:?}", reply.json());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "every operation has a request example");
}

/// The response of `operation_id` with `status`.
fn response<'a>(doc: &'a Value, operation_id: &str, status: &str) -> &'a Value {
    let op = operation(doc, operation_id);
    deref(
        doc,
        op["responses"]
            .get(status)
            .unwrap_or_else(|| panic!("{operation_id} has no {status}")),
    )
}

/// That `reply` is what the document says `operation_id` answers with `status`: the status,
/// every header the reply carries declared (and equal to the declared `const`, if any), and,
/// with `example`, that JSON example equal to the reply's body.
fn assert_documented(doc: &Value, operation_id: &str, status: &str, reply: &Reply, example: Option<&str>) {
    let what = format!("{operation_id} {status}");
    assert_eq!(
        reply.status.to_string(),
        status,
        "{what}: the code answers {}",
        reply.status
    );
    let response = response(doc, operation_id, status);
    for (name, value) in &reply.headers {
        let declared = response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, header)| deref(doc, header))
            .unwrap_or_else(|| panic!("{what}: the code sends {name}, which the document does not declare"));
        if let Some(constant) = deref(doc, &declared["schema"]).get("const") {
            assert_eq!(constant, value, "{what}: {name}");
        }
    }
    if let Some(example) = example {
        let media = response
            .pointer("/content/application~1json")
            .unwrap_or_else(|| panic!("{what}: no JSON content"));
        let (_, value) = examples(doc, media)
            .into_iter()
            .find(|(name, _)| *name == example)
            .unwrap_or_else(|| panic!("{what}: no example {example}"));
        assert_eq!(
            Some(value),
            reply.json(),
            "{what}: example {example} is not the code's answer"
        );
    }
}

/// The example of `operation_id`'s request body in JSON, to change a little.
fn json_example(doc: &Value, operation_id: &str) -> Value {
    let media = &operation(doc, operation_id)["requestBody"]["content"]["application/json"];
    examples(doc, media).first().expect("an example").1.clone()
}

/// The answers' examples and headers are the functions' own: built by the code that answers
/// them, or got by routing a request that draws them.
#[test]
fn the_answers_are_the_functions_answers() {
    let doc = document();
    let id = "8f5c2a1e-6b3d-4f7a-9c0e-1d2b3a4c5d6e";

    for op in ["signUp", "resendVerification"] {
        assert_documented(&doc, op, "202", &create_user::http::accepted(), Some("accepted"));
    }

    // The session: sign-in's answer to the example's token and user (verify-email answers the
    // same `{"token", "user"}`, built in its handler).
    let session = &doc["components"]["examples"]["Session"]["value"];
    let user: user_events::PublicUser = serde_json::from_value(session["user"].clone()).expect("a user");
    let token = session["token"].as_str().unwrap();
    assert_documented(
        &doc,
        "signIn",
        "200",
        &sign_in::http::signed_in(token, &user),
        Some("session"),
    );
    assert_documented(
        &doc,
        "signIn",
        "401",
        &sign_in::http::invalid_credentials(),
        Some("refused"),
    );

    // verify-email's pages and refusals.
    let link = operation(&doc, "openVerificationLink")["parameters"][0]["examples"]["link"]["value"]
        .as_str()
        .unwrap();
    let page = verify_email::http::confirm_page(link);
    assert_documented(&doc, "openVerificationLink", "200", &page, None);
    let invalid_token = verify_email::http::invalid_token();
    assert_documented(
        &doc,
        "openVerificationLink",
        "400",
        &invalid_token,
        Some("invalidToken"),
    );
    assert_documented(&doc, "verifyAddress", "400", &invalid_token, Some("invalidToken"));
    let confirmed = verify_email::http::result_page(&Reply::new(200, json!({})));
    assert_documented(&doc, "verifyAddress", "200", &confirmed, None);
    let wrong = verify_email::http::wrong_password();
    assert_documented(&doc, "verifyAddress", "401", &wrong, Some("wrongPassword"));
    let no_link = request("GET", "/users/verify", None, None, "");
    assert_eq!(routed("openVerificationLink", no_link).unwrap_err(), invalid_token);

    // What every operation with a body refuses, drawn from the function's own routing.
    for op in ["signUp", "resendVerification", "signIn", "verifyAddress"] {
        let (method, path) = operations(&doc)
            .into_iter()
            .find(|(_, o)| o["operationId"] == op)
            .map(|(route, _)| route)
            .unwrap();
        let plain = request(&method, &path, Some("text/plain"), Some("{}".into()), "");
        let refused = routed(op, plain).unwrap_err();
        assert_documented(&doc, op, "415", &refused, Some("unsupported"));
        let big = format!(r#"{{"email":"{}"}}"#, "a".repeat(lambda_support::http::MAX_BODY_BYTES));
        let refused = routed(op, request(&method, &path, Some("application/json"), Some(big), "")).unwrap_err();
        assert_documented(&doc, op, "413", &refused, Some("tooLarge"));
    }

    // The 400s' examples: what the sign-up answers to these bodies.
    let sign_up = |body: String| {
        routed(
            "signUp",
            request("POST", "/users", Some("application/json"), Some(body), ""),
        )
    };
    let invalid = json!({"name": "Ann", "email": "ann.example.com", "password": "short", "admin": true});
    let refused = sign_up(invalid.to_string()).unwrap_err();
    assert_documented(&doc, "signUp", "400", &refused, Some("validation"));
    let twice = r#"{"name":"Ann","email":"ann@example.com","email":"eve@example.com","password":"correct horse"}"#;
    assert_documented(
        &doc,
        "signUp",
        "400",
        &sign_up(twice.into()).unwrap_err(),
        Some("duplicateKey"),
    );
    let trailing = r#"{"name":"Ann","email":"ann@example.com",}"#;
    assert_documented(
        &doc,
        "signUp",
        "400",
        &sign_up(trailing.into()).unwrap_err(),
        Some("notJson"),
    );
    let mut no_password = json_example(&doc, "verifyAddress");
    no_password.as_object_mut().unwrap().remove("password");
    let event = request(
        "POST",
        "/users/verify",
        Some("application/json"),
        Some(no_password.to_string()),
        "",
    );
    assert_documented(
        &doc,
        "verifyAddress",
        "400",
        &routed("verifyAddress", event).unwrap_err(),
        Some("password"),
    );
    let twice = "token=a.b.c&token=a.b.c&password=x";
    let event = request(
        "POST",
        "/users/verify",
        Some("application/x-www-form-urlencoded"),
        Some(twice.into()),
        "",
    );
    assert_documented(
        &doc,
        "verifyAddress",
        "400",
        &routed("verifyAddress", event).unwrap_err(),
        Some("formFieldTwice"),
    );

    // Limits and failures, as lambda_support writes them for every function.
    for op in ["signUp", "resendVerification", "signIn", "verifyAddress"] {
        let limited = Reply::too_many_requests(Duration::from_secs(120));
        assert_documented(&doc, op, "429", &limited, Some("limited"));
        assert_documented(&doc, op, "503", &Reply::unavailable(id), Some("unavailable"));
    }
    // A resend's work is after its answer: its function answers no 500, API Gateway may.
    for op in ["signUp", "signIn", "verifyAddress"] {
        assert_documented(&doc, op, "500", &Reply::internal(id), Some("internal"));
    }
}

/// The schemas' lengths are the validation's constants.
#[test]
fn the_schemas_limits_are_the_validations() {
    use create_user::domain::validation::{EMAIL_MAX, NAME_MAX_CHARS, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS};
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let limit = |schema: &str, key: &str| {
        schemas[schema][key]
            .as_u64()
            .unwrap_or_else(|| panic!("{schema} has no {key}"))
    };
    let as_u64 = |n: usize| u64::try_from(n).unwrap();
    assert_eq!(limit("Name", "maxLength"), as_u64(NAME_MAX_CHARS));
    assert_eq!(limit("Email", "maxLength"), as_u64(EMAIL_MAX));
    assert_eq!(limit("NewPassword", "minLength"), as_u64(PASSWORD_MIN_CHARS));
    assert_eq!(limit("NewPassword", "maxLength"), as_u64(PASSWORD_MAX_BYTES));
    assert_eq!(limit("Password", "maxLength"), as_u64(user_store::passwords::MAX_BYTES));
    assert_eq!(
        limit("VerificationToken", "maxLength"),
        as_u64(tokens::verification::MAX_TOKEN_BYTES)
    );
    let too_large = &doc["components"]["responses"]["PayloadTooLarge"]["content"]["application/json"];
    assert_eq!(
        examples(&doc, too_large)[0].1["limit_bytes"],
        json!(lambda_support::http::MAX_BODY_BYTES)
    );
}
