//! Function processes under the benchmark's own runtime API: the Rust release binaries and the
//! Python peer under awslambdaric, started the same way, fed the same events, timed at the same
//! socket. Cold starts, warm latency and peak memory come from here.

use crate::bridge::sqs_event;
use crate::runtime_api::{Outcome, RuntimeApi};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Rust,
    Python,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Rust => "Rust",
            Runtime::Python => "Python",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateUser,
    SendEmail,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::CreateUser => "create-user",
            Function::SendEmail => "send-email",
        }
    }
}

/// Messages per send-email invocation: the template's BatchSize.
pub const BATCH: usize = 10;
/// How long a process gets to finish its init.
const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts function processes the way Lambda does: the stack's environment plus the runtime's
/// own variables, `AWS_LAMBDA_RUNTIME_API` pointing at a [`RuntimeApi`].
pub struct Launcher {
    /// Where the Rust binaries are (`target/release`, or a profile study's target dir).
    pub rust_bin_dir: PathBuf,
    /// The Python peer's interpreter (its venv) and source dir.
    pub python: PathBuf,
    pub peer_dir: PathBuf,
    /// The stack's `stack.env`.
    pub env: Vec<(String, String)>,
    pub logs: PathBuf,
    /// Between warm invocations (see [`warm_run`]).
    pub pause: Duration,
}

impl Launcher {
    pub fn spawn(&self, runtime: Runtime, function: Function, api: &RuntimeApi, cost: u32) -> Result<Instance> {
        let mut cmd = match runtime {
            Runtime::Rust => Command::new(self.rust_bin_dir.join(function.name())),
            Runtime::Python => {
                let mut cmd = Command::new(&self.python);
                let module = function.name().replace('-', "_");
                cmd.args(["-m", "awslambdaric", &format!("{module}.handler")])
                    .current_dir(&self.peer_dir)
                    .env("LAMBDA_TASK_ROOT", &self.peer_dir);
                cmd
            }
        };
        std::fs::create_dir_all(&self.logs)?;
        let cost_suffix = match function {
            Function::CreateUser => format!("-cost{cost}"),
            Function::SendEmail => String::new(),
        };
        let log = self.logs.join(format!(
            "{}-{}{cost_suffix}.log",
            runtime.name().to_lowercase(),
            function.name()
        ));
        let out = std::fs::File::create(&log)?;
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function.name())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", function.name()))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("BCRYPT_COST", cost.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let started = Instant::now();
        let child = cmd.spawn().with_context(|| {
            format!(
                "starting {} {} (run `cargo build --release` first?)",
                runtime.name(),
                function.name()
            )
        })?;
        Ok(Instance { child, started, log })
    }
}

/// One running function process; killed when dropped.
pub struct Instance {
    child: Child,
    /// Just before the exec.
    pub started: Instant,
    pub log: PathBuf,
}

impl Instance {
    /// An error naming the exit status and the log's last lines once the process has exited.
    pub fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "the function exited ({status}); last lines of {}:\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmHWM in /proc/<pid>/status")?;
        Ok(kb * 1024)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unique inputs: a sign-up for create-user, a batch of `user.created` messages for send-email.
pub struct Events {
    pub tag: String,
    pub count: usize,
}

impl Events {
    pub fn new(tag: String) -> Self {
        Self { tag, count: 0 }
    }

    pub fn next(&mut self, function: Function) -> String {
        self.count += 1;
        match function {
            Function::CreateUser => sign_up_event(&format!("{}.{}@example.com", self.tag, self.count)),
            Function::SendEmail => {
                let messages: Vec<_> = (0..BATCH)
                    .map(|i| message(&format!("{}.{}.{i}@example.com", self.tag, self.count)))
                    .collect();
                sqs_event(&messages, "arn:aws:sqs:us-east-1:000000000000:bench", "us-east-1").to_string()
            }
        }
    }
}

/// An HTTP API (payload 2.0) sign-up, as API Gateway sends it.
fn sign_up_event(email: &str) -> String {
    let body = json!({"name": "Bench User", "email": email, "password": "correct horse battery"}).to_string();
    json!({
        "version": "2.0", "routeKey": "POST /users", "rawPath": "/users", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/users", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.1", "userAgent": "bench"},
                           "requestId": "bench", "stage": "$default", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

/// An SQS message carrying a `user.created` event (raw delivery).
pub fn message(email: &str) -> aws_sdk_sqs::types::Message {
    let body = user_created(email);
    aws_sdk_sqs::types::Message::builder()
        .message_id(uuid_v4())
        .receipt_handle(uuid_v4())
        .body(body)
        .build()
}

pub fn user_created(email: &str) -> String {
    json!({
        "event_id": uuid_v4(), "event_type": "user.created", "version": 1,
        "occurred_at": "2026-11-27T10:00:00Z",
        "user": {"id": uuid_v4(), "name": "Bench User", "email": email, "created_at": "2026-11-27T10:00:00Z"}
    })
    .to_string()
}

fn uuid_v4() -> String {
    let hex = crate::provision::random_hex(16).unwrap_or_else(|_| "0".repeat(32));
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Fails unless the function did its job: 201 for a sign-up, no failed message for a batch.
pub fn check(function: Function, outcome: &Outcome) -> Result<()> {
    ensure!(outcome.ok, "{} reported an error: {}", function.name(), outcome.body);
    let reply: Value = serde_json::from_str(&outcome.body).context("the function's answer is not JSON")?;
    match function {
        Function::CreateUser => ensure!(reply["statusCode"] == 201, "create-user answered {}", outcome.body),
        Function::SendEmail => ensure!(
            reply["batchItemFailures"].as_array().is_some_and(Vec::is_empty),
            "send-email failed messages: {}",
            outcome.body
        ),
    }
    Ok(())
}

/// One cold start: a fresh process, its init, its first invocation and a few after it.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Exec to the first `next` request: the process's init.
    pub init: Duration,
    /// Exec to the first answer: what the first caller waits (beyond Lambda's own work).
    pub first_answer: Duration,
    /// The first invocation alone, and the median of the next few: the warm-up cost.
    pub first: Duration,
    pub warm: Duration,
}

const WARM_AFTER_FIRST: usize = 5;

pub fn cold_start(launcher: &Launcher, runtime: Runtime, function: Function, events: &mut Events) -> Result<ColdStart> {
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn(runtime, function, &api, 4)?;
    let first_next = api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive())?;
    let first = api.invoke(events.next(function), &mut || instance.alive())?;
    check(function, &first)?;
    let mut warm = Vec::with_capacity(WARM_AFTER_FIRST);
    for _ in 0..WARM_AFTER_FIRST {
        std::thread::sleep(launcher.pause);
        let outcome = api.invoke(events.next(function), &mut || instance.alive())?;
        check(function, &outcome)?;
        warm.push(outcome.duration());
    }
    Ok(ColdStart {
        init: first_next - instance.started,
        first_answer: first.answered - instance.started,
        first: first.duration(),
        warm: super::stats::p50(&warm),
    })
}

/// Sequential invocations of one warm process.
pub struct WarmRun {
    pub durations: Vec<Duration>,
    /// create-user only: each invocation minus the time its log says it waited on DynamoDB
    /// and SNS (`store_ms` + `publish_ms`): the function's own overhead, hashing included.
    pub overhead: Vec<Duration>,
    pub peak_rss: u64,
}

pub fn warm_run(
    launcher: &Launcher,
    runtime: Runtime,
    function: Function,
    cost: u32,
    n: usize,
    events: &mut Events,
) -> Result<WarmRun> {
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn(runtime, function, &api, cost)?;
    api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive())?;
    // Warm-up: connection pools filled, lazy statics set, caches populated.
    let warm_up = 5;
    let mut durations = Vec::with_capacity(n);
    for i in 0..warm_up + n {
        let outcome = api.invoke(events.next(function), &mut || instance.alive())?;
        check(function, &outcome)?;
        if i >= warm_up {
            durations.push(outcome.duration());
        }
        // A pause, as between real requests: on 2 cores, the emulators' work left over from
        // one invocation (LocalStack fanning the event out to SQS) would otherwise land on
        // the next one and be counted as the function's own time.
        std::thread::sleep(launcher.pause);
    }
    let peak_rss = instance.peak_rss()?;
    let log = instance.log.clone();
    drop(instance);
    let overhead = match function {
        Function::CreateUser => {
            let waits = downstream_waits(&std::fs::read_to_string(&log)?);
            ensure!(
                waits.len() == warm_up + n,
                "{}: {} phase-timing log lines for {} sign-ups",
                log.display(),
                waits.len(),
                warm_up + n
            );
            durations
                .iter()
                .zip(&waits[warm_up..])
                .map(|(d, wait)| d.saturating_sub(*wait))
                .collect()
        }
        Function::SendEmail => Vec::new(),
    };
    Ok(WarmRun {
        durations,
        overhead,
        peak_rss,
    })
}

/// `store_ms + publish_ms` of each JSON log line that has them, in order. Both runtimes log
/// them (tracing's JSON puts fields under `fields`; the Python peer at the top level).
pub fn downstream_waits(log: &str) -> Vec<Duration> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|v| {
            let fields = if v.get("fields").is_some() { &v["fields"] } else { &v };
            let store = fields.get("store_ms")?.as_f64()?;
            let publish = fields.get("publish_ms")?.as_f64()?;
            Some(Duration::from_secs_f64((store + publish) / 1000.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_phase_timings_from_both_log_shapes() {
        let log = [
            r#"{"level":"INFO","fields":{"message":"user created","hash_ms":1.0,"store_ms":20.0,"publish_ms":5.5}}"#,
            r#"{"level":"INFO","fields":{"message":"create-user","status":201}}"#,
            r#"{"message": "create-user", "status": 201, "store_ms": 10, "publish_ms": 2.5}"#,
            "START RequestId: not json",
        ]
        .join("\n");
        assert_eq!(
            downstream_waits(&log),
            [Duration::from_micros(25_500), Duration::from_micros(12_500)]
        );
    }

    #[test]
    fn events_are_unique_and_well_formed() {
        let mut events = Events::new("t".into());
        let a: Value = serde_json::from_str(&events.next(Function::CreateUser)).unwrap();
        let b: Value = serde_json::from_str(&events.next(Function::CreateUser)).unwrap();
        assert_ne!(a["body"], b["body"]);
        let batch: Value = serde_json::from_str(&events.next(Function::SendEmail)).unwrap();
        let records = batch["Records"].as_array().unwrap();
        assert_eq!(records.len(), BATCH);
        for record in records {
            user_events::decode_sqs_body(record["body"].as_str().unwrap()).unwrap();
        }
    }
}
