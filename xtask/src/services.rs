//! The services `up` starts: the two emulators and `cargo lambda watch`, how each is started,
//! and how we know it is ready.

use crate::layout::Layout;
use crate::probe::http_status;
use crate::process::{self, ServiceRecord};
use crate::ui;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub const LOCALSTACK: &str = "localstack";
pub const DYNAMODB: &str = "dynamodb-local";
pub const WATCH: &str = "cargo-lambda-watch";
pub const BRIDGE: &str = "sqs-bridge";
/// Every service `up` starts, in the order `down` stops them: consumers first.
pub const ALL: &[&str] = &[BRIDGE, WATCH, DYNAMODB, LOCALSTACK];

pub const LOCALSTACK_DEFAULT_PORT: u16 = 4566;
pub const DYNAMODB_DEFAULT_PORT: u16 = 8000;
pub const WATCH_DEFAULT_PORT: u16 = 9000;

pub fn localstack_ready(port: u16) -> bool {
    http_status(port, "/_localstack/health") == Some(200)
}

/// DynamoDB Local (and cargo lambda watch) answer any HTTP request once they serve.
pub fn answers_http(port: u16) -> bool {
    http_status(port, "/").is_some()
}

/// The running LocalStack of this state dir, or a new one on `wanted_port` (or a free port).
pub fn ensure_localstack(layout: &Layout, wanted_port: Option<u16>) -> Result<ServiceRecord> {
    ensure(
        layout,
        LOCALSTACK,
        wanted_port,
        LOCALSTACK_DEFAULT_PORT,
        localstack_ready,
        |port| {
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
                .env("LOCALSTACK_HOST", format!("127.0.0.1:{port}"))
                .env("SQS_ENDPOINT_STRATEGY", "path")
                // Some machines (this project's CI among them) have /.dockerenv; without this,
                // LocalStack believes it runs in its container and writes to /var/lib/localstack.
                .env("OVERRIDE_IN_DOCKER", "0")
                .env("FILESYSTEM_ROOT", layout.localstack_root())
                // No analytics: without it, SIGTERM hangs for half a minute trying to flush them.
                .env("DISABLE_EVENTS", "1")
                .env("SKIP_SSL_CERT_DOWNLOAD", "1")
                // plux caches entry points per user; keep that cache with the venv it describes.
                .env("XDG_CACHE_HOME", venv.join("cache"));
            // The emulator must not talk to itself through a shell's stack.env or a real profile.
            for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
                cmd.env_remove(key);
            }
            cmd
        },
    )
}

pub fn ensure_dynamodb(layout: &Layout, install_dir: &Path, wanted_port: Option<u16>) -> Result<ServiceRecord> {
    ensure(
        layout,
        DYNAMODB,
        wanted_port,
        DYNAMODB_DEFAULT_PORT,
        answers_http,
        |port| {
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
        },
    )
}

/// Where LocalStack listens: loopback, and the docker bridge's gateway when a Docker engine
/// runs, so that `sam local`'s containers reach it; never a public interface.
fn gateway_listen(port: u16) -> String {
    match crate::sam_local::docker_gateway() {
        Some(gateway) => format!("127.0.0.1:{port},{gateway}:{port}"),
        None => format!("127.0.0.1:{port}"),
    }
}

/// `cargo lambda watch` serving every function of the workspace, with the stack's coordinates
/// from `stack_env` and `extra_env` on top. Functions compile on their first invocation.
pub fn ensure_watch(
    layout: &Layout,
    wanted_port: Option<u16>,
    stack_env: &Path,
    extra_env: &[(String, String)],
    release: bool,
    concurrency: u32,
) -> Result<ServiceRecord> {
    ensure(layout, WATCH, wanted_port, WATCH_DEFAULT_PORT, answers_http, |port| {
        let mut cmd = Command::new(layout.tools_bin().join("cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .arg("--env-file")
        .arg(stack_env)
        .current_dir(&layout.root);
        for (key, value) in extra_env {
            cmd.arg("--env-var").arg(format!("{key}={value}"));
        }
        if release {
            cmd.arg("--release");
        }
        // As many instances of a function as the template lets its event source run at once.
        cmd.args(["--concurrency", &concurrency.to_string()]);
        // cargo lambda runs cargo; the functions get their endpoints from the env file only.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            cmd.env_remove(key);
        }
        cmd
    })
}

/// Invokes each function once with a request that changes nothing, so they compile now rather
/// than on the user's first request, and a function that cannot start fails `up` here.
pub fn warm_up_functions(watch: &ServiceRecord, progress: &mut ui::Progress) -> Result<()> {
    let checks = [
        ("create-user", "GET", "/lambda-url/create-user/", None, 404),
        (
            "send-email",
            "POST",
            "/2015-03-31/functions/send-email/invocations",
            Some(r#"{"Records":[]}"#),
            200,
        ),
    ];
    for (function, method, path, body, expected) in checks {
        let port = watch.port;
        let call = std::thread::spawn(move || crate::probe::http(port, method, path, body, Duration::from_secs(1800)));
        while !call.is_finished() {
            progress.tick(&format!("compiling and starting {function}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        match call.join().expect("the probe thread does not panic") {
            Ok((status, _)) if status == expected => {}
            outcome => bail!(
                "{function} did not start: {method} {path} gave {outcome:?}, expected {expected}.\n\
                 Its build and logs are in {}\n--- last lines ---\n{}",
                watch.log.display(),
                process::log_tail(&watch.log, 25)
            ),
        }
    }
    Ok(())
}

/// The local SQS -> send-email bridge (`cargo xtask bridge`), run by this very binary. It has
/// no port; it is up once it lives past its start-up checks.
pub fn ensure_bridge(layout: &Layout) -> Result<ServiceRecord> {
    let run_dir = layout.run_dir();
    if let Some(record) = ServiceRecord::load(&run_dir, BRIDGE) {
        if record.is_running() {
            return Ok(record);
        }
        ServiceRecord::forget(&run_dir, BRIDGE);
    }
    let log = layout.logs_dir().join(format!("{BRIDGE}.log"));
    ui::step("Starting the SQS -> send-email bridge", |_| {
        let mut cmd = Command::new(this_program()?);
        cmd.arg("--state-dir")
            .arg(&layout.state)
            .arg("bridge")
            .current_dir(&layout.root);
        let record = process::spawn_service(BRIDGE, cmd, 0, &log)?;
        record.save(&run_dir)?;
        // It reads stack.env and the queue's ARN first; a mistake there ends it at once.
        std::thread::sleep(Duration::from_millis(1500));
        if !record.is_running() {
            bail!(
                "the bridge exited; its log: {}\n{}",
                log.display(),
                process::log_tail(&log, 20)
            );
        }
        Ok(record)
    })
}

fn ensure(
    layout: &Layout,
    name: &str,
    wanted_port: Option<u16>,
    default_port: u16,
    ready: fn(u16) -> bool,
    command: impl FnOnce(u16) -> Command,
) -> Result<ServiceRecord> {
    let run_dir = layout.run_dir();
    let mut preferred = default_port;
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
            return wait_ready(record, ready);
        }
        // It died: bring it back where the rest of the stack expects it.
        preferred = record.port;
        ServiceRecord::forget(&run_dir, name);
    }
    let port = process::choose_port(name, wanted_port, preferred)?;
    let log = layout.logs_dir().join(format!("{name}.log"));
    ui::step(&format!("Starting {name} on 127.0.0.1:{port}"), |_| {
        std::fs::create_dir_all(&layout.state)?;
        let record = process::spawn_service(name, command(port), port, &log)?;
        record.save(&run_dir)?;
        wait_ready(record, ready)
    })
}

/// Waits until the service answers; if it dies or hangs, stops it and quotes its log.
fn wait_ready(record: ServiceRecord, ready: fn(u16) -> bool) -> Result<ServiceRecord> {
    const TIMEOUT: Duration = Duration::from_secs(90);
    let started = Instant::now();
    loop {
        if ready(record.port) {
            return Ok(record);
        }
        let problem = if !record.is_running() {
            "exited"
        } else if started.elapsed() > TIMEOUT {
            "did not answer within 90 s"
        } else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let _ = process::stop(&record, Duration::from_secs(5));
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
