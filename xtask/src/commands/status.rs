//! `cargo xtask status`: what runs where.

use crate::layout::Layout;
use crate::process::ServiceRecord;
use crate::services;
use anyhow::Result;

pub fn run(layout: &Layout) -> Result<()> {
    for name in services::ALL.iter().rev() {
        match ServiceRecord::load(&layout.run_dir(), name) {
            Some(r) if r.is_running() => {
                println!(
                    "{name:<15} running  pid {:<8} http://127.0.0.1:{:<6} log {}",
                    r.pid,
                    r.port,
                    r.log.display()
                )
            }
            Some(r) => println!("{name:<15} dead     (was pid {}; `cargo xtask up` restarts it)", r.pid),
            None => println!("{name:<15} stopped"),
        }
    }
    let env = layout.stack_env();
    if env.exists() {
        println!("coordinates     {}", env.display());
    }
    Ok(())
}
