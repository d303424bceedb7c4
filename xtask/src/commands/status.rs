//! `cargo xtask status`: what runs where.

use crate::layout::Layout;
use crate::local::process::ServiceRecord;
use crate::local::services;
use crate::ui;
use anyhow::Result;
use local_stack::StackEnv;

pub async fn run(layout: &Layout) -> Result<()> {
    let mut rows: Vec<Vec<String>> = services::ALL
        .iter()
        .rev()
        .map(|name| row(name, ServiceRecord::load(&layout.run_dir(), name)))
        .collect();
    let env = layout.stack_env();
    if env.exists() {
        // The HTTP API is the bridge's; its base URL, as the clients know it.
        if let Some(api) = StackEnv::read(&env)
            .ok()
            .and_then(|e| e.get("API_URL").map(str::to_owned))
        {
            rows.push(vec!["API_URL".into(), api]);
        }
        rows.push(vec!["coordinates".into(), env.display().to_string()]);
    }
    print!("{}", ui::table(&rows));
    Ok(())
}

fn row(name: &str, record: Option<ServiceRecord>) -> Vec<String> {
    let cells: Vec<String> = match record {
        Some(r) if r.is_running() => vec![
            "running".into(),
            format!("pid {}", r.pid),
            r.url().unwrap_or_else(|| "-".into()),
            format!("log {}", r.log.display()),
        ],
        Some(r) => vec![
            "dead".into(),
            format!("(was pid {}; `cargo xtask up` restarts it)", r.pid),
        ],
        None => vec!["stopped".into()],
    };
    std::iter::once(name.to_owned()).chain(cells).collect()
}
