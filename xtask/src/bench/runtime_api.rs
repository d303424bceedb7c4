//! A Lambda runtime API (version 2018-06-01) served by the benchmark itself. The benchmark execs
//! a function's process pointed at it, so it sees to the microsecond when the process asks for
//! its first event (init is over) and when it answers each one. It serves any number of
//! processes from one queue, like one function's execution environments, and also answers
//! Lambda's Invoke path, so the SQS bridge drives processes started here exactly as it drives
//! `cargo lambda watch`.
//!
//! Only what runtimes use is implemented: `next`, `response`, `error`, `init/error`.
//!
//! The server is threads, not tasks: every instant is taken on the thread that serves the
//! request, so how busy the async side is (pollers, SDK calls) cannot shift a figure. The
//! benchmark waits for those instants asynchronously.

use anyhow::{Context, Result, bail};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tiny_http::{Header, Request, Response, Server};
use tokio::sync::Notify;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
/// The deadline handed to functions with each event.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a wait asks whether the function's process is still alive.
const ALIVE_EVERY: Duration = Duration::from_millis(100);

/// How one invocation went, timed at this end of the socket.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub handed_out: Instant,
    pub answered: Instant,
    /// `false` when the function posted to `/error`.
    pub ok: bool,
    pub body: String,
}

impl Outcome {
    /// The function's share: from the event leaving here to its answer arriving.
    pub fn duration(&self) -> Duration {
        self.answered - self.handed_out
    }
}

pub struct RuntimeApi {
    port: u16,
    server: Arc<Server>,
    shared: Arc<Shared>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the server's threads waiting on `state` (a `next`, an Invoke) ...
    threads: Condvar,
    /// ... and the benchmark's tasks.
    tasks: Notify,
}

#[derive(Default)]
struct State {
    queued: VecDeque<(String, String)>,
    /// When each `next` request arrived, in order.
    nexts: Vec<Instant>,
    handed_out: HashMap<String, Instant>,
    done: HashMap<String, Outcome>,
    init_error: Option<String>,
    next_id: u64,
    closed: bool,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub fn start() -> Result<Self> {
        let server = Arc::new(
            Server::http((local_stack::LOOPBACK, 0))
                .map_err(|e| anyhow::anyhow!("runtime API: cannot listen on loopback: {e}"))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .context("runtime API: no TCP port")?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    // `next` and Invoke block until there is an event or an answer: they get a
                    // thread each. The rest is answered here, without a thread's start-up in
                    // the measured path.
                    if request.url() == NEXT || request.url().starts_with(INVOKE_PREFIX) {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve(&shared, request));
                    } else {
                        serve(&shared, request);
                    }
                }
            })
        };
        Ok(Self {
            port,
            server,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("{}:{}", local_stack::LOOPBACK, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many `next` requests have arrived so far.
    pub fn nexts(&self) -> usize {
        self.shared.lock().nexts.len()
    }

    /// Queues an event; returns its request id.
    pub fn submit(&self, event: String) -> String {
        self.shared.submit(event)
    }

    /// Waits until `next` request number `index` (0-based) arrives and returns when it did.
    /// `alive` is asked between waits, so a process that died is reported at once.
    pub async fn wait_for_next(
        &self,
        index: usize,
        timeout: Duration,
        alive: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Instant> {
        self.shared
            .wait(timeout, alive, |s| s.nexts.get(index).copied())
            .await
            .with_context(|| format!("waiting for runtime API request `next` #{}", index + 1))
    }

    /// Waits for the outcome of `request_id`.
    pub async fn outcome(
        &self,
        request_id: &str,
        timeout: Duration,
        alive: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Outcome> {
        self.shared
            .wait(timeout, alive, |s| s.done.remove(request_id))
            .await
            .with_context(|| format!("waiting for invocation {request_id}"))
    }

    /// Submits and waits.
    pub async fn invoke(&self, event: String, alive: &mut dyn FnMut() -> Result<()>) -> Result<Outcome> {
        let id = self.submit(event);
        self.outcome(&id, FUNCTION_TIMEOUT * 2, alive).await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed();
        self.server.unblock();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes every waiter, thread or task, to look at the state again.
    fn changed(&self) {
        self.threads.notify_all();
        self.tasks.notify_waiters();
    }

    fn submit(&self, event: String) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        let id = format!("bench-{:08}", state.next_id);
        state.queued.push_back((id.clone(), event));
        drop(state);
        self.changed();
        id
    }

    /// The benchmark's wait: until `ready` has a value, the function reports an init error,
    /// `alive` an error, or `timeout` passes.
    async fn wait<T>(
        &self,
        timeout: Duration,
        alive: &mut dyn FnMut() -> Result<()>,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.tasks.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the state is read, so a change right after it still wakes us.
            changed.as_mut().enable();
            if let Some(value) = settled(&mut self.lock(), deadline, timeout, &mut ready)? {
                return Ok(value);
            }
            alive()?;
            let _ = tokio::time::timeout(ALIVE_EVERY, changed).await;
        }
    }

    /// A server thread's wait (an Invoke for the function's answer).
    fn wait_blocking<T>(&self, timeout: Duration, mut ready: impl FnMut(&mut State) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(value) = settled(&mut state, deadline, timeout, &mut ready)? {
                return Ok(value);
            }
            state = self
                .threads
                .wait_timeout(state, ALIVE_EVERY)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Blocks a `next` request until there is an event; `None` once the API is closed.
    fn take_next(&self) -> Option<(String, String)> {
        let mut state = self.lock();
        state.nexts.push(Instant::now());
        self.changed();
        loop {
            if state.closed {
                return None;
            }
            if let Some((id, event)) = state.queued.pop_front() {
                state.handed_out.insert(id.clone(), Instant::now());
                return Some((id, event));
            }
            state = self
                .threads
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn finish(&self, id: &str, ok: bool, body: String) -> bool {
        let answered = Instant::now();
        let mut state = self.lock();
        let Some(handed_out) = state.handed_out.remove(id) else {
            return false;
        };
        state.done.insert(
            id.to_owned(),
            Outcome {
                handed_out,
                answered,
                ok,
                body,
            },
        );
        drop(state);
        self.changed();
        true
    }
}

/// What a wait ends with now, if anything: the value `ready` finds, or why there will be none.
fn settled<T>(
    state: &mut State,
    deadline: Instant,
    timeout: Duration,
    ready: &mut impl FnMut(&mut State) -> Option<T>,
) -> Result<Option<T>> {
    if let Some(value) = ready(state) {
        return Ok(Some(value));
    }
    if let Some(error) = &state.init_error {
        bail!("the function reported an init error: {error}");
    }
    if Instant::now() > deadline {
        bail!("no answer within {timeout:?}");
    }
    Ok(None)
}

fn serve(shared: &Shared, mut request: Request) {
    let url = request.url().to_owned();
    let mut body = String::new();
    if request.as_reader().read_to_string(&mut body).is_err() {
        let _ = request.respond(Response::from_string("unreadable body").with_status_code(400));
        return;
    }
    let (status, reply, headers) = route(shared, &url, body);
    let mut response = Response::from_string(reply).with_status_code(status);
    for (name, value) in headers {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    let _ = request.respond(response);
}

type Reply = (u16, String, Vec<(&'static str, String)>);

fn route(shared: &Shared, url: &str, body: String) -> Reply {
    let json = vec![("Content-Type", "application/json".to_owned())];
    if url == NEXT {
        let Some((id, event)) = shared.take_next() else {
            return (410, r#"{"errorMessage":"runtime API closed"}"#.into(), json);
        };
        let deadline = SystemTime::now() + FUNCTION_TIMEOUT;
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let mut headers = json;
        headers.extend([
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:000000000000:function:bench".to_owned(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
            ),
        ]);
        return (200, event, headers);
    }
    if url == INIT_ERROR {
        shared.lock().init_error = Some(body);
        shared.changed();
        return (202, r#"{"status":"OK"}"#.into(), json);
    }
    if let Some(rest) = url.strip_prefix(INVOCATION) {
        let (id, ok) = match (rest.strip_suffix("/response"), rest.strip_suffix("/error")) {
            (Some(id), _) => (id, true),
            (_, Some(id)) => (id, false),
            _ => return (404, r#"{"errorMessage":"unknown path"}"#.into(), json),
        };
        return if shared.finish(id, ok, body) {
            (202, r#"{"status":"OK"}"#.into(), json)
        } else {
            (400, r#"{"errorMessage":"unknown request id"}"#.into(), json)
        };
    }
    if url.starts_with(INVOKE_PREFIX) && url.ends_with("/invocations") {
        let id = shared.submit(body);
        return match shared.wait_blocking(FUNCTION_TIMEOUT * 2, |s| s.done.remove(&id)) {
            Ok(outcome) if outcome.ok => (200, outcome.body, json),
            Ok(outcome) => (
                200,
                outcome.body,
                vec![("X-Amz-Function-Error", "Unhandled".to_owned())],
            ),
            Err(e) => (
                504,
                serde_json::json!({"errorType": "Timeout", "errorMessage": format!("{e:#}")}).to_string(),
                json,
            ),
        };
    }
    (404, r#"{"errorMessage":"unknown path"}"#.into(), json)
}

#[cfg(test)]
mod tests {
    //! A runtime client written against the documented protocol, over real sockets.
    use super::*;

    /// Generous: these bound a hang, they do not time anything.
    const HANG: Duration = Duration::from_secs(60);

    fn url(port: u16, path: &str) -> String {
        format!("{}{path}", local_stack::loopback_url(port))
    }

    /// A function's `next`: its request id and event.
    async fn get_next(http: &reqwest::Client, port: u16) -> (String, String) {
        let response = http.get(url(port, NEXT)).send().await.unwrap();
        let id = response.headers()["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (id, response.text().await.unwrap())
    }

    /// A function's answer to invocation `id`; the status the runtime API gave it.
    async fn answer(http: &reqwest::Client, port: u16, id: &str, verb: &str, body: String) -> u16 {
        let path = format!("{INVOCATION}{id}/{verb}");
        http.post(url(port, &path))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn hands_out_events_and_times_the_answers() {
        let api = RuntimeApi::start().unwrap();
        let port = api.port();
        let function = tokio::spawn(async move {
            let http = local_stack::http_client();
            for _ in 0..2 {
                let (id, event) = get_next(&http, port).await;
                let verb = if event.contains("fail") { "error" } else { "response" };
                assert_eq!(answer(&http, port, &id, verb, event).await, 202);
            }
        });
        let mut alive = || Ok(());
        let first_next = api.wait_for_next(0, HANG, &mut alive).await.unwrap();
        let ok = api.invoke(r#"{"n":1}"#.into(), &mut alive).await.unwrap();
        assert!(ok.ok && ok.body == r#"{"n":1}"# && ok.handed_out >= first_next);
        let failed = api.invoke(r#"{"fail":true}"#.into(), &mut alive).await.unwrap();
        assert!(!failed.ok);
        function.await.unwrap();
        assert_eq!(api.nexts(), 2, "one `next` per event");
    }

    #[tokio::test]
    async fn the_invoke_path_waits_for_the_function() {
        let api = RuntimeApi::start().unwrap();
        let port = api.port();
        let function = tokio::spawn(async move {
            let http = local_stack::http_client();
            let (id, event) = get_next(&http, port).await;
            answer(&http, port, &id, "response", event.replace("ping", "pong")).await
        });
        let reply = local_stack::http_client()
            .post(url(port, "/2015-03-31/functions/any/invocations"))
            .body(r#""ping""#)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.text().await.unwrap(), r#""pong""#);
        assert_eq!(function.await.unwrap(), 202);
    }

    #[tokio::test]
    async fn a_dead_function_is_reported_not_waited_for() {
        let api = RuntimeApi::start().unwrap();
        let mut dead = || bail!("process exited with status 1");
        let error = api.wait_for_next(0, HANG, &mut dead).await.unwrap_err();
        assert!(format!("{error:#}").contains("exited"), "{error:#}");
    }
}
