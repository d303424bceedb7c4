//! EventBridge's schedules, locally: every function with a Schedule event in the template is
//! invoked with a scheduled event every [`Scheduler::every`], one invocation at a time, each
//! within its own `Timeout`.

use super::invoke;
use serde_json::{Value, json};
use std::time::Duration;

/// A function invoked on a schedule, with its `Timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub function: String,
    pub timeout: Duration,
}

pub struct Scheduler {
    pub http: reqwest::Client,
    pub functions_port: u16,
    pub scheduled: Vec<Scheduled>,
    /// Between runs (AWS: each function's Schedule rate).
    pub every: Duration,
}

impl Scheduler {
    /// Runs the schedules until the process is stopped, logging what did something or failed.
    pub async fn run_forever(&self) {
        let mut tick = tokio::time::interval(self.every);
        // A run that took its whole timeout is not followed by a burst of catch-up runs.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (function, outcome) in self.run_once().await {
                match outcome {
                    Ok(reply) if reply.get("published").and_then(Value::as_u64).unwrap_or(0) > 0 => {
                        eprintln!("bridge: schedule {function}: {reply}")
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("bridge: schedule {function}: {e:#}"),
                }
            }
        }
    }

    /// Invokes each scheduled function once with a scheduled event, each within its own timeout.
    pub async fn run_once(&self) -> Vec<(String, anyhow::Result<Value>)> {
        let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        let mut outcomes = Vec::new();
        for scheduled in &self.scheduled {
            let outcome = invoke(
                &self.http,
                self.functions_port,
                &scheduled.function,
                &event,
                scheduled.timeout,
            )
            .await;
            outcomes.push((scheduled.function.clone(), outcome));
        }
        outcomes
    }
}
