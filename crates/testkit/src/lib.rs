//! What the functions' integration tests share: the local stack (`cargo xtask up`) they run
//! against, with the functions' own deadlines on its clients, the functions' log (and the EMF
//! documents in it), and a dependency that hangs.
//! How to reach the stack is `local-stack`'s knowledge; this adapts it to the tests.

use aws_config::SdkConfig;
use local_stack::{Endpoints, StackEnv};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The stack's coordinates: `stack.env` in the state directory (`XTASK_STATE_DIR`, as for
/// `cargo xtask --state-dir`, else `.local`), overridden by the process environment (which
/// `cargo xtask test` sets to the stack it runs the tests on).
pub fn stack() -> HashMap<String, String> {
    let path = state_dir().join(local_stack::state::STACK_ENV);
    let vars: HashMap<String, String> = StackEnv::read(&path)
        .unwrap_or_default()
        .overridden_by_process_env()
        .entries()
        .iter()
        .cloned()
        .collect();
    assert!(
        vars.contains_key("AWS_ENDPOINT_URL"),
        "no local stack: run `cargo xtask test`, or `cargo xtask up` before `cargo test`"
    );
    vars
}

/// `cargo xtask up`'s state directory: `XTASK_STATE_DIR`, else `.local`.
fn state_dir() -> PathBuf {
    std::env::var_os("XTASK_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local"))
}

/// The watch's log, where the functions' stdout goes (in the stack's state directory).
pub fn watch_log() -> PathBuf {
    local_stack::state::log(&state_dir(), local_stack::state::WATCH)
}

/// The request id on a line of the watch's log: lambda_runtime's span puts `requestId="..."`
/// on every line an invocation logs.
pub fn request_id_of(line: &str) -> Option<String> {
    Some(line.split("requestId=\"").nth(1)?.split('"').next()?.to_owned())
}

/// The request id of the invocation that logged a line containing `needle` (lambda_runtime's
/// span puts `requestId="..."` on every line of an invocation), and the EMF documents flushed
/// with that request id. Blocking: waits up to 20 s for them, as the watch copies the
/// function's output to its log as it comes.
pub fn emf_of_invocation_with(needle: &str) -> (String, Vec<lambda_support::metrics::emf::Document>) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(watch_log()).unwrap_or_default();
        let request_id = log.lines().filter(|line| line.contains(needle)).find_map(request_id_of);
        if let Some(request_id) = request_id {
            let docs: Vec<_> = lambda_support::metrics::emf::Document::all_in(&log)
                .into_iter()
                .filter(|d| d.string("RequestId") == Some(request_id.as_str()))
                .collect();
            if !docs.is_empty() {
                return (request_id, docs);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no EMF documents for the invocation that logged {needle} in {}",
            watch_log().display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The emulators' endpoints, as [`StackEnv::endpoints`] reads them.
fn endpoints(stack: &HashMap<String, String>) -> Endpoints {
    let entries = stack.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    StackEnv::new(entries).endpoints().expect("the stack's endpoints")
}

/// SDK configuration for LocalStack with the deadlines the functions use, so that an adapter
/// under test times out as it would in Lambda.
pub async fn sdk_config(stack: &HashMap<String, String>) -> SdkConfig {
    local_stack::sdk_config_loader(&endpoints(stack))
        .timeout_config(lambda_support::aws::timeouts())
        .load()
        .await
}

/// A DynamoDB client for DynamoDB Local.
pub fn dynamodb(sdk: &SdkConfig, stack: &HashMap<String, String>) -> aws_sdk_dynamodb::Client {
    local_stack::dynamodb_client(sdk, &endpoints(stack))
}

/// Every email LocalStack's SES has accepted for `address`. Blocking, for the tests' polling
/// loops (see [`blocking`]); each call has a runtime, and so a client, of its own.
pub fn emails_to(stack: &HashMap<String, String>, address: &str) -> Vec<Value> {
    let outbox = local_stack::ses::Outbox::at(&stack["AWS_ENDPOINT_URL"]);
    blocking(outbox.emails_to(address)).expect("LocalStack's SES outbox answers")
}

/// Runs `work` to completion on a thread and runtime of its own, so that synchronous code can
/// await: a plain `#[test]`, or a polling loop, a `Drop` or a lock inside an async test, whose
/// own runtime must not be blocked on (and cannot start a second one on its thread).
pub fn blocking<T: Send>(work: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(work)
            })
            .join()
            .expect("the work does not panic")
    })
}

/// A dependency that hangs: a TCP listener that accepts every connection and never answers
/// (not a closed port, which fails at once). Connections are held until it is dropped.
pub struct HangingListener {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HangingListener {
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Self { url, stop }
    }
}

impl Drop for HangingListener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
