//! What the functions' integration tests share: the local stack (`cargo xtask up`) they run
//! against, with the functions' own deadlines on its clients, the functions' log (and the EMF
//! documents in it), and a dependency that hangs.
//! How to reach the stack is `local-stack`'s knowledge; this adapts it to the tests.

use aws_config::SdkConfig;
use local_stack::{Endpoints, StackEnv};
/// The local services' address, and a service's URL on it (the local stack's).
pub use local_stack::{LOOPBACK, loopback_url};
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

/// The value of the field `name` on a text log line of the watch's log, a span's or the line's
/// own: `name="..."` (a string) or `name=...` (a displayed value, up to the next space, `}`
/// or `:`). `trace_id` is not found in `upstream_trace_id=`.
pub fn field_of(line: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=");
    let at = line
        .match_indices(&pattern)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b'{'))?;
    let value = &line[at + pattern.len()..];
    Some(match value.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?.to_owned(),
        None => value.split([' ', '}', ':']).next()?.to_owned(),
    })
}

/// The watch's log's length now: where the lines of what a test does next start.
pub fn watch_log_len() -> usize {
    std::fs::metadata(watch_log()).map_or(0, |m| m.len() as usize)
}

/// What `found` finds in the watch's log after its first `offset` bytes. Blocking: reads it
/// again every 200 ms for up to `wait`, as the watch copies the functions' output to its log
/// as it comes; fails naming `what` was looked for.
pub fn wait_in_watch_log<T>(
    offset: usize,
    wait: std::time::Duration,
    what: &str,
    mut found: impl FnMut(&str) -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let log = std::fs::read(watch_log()).unwrap_or_default();
        if let Some(found) = found(&String::from_utf8_lossy(&log[offset.min(log.len())..])) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} after byte {offset} of {} in {wait:?}",
            watch_log().display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The first line of the watch's log that contains every one of `needles`, waiting up to
/// `wait` for it ([`wait_in_watch_log`]).
pub fn watch_log_line(needles: &[&str], wait: std::time::Duration) -> String {
    wait_in_watch_log(0, wait, &format!("line with {needles:?}"), |log| {
        log.lines()
            .find(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
    })
}

/// The request id on a line of the watch's log: the invocation's span puts it on every line
/// an invocation logs.
pub fn request_id_of(line: &str) -> Option<String> {
    field_of(line, "request_id")
}

/// The request id of the invocation that logged a line containing `needle` (the invocation's
/// span puts `request_id="..."` on every line of an invocation), and the EMF documents flushed
/// with that request id. Blocking: waits up to 20 s for them ([`wait_in_watch_log`]).
pub fn emf_of_invocation_with(needle: &str) -> (String, Vec<lambda_support::metrics::emf::Document>) {
    let what = format!("EMF documents for the invocation that logged {needle}");
    wait_in_watch_log(0, std::time::Duration::from_secs(20), &what, |log| {
        let request_id = log
            .lines()
            .filter(|line| line.contains(needle))
            .find_map(request_id_of)?;
        let docs: Vec<_> = lambda_support::metrics::emf::Document::all_in(log)
            .into_iter()
            .filter(|d| d.string("RequestId") == Some(request_id.as_str()))
            .collect();
        (!docs.is_empty()).then_some((request_id, docs))
    })
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

/// A DynamoDB client for DynamoDB Local whose first connection's answers come `late` (a
/// [`DelayingProxy`] in front of it, returned with it: it stops when dropped). Later
/// connections, the SDK's retries among them, pass at once. With `late` over the attempt
/// timeout, a write is done and its answer lost, and the SDK sends it again: the fault a
/// conditional write must be ready for.
pub fn dynamodb_losing_first_answer(
    sdk: &SdkConfig,
    stack: &HashMap<String, String>,
    late: std::time::Duration,
) -> (aws_sdk_dynamodb::Client, DelayingProxy) {
    let delays = Delays {
        answer: late,
        first_connections: Some(1),
        ..Delays::default()
    };
    let proxy = DelayingProxy::with(&endpoints(stack).dynamodb, delays);
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .endpoint_url(&proxy.url)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(conf), proxy)
}

/// The id of the user the address's guard names (pending or verified), as DynamoDB Local holds
/// it: what a test learns of a sign-up whose answer, by design, names no user. Blocking.
pub fn user_of(stack: &HashMap<String, String>, email: &str) -> Option<uuid::Uuid> {
    blocking(async {
        let sdk = sdk_config(stack).await;
        let item = dynamodb(&sdk, stack)
            .get_item()
            .table_name(&stack["USERS_TABLE"])
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("EMAIL#{}", user_events::email_key(email))),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("DynamoDB Local answers")
            .item?;
        item.get("user_id")?.as_s().ok()?.parse().ok()
    })
}

/// The token of the verification link in the `nth` email (from 1) LocalStack's SES accepted for
/// `address`, waiting up to `wait` for it. Blocking.
pub fn link_token(stack: &HashMap<String, String>, address: &str, nth: usize, wait: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let token = emails_to(stack, address).get(nth - 1).and_then(|email| {
            let text = email["Body"]["text_part"].as_str()?;
            let at = text.find("token=")? + "token=".len();
            text[at..].split_whitespace().next().map(str::to_owned)
        });
        if let Some(token) = token {
            return token;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no verification link in email {nth} to the address in {wait:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
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

/// A listener on a free loopback port that hands every connection to `accepted` until it
/// is dropped: what the fault doubles below are made of.
struct Loopback {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Loopback {
    fn serve(mut accepted: impl FnMut(std::net::TcpStream) + Send + 'static) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind((LOOPBACK, 0)).expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => accepted(stream),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Self { url, stop }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A dependency that hangs: a TCP listener that accepts every connection and never answers
/// (not a closed port, which fails at once). Connections are held until it is dropped.
pub struct HangingListener {
    pub url: String,
    _listener: Loopback,
}

impl HangingListener {
    pub fn start() -> Self {
        let mut held = Vec::new();
        let listener = Loopback::serve(move |stream| held.push(stream));
        Self {
            url: listener.url.clone(),
            _listener: listener,
        }
    }
}

/// A dependency that is slow: a TCP proxy to `upstream` that holds each request (or each
/// answer) for a while before it passes it on. The request does reach the upstream, late, or
/// the upstream's answer comes late: as a slow AWS endpoint that does its work and answers
/// after the delay. Stops accepting when dropped.
pub struct DelayingProxy {
    pub url: String,
    _listener: Loopback,
}

/// What a [`DelayingProxy`] holds, and on which connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delays {
    /// Before the request is passed on (the upstream gets it late).
    pub request: std::time::Duration,
    /// Before the answer is passed back (the upstream did its work; its answer is late).
    pub answer: std::time::Duration,
    /// Only the first this many connections are delayed (`None`: all).
    pub first_connections: Option<usize>,
}

impl DelayingProxy {
    /// A proxy to `upstream` (an `http://host:port` URL) on a free loopback port that holds
    /// each request for `delay`.
    pub fn start(upstream: &str, delay: std::time::Duration) -> Self {
        Self::with(
            upstream,
            Delays {
                request: delay,
                ..Delays::default()
            },
        )
    }

    pub fn with(upstream: &str, delays: Delays) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let mut accepted = 0;
        let listener = Loopback::serve(move |client| {
            accepted += 1;
            let delayed = delays.first_connections.is_none_or(|n| accepted <= n);
            let delays = if delayed { delays } else { Delays::default() };
            let upstream = upstream.clone();
            std::thread::spawn(move || relay(client, &upstream, delays));
        });
        Self {
            url: listener.url.clone(),
            _listener: listener,
        }
    }
}

/// Relays `client` and a new connection to `upstream` both ways until either side closes,
/// holding each request (the first bytes the client sends after an answer) for
/// `delays.request` and each answer (the first bytes the upstream sends after a request) for
/// `delays.answer`: every exchange on a kept-alive connection is as slow as the first.
fn relay(client: std::net::TcpStream, upstream: &str, delays: Delays) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    client.set_nonblocking(false).ok();
    let Ok(server) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Whose turn it is: set when a request went up (its answer is due), cleared when the
    // answer's first bytes came down.
    let awaiting_answer = Arc::new(AtomicBool::new(false));
    let turn = awaiting_answer.clone();
    let up = std::thread::spawn(move || {
        pump(client_reader, server_writer, |_| {
            if !turn.swap(true, Ordering::SeqCst) {
                std::thread::sleep(delays.request);
            }
        })
    });
    pump(server, client, |_| {
        if awaiting_answer.swap(false, Ordering::SeqCst) {
            std::thread::sleep(delays.answer);
        }
    });
    up.join().ok();
}

/// Copies `from` to `to` until either closes, calling `before` ahead of writing each chunk;
/// then shuts both down.
fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream, mut before: impl FnMut(&[u8])) {
    use std::io::{Read, Write};
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                before(&buffer[..n]);
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    to.shutdown(std::net::Shutdown::Both).ok();
    from.shutdown(std::net::Shutdown::Both).ok();
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn reads_span_and_line_fields_quoted_or_not_and_only_whole_names() {
        let line = r#" INFO invocation{request_id="r-1" trace_id="1-a-b"}:message{message_id=m-1 upstream_trace_id="1-c-d" user_id=u-1}: welcome email sent ses_message_id=s-1"#;
        assert_eq!(field_of(line, "request_id").as_deref(), Some("r-1"));
        assert_eq!(field_of(line, "trace_id").as_deref(), Some("1-a-b"));
        assert_eq!(field_of(line, "upstream_trace_id").as_deref(), Some("1-c-d"));
        assert_eq!(field_of(line, "message_id").as_deref(), Some("m-1"));
        assert_eq!(field_of(line, "user_id").as_deref(), Some("u-1"));
        assert_eq!(field_of(line, "ses_message_id").as_deref(), Some("s-1"));
        assert_eq!(field_of(line, "event_id"), None);
        assert_eq!(field_of(line, "id"), None);
    }
}
