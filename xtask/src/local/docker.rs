//! A Docker engine for `sam local`, which runs the functions' arm64 `bootstrap`s in Lambda's
//! own runtime (the tests and the README's recipes do). [`ensure`] makes one answer: it finds
//! what is missing (the engine's packages, arm64 emulation under qemu on an x86_64 Linux host,
//! the engine itself), and where it can (root; packages through apt-get) sets it up, saying
//! what it does; where it cannot (not root, another OS), it stops with the command to run.
//!
//! An engine it starts is the [`Engine`]'s: stopped, by its pid, when the [`Engine`] is
//! dropped, whichever way the run ends. An engine that already answered is left alone.

use super::packages::{self, DOCKER, DOCKERD, MMDEBSTRAP, QEMU_AARCH64, UPDATE_BINFMTS};
use super::process::{log_tail, run_logged};
use crate::layout::Layout;
use crate::ui;
use anyhow::{Context, Result, anyhow, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the packages are installed, as the install step says it.
const WHY: &str = "a Docker engine with arm64 emulation, for `sam local`";

/// How long a started dockerd gets to answer `docker info` (it takes a few seconds here).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How long a stopping dockerd gets before it is killed: it stops its containers first.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// Where binfmt_misc is mounted, and the entry that runs arm64 binaries under qemu.
const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";
const ARM64_ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// Whether a Docker engine answers `docker info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineState {
    /// It answers: its version and storage driver.
    Answers(String),
    /// One runs, but this user may not use its socket.
    Denied,
    /// None answers.
    Down,
}

/// What this machine has that `sam local` needs.
#[derive(Debug, Clone)]
pub struct Machine {
    pub linux: bool,
    pub root: bool,
    pub apt: bool,
    /// arm64 containers need qemu through binfmt_misc: Linux on anything but arm64 (Docker
    /// Desktop brings its own emulation).
    pub needs_emulation: bool,
    pub binfmt_mounted: bool,
    pub arm64_enabled: bool,
    pub engine: EngineState,
    /// Packages whose programs are missing, of those the engine and the emulation need.
    pub missing: Vec<&'static str>,
    /// Whether `mmdebstrap` (the stand-in base image's builder) is here.
    pub mmdebstrap: bool,
}

/// One thing to do to get there, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Install(Vec<&'static str>),
    MountBinfmt,
    EnableArm64,
    StartDockerd,
}

impl Machine {
    pub async fn inspect() -> Self {
        let engine = engine_state().await;
        // Docker Desktop (on Linux too) runs its engine in a VM that brings its own emulation.
        let desktop = matches!(&engine, EngineState::Answers(about) if about.contains("Docker Desktop"));
        let needs_emulation = cfg!(target_os = "linux") && std::env::consts::ARCH != "aarch64" && !desktop;
        let arm64_enabled = arm64_enabled();
        let mut needs = Vec::new();
        if !matches!(engine, EngineState::Answers(_)) {
            needs.extend([DOCKER, DOCKERD]);
        }
        if needs_emulation && !arm64_enabled {
            needs.extend([QEMU_AARCH64, UPDATE_BINFMTS]);
        }
        Self {
            linux: cfg!(target_os = "linux"),
            root: super::process::is_root(),
            apt: packages::find("apt-get").is_some(),
            needs_emulation,
            binfmt_mounted: Path::new(BINFMT_MISC).join("status").exists(),
            arm64_enabled,
            engine,
            missing: packages::missing(&needs),
            mmdebstrap: packages::find(MMDEBSTRAP.program).is_some(),
        }
    }
}

/// The steps that give this machine a Docker engine that runs arm64 containers, or, where
/// xtask cannot take them itself, the command that does (one line, for the user to run).
pub fn plan(machine: &Machine) -> Result<Vec<Step>, String> {
    if machine.engine == EngineState::Denied {
        return Err("sudo usermod -aG docker \"$USER\"   # then log in again".into());
    }
    if !machine.linux {
        return match machine.engine {
            EngineState::Answers(_) => Ok(Vec::new()),
            _ if cfg!(target_os = "macos") => {
                Err("open -a Docker   # Docker Desktop: install it first if need be".into())
            }
            _ => Err("start a Docker engine (https://docs.docker.com/engine/install/)".into()),
        };
    }
    let mut steps = Vec::new();
    if !machine.missing.is_empty() {
        let mut install = machine.missing.clone();
        // The stand-in base image's builder joins an install that happens anyway (one apt-get
        // run on a fresh machine); alone, it waits until an image must be built.
        if !machine.mmdebstrap {
            install.push(MMDEBSTRAP.package);
        }
        steps.push(Step::Install(install));
    }
    if machine.needs_emulation && !machine.arm64_enabled {
        if !machine.binfmt_mounted {
            steps.push(Step::MountBinfmt);
        }
        steps.push(Step::EnableArm64);
    }
    if !matches!(machine.engine, EngineState::Answers(_)) {
        steps.push(Step::StartDockerd);
    }
    let can = machine.root && (machine.missing.is_empty() || machine.apt);
    if steps.is_empty() || can {
        Ok(steps)
    } else {
        Err(command(&steps, machine.apt, !machine.root))
    }
}

/// Why xtask cannot take the steps itself, when [`plan`] says so.
fn why_not(machine: &Machine) -> &'static str {
    if machine.engine == EngineState::Denied {
        "this user may not use the engine's socket"
    } else if !machine.linux {
        "not Linux: Docker Desktop's engine"
    } else if !machine.root {
        "not root"
    } else {
        "no apt-get"
    }
}

/// The steps as one shell line.
fn command(steps: &[Step], apt: bool, sudo: bool) -> String {
    let install = |packages: &[&str]| packages::install_command(packages, apt, sudo);
    let sudo = if sudo { "sudo " } else { "" };
    let parts: Vec<String> = steps
        .iter()
        .map(|step| match step {
            Step::Install(p) => install(p),
            Step::MountBinfmt => format!("{sudo}mount -t binfmt_misc binfmt_misc {BINFMT_MISC}"),
            Step::EnableArm64 => format!("{sudo}update-binfmts --enable qemu-aarch64"),
            // In the foreground: the user's terminal keeps it, and Ctrl-C stops it.
            Step::StartDockerd => format!("{sudo}dockerd {}", DOCKERD_FLAGS.join(" ")),
        })
        .collect();
    let line = parts.join(" && ");
    if steps.last() == Some(&Step::StartDockerd) {
        format!("{line}   # dockerd stays in the foreground: give it a terminal of its own")
    } else {
        line
    }
}

/// The flags of a dockerd xtask starts (and tells a user to start).
///
/// Without Docker's userland proxy a published port refuses connections until the container
/// listens on it. With the proxy it accepts them at once, SAM's readiness check passes before
/// its runtime emulator (under qemu, slow to start) listens, and SAM gives up after three
/// tries within 0.4 s: "No response from invoke container" (measured: 6 of 12 invocations
/// beside two others, against 0 of 14 without the proxy).
const DOCKERD_FLAGS: &[&str] = &["--userland-proxy=false"];

/// A Docker engine that answers, for as long as this value lives; one started here is
/// stopped when it is dropped.
#[must_use = "dropping the Engine stops the dockerd it started"]
#[derive(Debug, Default)]
pub struct Engine {
    dockerd: Option<Child>,
}

/// Makes a Docker engine answer, able to run arm64 containers: see the module's doc.
pub async fn ensure(layout: &Layout) -> Result<Engine> {
    let machine = Machine::inspect().await;
    let steps = plan(&machine).map_err(|command| {
        anyhow!(
            "`sam local` (the tests, the README's recipes) needs a Docker engine that runs arm64 \
             containers, and xtask cannot set it up here ({}). Run:\n    {command}\nthen run this again.",
            why_not(&machine)
        )
    })?;
    for step in steps {
        match step {
            Step::Install(packages) => packages::install(layout, &packages, WHY).await?,
            // An installed binfmt-support may have done these already.
            Step::MountBinfmt if Path::new(BINFMT_MISC).join("status").exists() => {}
            Step::MountBinfmt => {
                ui::step("Mounting binfmt_misc (arm64 emulation)", async |p| {
                    let mut mount = Command::new("mount");
                    mount.args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_MISC]);
                    run_logged(mount, &layout.logs_dir().join("binfmt.log"), p).await
                })
                .await?
            }
            Step::EnableArm64 if arm64_enabled() => {}
            Step::EnableArm64 => enable_arm64(layout).await?,
            Step::StartDockerd => {
                // Installing docker.io starts its service where systemd runs.
                if let EngineState::Answers(about) = engine_state().await {
                    ui::detail(format!("a Docker engine answers ({about}); left as it is"));
                    break;
                }
                return start(layout).await;
            }
        }
    }
    if let EngineState::Answers(version) = &machine.engine {
        ui::detail(format!("a Docker engine answers ({version}); left as it is"));
    }
    Ok(Engine::default())
}

async fn enable_arm64(layout: &Layout) -> Result<()> {
    ui::step(
        "Enabling arm64 emulation (update-binfmts --enable qemu-aarch64)",
        async |p| {
            let mut enable = Command::new(packages::find(UPDATE_BINFMTS.program).context("update-binfmts")?);
            enable.args(["--enable", "qemu-aarch64"]);
            let log = layout.logs_dir().join("binfmt.log");
            let result = run_logged(enable, &log, p).await;
            // It fails on an entry that is already enabled: what counts is the entry.
            if arm64_enabled() {
                return Ok(());
            }
            result?;
            bail!(
                "{ARM64_ENTRY} is not enabled after update-binfmts; see {}",
                log.display()
            )
        },
    )
    .await
}

/// Starts dockerd and waits until it answers; stopped when the returned [`Engine`] drops.
async fn start(layout: &Layout) -> Result<Engine> {
    let dockerd = packages::find(DOCKERD.program).context("dockerd not found")?;
    let log = layout.logs_dir().join("dockerd.log");
    std::fs::create_dir_all(layout.logs_dir())?;
    let label = format!(
        "Starting a Docker engine for `sam local` (dockerd {}; stopped when this run ends; log: {})",
        DOCKERD_FLAGS.join(" "),
        log.display()
    );
    ui::step(&label, async |progress| {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        // In xtask's own process group, unlike the stack's services: Ctrl-C in the terminal
        // reaches dockerd too, and it shuts down as on SIGTERM.
        let child = Command::new(&dockerd)
            .args(DOCKERD_FLAGS)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", dockerd.display()))?;
        let mut engine = Engine { dockerd: Some(child) };
        let started = Instant::now();
        loop {
            if let EngineState::Answers(version) = engine_state().await {
                ui::detail(format!("dockerd answers: {version}"));
                return Ok(engine);
            }
            let child = engine.dockerd.as_mut().expect("started above");
            if let Some(status) = child.try_wait()? {
                engine.dockerd = None;
                // Another run may have started one at the same moment: then that one answers.
                if let EngineState::Answers(_) = engine_state().await {
                    return Ok(engine);
                }
                bail!(
                    "dockerd exited ({status}) before it answered. Its log: {}\n--- last lines ---\n{}",
                    log.display(),
                    log_tail(&log, 15)
                );
            }
            if started.elapsed() > READY_WITHIN {
                let pid = child.id();
                drop(engine);
                bail!(
                    "dockerd (pid {pid}) did not answer `docker info` within {} s; stopped it. Its log: {}\n\
                     --- last lines ---\n{}",
                    READY_WITHIN.as_secs(),
                    log.display(),
                    log_tail(&log, 15)
                );
            }
            progress.tick("waiting for `docker info` to answer");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
}

impl Engine {
    /// The pid of the dockerd this run started, if it started one.
    pub fn started_pid(&self) -> Option<u32> {
        self.dockerd.as_ref().map(Child::id)
    }

    /// Stops the dockerd this run started (SIGTERM, then SIGKILL after [`STOP_WITHIN`]).
    fn stop(&mut self) {
        let Some(mut child) = self.dockerd.take() else {
            return;
        };
        let pid = child.id();
        eprintln!("==> Stopping the Docker engine this run started (dockerd, pid {pid})");
        // Our own child's pid, not yet reaped: it cannot have been recycled.
        super::process::terminate(pid);
        let deadline = Instant::now() + STOP_WITHIN;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    eprintln!("    dockerd did not stop within {} s: killed", STOP_WITHIN.as_secs());
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        eprintln!("    stopped");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether arm64 binaries run here under qemu (binfmt_misc's entry is there and enabled).
fn arm64_enabled() -> bool {
    std::fs::read_to_string(ARM64_ENTRY).is_ok_and(|entry| entry.lines().next() == Some("enabled"))
}

/// `docker info`, within 10 s.
async fn engine_state() -> EngineState {
    let mut info = tokio::process::Command::new("docker");
    info.args([
        "info",
        "--format",
        "{{.ServerVersion}} ({{.Driver}}, {{.OperatingSystem}})",
    ])
    .stdin(Stdio::null())
    .kill_on_drop(true);
    let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), info.output()).await else {
        return EngineState::Down;
    };
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    // A CLI newer than the engine may print the client's part and fail on the server's: the
    // version is what tells.
    if out.status.success() && !stdout.is_empty() && !stdout.starts_with(' ') {
        EngineState::Answers(stdout)
    } else if stderr.contains("permission denied") {
        EngineState::Denied
    } else {
        EngineState::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI's machine: root, Debian, nothing installed, no engine.
    fn fresh_ci() -> Machine {
        Machine {
            linux: true,
            root: true,
            apt: true,
            needs_emulation: true,
            binfmt_mounted: false,
            arm64_enabled: false,
            engine: EngineState::Down,
            missing: vec!["docker.io", "qemu-user-static", "binfmt-support"],
            mmdebstrap: false,
        }
    }

    #[test]
    fn a_fresh_root_machine_installs_emulates_and_starts_an_engine() {
        let steps = plan(&fresh_ci()).unwrap();
        assert_eq!(
            steps,
            [
                Step::Install(vec!["docker.io", "qemu-user-static", "binfmt-support", "mmdebstrap"]),
                Step::MountBinfmt,
                Step::EnableArm64,
                Step::StartDockerd,
            ]
        );
    }

    #[test]
    fn an_engine_that_answers_with_emulation_needs_nothing_and_is_left_alone() {
        let machine = Machine {
            binfmt_mounted: true,
            arm64_enabled: true,
            engine: EngineState::Answers("20.10.24 (overlay2)".into()),
            missing: vec![],
            ..fresh_ci()
        };
        assert_eq!(plan(&machine).unwrap(), []);
        // Not root makes no difference when there is nothing to do.
        assert_eq!(plan(&Machine { root: false, ..machine }).unwrap(), []);
    }

    #[test]
    fn installed_but_stopped_only_starts_dockerd() {
        let machine = Machine {
            binfmt_mounted: true,
            arm64_enabled: true,
            missing: vec![],
            mmdebstrap: true,
            ..fresh_ci()
        };
        assert_eq!(plan(&machine).unwrap(), [Step::StartDockerd]);
    }

    #[test]
    fn without_root_it_names_the_one_command_instead() {
        let machine = Machine {
            root: false,
            ..fresh_ci()
        };
        let command = plan(&machine).unwrap_err();
        assert!(
            command.starts_with("sudo apt-get install -y docker.io qemu-user-static binfmt-support mmdebstrap"),
            "{command}"
        );
        assert!(
            command.contains(" && sudo update-binfmts --enable qemu-aarch64"),
            "{command}"
        );
        assert!(
            command.contains(" && sudo dockerd --userland-proxy=false   # dockerd stays in the foreground"),
            "{command}"
        );
    }

    #[test]
    fn root_without_apt_cannot_install_but_says_what() {
        let machine = Machine {
            apt: false,
            ..fresh_ci()
        };
        assert!(plan(&machine).is_err());
        // Nothing to install: root can still start the engine itself.
        let machine = Machine {
            missing: vec![],
            mmdebstrap: true,
            binfmt_mounted: true,
            arm64_enabled: true,
            apt: false,
            ..fresh_ci()
        };
        assert_eq!(plan(&machine).unwrap(), [Step::StartDockerd]);
    }

    #[test]
    fn a_socket_this_user_may_not_use_says_so() {
        let machine = Machine {
            root: false,
            engine: EngineState::Denied,
            ..fresh_ci()
        };
        assert!(plan(&machine).unwrap_err().contains("usermod -aG docker"));
    }

    #[test]
    fn an_arm64_host_needs_no_emulation() {
        let machine = Machine {
            needs_emulation: false,
            missing: vec!["docker.io"],
            mmdebstrap: true,
            ..fresh_ci()
        };
        assert_eq!(
            plan(&machine).unwrap(),
            [Step::Install(vec!["docker.io"]), Step::StartDockerd]
        );
    }
}
