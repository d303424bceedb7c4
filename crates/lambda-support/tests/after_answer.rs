//! [`AfterAnswer`] in lambda_runtime's own loop, against a runtime API on loopback that records
//! what the runtime asks of it: the deferred work starts once the answer is posted, and the
//! next event is asked for only once the work is done (so Lambda freezes nothing mid-work).
//! A test binary of its own: lambda_runtime reads its endpoint from the process's environment.

use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use lambda_support::after_answer::AfterAnswer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiny_http::{Header, Response, Server};

type Journal = Arc<Mutex<Vec<&'static str>>>;

fn note(journal: &Journal, what: &'static str) {
    journal.lock().unwrap().push(what);
}

/// Serves one event, its answer, and a second `next` that never gets an event.
fn runtime_api(journal: Journal) -> String {
    let server = Server::http("127.0.0.1:0").unwrap();
    let address = server.server_addr().to_ip().unwrap().to_string();
    std::thread::spawn(move || {
        let mut nexts = 0;
        for request in server.incoming_requests() {
            let url = request.url().to_owned();
            if url.ends_with("/invocation/next") {
                nexts += 1;
                if nexts > 1 {
                    note(&journal, "next event asked for");
                    // Held open: the runtime waits here, as a frozen instance would.
                    std::mem::forget(request);
                    continue;
                }
                let header = |name: &str, value: &str| Header::from_bytes(name, value).unwrap();
                let deadline = (std::time::SystemTime::now() + Duration::from_secs(30))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let event = Response::from_string("{}")
                    .with_header(header("Lambda-Runtime-Aws-Request-Id", "req-1"))
                    .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline.to_string()))
                    .with_header(header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:x:1:function:f",
                    ));
                request.respond(event).unwrap();
            } else if url.ends_with("/req-1/response") {
                note(&journal, "answer posted");
                request.respond(Response::empty(202)).unwrap();
            } else {
                request.respond(Response::empty(404)).unwrap();
            }
        }
    });
    address
}

#[tokio::test]
async fn deferred_work_runs_after_the_answer_is_posted_and_before_the_next_event() {
    let journal = Journal::default();
    let address = runtime_api(journal.clone());
    // SAFETY: this test binary's only test sets them before the runtime reads them.
    unsafe {
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", &address);
        std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "f");
        std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
        std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "1");
    }
    let (after, layer) = AfterAnswer::new();
    let work_journal = journal.clone();
    let handler = service_fn(move |_: LambdaEvent<Value>| {
        let (after, journal) = (after.clone(), work_journal.clone());
        async move {
            after.defer(async move {
                note(&journal, "work starts");
                // Long enough that work run beside the runtime, not before its `next`, would be
                // overtaken by that `next`.
                tokio::time::sleep(Duration::from_millis(200)).await;
                note(&journal, "work ends");
            });
            Ok::<_, lambda_runtime::Error>(json!({"ok": true}))
        }
    });
    let runtime = tokio::spawn(Runtime::new(handler).layer(layer).run());
    while !journal.lock().unwrap().contains(&"next event asked for") {
        assert!(
            !runtime.is_finished(),
            "the runtime stopped: {:?}",
            journal.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runtime.abort();
    assert_eq!(
        *journal.lock().unwrap(),
        ["answer posted", "work starts", "work ends", "next event asked for"]
    );
}
