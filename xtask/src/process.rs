//! Background services that outlive the `xtask` process that started them.
//!
//! Each one runs in its own process group (so stopping it also stops whatever it forked) and
//! leaves a record with its pid, the kernel's start time of that pid, its port and its log.
//! The start time is what makes `down` safe: a recycled pid never matches it, so we only ever
//! signal processes this project started.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: String,
    pub pid: i32,
    pub start_ticks: u64,
    pub port: u16,
    pub log: PathBuf,
}

impl ServiceRecord {
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
        matches!(proc_stat(self.pid), Some(stat) if stat.start_ticks == self.start_ticks && !stat.zombie)
    }

    /// The service's live processes: its process group, and descendants that made groups of
    /// their own (cargo lambda starts each function in one). Captured before stopping, since a
    /// descendant whose parent has exited can no longer be traced back to it.
    pub fn family(&self) -> Vec<Pid> {
        let table = process_table();
        match table.iter().find(|p| p.pid.pid == self.pid) {
            // The pid now belongs to someone else; the kernel never reuses a pid while a
            // process group of that id lives, so nothing of ours is left.
            Some(p) if p.pid.start_ticks != self.start_ticks => return Vec::new(),
            _ => {}
        }
        let mut family: Vec<Pid> = table.iter().filter(|p| p.pgrp == self.pid).map(|p| p.pid).collect();
        let mut frontier: Vec<i32> = family.iter().map(|p| p.pid).collect();
        while let Some(parent) = frontier.pop() {
            let children: Vec<Pid> = table
                .iter()
                .filter(|p| p.ppid == parent && !family.contains(&p.pid))
                .map(|p| p.pid)
                .collect();
            frontier.extend(children.iter().map(|c| c.pid));
            family.extend(children);
        }
        family
    }
}

/// A process we may signal: its pid and the kernel's start time for that pid, so a recycled
/// pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pid {
    pub pid: i32,
    pub start_ticks: u64,
}

impl Pid {
    /// Running, or exiting with threads that still run: a leader whose main thread has
    /// returned shows as a zombie while its other threads go on, holding its sockets open
    /// (LocalStack's hypercorn does that for a moment on SIGTERM).
    pub fn is_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some(s) if s.start_ticks == self.start_ticks && (!s.zombie || threads_run(self.pid)))
    }
}

/// Starts `cmd` detached from our terminal in a new process group, output appended to `log`.
pub fn spawn_service(name: &str, mut cmd: Command, port: u16, log: &Path) -> Result<ServiceRecord> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {name}: {cmd:?}"))?;
    let pid = child.id() as i32;
    let start_ticks = proc_stat(pid)
        .map(|s| s.start_ticks)
        .with_context(|| format!("{name} exited at once; see {}", log.display()))?;
    Ok(ServiceRecord {
        name: name.to_string(),
        pid,
        start_ticks,
        port,
        log: log.to_path_buf(),
    })
}

/// SIGTERM to the whole group, then SIGKILL to whatever of the family has not gone after
/// `grace`.
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

struct ProcStat {
    ppid: i32,
    pgrp: i32,
    start_ticks: u64,
    zombie: bool,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ... starttime(22) ...`; comm may hold spaces and parens.
    let after_comm = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    Some(ProcStat {
        zombie: fields.first()? == &"Z",
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// Whether any thread of `pid` is not a zombie.
fn threads_run(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|text| text.rfind(')').map(|i| text[i + 2..].starts_with('Z')))
            .is_some_and(|zombie| !zombie)
    })
}

struct ProcEntry {
    pid: Pid,
    ppid: i32,
    pgrp: i32,
}

/// Every live (non-zombie) process.
fn process_table() -> Vec<ProcEntry> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = proc_stat(pid).filter(|s| !s.zombie)?;
            Some(ProcEntry {
                pid: Pid {
                    pid,
                    start_ticks: stat.start_ticks,
                },
                ppid: stat.ppid,
                pgrp: stat.pgrp,
            })
        })
        .collect()
}

pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
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
        None => Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port()),
    }
}

/// The last `n` lines of a log, to quote when a service fails.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
