//! `sam local invoke` and `sam local start-api` for real: a Docker engine, SAM CLI, the arm64
//! `bootstrap`s that `sam build` made, run in SAM's container under its runtime interface
//! emulator (and qemu, on an x86_64 host), against the developer's local stack in `.local`
//! (samconfig.toml points SAM at `.local/sam-env.json`, which `cargo xtask up` writes).
//!
//! Nothing is skipped: without a Docker engine or a `sam build`, these fail and say why
//! (`cargo xtask test` sets both up before any test runs). The base image is the stand-in
//! `cargo xtask sam-image` builds (CI reaches no registry), passed with `--invoke-image`; the
//! README test runs the README's commands without it.

use local_stack::StackEnv;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use xtask::layout::Layout;
use xtask::local::{sam, services};

mod support;

fn root() -> PathBuf {
    Layout::workspace_root()
}

fn layout() -> Layout {
    Layout::new(root(), None)
}

/// Docker, the stand-in image, `sam build`'s output and the stack, once per test binary.
fn ready() -> &'static StackEnv {
    static STACK: OnceLock<StackEnv> = OnceLock::new();
    STACK.get_or_init(|| {
        assert!(
            sam::docker_gateway().is_some(),
            "no Docker engine answers: `sam local` needs one (`cargo xtask test` installs and \
             starts one where it can, else says how)"
        );
        support::blocking(sam::ensure_standin_image(&layout())).expect("the stand-in base image");
        assert!(
            root().join(".aws-sam/build/template.yaml").exists(),
            "no .aws-sam/build: run `sam build` first (docs/deploying.md's deploy build; `cargo xtask test` does)"
        );
        assert!(
            services::all_running(&layout()),
            "the local stack is not up: run these through `cargo xtask test`, or `cargo xtask up` first"
        );
        assert!(
            layout().sam_env().exists(),
            "`cargo xtask up` wrote no {}: it does when a Docker engine runs",
            layout().sam_env().display()
        );
        StackEnv::read(&layout().stack_env()).unwrap()
    })
}

fn sam() -> Command {
    let mut cmd = Command::new(layout().tools_bin().join("sam"));
    cmd.current_dir(root()).env("PATH", layout().path_with_tools());
    cmd
}

/// `sam local invoke FUNCTION -e EVENT` with the stand-in image; its answer, and the REPORT
/// line of the invocation.
fn invoke(function: &str, event: &Value) -> (Value, String) {
    let file = tempfile(&format!("{function}.json"), &event.to_string());
    let out = sam()
        .args(["local", "invoke", function, "-e"])
        .arg(&file)
        .args(["--invoke-image", sam::STANDIN_IMAGE])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "sam local invoke {function}:\n{stderr}");
    assert!(
        stderr.contains("START RequestId") || !stderr.contains("No response from invoke container"),
        "SAM gave up on {function} before its runtime interface emulator took the event (no START \
         line): Docker's userland proxy accepted SAM's readiness check before the emulator listened. \
         Start dockerd with --userland-proxy=false (docs/troubleshooting.md):\n{stderr}"
    );
    let answer: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{function} answered no JSON ({e}):\n{stdout}\n{stderr}"));
    let report = stderr
        .lines()
        .find(|l| l.starts_with("REPORT RequestId"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("{function}: {report}");
    (answer, report)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tempfile(name: &str, contents: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sam-local-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn unique_email(tag: &str) -> String {
    format!("sam.{tag}.{}@example.com", uuid())
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Waits for LocalStack's SES to have accepted an email to `to` (send-email runs it through
/// the bridge, or directly in these tests).
fn email_arrives(stack: &StackEnv, to: &str) -> usize {
    support::emails_to(stack.port("AWS_ENDPOINT_URL").unwrap(), to, Duration::from_secs(90))
}

/// The README's sample sign-up event with another email.
fn sign_up_event(email: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/create-user.json")).unwrap()).unwrap();
    event["body"] = json!(json!({"name": "Sam Local", "email": email, "password": "correct horse"}).to_string());
    event
}

/// An SQS event with an SNS-enveloped `user.created` for a new event id and `email`, as the
/// queue delivers it; and its message id.
fn sqs_event(email: &str) -> (Value, String) {
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/send-email-sns-envelope.json")).unwrap())
            .unwrap();
    let record = &mut event["Records"][0];
    let mut envelope: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
    envelope["Message"] = json!(user_events::testing::user_created("Sam Local", email).to_json());
    record["body"] = json!(envelope.to_string());
    let id = uuid();
    record["messageId"] = json!(id);
    (event, id)
}

fn guard_exists(stack: &StackEnv, email: &str) -> bool {
    let out = Command::new(layout().tools_bin().join("aws"))
        .args(["dynamodb", "get-item", "--consistent-read", "--table-name"])
        .arg(stack.var("USERS_TABLE").unwrap())
        .arg("--key")
        .arg(json!({"pk": {"S": format!("EMAIL#{}", email.to_lowercase())}}).to_string())
        .envs(stack.entries().iter().cloned())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    String::from_utf8_lossy(&out.stdout).contains("user_id")
}

#[test]
fn create_user_in_lambdas_runtime_stores_the_user_and_its_email_arrives() {
    let stack = ready();
    let email = unique_email("invoke");
    let (answer, report) = invoke("CreateUserFunction", &sign_up_event(&email));
    assert_eq!(answer["statusCode"], 202, "{answer}");
    assert_eq!(answer["headers"]["cache-control"], "no-store");
    assert!(report.contains("Duration"), "a REPORT line: {report}");
    assert!(
        guard_exists(stack, &email),
        "the user's email guard is in DynamoDB Local"
    );
    assert_eq!(
        email_arrives(stack, &email),
        1,
        "the verification email, through SNS, SQS and the bridge"
    );
}

#[test]
fn send_email_in_lambdas_runtime_sends_and_fails_exactly_the_poison_record() {
    let stack = ready();
    let email = unique_email("sqs");
    let (event, _) = sqs_event(&email);
    let (answer, _) = invoke("SendEmailFunction", &event);
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(email_arrives(stack, &email), 1);

    let (mut batch, good_id) = sqs_event(&unique_email("batch"));
    let mut poison = batch["Records"][0].clone();
    poison["messageId"] = json!("poison-record");
    poison["body"] = json!("not a user.created event");
    batch["Records"].as_array_mut().unwrap().push(poison);
    let (answer, _) = invoke("SendEmailFunction", &batch);
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "poison-record"}]}),
        "exactly the poison record fails, not {good_id}"
    );
}

#[tokio::test]
async fn start_api_serves_the_http_apis_routes() {
    ready();
    let port = free_port();
    let mut cmd = sam();
    cmd.args(["local", "start-api", "--port", &port.to_string()])
        .args(["--invoke-image", sam::STANDIN_IMAGE])
        .stdin(Stdio::null());
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sam-start-api.log");
    let _api = support::serve("sam-start-api", cmd, port, &log, "start-api");
    let url = format!("{}/users", local_stack::loopback_url(port));
    let http = local_stack::http_client();
    let post = async |body: &str| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(120));
        let response = request.body(body.to_owned()).send().await.unwrap();
        let status = response.status().as_u16();
        let reply = response.text().await.unwrap();
        let reply: Value = serde_json::from_str(&reply).unwrap_or_else(|_| panic!("{status}: not JSON: {reply}"));
        (status, reply)
    };
    let email = unique_email("api");
    let sign_up = json!({"name": "Start Api", "email": email, "password": "correct horse"}).to_string();
    let (status, reply) = post(&sign_up).await;
    assert_eq!((status, reply["status"].as_str()), (202, Some("accepted")), "{reply}");
    assert_eq!(
        post(&sign_up).await,
        (status, reply),
        "the same answer for the address pending"
    );
    let (status, reply) = post(r#"{"name":"a","name":"b","email":"x@y.io","password":"12345678"}"#).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("invalid_json")),
        "{reply}"
    );
    // The resend route (create-user's) and the verification link's page (verify-email's).
    let resend = http
        .post(format!("{}/users/verification", local_stack::loopback_url(port)))
        .header("content-type", "application/json")
        .body(json!({"email": email}).to_string())
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status().as_u16(), 202);
    let page = http
        .get(format!("{}/users/verify?token=a.b.c", local_stack::loopback_url(port)))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200, "the link's page");
    assert!(page.text().await.unwrap().contains("method=\"post\""));
    // sign-in's route: the address is pending, so the one refusal.
    let session = http
        .post(format!("{}/sessions", local_stack::loopback_url(port)))
        .header("content-type", "application/json")
        .body(json!({"email": email, "password": "correct horse"}).to_string())
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status().as_u16(), 401, "a pending address cannot sign in");
    // A method the template does not route: SAM answers itself (403 "Missing Authentication
    // Token", where API Gateway's HTTP API answers 404); the function never sees it.
    let status = services::http_status(port, "/users").await.unwrap();
    assert!([403, 404, 405].contains(&status), "GET /users: {status}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
