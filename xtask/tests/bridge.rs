//! The local bridge keeps Lambda's promises about time, against LocalStack's real SQS (a queue
//! of each test's own) and a fake function the test serves on cargo lambda's invoke path:
//! - an invocation that does not answer within the function's timeout is a function error,
//!   its batch neither deleted nor made visible early;
//! - a message the function reports failed is retried no sooner than the claim lease;
//! - a scheduled function gets its own timeout too.
//!
//! LocalStack: the one `AWS_ENDPOINT_URL` points at (`cargo xtask test` sets it), else the
//! developer's stack (`.local/stack.env`), else one of this test binary's own (only LocalStack,
//! on a free port and a state dir of its own, stopped at the end).

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use local_stack::{Endpoints, REGION, StackEnv, queue_arn, sdk_config};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xtask::bridge::event_source::{BatchOutcome, EventSourceMapping};
use xtask::bridge::scheduler::{Scheduled, Scheduler};
use xtask::layout::Layout;
use xtask::local::process::{self, ServiceRecord};
use xtask::local::services;
use xtask::local::template::SqsEventSource;
use xtask::random;

mod support;

/// Short, so the tests take seconds; distinct, so that an early retry (the old 2 s) or a
/// visibility tied to the wrong one shows.
const TIMEOUT: Duration = Duration::from_secs(2);
const LEASE: Duration = Duration::from_secs(6);
/// LocalStack's visibility timeouts are whole seconds, checked when a receive comes in.
const SLACK: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// LocalStack's SQS

/// A LocalStack this binary started, shared by its tests, stopped when the last one ends.
struct OwnLocalStack {
    users: usize,
    record: Option<(ServiceRecord, PathBuf)>,
}

static OWN: Mutex<OwnLocalStack> = Mutex::new(OwnLocalStack { users: 0, record: None });

/// Holds the LocalStack the test uses; stops this binary's own after its last user.
struct LocalStackLease {
    endpoint: String,
    own: bool,
}

impl Drop for LocalStackLease {
    fn drop(&mut self) {
        if !self.own {
            return;
        }
        let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
        own.users -= 1;
        if own.users == 0
            && let Some((record, state)) = own.record.take()
        {
            let _ = process::stop(&record, Duration::from_secs(10));
            let _ = std::fs::remove_dir_all(state);
        }
    }
}

async fn answers(endpoint: &str) -> bool {
    match endpoint
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
    {
        Some(port) => services::localstack_ready(port).await,
        None => false,
    }
}

async fn localstack() -> LocalStackLease {
    let given = std::env::var("AWS_ENDPOINT_URL").ok();
    let developers = StackEnv::read(&Layout::new(Layout::workspace_root(), None).stack_env())
        .and_then(|env| env.var("AWS_ENDPOINT_URL"))
        .ok();
    for endpoint in given.into_iter().chain(developers) {
        if answers(&endpoint).await {
            return LocalStackLease { endpoint, own: false };
        }
    }
    let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
    if own.record.as_ref().is_none_or(|(r, _)| !r.is_running()) {
        let state =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bridge-localstack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let layout = Layout::new(Layout::workspace_root(), Some(state.clone()));
        // Started under the lock, which must not be held across an await of this runtime.
        let record = support::blocking(services::start_localstack(&layout, Some(port)))
            .expect("no running LocalStack and none could be started (`cargo xtask up` installs it)");
        own.record = Some((record, state));
    }
    own.users += 1;
    let port = own.record.as_ref().map(|(r, _)| r.port).unwrap_or_default();
    LocalStackLease {
        endpoint: local_stack::loopback_url(port),
        own: true,
    }
}

/// A queue of the test's own, deleted at the end even when the test fails.
struct Queue {
    sqs: aws_sdk_sqs::Client,
    endpoint: String,
    url: String,
    arn: String,
}

impl Queue {
    async fn create(endpoint: &str, tag: &str) -> Self {
        let sqs = &sqs_client(endpoint).await;
        let name = format!("bridge-{tag}-{}-{}", std::process::id(), random::hex(4).unwrap());
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .unwrap();
        let arn = queue_arn(sqs, &url).await.unwrap();
        Self {
            sqs: sqs.clone(),
            endpoint: endpoint.to_owned(),
            url,
            arn,
        }
    }

    async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage")
            .message_id
            .unwrap()
    }

    /// One receive, waiting up to `wait`; what the test receives it keeps hidden for a minute.
    async fn receive(&self, wait: Duration) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.url)
            .wait_time_seconds(wait.as_secs() as i32)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default()
    }

    /// Receives until the message comes back (or `within` passes); returns it and when.
    async fn comes_back(&self, within: Duration) -> (Message, Instant) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.receive(Duration::from_secs(1)).await.pop() {
                return (m, Instant::now());
            }
            assert!(Instant::now() < deadline, "the message never came back: it was deleted");
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let (endpoint, url) = (self.endpoint.clone(), self.url.clone());
        // Drop cannot await, and it runs on the test's runtime, which it blocks: a thread and
        // a runtime (and a client, whose connections live on a runtime) of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let sqs = sqs_client(&endpoint).await;
                let _ = sqs.delete_queue().queue_url(url).send().await;
            })
        })
        .join();
    }
}

fn receive_count(message: &Message) -> Option<&str> {
    message
        .attributes
        .as_ref()?
        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
        .map(String::as_str)
}

// ---------------------------------------------------------------------------------------------
// The fake function

#[derive(Clone, Copy)]
enum Behaviour {
    /// Accepts the invocation and never answers (until the test ends).
    NeverAnswers,
    /// Answers at once, reporting every message of the batch in `batchItemFailures`.
    FailsEveryMessage,
}

/// Serves `POST /2015-03-31/functions/<name>/invocations` on a free loopback port, the path
/// the bridge invokes cargo lambda on. Dropping it stops the server and frees the port.
struct FakeFunction {
    port: u16,
    server: Arc<tiny_http::Server>,
    invocations: Arc<Mutex<Vec<(String, Value)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeFunction {
    fn start(behaviour: Behaviour) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let invocations = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, invocations) = (server.clone(), invocations.clone());
            std::thread::spawn(move || {
                // Unanswered requests are held here until the server stops.
                let mut held = Vec::new();
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let event: Value = serde_json::from_str(&body).unwrap_or_default();
                    let function = request
                        .url()
                        .strip_prefix("/2015-03-31/functions/")
                        .and_then(|rest| rest.strip_suffix("/invocations"))
                        .unwrap_or("?")
                        .to_owned();
                    invocations.lock().unwrap().push((function, event.clone()));
                    match behaviour {
                        Behaviour::NeverAnswers => held.push(request),
                        Behaviour::FailsEveryMessage => {
                            let failures: Vec<Value> = event["Records"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|r| json!({"itemIdentifier": r["messageId"]}))
                                .collect();
                            let reply = json!({ "batchItemFailures": failures }).to_string();
                            let _ = request.respond(tiny_http::Response::from_string(reply));
                        }
                    }
                }
            })
        };
        Self {
            port,
            server,
            invocations,
            thread: Some(thread),
        }
    }

    fn invocations(&self) -> Vec<(String, Value)> {
        self.invocations.lock().unwrap().clone()
    }
}

impl Drop for FakeFunction {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn mapping_to(queue: &Queue, function: &FakeFunction) -> EventSourceMapping {
    EventSourceMapping {
        http: local_stack::http_client(),
        sqs: queue.sqs.clone(),
        queue_url: queue.url.clone(),
        function: "send-email".into(),
        timeout: TIMEOUT,
        claim_lease: LEASE,
        functions_port: function.port,
        region: REGION.into(),
        source: SqsEventSource {
            batch_size: 10,
            max_concurrency: 1,
            batching_window_seconds: 0,
            report_batch_item_failures: true,
        },
    }
}

async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let endpoints = Endpoints {
        localstack: endpoint.to_owned(),
        dynamodb: endpoint.to_owned(),
    };
    aws_sdk_sqs::Client::new(&sdk_config(&endpoints).await)
}

/// `run_once` must come back on its own; a test-side limit turns a hang into a failure.
async fn run_once(mapping: &EventSourceMapping, queue: &Queue) -> BatchOutcome {
    tokio::time::timeout(
        TIMEOUT + Duration::from_secs(60),
        mapping.run_once(&queue.arn, Duration::from_secs(5)),
    )
    .await
    .expect("run_once did not return: the invocation was not timed out")
    .expect("run_once")
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invocation_past_the_timeout_is_a_function_error_and_its_batch_stays_in_flight() {
    let localstack = localstack().await;
    let queue = Queue::create(&localstack.endpoint, "timeout").await;
    let function = FakeFunction::start(Behaviour::NeverAnswers);
    let mapping = mapping_to(&queue, &function);
    let id = queue.send(r#"{"n": 1}"#).await;

    let invoked = Instant::now();
    let outcome = run_once(&mapping, &queue).await;
    assert_eq!(
        outcome,
        BatchOutcome {
            received: 1,
            deleted: 0,
            failed: 1
        },
        "a timed-out invocation deletes nothing"
    );
    let invocations = function.invocations();
    assert_eq!(invocations.len(), 1, "invoked once");
    assert_eq!(invocations[0].0, "send-email");
    assert_eq!(invocations[0].1["Records"][0]["messageId"], id.as_str());

    // Still in flight: no second consumer can receive it while the abandoned invocation may
    // still be running ...
    assert!(
        queue.receive(Duration::from_secs(2)).await.is_empty(),
        "the message was made visible right after the timeout"
    );
    // ... it comes back, undeleted, when the visibility it was received with ends.
    let (message, back) = queue
        .comes_back(mapping.in_flight_visibility() + Duration::from_secs(30))
        .await;
    assert_eq!(message.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        receive_count(&message),
        Some("2"),
        "received by the bridge, then by the test"
    );
    assert!(
        back + SLACK >= invoked + mapping.in_flight_visibility(),
        "back after {:?}, before its {:?} in flight ended",
        back - invoked,
        mapping.in_flight_visibility()
    );
    assert!(mapping.in_flight_visibility() > TIMEOUT && mapping.in_flight_visibility() > LEASE);
}

#[tokio::test]
async fn a_failed_message_is_retried_no_sooner_than_the_claim_lease() {
    let localstack = localstack().await;
    let queue = Queue::create(&localstack.endpoint, "retry").await;
    let function = FakeFunction::start(Behaviour::FailsEveryMessage);
    let mapping = mapping_to(&queue, &function);
    assert!(mapping.retry_after() >= LEASE, "{:?}", mapping.retry_after());
    let id = queue.send(r#"{"n": 2}"#).await;

    let invoked = Instant::now();
    let outcome = run_once(&mapping, &queue).await;
    assert_eq!(
        outcome,
        BatchOutcome {
            received: 1,
            deleted: 0,
            failed: 1
        }
    );
    assert_eq!(function.invocations().len(), 1);

    // Not receivable for a while after the failure: a quick retry would meet the claim that
    // another, live consumer may still hold.
    assert!(
        queue.receive(Duration::from_secs(3)).await.is_empty(),
        "a failed message was retried before its claim lease ended"
    );
    let (message, back) = queue.comes_back(mapping.retry_after() + Duration::from_secs(30)).await;
    assert_eq!(message.message_id.as_deref(), Some(id.as_str()));
    // Received twice: by the bridge, then by the test once the lease was over; nobody in between.
    assert_eq!(receive_count(&message), Some("2"));
    assert!(
        back + SLACK >= invoked + LEASE,
        "visible again after {:?}, before the {LEASE:?} lease",
        back - invoked
    );
}

#[tokio::test]
async fn a_scheduled_function_gets_its_timeout() {
    let function = FakeFunction::start(Behaviour::NeverAnswers);
    let scheduler = Scheduler {
        http: local_stack::http_client(),
        functions_port: function.port,
        scheduled: vec![Scheduled {
            function: "publish-outbox".into(),
            timeout: Duration::from_secs(1),
        }],
        every: Duration::from_secs(3600),
    };
    let outcomes = tokio::time::timeout(Duration::from_secs(60), scheduler.run_once())
        .await
        .expect("a scheduled invocation was not timed out");
    assert_eq!(outcomes.len(), 1);
    let (name, outcome) = &outcomes[0];
    assert_eq!(name, "publish-outbox");
    let error = format!("{:#}", outcome.as_ref().expect_err("no answer is a function error"));
    assert!(error.contains("Timeout of 1 s"), "{error}");
    assert_eq!(function.invocations()[0].0, "publish-outbox");
}
