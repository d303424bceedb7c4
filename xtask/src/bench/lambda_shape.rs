//! Lambda's CPU and memory, shaped with cgroups: each function process the benchmark starts runs
//! in a group of its own whose CPU quota is Lambda's share at its memory size (one vCPU at
//! 1,769 MB, so `memory / 1769` of a CPU: 0.072 at 128 MB, 0.58 at 1,024 MB) and whose memory
//! limit is that size, swap included. What it cannot model: Firecracker's scheduler (the CFS
//! quota hands out the same share, but in 100 ms periods on a host core, not as Firecracker's
//! vCPU does), the network between a function and its services (the emulators answer on
//! loopback, in microseconds), and the sandbox's own start (Lambda's cold start before the
//! process execs). The emulators stay outside the groups.
//!
//! cgroup v1 (`cpu.cfs_quota_us`/`cfs_period_us` and `memory.limit_in_bytes`, the `cpu` and
//! `memory` controllers mounted apart under `/sys/fs/cgroup`) or v2 (`cpu.max`, `memory.max`
//! in the subtree this process was given). The groups sit under this process's own group in
//! each hierarchy: `xtask-bench-<pid>-<n>/<function>-<memory>mb-<i>`, one per process, removed
//! when it ends, and the run's group removed when [`Cgroups`] is dropped, whatever happened.
//! A process joins its group from its very start through a shell that writes its own pid into
//! the group and then execs it ([`wrapper`]): the function's init is shaped too.

use crate::local::template::Template;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The memory size at which Lambda gives a function one full vCPU.
pub const ONE_CPU_MB: u64 = 1769;
/// Lambda's memory sizes, in MB.
pub const MIN_MB: u64 = 128;
pub const MAX_MB: u64 = 10_240;
/// The CFS period the quota is a share of, in microseconds (the kernel's default).
pub const PERIOD_US: u64 = 100_000;

/// The CPU quota per [`PERIOD_US`] at `memory_mb`: `period × memory / 1769`, rounded down.
/// Above 1,769 MB it exceeds the period: more than one CPU (6 at Lambda's 10,240 MB).
pub fn quota_us(memory_mb: u64) -> u64 {
    PERIOD_US * memory_mb / ONE_CPU_MB
}

/// The share of one CPU at `memory_mb`, as Lambda gives it.
pub fn cpu_share(memory_mb: u64) -> f64 {
    memory_mb as f64 / ONE_CPU_MB as f64
}

/// Fails unless `memory_mb` is a memory size Lambda offers.
pub fn check_memory(memory_mb: u64) -> Result<()> {
    if !(MIN_MB..=MAX_MB).contains(&memory_mb) {
        bail!("{memory_mb} MB is outside Lambda's {MIN_MB}-{MAX_MB} MB");
    }
    Ok(())
}

/// Where the groups are made: the directories of this process's own group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// v1: the `cpu` and `memory` controllers' directories; `swap` when the memory controller
    /// accounts swap (`memory.memsw.limit_in_bytes`), so that the limit is not dodged by it.
    V1 { cpu: PathBuf, memory: PathBuf, swap: bool },
    /// v2: the unified hierarchy's directory, with `cpu` and `memory` delegated to it.
    V2 { dir: PathBuf },
}

/// What to say when the groups cannot be made.
const HOW_TO_RUN_ANYWAY: &str = "shaping the functions like Lambda needs writable cgroups (root, with the cpu and \
     memory controllers); `cargo xtask bench --unshaped` runs without them";

impl Hierarchy {
    /// This machine's, under `/sys/fs/cgroup`, for this process: v1 when its `cpu` and `memory`
    /// controllers are mounted, else v2; an error naming `--unshaped` when neither is writable.
    pub fn detect() -> Result<Self> {
        let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
        Self::detect_in(Path::new("/sys/fs/cgroup"), &own)
            .and_then(|hierarchy| hierarchy.probe().map(|()| hierarchy))
            .with_context(|| HOW_TO_RUN_ANYWAY)
    }

    /// [`Self::detect`]'s choice, from the mount point `root` and `/proc/self/cgroup`'s text.
    fn detect_in(root: &Path, own: &str) -> Result<Self> {
        // Lines are `id:controllers:path`; v2's is `0::path`.
        let path_of = |wanted: &str| {
            own.lines().find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers
                    .split(',')
                    .any(|c| c == wanted)
                    .then(|| path.trim_start_matches('/').to_owned())
            })
        };
        if let (Some(cpu), Some(memory)) = (path_of("cpu"), path_of("memory")) {
            let (cpu, memory) = (root.join("cpu").join(cpu), root.join("memory").join(memory));
            if cpu.join("cpu.cfs_quota_us").exists() && memory.join("memory.limit_in_bytes").exists() {
                let swap = memory.join("memory.memsw.limit_in_bytes").exists();
                return Ok(Hierarchy::V1 { cpu, memory, swap });
            }
        }
        let unified = own
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .context("this process is in no cgroup v1 cpu and memory groups, nor in a v2 one")?;
        let dir = root.join(unified.trim_start_matches('/'));
        let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if !(has("cpu") && has("memory")) {
            bail!(
                "no cgroup v1 cpu and memory controllers, and {} does not delegate cpu and memory (it has: {})",
                dir.display(),
                controllers.trim()
            );
        }
        Ok(Hierarchy::V2 { dir })
    }

    /// The directories a group is made in, one per controller (v1) or one (v2).
    fn dirs(&self) -> Vec<&Path> {
        match self {
            Hierarchy::V1 { cpu, memory, .. } => vec![cpu, memory],
            Hierarchy::V2 { dir } => vec![dir],
        }
    }

    /// Makes and removes a group, to fail now rather than at the first function.
    fn probe(&self) -> Result<()> {
        let name = format!("xtask-bench-{}-probe", std::process::id());
        for dir in self.dirs() {
            let group = dir.join(&name);
            std::fs::create_dir(&group).with_context(|| format!("creating {}", group.display()))?;
            std::fs::remove_dir(&group).with_context(|| format!("removing {}", group.display()))?;
        }
        Ok(())
    }

    /// The same hierarchy one level down, in `name`.
    fn child(&self, name: &str) -> Self {
        match self {
            Hierarchy::V1 { cpu, memory, swap } => Hierarchy::V1 {
                cpu: cpu.join(name),
                memory: memory.join(name),
                swap: *swap,
            },
            Hierarchy::V2 { dir } => Hierarchy::V2 { dir: dir.join(name) },
        }
    }
}

/// Each control file of a group and what it is set to, in the order they must be written (v1's
/// memory+swap limit may not be below the memory limit, which is written first).
pub fn settings(hierarchy: &Hierarchy, memory_mb: u64) -> Vec<(PathBuf, String)> {
    let bytes = (memory_mb * 1024 * 1024).to_string();
    match hierarchy {
        Hierarchy::V1 { cpu, memory, swap } => {
            let mut files = vec![
                (cpu.join("cpu.cfs_period_us"), PERIOD_US.to_string()),
                (cpu.join("cpu.cfs_quota_us"), quota_us(memory_mb).to_string()),
                (memory.join("memory.limit_in_bytes"), bytes.clone()),
            ];
            if *swap {
                files.push((memory.join("memory.memsw.limit_in_bytes"), bytes));
            }
            files
        }
        Hierarchy::V2 { dir } => vec![
            (dir.join("cpu.max"), format!("{} {PERIOD_US}", quota_us(memory_mb))),
            (dir.join("memory.max"), bytes),
            (dir.join("memory.swap.max"), "0".into()),
        ],
    }
}

/// The files a process writes its pid into to join the group: each controller's `cgroup.procs`.
pub fn procs_files(hierarchy: &Hierarchy) -> Vec<PathBuf> {
    hierarchy.dirs().into_iter().map(|d| d.join("cgroup.procs")).collect()
}

/// The command that runs a program in the group whose `procs` files these are, from its start:
/// a shell writes its own pid into each, then execs the program (same pid). Append the program
/// and its arguments.
pub fn wrapper(procs: &[PathBuf]) -> Vec<String> {
    let script = r#"while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@""#;
    let mut command = vec!["sh".to_owned(), "-c".into(), script.into(), "sh".into()];
    command.extend(procs.iter().map(|p| p.display().to_string()));
    command.push("--".into());
    command
}

/// One run's groups: a group of its own under this process's, and one inside it per function
/// process ([`Self::group`]). Dropped, it removes them.
#[derive(Debug)]
pub struct Cgroups {
    run: Hierarchy,
    made: AtomicUsize,
}

/// Tells apart the runs of one process (tests make several).
static RUNS: AtomicUsize = AtomicUsize::new(0);

impl Cgroups {
    /// The run's group `xtask-bench-<pid>-<n>` under `hierarchy`, controllers delegated to
    /// its children on v2.
    pub fn new(hierarchy: &Hierarchy) -> Result<Self> {
        let name = format!(
            "xtask-bench-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let run = hierarchy.child(&name);
        let cgroups = Cgroups {
            run,
            made: AtomicUsize::new(0),
        };
        for dir in cgroups.run.dirs() {
            std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if let Hierarchy::V2 { dir } = hierarchy {
            enable_v2_controllers(dir)?;
            enable_v2_controllers(&dir.join(&name))?;
        }
        Ok(cgroups)
    }

    /// A group for one process of `function` at `memory_mb`, set; removed when dropped (once
    /// its process has ended).
    pub fn group(&self, function: &str, memory_mb: u64) -> Result<Group> {
        check_memory(memory_mb)?;
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let hierarchy = self.run.child(&format!("{function}-{memory_mb}mb-{n}"));
        let group = Group { hierarchy };
        for dir in group.hierarchy.dirs() {
            std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for (file, value) in settings(&group.hierarchy, memory_mb) {
            std::fs::write(&file, &value).with_context(|| format!("writing {value} to {}", file.display()))?;
        }
        Ok(group)
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        // Groups a process still holds cannot go; those of ended processes are gone already.
        for dir in self.run.dirs() {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    if entry.path().is_dir() {
                        remove_group(&entry.path());
                    }
                }
            }
            remove_group(dir);
        }
    }
}

/// v2: `+cpu +memory` in `dir`'s `cgroup.subtree_control`, so its children can be limited.
fn enable_v2_controllers(dir: &Path) -> Result<()> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&file).unwrap_or_default();
    if ["cpu", "memory"]
        .iter()
        .all(|c| enabled.split_whitespace().any(|e| e == *c))
    {
        return Ok(());
    }
    std::fs::write(&file, "+cpu +memory").with_context(|| {
        format!(
            "enabling cpu and memory in {} (a v2 group with processes of its own cannot delegate them)",
            file.display()
        )
    })
}

/// Removes an empty group, retrying briefly: the kernel may still hold a process just reaped.
fn remove_group(dir: &Path) {
    for _ in 0..20 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// One process's group; removed when dropped.
#[derive(Debug)]
pub struct Group {
    hierarchy: Hierarchy,
}

impl Group {
    /// The command to put before a program to run it in this group ([`wrapper`]).
    pub fn wrapper(&self) -> Vec<String> {
        wrapper(&procs_files(&self.hierarchy))
    }

    /// The group's directories, one per controller (v1) or one (v2).
    pub fn dirs(&self) -> Vec<&Path> {
        self.hierarchy.dirs()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for dir in self.hierarchy.dirs() {
            remove_group(dir);
        }
    }
}

/// How the benchmark runs its function processes: in Lambda's shape (a group each, at its
/// memory size) or plain, and each function's memory size either way (its
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
#[derive(Debug, Clone)]
pub struct Shape {
    cgroups: Option<Arc<Cgroups>>,
    memory_mb: BTreeMap<String, u64>,
}

impl Shape {
    /// Each of `functions` at the template's `MemorySize`, or at `memory_mb` for all when given;
    /// shaped unless `unshaped`, failing (never falling back to unshaped) when the groups
    /// cannot be made.
    pub fn new(template: &Template, functions: &[String], memory_mb: Option<u64>, unshaped: bool) -> Result<Self> {
        let mut sizes = BTreeMap::new();
        for function in functions {
            let mb = match memory_mb {
                Some(mb) => mb,
                None => template.function_memory_mb(function)?,
            };
            check_memory(mb)?;
            sizes.insert(function.clone(), mb);
        }
        let cgroups = if unshaped {
            None
        } else {
            Some(Arc::new(
                Cgroups::new(&Hierarchy::detect()?).with_context(|| HOW_TO_RUN_ANYWAY)?,
            ))
        };
        Ok(Shape {
            cgroups,
            memory_mb: sizes,
        })
    }

    /// `function`'s memory size (a function the template does not size: the smallest given).
    pub fn memory_mb(&self, function: &str) -> u64 {
        self.memory_mb
            .get(function)
            .or_else(|| self.memory_mb.values().min())
            .copied()
            .unwrap_or(MIN_MB)
    }

    /// A group for one process of `function`, when shaped.
    pub fn group(&self, function: &str) -> Result<Option<Group>> {
        self.cgroups
            .as_ref()
            .map(|c| c.group(function, self.memory_mb(function)))
            .transpose()
    }

    /// The report's line on it: which mode ran, and for each of `functions` its memory size
    /// and, shaped, its share of a CPU.
    pub fn describe(&self, functions: &[&str]) -> String {
        let sizes: Vec<String> = functions
            .iter()
            .map(|f| {
                let mb = self.memory_mb(f);
                match self.cgroups {
                    Some(_) => format!("{f} at {mb} MB: {:.3} of a CPU", cpu_share(mb)),
                    None => format!("{f} {mb} MB"),
                }
            })
            .collect();
        match &self.cgroups {
            Some(cgroups) => format!(
                "Shaped like Lambda ({}): each function process in a cgroup of its own, its CPU quota \
                 `memory / 1769` of a CPU and its memory limited to its size: {}. The emulators run \
                 unshaped; `--unshaped` gives the plain run.",
                match cgroups.run {
                    Hierarchy::V1 { .. } => "cgroup v1",
                    Hierarchy::V2 { .. } => "cgroup v2",
                },
                sizes.join("; ")
            ),
            None => format!(
                "Unshaped (`--unshaped`): every function process may use all of the machine's cores and \
                 memory, unlike on Lambda (memory sizes, as AWS_LAMBDA_FUNCTION_MEMORY_SIZE only: {}).",
                sizes.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    #[test]
    fn the_quota_is_lambdas_share_of_a_period() {
        assert_eq!(quota_us(128), 7235);
        assert_eq!(quota_us(1024), 57885);
        assert_eq!(quota_us(ONE_CPU_MB), PERIOD_US);
        // More than one CPU above 1,769 MB: 6 at Lambda's largest.
        assert_eq!(quota_us(MAX_MB), 578_858);
        assert!((5.7..6.0).contains(&cpu_share(MAX_MB)));
        assert!((cpu_share(128) - 0.072).abs() < 0.001);
        assert!((cpu_share(1024) - 0.58).abs() < 0.005);
        assert!(check_memory(127).is_err() && check_memory(10_241).is_err());
        assert!(check_memory(128).is_ok() && check_memory(10_240).is_ok());
    }

    #[test]
    fn the_memory_sizes_are_the_templates_unless_overridden() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        let functions = ["create-user".to_owned(), "send-email".to_owned()];
        let shape = Shape::new(&template, &functions, None, true).unwrap();
        assert_eq!(
            (shape.memory_mb("create-user"), shape.memory_mb("send-email")),
            (1024, 128)
        );
        assert!(shape.group("create-user").unwrap().is_none(), "unshaped: no group");
        let said = shape.describe(&["create-user", "send-email"]);
        assert!(
            said.starts_with("Unshaped") && said.contains("create-user 1024 MB"),
            "{said}"
        );
        let shape = Shape::new(&template, &functions, Some(512), true).unwrap();
        assert_eq!(
            (shape.memory_mb("create-user"), shape.memory_mb("send-email")),
            (512, 512)
        );
        assert!(Shape::new(&template, &functions, Some(64), true).is_err());
        if let Ok(shape) = Shape::new(&template, &functions, None, false) {
            let said = shape.describe(&["create-user", "send-email"]);
            assert!(said.contains("create-user at 1024 MB: 0.579 of a CPU"), "{said}");
            assert!(said.contains("send-email at 128 MB: 0.072 of a CPU"), "{said}");
        }
    }

    /// A temporary directory standing in for the cgroup mount, removed when dropped.
    struct FakeRoot(PathBuf);

    impl FakeRoot {
        fn new(what: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("lambda-shape-{what}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            FakeRoot(dir)
        }
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn v1_groups_get_the_quota_the_period_and_the_memory_limit_swap_included() {
        let root = FakeRoot::new("v1");
        let (cpu, memory) = (root.0.join("cpu"), root.0.join("memory/sandbox"));
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::create_dir_all(&memory).unwrap();
        let hierarchy = Hierarchy::V1 {
            cpu,
            memory,
            swap: true,
        };
        let cgroups = Cgroups::new(&hierarchy).unwrap();
        let group = cgroups.group("send-email", 128).unwrap();
        let [cpu, memory] = group.dirs()[..] else {
            panic!("{:?}", group.dirs())
        };
        assert!(cpu.starts_with(root.0.join("cpu")) && memory.starts_with(root.0.join("memory/sandbox")));
        let run = cpu.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert!(
            run.starts_with(&format!("xtask-bench-{}-", std::process::id())),
            "{run}"
        );
        assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "7235");
        assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(&memory.join("memory.limit_in_bytes")), "134217728");
        assert_eq!(read(&memory.join("memory.memsw.limit_in_bytes")), "134217728");
        assert!(cgroups.group("create-user", 64).is_err(), "below Lambda's sizes");
    }

    #[test]
    fn v2_groups_get_cpu_max_and_memory_max_without_swap() {
        let root = FakeRoot::new("v2");
        let dir = root.0.join("user.slice");
        std::fs::create_dir_all(&dir).unwrap();
        let cgroups = Cgroups::new(&Hierarchy::V2 { dir: dir.clone() }).unwrap();
        assert_eq!(read(&dir.join("cgroup.subtree_control")), "+cpu +memory");
        let group = cgroups.group("create-user", 1024).unwrap();
        let [group_dir] = group.dirs()[..] else {
            panic!("{:?}", group.dirs())
        };
        assert_eq!(read(&group_dir.join("cpu.max")), "57885 100000");
        assert_eq!(read(&group_dir.join("memory.max")), (1024u64 << 20).to_string());
        assert_eq!(read(&group_dir.join("memory.swap.max")), "0");
        assert_eq!(group.wrapper()[4], group_dir.join("cgroup.procs").display().to_string());
    }

    #[test]
    fn detection_reads_this_processs_groups() {
        let root = FakeRoot::new("detect");
        let own_v1 = "4:memory:/sandbox/a\n1:cpu,cpuacct:/\n0::/\n";
        for file in ["cpu/cpu.cfs_quota_us", "memory/sandbox/a/memory.limit_in_bytes"] {
            std::fs::create_dir_all(root.0.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.0.join(file), "").unwrap();
        }
        assert_eq!(
            Hierarchy::detect_in(&root.0, own_v1).unwrap(),
            Hierarchy::V1 {
                cpu: root.0.join("cpu/"),
                memory: root.0.join("memory/sandbox/a"),
                swap: false
            }
        );
        let own_v2 = "0::/user.slice/bench\n";
        let dir = root.0.join("user.slice/bench");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.controllers"), "cpuset io pids\n").unwrap();
        let refusal = Hierarchy::detect_in(&root.0, own_v2).unwrap_err().to_string();
        assert!(refusal.contains("does not delegate cpu and memory"), "{refusal}");
        std::fs::write(dir.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        assert_eq!(Hierarchy::detect_in(&root.0, own_v2).unwrap(), Hierarchy::V2 { dir });
        assert!(HOW_TO_RUN_ANYWAY.contains("--unshaped"));
    }

    #[test]
    fn the_wrapper_joins_each_group_then_execs() {
        let procs = [
            PathBuf::from("/cg/cpu/g/cgroup.procs"),
            PathBuf::from("/cg/memory/g/cgroup.procs"),
        ];
        let wrapper = wrapper(&procs);
        assert_eq!(
            wrapper,
            [
                "sh",
                "-c",
                r#"while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@""#,
                "sh",
                "/cg/cpu/g/cgroup.procs",
                "/cg/memory/g/cgroup.procs",
                "--",
            ]
        );
        // Run for real, into plain files: the pid written is the program's own.
        let root = FakeRoot::new("wrapper");
        let procs = [root.0.join("a"), root.0.join("b")];
        let out = Command::new("sh")
            .args(&super::wrapper(&procs)[1..])
            .args(["sh", "-c", "echo $$"])
            .output()
            .unwrap();
        let pid = String::from_utf8(out.stdout).unwrap();
        assert_eq!(read(&procs[0]), pid);
        assert_eq!(read(&procs[1]), pid);
    }

    /// On this machine, as root: a busy loop shaped at 128 MB gets about 7% of a CPU (asserted
    /// only well below a whole one), in a group whose quota is 7235 µs; the groups go after.
    #[test]
    fn a_busy_process_shaped_at_128_mb_gets_a_small_share() {
        let hierarchy = match Hierarchy::detect() {
            Ok(hierarchy) => hierarchy,
            Err(e) => {
                println!("skipped: no writable cgroups here ({e:#})");
                return;
            }
        };
        let cgroups = Cgroups::new(&hierarchy).unwrap();
        let group = cgroups.group("busy-loop", 128).unwrap();
        let wrapper = group.wrapper();
        let mut child = Command::new(&wrapper[0])
            .args(&wrapper[1..])
            .args(["sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let own = read(Path::new(&format!("/proc/{}/cgroup", child.id())));
        let before = crate::bench::curves::process_ticks(&[child.id()]);
        std::thread::sleep(Duration::from_secs(1));
        let ticks = crate::bench::curves::process_ticks(&[child.id()]) - before;
        let _ = child.kill();
        let _ = child.wait();
        let quota = match &hierarchy {
            Hierarchy::V1 { .. } => read(&group.dirs()[0].join("cpu.cfs_quota_us")),
            Hierarchy::V2 { .. } => read(&group.dirs()[0].join("cpu.max")),
        };
        assert!(quota.trim().starts_with("7235"), "{quota}");
        let name = group.dirs()[0].file_name().unwrap().to_str().unwrap().to_owned();
        assert!(own.contains(&name), "the process is not in {name}: {own}");
        // 100 ticks a second: a whole CPU would be ~100.
        println!("busy loop at 128 MB: {ticks} ticks of CPU in one second");
        assert!(ticks < 30, "{ticks} ticks in a second: not shaped");
        let dirs: Vec<PathBuf> = group.dirs().iter().map(|d| d.to_path_buf()).collect();
        drop(group);
        drop(cgroups);
        for dir in dirs {
            assert!(
                !dir.exists() && !dir.parent().unwrap().exists(),
                "{} left behind",
                dir.display()
            );
        }
    }
}
