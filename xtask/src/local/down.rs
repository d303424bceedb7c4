//! Bringing the local stack down (`cargo xtask down`, and whatever brought up a stack of its
//! own): stop exactly the processes `up` started, by pid, and free their ports.

use crate::layout::Layout;
use crate::local::process::{self, ServiceRecord};
use crate::local::services;
use anyhow::{Result, bail};
use std::time::Duration;

pub async fn run(layout: &Layout) -> Result<()> {
    let run_dir = layout.run_dir();
    let mut problems = Vec::new();
    let mut stopped = 0;
    for name in services::ALL {
        let Some(record) = ServiceRecord::load(&run_dir, name) else {
            continue;
        };
        // Stopping waits for the processes to go: off the runtime's threads.
        let stopping = record.clone();
        match tokio::task::spawn_blocking(move || process::stop(&stopping, Duration::from_secs(15))).await? {
            Ok(()) => {
                match record.url() {
                    Some(url) => eprintln!("stopped {name} (pid {}, {url})", record.pid),
                    None => eprintln!("stopped {name} (pid {})", record.pid),
                }
                ServiceRecord::forget(&run_dir, name);
                stopped += 1;
            }
            Err(err) => problems.push(format!("{err:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    // The coordinates point at nothing now.
    let _ = std::fs::remove_file(layout.stack_env());
    if stopped == 0 {
        eprintln!("nothing to stop");
    }
    Ok(())
}
