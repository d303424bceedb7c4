//! create-user end to end through `cargo lambda watch` (started by `cargo xtask up`): the real
//! Lambda runtime API, the function URL over HTTP, the function's own init (config, SSM secret,
//! SDK clients), and the sample events with `cargo lambda invoke`.

use serde_json::{Value, json};
use std::process::Command;

/// A POST's status, its headers but the ones that change by the request (its date), and its
/// JSON body.
fn exchange(url: &str, content_type: &str, body: &str) -> (u16, Vec<(String, String)>, Value) {
    let (status, headers, text) = testkit::blocking(async {
        // Loopback: never through a proxy the environment names.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = http
            .post(url)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("cargo lambda watch answers");
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
            .collect();
        (status, headers, response.text().await.unwrap())
    });
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, headers, body)
}

fn post(url: &str, content_type: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = exchange(url, content_type, body);
    (status, body)
}

/// Over HTTP, as a client sees it: one answer, status, headers and body, for a new address,
/// for the same address pending, and for it verified; a resend's is the same. Then the
/// refusals, each a typed JSON 4xx.
#[test]
fn signs_up_over_the_function_url_with_one_answer_whatever_the_address() {
    let stack = testkit::stack();
    let url = stack["CREATE_USER_URL"].clone();
    let email = format!("url.{}@example.io", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "Url Test", "email": email, "password": "correct horse"}).to_string();

    let new = exchange(&url, "application/json", &body);
    assert_eq!(new.0, 202, "{new:?}");
    assert!(testkit::user_of(&stack, &email).is_some(), "a pending user");
    let again = body.replace(&email, &email.to_uppercase());
    assert_eq!(
        exchange(&url, "application/json", &again),
        new,
        "pending: the same answer"
    );
    // The owner follows the second sign-up's link: the address is verified. The two emails
    // race through the queue, so the second sign-up's is not always the second to arrive:
    // the first sign-up's link answers `token_superseded` (its credential was replaced) and
    // changes nothing, the second one's verifies.
    let mut verified = None;
    for nth in 1..=2 {
        let token = testkit::link_token(&stack, &email, nth, std::time::Duration::from_secs(60));
        let proof = json!({"token": token, "password": "correct horse"}).to_string();
        let (status, answer) = post(&stack["VERIFY_URL"], "application/json", &proof);
        if status == 200 {
            verified = Some(answer);
            break;
        }
        assert_eq!(
            (status, answer["error"].as_str()),
            (409, Some("token_superseded")),
            "email {nth}: {answer}"
        );
    }
    assert!(verified.is_some(), "one of the two links verifies");
    assert_eq!(
        exchange(&url, "application/json", &body),
        new,
        "verified: the same answer"
    );
    let resend = json!({"email": email}).to_string();
    let unknown = json!({"email": format!("nobody.{}@example.io", uuid::Uuid::new_v4().simple())}).to_string();
    assert_eq!(exchange(&stack["RESEND_URL"], "application/json", &resend), new);
    assert_eq!(exchange(&stack["RESEND_URL"], "application/json", &unknown), new);

    let (status, invalid) = post(&url, "application/json", r#"{"name":"","email":"x","password":"1"}"#);
    assert_eq!((status, invalid["error"].as_str()), (400, Some("validation")));
    assert_eq!(
        invalid["fields"].as_object().map(|f| f.len()),
        Some(3),
        "all problems at once: {invalid}"
    );
    assert_eq!(post(&url, "text/plain", &body).0, 415);
    assert_eq!(post(&url.replace("/users", "/nope"), "application/json", &body).0, 404);
}

/// `cargo lambda invoke --data-file events/...` as the README shows it. The sample emails are
/// fixed, so a second run meets its own first: the answer is 202 all the same.
#[test]
fn the_sample_events_work_with_cargo_lambda_invoke() {
    let stack = testkit::stack();
    let port = stack["FUNCTIONS_URL"].rsplit(':').next().unwrap().to_owned();
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    for (file, api_gateway) in [("create-user.json", true), ("create-user-direct.json", false)] {
        let out = Command::new("cargo")
            .args([
                "lambda",
                "invoke",
                "create-user",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
            ])
            .arg("--data-file")
            .arg(events.join(file))
            .output()
            .expect("cargo lambda is on PATH (cargo xtask test puts it there)");
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
        let body = if api_gateway {
            serde_json::from_str(reply["body"].as_str().unwrap()).unwrap()
        } else {
            reply["body"].clone()
        };
        assert_eq!(reply["statusCode"], 202, "{file}: {body}");
        assert_eq!(body["status"], "accepted", "{file}: {body}");
    }
}

/// The request ids of create-user's request lines answered `status` in the watch's log after
/// its first `offset` bytes: the invocations of a request sent after `offset` was read (and
/// of any other test's that answered the same, which the callers allow for).
fn answered_since(offset: usize, status: u16) -> Vec<String> {
    let what = format!("{status} request line");
    testkit::wait_in_watch_log(offset, std::time::Duration::from_secs(20), &what, |log| {
        let ids: Vec<String> = log
            .lines()
            .filter(|line| line.contains(&format!(": create-user status={status} ")))
            .filter_map(testkit::request_id_of)
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
}

/// The metric's value over `docs` with `Reason` = `reason` (None: the FunctionName-only ones).
fn sum(docs: &[lambda_support::metrics::emf::Document], metric: &str, reason: Option<&str>) -> Option<f64> {
    docs.iter()
        .filter(|d| d.string("Reason") == reason)
        .filter_map(|d| d.value(metric))
        .reduce(|a, b| a + b)
}

/// Each request's counts, as EMF in the functions' log with its request id (what CloudWatch
/// turns into the `UserSignup` metrics).
#[test]
fn each_request_reports_its_answer_as_emf_in_the_functions_log() {
    let stack = testkit::stack();
    let url = stack["CREATE_USER_URL"].clone();
    let email = format!("url.metrics.{}@example.io", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "Metrics Test", "email": email, "password": "correct horse"}).to_string();

    let (status, created) = post(&url, "application/json", &body);
    assert_eq!(status, 202, "{created}");
    let user_id = testkit::user_of(&stack, &email).unwrap();
    let (request_id, docs) = testkit::emf_of_invocation_with(&format!("user_id={user_id}"));
    for doc in &docs {
        assert_eq!(doc.namespace, "UserSignup", "{request_id}");
        assert_eq!(doc.string("FunctionName"), Some("create-user"));
    }
    assert_eq!(sum(&docs, "SignUps", None), Some(1.0), "{docs:?}");
    assert_eq!(sum(&docs, "Rejections", None), Some(0.0), "{docs:?}");
    assert_eq!(sum(&docs, "ServerErrors", None), Some(0.0), "{docs:?}");
    let hash = docs.iter().find(|d| d.value("HashTime").is_some()).expect("a HashTime");
    assert_eq!(hash.unit("HashTime"), Some("Milliseconds"));
    assert!(hash.value("HashTime").unwrap() > 0.0, "{hash:?}");

    // A 400 and a 404: a rejection each, by reason. Any other test's invocation that answered
    // the same in the meantime must have reported the same.
    for (url, body, status, reason) in [
        (
            url.as_str(),
            r#"{"name":"","email":"x","password":"1"}"#,
            400,
            "validation",
        ),
        (&url.replace("/users", "/nope"), body.as_str(), 404, "not_found"),
    ] {
        let offset = testkit::watch_log_len();
        assert_eq!(post(url, "application/json", body).0, status);
        for request_id in answered_since(offset, status) {
            let (_, docs) = testkit::emf_of_invocation_with(&format!("request_id=\"{request_id}\""));
            assert_eq!(sum(&docs, "SignUps", None), Some(0.0), "{reason}: {docs:?}");
            assert_eq!(sum(&docs, "Rejections", None), Some(1.0), "{reason}: {docs:?}");
            assert_eq!(sum(&docs, "RejectionsByReason", Some(reason)), Some(1.0), "{docs:?}");
            // Reasons met before report 0: one reason in all.
            let by_reason: f64 = docs.iter().filter_map(|d| d.value("RejectionsByReason")).sum();
            assert_eq!(by_reason, 1.0, "one reason: {docs:?}");
            assert!(docs.iter().all(|d| d.value("HashTime").is_none()), "no hash: {docs:?}");
        }
    }
}

/// One trace from sign-up to email: the trace id create-user logged for a sign-up over the
/// function URL is the upstream trace id on send-email's line for that user's email (through
/// SNS, SQS's AWSTraceHeader and the bridge), next to send-email's own trace id.
#[test]
fn the_sign_ups_trace_id_is_on_send_emails_line_for_its_email() {
    use std::time::Duration;
    let stack = testkit::stack();
    let url = stack["CREATE_USER_URL"].clone();
    let email = format!("url.trace.{}@example.io", uuid::Uuid::new_v4().simple());
    let body = json!({"name": "Trace Test", "email": email, "password": "correct horse"}).to_string();
    let (status, created) = post(&url, "application/json", &body);
    assert_eq!(status, 202, "{created}");
    let user = format!("user_id={}", testkit::user_of(&stack, &email).unwrap());

    let signed_up = testkit::watch_log_line(&["outcome=\"created\"", &user], Duration::from_secs(20));
    let trace_id = testkit::field_of(&signed_up, "trace_id").unwrap_or_else(|| panic!("no trace id: {signed_up}"));
    assert!(
        user_events::trace::TraceHeader::parse(&format!("Root={trace_id}")).is_some(),
        "{signed_up}"
    );
    // The request line is the work after the answer's (the publish, then the line), and it
    // runs in the invocation's span: create-user published the event itself, after answering.
    let request_line = testkit::watch_log_line(
        &[create_user::request_line::field::PUBLISH_AFTER_ANSWER, &user],
        Duration::from_secs(20),
    );
    assert!(request_line.contains("published=true"), "{request_line}");
    assert_eq!(
        testkit::field_of(&request_line, "trace_id").as_deref(),
        Some(trace_id.as_str()),
        "{request_line}"
    );
    let emailed = testkit::watch_log_line(&["email sent", &user], Duration::from_secs(60));
    assert_eq!(
        testkit::field_of(&emailed, "upstream_trace_id").as_deref(),
        Some(trace_id.as_str()),
        "{emailed}"
    );
    let own = testkit::field_of(&emailed, "trace_id").unwrap_or_else(|| panic!("no own trace id: {emailed}"));
    assert_ne!(
        own, trace_id,
        "send-email's invocation has a trace of its own: {emailed}"
    );
}
