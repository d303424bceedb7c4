//! A Lambda runtime API (version 2018-06-01) served by the benchmark itself. The benchmark execs
//! a function's process pointed at it, so it sees to the microsecond when the process asks for
//! its first event (init is over) and when it answers each one. It serves any number of
//! processes from one queue, like one function's execution environments, and also answers
//! Lambda's Invoke path, so the SQS bridge drives processes started here exactly as it drives
//! `cargo lambda watch`.
//!
//! Only what runtimes use is implemented: `next`, `response`, `error`, `init/error`.

use anyhow::{Context, Result, bail};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tiny_http::{Header, Request, Response, Server};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
/// The deadline handed to functions with each event.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

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
    changed: Condvar,
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
            Server::http("127.0.0.1:0").map_err(|e| anyhow::anyhow!("runtime API: cannot listen on loopback: {e}"))?,
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
        format!("127.0.0.1:{}", self.port)
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
    pub fn wait_for_next(
        &self,
        index: usize,
        timeout: Duration,
        alive: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Instant> {
        self.shared
            .wait_until(timeout, alive, |s| s.nexts.get(index).copied())
            .with_context(|| format!("waiting for runtime API request `next` #{}", index + 1))
    }

    /// Waits for the outcome of `request_id`.
    pub fn wait(&self, request_id: &str, timeout: Duration, alive: &mut dyn FnMut() -> Result<()>) -> Result<Outcome> {
        self.shared
            .wait_until(timeout, alive, |s| s.done.remove(request_id))
            .with_context(|| format!("waiting for invocation {request_id}"))
    }

    /// Submits and waits.
    pub fn invoke(&self, event: String, alive: &mut dyn FnMut() -> Result<()>) -> Result<Outcome> {
        let id = self.submit(event);
        self.wait(&id, FUNCTION_TIMEOUT * 2, alive)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
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

    fn submit(&self, event: String) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        let id = format!("bench-{:08}", state.next_id);
        state.queued.push_back((id.clone(), event));
        drop(state);
        self.changed.notify_all();
        id
    }

    fn wait_until<T>(
        &self,
        timeout: Duration,
        alive: &mut dyn FnMut() -> Result<()>,
        mut ready: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(value) = ready(&mut state) {
                return Ok(value);
            }
            if let Some(error) = &state.init_error {
                bail!("the function reported an init error: {error}");
            }
            if Instant::now() > deadline {
                bail!("no answer within {timeout:?}");
            }
            drop(state);
            alive()?;
            state = self.lock();
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Blocks a `next` request until there is an event; `None` once the API is closed.
    fn take_next(&self) -> Option<(String, String)> {
        let mut state = self.lock();
        state.nexts.push(Instant::now());
        self.changed.notify_all();
        loop {
            if state.closed {
                return None;
            }
            if let Some((id, event)) = state.queued.pop_front() {
                state.handed_out.insert(id.clone(), Instant::now());
                return Some((id, event));
            }
            state = self
                .changed
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
        self.changed.notify_all();
        true
    }
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
        shared.changed.notify_all();
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
        let mut no_check = || Ok(());
        return match shared.wait_until(FUNCTION_TIMEOUT * 2, &mut no_check, |s| s.done.remove(&id)) {
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
    use crate::probe;

    fn get_next(port: u16) -> (String, String) {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut stream = std::io::BufReader::new(stream);
        use std::io::{BufRead, Read, Write};
        write!(stream.get_mut(), "GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (mut id, mut length) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("lambda-runtime-aws-request-id:") {
                id = v.trim().to_owned();
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).unwrap();
        (id, String::from_utf8(body).unwrap())
    }

    #[test]
    fn hands_out_events_and_times_the_answers() {
        let api = RuntimeApi::start().unwrap();
        let port = api.port();
        let function = std::thread::spawn(move || {
            for _ in 0..2 {
                let (id, event) = get_next(port);
                let verb = if event.contains("fail") { "error" } else { "response" };
                let path = format!("{INVOCATION}{id}/{verb}");
                let (status, _) = probe::http(port, "POST", &path, Some(&event), Duration::from_secs(5)).unwrap();
                assert_eq!(status, 202);
            }
        });
        let mut alive = || Ok(());
        let first_next = api.wait_for_next(0, Duration::from_secs(5), &mut alive).unwrap();
        let ok = api.invoke(r#"{"n":1}"#.into(), &mut alive).unwrap();
        assert!(ok.ok && ok.body == r#"{"n":1}"# && ok.handed_out >= first_next);
        let failed = api.invoke(r#"{"fail":true}"#.into(), &mut alive).unwrap();
        assert!(!failed.ok);
        function.join().unwrap();
        assert_eq!(api.nexts(), 2, "one `next` per event");
    }

    #[test]
    fn the_invoke_path_waits_for_the_function() {
        let api = RuntimeApi::start().unwrap();
        let port = api.port();
        let function = std::thread::spawn(move || {
            let (id, event) = get_next(port);
            let path = format!("{INVOCATION}{id}/response");
            probe::http(
                port,
                "POST",
                &path,
                Some(&event.replace("ping", "pong")),
                Duration::from_secs(5),
            )
            .unwrap();
        });
        let (status, reply) = probe::http(
            port,
            "POST",
            "/2015-03-31/functions/any/invocations",
            Some(r#""ping""#),
            Duration::from_secs(5),
        )
        .unwrap();
        function.join().unwrap();
        assert_eq!((status, reply.as_str()), (200, r#""pong""#));
    }

    #[test]
    fn a_dead_function_is_reported_not_waited_for() {
        let api = RuntimeApi::start().unwrap();
        let mut dead = || bail!("process exited with status 1");
        let error = api.wait_for_next(0, Duration::from_secs(60), &mut dead).unwrap_err();
        assert!(format!("{error:#}").contains("exited"), "{error:#}");
    }
}
