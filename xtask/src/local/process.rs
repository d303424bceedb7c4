//! The processes xtask starts.
//!
//! Background services outlive the `xtask` process that started them. Each one runs in its
//! own process group (so stopping it also stops whatever it forked) and leaves a record with
//! its pid, the start time of that pid, its port and its log. The start time is what makes
//! `down` safe: a recycled pid does not match it, so we only ever signal processes this
//! project started.
//!
//! Foreground commands ([`run_logged`]) write their output to a log and show progress.
//!
//! The process table comes from `sysinfo` (Linux, macOS); signals, process groups and
//! reaping are POSIX (`libc`).

use crate::ui::{self, Progress};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: String,
    pub pid: i32,
    /// When the pid started, in seconds since the epoch (see [`Pid::started`]).
    pub started: u64,
    pub port: u16,
    pub log: PathBuf,
}

impl ServiceRecord {
    /// Where the service listens; `None` for one that serves nothing (the bridge, port 0).
    pub fn url(&self) -> Option<String> {
        (self.port != 0).then(|| local_stack::loopback_url(self.port))
    }

    fn path(run_dir: &Path, name: &str) -> PathBuf {
        run_dir.join(format!("{name}.json"))
    }

    pub fn load(run_dir: &Path, name: &str) -> Option<Self> {
        let text = fs::read_to_string(Self::path(run_dir, name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn save(&self, run_dir: &Path) -> Result<()> {
        fs::create_dir_all(run_dir)?;
        fs::write(Self::path(run_dir, &self.name), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }

    pub fn forget(run_dir: &Path, name: &str) {
        let _ = fs::remove_file(Self::path(run_dir, name));
    }

    /// True while the very process we started is alive (not merely its pid).
    pub fn is_running(&self) -> bool {
        let system = table_of(&[self.pid], true);
        seen(&system, self.pid)
            .is_some_and(|p| same_start(p.start_time(), self.started) && p.status() != ProcessStatus::Zombie)
    }

    /// The service's live processes: its process group, and descendants that made groups of
    /// their own (cargo lambda starts each function in one). Captured before stopping, since a
    /// descendant whose parent has exited can no longer be traced back to it.
    pub fn family(&self) -> Vec<Pid> {
        let table = process_table();
        match table.iter().find(|p| p.pid.pid == self.pid) {
            // The pid now belongs to someone else; the kernel never reuses a pid while a
            // process group of that id lives, so nothing of ours is left.
            Some(p) if !same_start(p.pid.started, self.started) => return Vec::new(),
            _ => {}
        }
        let mut family: Vec<Pid> = table.iter().filter(|p| p.pgrp == self.pid).map(|p| p.pid).collect();
        let mut frontier: Vec<i32> = family.iter().map(|p| p.pid).collect();
        while let Some(parent) = frontier.pop() {
            let children: Vec<Pid> = table
                .iter()
                .filter(|p| p.ppid == Some(parent) && !family.contains(&p.pid))
                .map(|p| p.pid)
                .collect();
            frontier.extend(children.iter().map(|c| c.pid));
            family.extend(children);
        }
        family
    }
}

/// A process we may signal: its pid and when that pid started, so a recycled pid is not
/// mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pid {
    pub pid: i32,
    /// Seconds since the epoch, as the process table reports it: the boot time plus the ticks
    /// since boot. The kernel derives the boot time from the wall clock, so this moves when the
    /// clock is stepped (NTP at boot, a suspended laptop's catch-up), and is compared within
    /// [`START_TOLERANCE_SECS`] (see there).
    pub started: u64,
}

/// How far two readings of one process's start time may differ: the wall clock stepped in
/// between (see [`Pid::started`]), or rounding to whole seconds. A recycled pid whose process
/// started within this of ours would match; that takes the whole pid space wrapping around
/// within seconds of our start, which is no risk worth failing `down` over (it would then
/// leave live services running).
const START_TOLERANCE_SECS: u64 = 5;

/// Whether two start times of a pid are the same process's (see [`START_TOLERANCE_SECS`]).
fn same_start(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= START_TOLERANCE_SECS
}

impl Pid {
    /// Running, or exiting with threads that still run: a leader whose main thread has
    /// returned shows as a zombie while its other threads go on, holding its sockets open
    /// (LocalStack's hypercorn does that for a moment on SIGTERM).
    pub fn is_alive(&self) -> bool {
        let system = table_of(&[self.pid], true);
        let Some(process) = seen(&system, self.pid).filter(|p| same_start(p.start_time(), self.started)) else {
            return false;
        };
        if process.status() != ProcessStatus::Zombie {
            return true;
        }
        // The leader's other threads (the process table lists them on Linux only; elsewhere
        // a zombie leader counts as gone).
        let threads: Vec<sysinfo::Pid> = process.tasks().into_iter().flatten().copied().collect();
        let threads_table = table_of_sysinfo(&threads, false);
        threads.iter().any(|t| {
            threads_table
                .process(*t)
                .is_some_and(|t| t.status() != ProcessStatus::Zombie)
        })
    }
}

/// The process table, limited to `pids`, with each one's threads if `threads`.
fn table_of(pids: &[i32], threads: bool) -> System {
    let pids: Vec<sysinfo::Pid> = pids.iter().map(|&p| sysinfo::Pid::from(p as usize)).collect();
    table_of_sysinfo(&pids, threads)
}

fn table_of_sysinfo(pids: &[sysinfo::Pid], threads: bool) -> System {
    let mut system = System::new();
    let kind = ProcessRefreshKind::nothing();
    let kind = if threads {
        kind.with_tasks()
    } else {
        kind.without_tasks()
    };
    system.refresh_processes_specifics(ProcessesToUpdate::Some(pids), true, kind);
    system
}

fn seen(system: &System, pid: i32) -> Option<&sysinfo::Process> {
    system.process(sysinfo::Pid::from(pid as usize))
}

/// Starts `cmd` detached from our terminal in a new process group, output appended to `log`.
pub fn spawn_service(name: &str, mut cmd: Command, port: u16, log: &Path) -> Result<ServiceRecord> {
    let out = append_to(log)?;
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {name}: {cmd:?}"))?;
    let pid = child.id() as i32;
    let started = seen(&table_of(&[pid], false), pid)
        .map(sysinfo::Process::start_time)
        .with_context(|| format!("{name} exited at once; see {}", log.display()))?;
    Ok(ServiceRecord {
        name: name.to_string(),
        pid,
        started,
        port,
        log: log.to_path_buf(),
    })
}

/// SIGTERM to the whole group, then SIGKILL to whatever of the family has not gone after
/// `grace`. Blocks until they have gone (at most `grace` and 5 s more).
pub fn stop(record: &ServiceRecord, grace: Duration) -> Result<()> {
    let family = record.family();
    if family.is_empty() {
        return Ok(());
    }
    signal_group(record.pid, libc::SIGTERM);
    if wait_gone(record.pid, &family, grace) {
        return Ok(());
    }
    signal_group(record.pid, libc::SIGKILL);
    for member in family.iter().filter(|m| m.is_alive()) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid was checked just now.
        unsafe {
            libc::kill(member.pid, libc::SIGKILL);
        }
    }
    if wait_gone(record.pid, &family, Duration::from_secs(5)) {
        return Ok(());
    }
    let left: Vec<i32> = family.iter().filter(|m| m.is_alive()).map(|m| m.pid).collect();
    bail!("{} (pid {}) did not stop: {left:?} still run", record.name, record.pid)
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid addresses the group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn wait_gone(leader: i32, family: &[Pid], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        reap(leader);
        if family.iter().all(|m| !m.is_alive()) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Collects the exit status if the service is our own child (when one xtask process both
/// starts and stops it); otherwise a harmless ECHILD.
fn reap(pid: i32) {
    // SAFETY: waitpid with WNOHANG and a null status pointer only inspects our children.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
    }
}

struct ProcEntry {
    pid: Pid,
    ppid: Option<i32>,
    pgrp: i32,
}

/// Every live (non-zombie) process, without threads.
fn process_table() -> Vec<ProcEntry> {
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().without_tasks(),
    );
    system
        .processes()
        .values()
        .filter(|p| p.status() != ProcessStatus::Zombie && p.thread_kind().is_none())
        .filter_map(|p| {
            let pid = p.pid().as_u32() as i32;
            // SAFETY: getpgid has no memory-safety preconditions; -1 (gone meanwhile) is skipped.
            let pgrp = unsafe { libc::getpgid(pid) };
            (pgrp >= 0).then(|| ProcEntry {
                pid: Pid {
                    pid,
                    started: p.start_time(),
                },
                ppid: p.parent().map(|parent| parent.as_u32() as i32),
                pgrp,
            })
        })
        .collect()
}

/// Asks the process `pid` to stop (SIGTERM).
pub fn terminate(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((local_stack::LOOPBACK, port)).is_ok()
}

/// `wanted` if given (and free), else `preferred` if free, else any free port.
pub fn choose_port(service: &str, wanted: Option<u16>, preferred: u16) -> Result<u16> {
    match wanted {
        Some(port) if port_is_free(port) => Ok(port),
        Some(port) => bail!(
            "port {port} for {service} is taken by another process; free it (`ss -ltnp 'sport = :{port}'` \
             shows who holds it) or choose another port"
        ),
        None if port_is_free(preferred) => Ok(preferred),
        None => Ok(TcpListener::bind((local_stack::LOOPBACK, 0))?.local_addr()?.port()),
    }
}

/// The last `n` lines of a log, to quote when a service fails.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command to completion with its output in `log`, showing its latest line as progress.
pub async fn run_logged(mut cmd: Command, log: &Path, progress: &mut Progress) -> Result<()> {
    ui::detail(format!("{cmd:?} (log: {})", log.display()));
    let out = append_to(log)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        // The command's latest line ("Compiling aws-sdk-sns ...", "Collecting boto3 ...").
        progress.tick_with(|| {
            let line = log_tail(log, 1);
            let line: String = line.trim().chars().take(70).collect();
            if line.is_empty() { "working".to_owned() } else { line }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if !status.success() {
        bail!(
            "{cmd:?} failed ({status}).\n--- last lines of {} ---\n{}",
            log.display(),
            log_tail(log, 15)
        );
    }
    Ok(())
}

/// `log`, opened for appending (its directory created if need be).
fn append_to(log: &Path) -> Result<fs::File> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    Ok(fs::OpenOptions::new().create(true).append(true).open(log)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not_it() {
        let pid = std::process::id() as i32;
        let started = seen(&table_of(&[pid], false), pid).unwrap().start_time();
        assert!(Pid { pid, started }.is_alive());
        // Read again after the wall clock was stepped.
        for stepped in [started - START_TOLERANCE_SECS, started + START_TOLERANCE_SECS] {
            assert!(Pid { pid, started: stepped }.is_alive(), "{stepped} vs {started}");
        }
        for recycled in [started - START_TOLERANCE_SECS - 1, started + START_TOLERANCE_SECS + 1] {
            assert!(!Pid { pid, started: recycled }.is_alive(), "{recycled} vs {started}");
        }
    }

    #[test]
    fn a_stopped_service_and_its_children_are_gone() {
        let dir = std::env::temp_dir().join(format!("xtask-process-{}", std::process::id()));
        let mut cmd = Command::new("sh");
        // A child of its own, so that the family is more than the leader.
        cmd.args(["-c", "sleep 60 & wait"]);
        let record = spawn_service("sleeper", cmd, 0, &dir.join("sleeper.log")).unwrap();
        assert!(record.is_running());
        // Until the shell has forked its sleep.
        let family = loop {
            let family = record.family();
            if family.len() >= 2 {
                break family;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        stop(&record, Duration::from_secs(5)).unwrap();
        assert!(family.iter().all(|p| !p.is_alive()), "{family:?}");
        assert!(!record.is_running());
        let _ = fs::remove_dir_all(dir);
    }
}
