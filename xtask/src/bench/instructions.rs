//! Where create-user's own time goes, counted rather than timed: instructions per warm
//! invocation under valgrind's callgrind, Rust vs the Python peer, grouped by what executes
//! them. A count is deterministic (the same build and inputs give the same figure to a fraction
//! of a percent) where wall time on this shared 2-core machine moves by tens of percent.
//!
//! Each process is started under callgrind, answers [`WARM_UP`] sign-ups, has callgrind dump
//! its counts (`callgrind_control --dump`), answers [`COUNTED`] more and dumps again: the second
//! dump holds those invocations and nothing else (an idle thread blocked on a socket executes
//! nothing). The Rust binary is the release build with its symbol table kept (the
//! `instructions` profile: release's code, `strip = false`), so that every function has its
//! name; callgrind demangles them.

use super::events::Events;
use super::functions::{Function, Instance, Language, Launcher, check};
use super::runtime_api::RuntimeApi;
use anyhow::{Context, Result, bail, ensure};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Sign-ups before the counted ones: connection pools, lazy statics, valgrind's translations
/// of the code all made before counting starts.
pub const WARM_UP: usize = 10;
pub const COUNTED: usize = 20;
/// Under callgrind a process runs ~50x slower; Python's init imports boto3.
const INIT_UNDER_VALGRIND: Duration = Duration::from_secs(600);

/// What executes a share of an invocation's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Bcrypt,
    Json,
    Logging,
    Metrics,
    Sha256,
    AwsSdk,
    HttpAndRuntime,
    OurCode,
    Memory,
    Interpreter,
    Other,
}

impl Part {
    pub fn describe(self) -> &'static str {
        match self {
            Part::Bcrypt => "bcrypt (the password hash)",
            Part::Json => "JSON (serde / the json module's C accelerator)",
            Part::Logging => "logging (tracing / the logging module's C parts)",
            Part::Metrics => "EMF metrics",
            Part::Sha256 => "SHA-256 and HMAC: the JWT's signature, every AWS request's SigV4 signature",
            Part::AwsSdk => "AWS SDK: request building, signing, response parsing",
            Part::HttpAndRuntime => "HTTP, the async runtime and the Lambda runtime client",
            Part::OurCode => "the handler, validation and the use case",
            Part::Memory => "allocation, copying, formatting (malloc, memcpy, core, alloc)",
            Part::Interpreter => {
                "the CPython interpreter running Python code (boto3, botocore, awslambdaric, the handler)"
            }
            Part::Other => "other (libc, the kernel interface, ...)",
        }
    }

    /// The part a function belongs to, from its (demangled) name and the object it is in.
    pub fn of(function: &str, object: &str) -> Part {
        let object = object.rsplit('/').next().unwrap_or(object);
        let has = |needles: &[&str]| needles.iter().any(|n| function.contains(n));
        if object.contains("_bcrypt") || has(&["blowfish::", "bcrypt::"]) {
            Part::Bcrypt
        } else if has(&[
            "serde",
            "encoder_",
            "scanner_",
            "scan_once",
            "py_encode_basestring",
            "escape_unicode",
        ]) {
            Part::Json
        } else if has(&["tracing", "lambda_support::logging"]) {
            Part::Logging
        } else if has(&["metrics"]) {
            Part::Metrics
        } else if has(&["jsonwebtoken::", "ring::", "hmac", "sha2::", "base64"]) || object.starts_with("libcrypto") {
            Part::Sha256
        } else if has(&[
            "aws_sdk_",
            "aws_smithy_",
            "aws_sigv4",
            "aws_runtime",
            "aws_types",
            "aws_config",
            "aws_credential_types",
        ]) {
            Part::AwsSdk
        } else if has(&[
            "hyper",
            "http::",
            "h2::",
            "tokio",
            "tower",
            "lambda_runtime",
            "mio::",
            "bytes::",
            "futures",
            "runtime_client",
        ]) {
            Part::HttpAndRuntime
        } else if has(&["create_user::", "user_store::", "user_events::", "uuid::", "time::"]) {
            Part::OurCode
        } else if has(&[
            "malloc", "free", "memcpy", "memmove", "memset", "realloc", "calloc", "alloc::", "core::",
        ]) {
            Part::Memory
        } else if object.starts_with("python") || object.starts_with("libpython") {
            Part::Interpreter
        } else {
            Part::Other
        }
    }
}

/// One language's count.
pub struct Counted {
    /// Instructions per counted invocation, by part.
    pub per_invocation: BTreeMap<Part, f64>,
    /// The heaviest functions (self cost per invocation), for the curious.
    pub top: Vec<(String, f64)>,
}

impl Counted {
    pub fn total(&self) -> f64 {
        self.per_invocation.values().sum()
    }
}

/// `valgrind` and `callgrind_control` on the PATH, or why not.
pub fn available() -> Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ensure!(found, "`{tool}` not found: apt-get install valgrind");
    }
    Ok(())
}

pub async fn count(launcher: &Launcher, language: Language, events: &mut Events, dir: &Path) -> Result<Counted> {
    std::fs::create_dir_all(dir)?;
    let out = dir.join(format!("callgrind.{}", language.name().to_lowercase()));
    // An earlier run's dumps have the names this one's will have.
    for old in dumps(dir, &out)? {
        std::fs::remove_file(old)?;
    }
    let api = RuntimeApi::start()?;
    let valgrind = [
        "valgrind".to_owned(),
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    let mut instance = launcher.spawn_under(&valgrind, 0, language, Function::CreateUser, &api, 4)?;
    api.wait_for_next(0, INIT_UNDER_VALGRIND, &mut || instance.alive())
        .await?;
    // The first sign-ups under valgrind may outlast the SDK's deadlines while it translates
    // code for the first time: they warm, they are not checked.
    for _ in 0..WARM_UP {
        api.invoke(events.next(Function::CreateUser), &mut || instance.alive())
            .await?;
    }
    // Each dump once the process asked for its next event: Rust's create-user publishes after
    // its answer, and that work is its invocation's.
    api.wait_for_next(WARM_UP, INIT_UNDER_VALGRIND, &mut || instance.alive())
        .await?;
    dump(&instance, &out).await?;
    for _ in 0..COUNTED {
        let outcome = api
            .invoke(events.next(Function::CreateUser), &mut || instance.alive())
            .await?;
        check(Function::CreateUser, &outcome)?;
    }
    api.wait_for_next(WARM_UP + COUNTED, INIT_UNDER_VALGRIND, &mut || instance.alive())
        .await?;
    let counted = dump(&instance, &out).await?;
    drop(instance);
    let costs = self_costs(&std::fs::read_to_string(&counted)?)?;
    Ok(summarise(&costs, COUNTED))
}

/// Has callgrind write the counts since the last dump; the file it wrote.
async fn dump(instance: &Instance, out: &Path) -> Result<PathBuf> {
    let dir = out.parent().context("a dump file has a directory")?;
    let before: Vec<PathBuf> = dumps(dir, out)?;
    let status = Command::new("callgrind_control")
        .args(["--dump", &instance.pid().to_string()])
        .status()?;
    ensure!(status.success(), "callgrind_control --dump {} failed", instance.pid());
    for _ in 0..600 {
        let after = dumps(dir, out)?;
        if let Some(new) = after.into_iter().find(|p| !before.contains(p)) {
            return Ok(new);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("callgrind wrote no dump in 60 s")
}

/// The dump files of `out` (`<out>.1`, `<out>.2`, ...).
fn dumps(dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.")))
        })
        .collect())
}

/// Each function's self cost (instructions executed in it, not in what it calls), with its
/// object, from a callgrind output file.
pub fn self_costs(text: &str) -> Result<Vec<(String, String, u64)>> {
    // Names are compressed: `fn=(12) name` the first time, `fn=(12)` after.
    let mut objects: BTreeMap<String, String> = BTreeMap::new();
    let mut functions: BTreeMap<String, String> = BTreeMap::new();
    let mut totals: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut object, mut function) = (String::new(), String::new());
    // The line after `calls=` is the call's inclusive cost, not the caller's own.
    let mut skip_next = false;
    let resolve = |table: &mut BTreeMap<String, String>, value: &str| -> String {
        match value.split_once(") ") {
            Some((id, name)) if value.starts_with('(') => {
                table.insert(id.to_owned(), name.to_owned());
                name.to_owned()
            }
            _ if value.starts_with('(') => table
                .get(value.trim_end_matches(')'))
                .cloned()
                .unwrap_or_else(|| value.to_owned()),
            _ => value.to_owned(),
        }
    };
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("ob=") {
            object = resolve(&mut objects, value);
        } else if let Some(value) = line.strip_prefix("fn=") {
            function = resolve(&mut functions, value);
        } else if let Some(value) = line.strip_prefix("cob=") {
            resolve(&mut objects, value);
        } else if let Some(value) = line.strip_prefix("cfn=") {
            resolve(&mut functions, value);
        } else if line.starts_with("calls=") {
            skip_next = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-' || c == '*') {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let cost: u64 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            *totals.entry((object.clone(), function.clone())).or_default() += cost;
        }
    }
    ensure!(!totals.is_empty(), "no cost lines in the callgrind output");
    Ok(totals.into_iter().map(|((o, f), c)| (f, o, c)).collect())
}

fn summarise(costs: &[(String, String, u64)], invocations: usize) -> Counted {
    let n = invocations as f64;
    let mut per_invocation = BTreeMap::new();
    for (function, object, cost) in costs {
        *per_invocation.entry(Part::of(function, object)).or_insert(0.0) += *cost as f64 / n;
    }
    let mut top: Vec<(String, f64)> = costs.iter().map(|(f, _, c)| (f.clone(), *c as f64 / n)).collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(15);
    Counted { per_invocation, top }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callgrind file as 3.19 writes it: compressed names, relative positions, a call whose
    /// inclusive cost belongs to the callee.
    const DUMP: &str = "# callgrind format
version: 1
events: Ir
summary: 1130

ob=(1) /work/target/release/create-user
fl=(1) ???
fn=(1) serde_json::de::from_str
0 100
+2 20
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfn=(2) memcpy
calls=1 0
0 1000
fn=(2)
0 10
ob=(1)
fn=(3) blowfish::Blowfish::encrypt
* 1000
";

    #[test]
    fn self_costs_leave_callees_their_own() {
        let costs = self_costs(DUMP).unwrap();
        let of = |name: &str| costs.iter().find(|c| c.0 == name).map(|c| c.2);
        assert_eq!(of("serde_json::de::from_str"), Some(120), "not the call's 1000");
        assert_eq!(of("blowfish::Blowfish::encrypt"), Some(1000));
        let summary = summarise(&costs, 10);
        assert_eq!(summary.per_invocation[&Part::Json], 12.0);
        assert_eq!(summary.per_invocation[&Part::Bcrypt], 100.0);
        assert_eq!(summary.top[0].0, "blowfish::Blowfish::encrypt");
    }

    #[test]
    fn parts_by_name_and_object() {
        assert_eq!(
            Part::of("bcrypt_hashpass", "/venv/lib/bcrypt/_bcrypt.abi3.so"),
            Part::Bcrypt
        );
        assert_eq!(
            Part::of("_PyEval_EvalFrameDefault", "/usr/bin/python3.11"),
            Part::Interpreter
        );
        assert_eq!(Part::of("encoder_listencode_obj", "/usr/bin/python3.11"), Part::Json);
        assert_eq!(
            Part::of("<hyper::proto::h1::conn::Conn<I,B,T>>::poll_read_head", "x"),
            Part::HttpAndRuntime
        );
        assert_eq!(Part::of("aws_sigv4::http_request::sign::sign", "x"), Part::AwsSdk);
        assert_eq!(
            Part::of("tracing_subscriber::fmt::format::Format::format_event", "x"),
            Part::Logging
        );
        assert_eq!(
            Part::of("create_user::domain::validation::validate", "x"),
            Part::OurCode
        );
        assert_eq!(
            Part::of("__memcpy_avx_unaligned_erms", "/usr/lib/libc.so.6"),
            Part::Memory
        );
    }
}
