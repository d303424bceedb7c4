//! The services `up` starts: the two emulators, `cargo lambda watch` and the bridge (with the
//! HTTP API), how each is started, and how we know it is ready.

use super::listeners;
use super::process::{self, ServiceRecord};
use super::sam;
use super::tls::LocalCa;
use crate::layout::Layout;
use crate::ui;
use anyhow::{Result, bail};
use local_stack::LOOPBACK;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub const LOCALSTACK: &str = "localstack";
pub const DYNAMODB: &str = "dynamodb-local";
pub const WATCH: &str = local_stack::state::WATCH;
pub const BRIDGE: &str = "sqs-bridge";
/// Every service `up` starts, in the order `down` stops them: consumers first.
pub const ALL: &[&str] = &[BRIDGE, WATCH, DYNAMODB, LOCALSTACK];

pub const LOCALSTACK_DEFAULT_PORT: u16 = 4566;
pub const DYNAMODB_DEFAULT_PORT: u16 = 8000;
pub const WATCH_DEFAULT_PORT: u16 = 9000;
/// The bridge's HTTP API (`API_URL`).
pub const API_DEFAULT_PORT: u16 = 9200;

/// The status of `GET http://127.0.0.1:<port><path>`, or None if nothing answers within 3 s.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    let response = local_stack::http_client()
        .get(format!("{}{path}", local_stack::loopback_url(port)))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

pub async fn localstack_ready(port: u16) -> bool {
    http_status(port, "/_localstack/health").await == Some(200)
}

/// DynamoDB Local (and cargo lambda watch) answer any HTTP request once they serve.
pub async fn answers_http(port: u16) -> bool {
    http_status(port, "/").await.is_some()
}

/// How a service shows it is ready: it answers on its port.
#[derive(Clone, Copy)]
enum Readiness {
    LocalStack,
    AnswersHttp,
}

impl Readiness {
    async fn ready(self, port: u16) -> bool {
        match self {
            Self::LocalStack => localstack_ready(port).await,
            Self::AnswersHttp => answers_http(port).await,
        }
    }
}

/// The running LocalStack of this state dir, or a new one on `wanted_port` (or a free port).
pub async fn start_localstack(layout: &Layout, wanted_port: Option<u16>) -> Result<ServiceRecord> {
    let ready = Readiness::LocalStack;
    let ca = LocalCa::ensure(&layout.state)?;
    start(
        layout,
        LOCALSTACK,
        (wanted_port, LOCALSTACK_DEFAULT_PORT),
        ready,
        |port| localstack_command(layout, &ca, port),
    )
    .await
}

fn localstack_command(layout: &Layout, ca: &LocalCa, port: u16) -> Command {
    let venv = layout.localstack_venv();
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args(["-m", "localstack.runtime.main"])
        .current_dir(&layout.state)
        .env("GATEWAY_LISTEN", gateway_listen(port))
        // Twisted, LocalStack's default server, binds every interface whatever
        // GATEWAY_LISTEN says; hypercorn binds just the addresses it names.
        .env("GATEWAY_SERVER", "hypercorn")
        // Queue URLs then read http://127.0.0.1:<port>/queue/<region>/<account>/<name>,
        // instead of a *.localstack.cloud name that needs public DNS.
        .env("LOCALSTACK_HOST", format!("{LOOPBACK}:{port}"))
        .env("SQS_ENDPOINT_STRATEGY", "path")
        // Some machines (this project's CI among them) have /.dockerenv; without this,
        // LocalStack believes it runs in its container and writes to /var/lib/localstack.
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("FILESYSTEM_ROOT", layout.localstack_root())
        // No analytics: without it, SIGTERM hangs for half a minute trying to flush them.
        .env("DISABLE_EVENTS", "1")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        // HTTPS on the same port with the stack's own certificate, which a client can verify
        // by trusting the stack's CA (the benchmark's functions do); plain HTTP still answers.
        .env("CUSTOM_SSL_CERT_PATH", ca.server_pem())
        // plux caches entry points per user; keep that cache with the venv it describes.
        .env("XDG_CACHE_HOME", venv.join("cache"));
    // The emulator must not talk to itself through a shell's stack.env or a real profile.
    without_aws_env(&mut cmd);
    cmd
}

/// Where LocalStack listens: loopback, and the docker bridge's gateway when a Docker engine
/// runs, so that `sam local`'s containers reach it; never a public interface.
fn gateway_listen(port: u16) -> String {
    match sam::docker_gateway() {
        Some(gateway) => format!("{LOOPBACK}:{port},{gateway}:{port}"),
        None => format!("{LOOPBACK}:{port}"),
    }
}

/// Drops the caller's `AWS_*` variables from a service's environment.
fn without_aws_env(cmd: &mut Command) {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env_remove(key);
    }
}

/// The running DynamoDB Local of this state dir, or a new one. `install_dir` holds its jar.
pub async fn start_dynamodb(layout: &Layout, install_dir: &Path, wanted_port: Option<u16>) -> Result<ServiceRecord> {
    let ports = (wanted_port, DYNAMODB_DEFAULT_PORT);
    start(layout, DYNAMODB, ports, Readiness::AnswersHttp, |port| {
        let mut cmd = Command::new("java");
        cmd.arg(format!(
            "-Djava.library.path={}",
            install_dir.join("DynamoDBLocal_lib").display()
        ))
        .arg("-jar")
        .arg(install_dir.join("DynamoDBLocal.jar"))
        // -sharedDb: one database whatever the credentials and region of the caller.
        .args(["-inMemory", "-sharedDb", "-port", &port.to_string()])
        .current_dir(&layout.state);
        cmd
    })
    .await
}

/// How `cargo lambda watch` serves the functions.
pub struct WatchSettings<'a> {
    /// The stack's coordinates, as the functions' environment.
    pub stack_env: &'a Path,
    /// More environment on top (`--function-env`, a bcrypt cost).
    pub extra_env: &'a [(String, String)],
    pub release: bool,
    /// Instances of a function at once.
    pub concurrency: u32,
}

/// `cargo lambda watch` serving every function of the workspace. Functions compile on their
/// first invocation.
pub async fn start_watch(
    layout: &Layout,
    wanted_port: Option<u16>,
    settings: &WatchSettings<'_>,
) -> Result<ServiceRecord> {
    let ports = (wanted_port, WATCH_DEFAULT_PORT);
    start(layout, WATCH, ports, Readiness::AnswersHttp, |port| {
        let mut cmd = Command::new(layout.tools_bin().join("cargo-lambda"));
        cmd.args(["lambda", "watch", "--invoke-address", LOOPBACK])
            .args(["--invoke-port", &port.to_string()])
            .arg("--env-file")
            .arg(settings.stack_env)
            // The verification links open verify-email here: known once the port is.
            .arg("--env-var")
            .arg(format!(
                "VERIFY_URL_BASE={}",
                local_stack::watch::verify_url_base(&local_stack::watch::url(port))
            ))
            .current_dir(&layout.root);
        for (key, value) in settings.extra_env {
            cmd.arg("--env-var").arg(format!("{key}={value}"));
        }
        if settings.release {
            cmd.arg("--release");
        }
        // As many instances of a function as the template lets its event source run at once.
        cmd.args(["--concurrency", &settings.concurrency.to_string()]);
        // cargo lambda runs cargo; the functions get their endpoints from the env file only.
        without_aws_env(&mut cmd);
        cmd
    })
    .await
}

/// Invokes each function once with a request that changes nothing, so they compile now rather
/// than on the user's first request, and a function that cannot start fails `up` here.
pub async fn warm_up_functions(watch: &ServiceRecord, progress: &mut ui::Progress) -> Result<()> {
    let checks = [
        ("create-user", reqwest::Method::GET, "/lambda-url/create-user/", "", 404),
        (
            "verify-email",
            reqwest::Method::GET,
            "/lambda-url/verify-email/",
            "",
            404,
        ),
        (
            "send-email",
            reqwest::Method::POST,
            "/2015-03-31/functions/send-email/invocations",
            r#"{"Records":[]}"#,
            200,
        ),
    ];
    let http = local_stack::http_client();
    for (function, method, path, body, expected) in checks {
        let request = http
            .request(
                method.clone(),
                format!("{}{path}", local_stack::loopback_url(watch.port)),
            )
            .header("content-type", "application/json")
            .body(body)
            // The first invocation compiles the function: minutes on a cold cache.
            .timeout(Duration::from_secs(1800))
            .send();
        let outcome = match progress
            .tick_while(&format!("compiling and starting {function}"), request)
            .await
        {
            Ok(response) if response.status().as_u16() == expected => continue,
            Ok(response) => format!(
                "HTTP {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(err) => format!("{err:#}"),
        };
        bail!(
            "{function} did not start: {method} {path} gave {outcome}, expected {expected}.\n\
             Its build and logs are in {}\n--- last lines ---\n{}",
            watch.log.display(),
            process::log_tail(&watch.log, 25)
        );
    }
    Ok(())
}

/// The bridge (`cargo xtask bridge`: the SQS -> send-email event source, the schedules and the
/// HTTP API), run by this very binary, its HTTP API on `wanted_port` (or 9200, or any free
/// port). It is up once its HTTP API answers, which it serves only after its start-up checks
/// (stack.env read, the queue answering).
pub async fn start_bridge(layout: &Layout, wanted_port: Option<u16>) -> Result<ServiceRecord> {
    let run_dir = layout.run_dir();
    // A bridge started by an xtask from before the HTTP API serves no port: replaced.
    if let Some(old) = ServiceRecord::load(&run_dir, BRIDGE).filter(|r| r.port == 0) {
        let _ = tokio::task::spawn_blocking(move || process::stop(&old, Duration::from_secs(10))).await;
        ServiceRecord::forget(&run_dir, BRIDGE);
    }
    let program = this_program()?;
    let ports = (wanted_port, API_DEFAULT_PORT);
    start(layout, BRIDGE, ports, Readiness::AnswersHttp, |port| {
        let mut cmd = Command::new(program);
        cmd.arg("--state-dir")
            .arg(&layout.state)
            .args(["bridge", "--api-port", &port.to_string()])
            .current_dir(&layout.root);
        cmd
    })
    .await
}

/// The service `name`'s running instance, or a new one started with `command(port)` on the
/// port the user asked for, else on its default port (where it ran before, if it died), else
/// on any free one. `ports` is (asked for, default).
async fn start(
    layout: &Layout,
    name: &str,
    ports: (Option<u16>, u16),
    readiness: Readiness,
    command: impl FnOnce(u16) -> Command,
) -> Result<ServiceRecord> {
    let run_dir = layout.run_dir();
    let (wanted_port, mut preferred) = ports;
    if let Some(record) = ServiceRecord::load(&run_dir, name) {
        if record.is_running() {
            if wanted_port.is_some_and(|p| p != record.port) {
                bail!(
                    "{name} already runs on port {}; `cargo xtask down` first to move it",
                    record.port
                );
            }
            ui::detail(format!(
                "{name} already running (pid {}, port {})",
                record.pid, record.port
            ));
            return wait_ready(record, readiness).await;
        }
        // It died: bring it back where the rest of the stack expects it.
        preferred = record.port;
        ServiceRecord::forget(&run_dir, name);
    }
    let port = process::choose_port(name, wanted_port, preferred)?;
    let log = layout.service_log(name);
    ui::step(&format!("Starting {name} on {LOOPBACK}:{port}"), async |_| {
        std::fs::create_dir_all(&layout.state)?;
        let record = process::spawn_service(name, command(port), port, &log)?;
        record.save(&run_dir)?;
        wait_ready(record, readiness).await
    })
    .await
}

/// Waits until the service answers; if it dies or hangs, stops it and quotes its log.
async fn wait_ready(record: ServiceRecord, readiness: Readiness) -> Result<ServiceRecord> {
    const TIMEOUT: Duration = Duration::from_secs(90);
    let started = Instant::now();
    loop {
        let problem = if readiness.ready(record.port).await {
            let family: Vec<i32> = record.family().iter().map(|p| p.pid).collect();
            if listeners::someone_else_listens(record.port, &family) != Some(true) {
                return Ok(record);
            }
            "found its port answered by another process: another stack starting at the same \
             moment took it (run `cargo xtask up` again: it picks a free port), or one that \
             shares ports (SO_REUSEPORT) listens there too"
        } else if !record.is_running() {
            "exited"
        } else if started.elapsed() > TIMEOUT {
            "did not answer within 90 s"
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let stopping = record.clone();
        let _ = tokio::task::spawn_blocking(move || process::stop(&stopping, Duration::from_secs(5))).await;
        bail!(
            "{} {problem} (port {}). Its log: {}\n--- last lines ---\n{}",
            record.name,
            record.port,
            record.log.display(),
            process::log_tail(&record.log, 20)
        );
    }
}

/// Whether this layout's stack is up: its `stack.env` written and every service alive.
pub fn all_running(layout: &Layout) -> bool {
    layout.stack_env().exists()
        && ALL
            .iter()
            .all(|n| ServiceRecord::load(&layout.run_dir(), n).is_some_and(|r| r.is_running()))
}

/// The xtask binary, to run the bridge with. When cargo rebuilt it while this process ran (a
/// long benchmark), Linux reports our executable as `<path> (deleted)`: the rebuilt binary at
/// `<path>` is the one to run.
fn this_program() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(match exe.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(rebuilt) => rebuilt.into(),
        None => exe,
    })
}
