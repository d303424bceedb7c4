//! Where things live. Installs are shared by every stack of a checkout (`<root>/.local/`);
//! a stack's run state (pids, logs, emulator data, `stack.env`) sits in its own state dir, so
//! tests can run a second, isolated stack next to the developer's.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    /// The workspace root (holds `template.yaml`).
    pub root: PathBuf,
    /// Downloaded tools and emulators, git-ignored.
    pub installs: PathBuf,
    /// One stack's run state, git-ignored. Defaults to `<root>/.local`.
    pub state: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf, state: Option<PathBuf>) -> Self {
        let installs = root.join(".local");
        let state = state.unwrap_or_else(|| installs.clone());
        Self { root, installs, state }
    }

    /// The workspace root as seen from xtask's own manifest dir.
    pub fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives one level below the workspace root")
            .to_path_buf()
    }

    pub fn template(&self) -> PathBuf {
        self.root.join("template.yaml")
    }
    pub fn localstack_venv(&self) -> PathBuf {
        self.installs.join("localstack-venv")
    }
    pub fn tools_venv(&self) -> PathBuf {
        self.installs.join("tools-venv")
    }
    pub fn tools_bin(&self) -> PathBuf {
        self.tools_venv().join("bin")
    }
    /// `PATH` with the tools venv first: cargo lambda, zig, sam and aws come from there.
    pub fn path_with_tools(&self) -> String {
        let path = std::env::var("PATH").unwrap_or_default();
        format!("{}:{path}", self.tools_bin().display())
    }
    pub fn dynamodb_local(&self) -> PathBuf {
        self.installs.join("dynamodb-local")
    }
    /// The benchmark's Python peer (comparison only).
    pub fn python_peer(&self) -> PathBuf {
        self.root.join("bench/peers/python")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.state.join("run")
    }
    pub fn logs_dir(&self) -> PathBuf {
        local_stack::state::logs_dir(&self.state)
    }
    /// The log of one of [`crate::local::services`]' services.
    pub fn service_log(&self, service: &str) -> PathBuf {
        local_stack::state::log(&self.state, service)
    }
    pub fn localstack_root(&self) -> PathBuf {
        self.state.join("localstack-root")
    }
    /// `sam local`'s env-vars file (samconfig.toml names it).
    pub fn sam_env(&self) -> PathBuf {
        self.state.join("sam-env.json")
    }

    pub fn stack_env(&self) -> PathBuf {
        self.state.join(local_stack::state::STACK_ENV)
    }
}
