//! Function processes under the benchmark's own runtime API: the Rust release binaries and the
//! Python peer under awslambdaric, started the same way, fed the same events, timed at the same
//! socket. Cold starts, warm latency and peak memory come from here.

use super::events::Events;
use super::function_logs::{OverheadParts, init_calls, sign_up_times};
use super::lambda_shape::{Group, Shape};
use super::runtime_api::{Outcome, RuntimeApi};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The language a function is written in: the Rust function, or its Python peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
        }
    }
}

/// The functions the benchmark measures in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateUser,
    SendEmail,
}

impl Function {
    pub const ALL: [Function; 2] = [Function::CreateUser, Function::SendEmail];

    /// Its binary (template.yaml's `BuildProperties.Binary`), and its package.
    pub fn name(self) -> &'static str {
        match self {
            Function::CreateUser => "create-user",
            Function::SendEmail => "send-email",
        }
    }

    /// Whether its figures depend on the bcrypt cost (its log says which).
    fn hashes(self) -> bool {
        self == Function::CreateUser
    }
}

/// How long a process gets to finish its init.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts function processes the way Lambda does: the stack's environment plus Lambda's
/// own variables, `AWS_LAMBDA_RUNTIME_API` pointing at a [`RuntimeApi`].
#[derive(Clone)]
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
    /// The stack's LocalStack process, whose CPU the curves read beside the functions'.
    pub localstack: Option<u32>,
    /// Lambda's CPU share and memory limit for each process, or none (`--unshaped`).
    pub shape: Shape,
    /// The TLS terminator `env` names for DynamoDB, alive with it (none: `--plain-http`).
    pub tls: Option<std::sync::Arc<super::tls_terminator::TlsTerminator>>,
}

impl Launcher {
    /// The functions' processes `pids`, and the stack's LocalStack, for a [`super::curves::Meter`].
    pub fn metered(&self, pids: Vec<u32>) -> super::curves::Metered {
        super::curves::Metered {
            functions: pids,
            localstack: self.localstack,
        }
    }

    pub fn spawn(&self, language: Language, function: Function, api: &RuntimeApi, cost: u32) -> Result<Instance> {
        self.spawn_under(&[], 0, language, function, api, cost)
    }

    /// [`Self::spawn`], the process run by `wrapper` (a command and its arguments, such as
    /// valgrind's, or none), which execs it, as the `nth` of several instances running at once:
    /// each writes its own log. Writing one file, each would truncate it and write at its own
    /// offset over the others'.
    pub fn spawn_under(
        &self,
        wrapper: &[String],
        nth: usize,
        language: Language,
        function: Function,
        api: &RuntimeApi,
        cost: u32,
    ) -> Result<Instance> {
        self.spawn_program(wrapper, nth, language, function.name(), function.hashes(), api, cost)
    }

    /// The Rust function `name` alone (one the benchmark times in Rust only, such as sign-in),
    /// at bcrypt `cost`.
    pub fn spawn_rust(&self, name: &str, api: &RuntimeApi, cost: u32) -> Result<Instance> {
        self.spawn_program(&[], 0, Language::Rust, name, true, api, cost)
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_program(
        &self,
        wrapper: &[String],
        nth: usize,
        language: Language,
        name: &str,
        hashes: bool,
        api: &RuntimeApi,
        cost: u32,
    ) -> Result<Instance> {
        let program = match language {
            Language::Rust => self.rust_bin_dir.join(name),
            Language::Python => self.python.clone(),
        };
        // In its group from exec on, when shaped: the group's shell runs `wrapper`, or the program.
        let group = self.shape.group(name)?;
        let wrapper: Vec<String> = match &group {
            Some(group) => group.wrapper().into_iter().chain(wrapper.iter().cloned()).collect(),
            None => wrapper.to_vec(),
        };
        let mut cmd = match wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut cmd = Command::new(wrapper);
                cmd.args(args).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        match language {
            Language::Rust => {}
            Language::Python => {
                let module = name.replace('-', "_");
                cmd.args(["-m", "awslambdaric", &format!("{module}.handler")])
                    .current_dir(&self.peer_dir)
                    .env("LAMBDA_TASK_ROOT", &self.peer_dir);
            }
        }
        std::fs::create_dir_all(&self.logs)?;
        let cost_suffix = if hashes { format!("-cost{cost}") } else { String::new() };
        let nth_suffix = match nth {
            0 => String::new(),
            n => format!("-{n}"),
        };
        let log = self.logs.join(format!(
            "{}-{}{cost_suffix}{nth_suffix}.log",
            language.name().to_lowercase(),
            name
        ));
        let out = std::fs::File::create(&log)?;
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.shape.memory_mb(name).to_string(),
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", name))
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
                language.name(),
                name
            )
        })?;
        Ok(Instance {
            child,
            started,
            log,
            _group: group,
        })
    }
}

/// One running function process; killed when dropped.
pub struct Instance {
    child: Child,
    /// Just before the exec.
    pub started: Instant,
    pub log: PathBuf,
    /// Its cgroup when shaped: removed after the process (a field drops after [`Drop::drop`]).
    _group: Option<Group>,
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

    pub fn pid(&self) -> u32 {
        self.child.id()
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

/// Fails unless the function did its job: 202 for a sign-up, no failed message for a batch.
pub fn check(function: Function, outcome: &Outcome) -> Result<()> {
    ensure!(outcome.ok, "{} reported an error: {}", function.name(), outcome.body);
    let reply: Value = serde_json::from_str(&outcome.body).context("the function's answer is not JSON")?;
    match function {
        Function::CreateUser => ensure!(reply["statusCode"] == 202, "create-user answered {}", outcome.body),
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
    /// create-user only: what its first invocation waited on DynamoDB (and, for the Python
    /// peer, SNS) before answering, as its request line times it ([`sign_up_times`]).
    pub first_waited: Option<Duration>,
    /// Each call the function made at init (`dynamodb`, ...), as its `init calls` log lines
    /// time them; none for the Python peer, which does not log them.
    pub init_calls: Vec<(String, Duration)>,
}

/// The warm invocations after a cold start's first, at the benchmark's bcrypt cost 4.
pub const WARM_AFTER_FIRST: usize = 5;

/// At bcrypt `cost`, `warm_after` invocations after the first (none: `warm` is zero).
pub async fn cold_start(
    launcher: &Launcher,
    language: Language,
    function: Function,
    cost: u32,
    warm_after: usize,
    events: &mut Events,
) -> Result<ColdStart> {
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn(language, function, &api, cost)?;
    let first_next = api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive()).await?;
    let first = api.invoke(events.next(function), &mut || instance.alive()).await?;
    check(function, &first)?;
    let mut warm = Vec::with_capacity(warm_after);
    for _ in 0..warm_after {
        tokio::time::sleep(launcher.pause).await;
        let outcome = api.invoke(events.next(function), &mut || instance.alive()).await?;
        check(function, &outcome)?;
        warm.push(outcome.duration());
    }
    let log = std::fs::read_to_string(&instance.log)?;
    Ok(ColdStart {
        init: first_next - instance.started,
        first_answer: first.answered - instance.started,
        first: first.duration(),
        warm: super::stats::p50(&warm),
        first_waited: match function {
            Function::CreateUser => sign_up_times(&log).first().map(|t| t.waited),
            Function::SendEmail => None,
        },
        init_calls: init_calls(&log),
    })
}

/// Sequential invocations of one warm process.
pub struct WarmRun {
    pub durations: Vec<Duration>,
    /// create-user only: each invocation minus the time its log says it waited on DynamoDB
    /// and SNS before answering ([`sign_up_times`]): the function's own overhead, hashing
    /// included.
    pub overhead: Vec<Duration>,
    /// create-user only: where each invocation's overhead went.
    pub overhead_parts: Vec<OverheadParts>,
    /// The process's CPU time (user + system, every thread) over the counted invocations,
    /// divided by their number: the work each one did, after its answer included, without the
    /// waits for the emulators or for a core.
    pub cpu_per_invocation: Duration,
    pub peak_rss: u64,
}

pub async fn warm_run(
    launcher: &Launcher,
    language: Language,
    function: Function,
    cost: u32,
    n: usize,
    events: &mut Events,
) -> Result<WarmRun> {
    let api = RuntimeApi::start()?;
    let mut instance = launcher.spawn(language, function, &api, cost)?;
    api.wait_for_next(0, INIT_TIMEOUT, &mut || instance.alive()).await?;
    // Warm-up: connection pools filled, lazy statics set, caches populated.
    let warm_up = 5;
    let mut durations = Vec::with_capacity(n);
    let mut ticks_before = 0;
    for i in 0..warm_up + n {
        if i == warm_up {
            // The warm-up's work all done (its after-the-answer work too), then the count.
            api.wait_for_next(warm_up, INIT_TIMEOUT, &mut || instance.alive())
                .await?;
            ticks_before = super::curves::process_ticks(&[instance.pid()]);
        }
        let outcome = api.invoke(events.next(function), &mut || instance.alive()).await?;
        check(function, &outcome)?;
        if i >= warm_up {
            durations.push(outcome.duration());
        }
        // A pause, as between real requests: on 2 cores, the emulators' work left over from
        // one invocation (LocalStack fanning the event out to SQS) would otherwise land on
        // the next one and be counted as the function's own time.
        tokio::time::sleep(launcher.pause).await;
    }
    // Rust's create-user publishes after its answer, and logs the request line after that: it
    // is done with the last invocation when it asks for the next.
    api.wait_for_next(warm_up + n, INIT_TIMEOUT, &mut || instance.alive())
        .await?;
    let ticks = super::curves::process_ticks(&[instance.pid()]) - ticks_before;
    let cpu_per_invocation = super::curves::ticks_to_time(ticks) / n.max(1) as u32;
    let peak_rss = instance.peak_rss()?;
    let log = instance.log.clone();
    drop(instance);
    let (overhead, overhead_parts) = match function {
        Function::CreateUser => {
            let times = sign_up_times(&std::fs::read_to_string(&log)?);
            ensure!(
                times.len() == warm_up + n,
                "{}: {} phase-timing log lines for {} sign-ups",
                log.display(),
                times.len(),
                warm_up + n
            );
            durations
                .iter()
                .zip(&times[warm_up..])
                .map(|(d, times)| (d.saturating_sub(times.waited), OverheadParts::of(*d, times)))
                .unzip()
        }
        Function::SendEmail => Default::default(),
    };
    Ok(WarmRun {
        durations,
        cpu_per_invocation,
        overhead,
        overhead_parts,
        peak_rss,
    })
}
