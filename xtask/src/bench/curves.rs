//! How cost grows with load: create-user's latency with more sign-ups at once (at the
//! benchmark's bcrypt cost and at production's), and send-email's throughput with more pollers
//! ([`super::throughput`]), both runtimes. At each step [`Meter`] also reads how busy the
//! machine's cores were and how much of that was the functions' own processes (the rest is the
//! emulators and the benchmark): that is what says why a curve bends.

use super::events::Events;
use super::functions::{Function, INIT_TIMEOUT, Instance, Language, Launcher, check};
use super::runtime_api::{Outcome, RuntimeApi};
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sign-ups sent at once, each by a client of its own to an instance of its own.
pub const AT_ONCE: [usize; 4] = [1, 5, 20, 50];
/// send-email's pollers (the event source mapping's concurrent batches).
pub const POLLERS: [usize; 4] = [1, 2, 5, 10];
/// create-user's bcrypt costs: the benchmark's, and production's.
pub const COSTS: [u32; 2] = [4, 12];

/// Cores busy on average over a step: all of them, the functions' processes alone, and
/// LocalStack's (one Python process: its interpreter lock keeps it to about one core).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub busy: f64,
    pub functions: f64,
    pub localstack: f64,
}

/// `1.95 (1.80 / 0.10)`: all busy cores, then the functions' share and LocalStack's.
impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2} / {:.2})", self.busy, self.functions, self.localstack)
    }
}

/// What a curve's "cores busy" columns say, in the order [`Cpu`]'s Display writes it.
pub const CPU_COLUMN: &str = "cores busy (functions / LocalStack)";

/// LocalStack at this share of a core or more is at the limit of its one interpreter.
pub const LOCALSTACK_SATURATED: f64 = 0.85;

/// Processes whose CPU time a [`Meter`] reads.
#[derive(Debug, Clone, Default)]
pub struct Metered {
    pub functions: Vec<u32>,
    pub localstack: Option<u32>,
}

/// CPU time read from `/proc` at the start of a step.
pub struct Meter {
    machine: (u64, u64),
    functions: u64,
    localstack: u64,
    processes: Metered,
    started: Instant,
}

/// Linux's `USER_HZ`: the unit of `/proc`'s CPU times, 100 on every architecture Lambda runs.
const TICKS_PER_SECOND: f64 = 100.0;

impl Meter {
    pub fn start(processes: Metered) -> Result<Self> {
        Ok(Self {
            machine: machine_ticks()?,
            functions: process_ticks(&processes.functions),
            localstack: process_ticks(processes.localstack.as_slice()),
            processes,
            started: Instant::now(),
        })
    }

    pub fn stop(self) -> Result<Cpu> {
        let (busy, total) = machine_ticks()?;
        let share = (busy - self.machine.0) as f64 / ((total - self.machine.1) as f64).max(1.0);
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let cores_of = |now: u64, then: u64| now.saturating_sub(then) as f64 / TICKS_PER_SECOND / seconds;
        Ok(Cpu {
            busy: share * cores(),
            functions: cores_of(process_ticks(&self.processes.functions), self.functions),
            localstack: cores_of(process_ticks(self.processes.localstack.as_slice()), self.localstack),
        })
    }
}

/// The machine's cores: what [`Cpu::busy`] is a share of.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// `/proc/stat`'s first line: ticks spent busy, and in all, by every core.
fn machine_ticks() -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no `cpu` line in /proc/stat")?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// User and system ticks of these processes and their threads (`/proc/<pid>/stat`).
pub fn process_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // The command name may hold spaces; the fields after it do not.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// A count of `/proc` ticks as time: Linux reports them in USER_HZ (`sysconf(_SC_CLK_TCK)`),
/// 100 a second on x86_64 and arm64.
pub fn ticks_to_time(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}

/// One step of create-user's curve.
pub struct LatencyPoint {
    pub at_once: usize,
    /// Of the sign-ups that succeeded (202).
    pub durations: Vec<Duration>,
    /// Sign-ups answered 503 `retryable`: shed under overload, as designed (on 2 cores at 50
    /// at once and cost 12, a hash waits seconds for a core, and a call beside it can outlast
    /// its SDK deadline). Any other answer fails the run.
    pub shed: usize,
    pub cpu: Cpu,
}

/// create-user at `cost`, `levels` sign-ups at once, `requests` of them per level (at least 4
/// per client). The instances (as many as the highest level) are started one after the other,
/// like Lambda scaling out, and each answers one sign-up before the clock starts.
pub async fn sign_ups(
    launcher: &Launcher,
    language: Language,
    cost: u32,
    levels: &[usize],
    requests: usize,
    events: &mut Events,
) -> Result<Vec<LatencyPoint>> {
    let api = Arc::new(RuntimeApi::start()?);
    let most = levels.iter().copied().max().unwrap_or(1);
    let mut instances: Vec<Instance> = Vec::with_capacity(most);
    for i in 0..most {
        instances.push(launcher.spawn_under(&[], i, language, Function::CreateUser, &api, cost)?);
        api.wait_for_next(i, INIT_TIMEOUT, &mut || {
            instances.iter_mut().try_for_each(Instance::alive)
        })
        .await?;
    }
    let pids: Vec<u32> = instances.iter().map(Instance::pid).collect();
    at_once(&api, most, most, events).await?;
    let mut points = Vec::with_capacity(levels.len());
    for &level in levels {
        let meter = Meter::start(launcher.metered(pids.clone()))?;
        let answered = at_once(&api, level, requests.max(4 * level), events).await;
        let cpu = meter.stop()?;
        instances.iter_mut().try_for_each(Instance::alive)?;
        let (durations, shed) = answered?;
        points.push(LatencyPoint {
            at_once: level,
            durations,
            shed,
            cpu,
        });
    }
    Ok(points)
}

/// Whether create-user shed this sign-up (503 `retryable`); an error for anything but that
/// and a 202.
fn shed(outcome: &Outcome) -> Result<bool> {
    let reply: serde_json::Value = serde_json::from_str(&outcome.body).unwrap_or_default();
    let body: serde_json::Value = reply["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    if outcome.ok && reply["statusCode"] == 503 && body["retryable"] == true {
        return Ok(true);
    }
    check(Function::CreateUser, outcome).map(|()| false)
}

/// `requests` sign-ups, by `clients` clients each waiting for its answer before sending the
/// next; how long each successful one took, and how many were shed.
async fn at_once(
    api: &Arc<RuntimeApi>,
    clients: usize,
    requests: usize,
    events: &mut Events,
) -> Result<(Vec<Duration>, usize)> {
    let queue: VecDeque<String> = (0..requests).map(|_| events.next(Function::CreateUser)).collect();
    let queue = Arc::new(Mutex::new(queue));
    // Tasks on this thread: a wait's liveness check is not `Send`.
    let clients_done = tokio::task::LocalSet::new();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (api, queue) = (api.clone(), queue.clone());
        tasks.push(clients_done.spawn_local(async move {
            let (mut durations, mut shed_here) = (Vec::new(), 0);
            loop {
                let Some(event) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    return anyhow::Ok((durations, shed_here));
                };
                // The instances' liveness is checked between levels: a dead one leaves its
                // invocation unanswered, which fails this wait.
                let outcome = api.invoke(event, &mut || Ok(())).await?;
                if shed(&outcome)? {
                    shed_here += 1;
                } else {
                    durations.push(outcome.duration());
                }
            }
        }));
    }
    clients_done
        .run_until(async {
            let (mut durations, mut shed_all) = (Vec::with_capacity(requests), 0);
            for task in tasks {
                let (d, s) = task.await??;
                durations.extend(d);
                shed_all += s;
            }
            Ok((durations, shed_all))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retryable_503_is_shed_a_202_is_not_and_anything_else_fails() {
        let outcome = |status: u16, body: serde_json::Value| Outcome {
            handed_out: Instant::now(),
            answered: Instant::now(),
            ok: true,
            body: serde_json::json!({"statusCode": status, "body": body.to_string()}).to_string(),
        };
        let retryable = serde_json::json!({"error": "service_unavailable", "retryable": true});
        assert!(shed(&outcome(503, retryable)).unwrap());
        assert!(!shed(&outcome(202, serde_json::json!({"status": "accepted"}))).unwrap());
        assert!(shed(&outcome(500, serde_json::json!({"error": "internal"}))).is_err());
        assert!(
            shed(&outcome(503, serde_json::json!({"error": "x"}))).is_err(),
            "not retryable"
        );
    }

    #[test]
    fn this_process_is_metered() {
        let me = std::process::id();
        let meter = Meter::start(Metered {
            functions: vec![me],
            localstack: Some(me),
        })
        .unwrap();
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let cpu = meter.stop().unwrap();
        assert!(x > 0);
        assert!(cpu.busy > 0.0 && cpu.functions > 0.0, "{cpu:?}");
        assert_eq!(cpu.functions, cpu.localstack);
        assert!(cpu.busy <= cores() + 0.01, "{cpu:?}");
    }
}
