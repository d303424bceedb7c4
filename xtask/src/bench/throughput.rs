//! send-email throughput: events queued on a fresh queue, drained by the bridge (the template's
//! batch size, batching window and pollers) into instances of the function, Rust or Python,
//! served by the benchmark's runtime API. Both runtimes get the same queue setup and pollers.

use super::functions::{Function, Instance, Launcher, Runtime, user_created};
use crate::bridge::Bridge;
use crate::layout::Layout;
use crate::provision::{Endpoints, random_hex, sdk_config};
use crate::runtime_api::RuntimeApi;
use crate::template::{SqsEventSource, Template};
use anyhow::{Result, ensure};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Drained {
    pub events: usize,
    pub elapsed: Duration,
    /// Peak RSS of the busiest instance.
    pub peak_rss: u64,
}

impl Drained {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

pub fn drain(
    launcher: &Launcher,
    runtime: Runtime,
    endpoints: &Endpoints,
    source: &SqsEventSource,
    events: usize,
) -> Result<Drained> {
    let api = RuntimeApi::start()?;
    let instances = source.max_concurrency.max(1) as usize;
    // All instances initialised before the clock starts: this measures steady throughput. One
    // at a time, like Lambda scaling out, rather than five inits racing for 2 cores.
    let mut running: Vec<Instance> = Vec::with_capacity(instances);
    for i in 0..instances {
        running.push(launcher.spawn(runtime, Function::SendEmail, &api, 4)?);
        api.wait_for_next(i, Duration::from_secs(60), &mut || {
            running.iter_mut().try_for_each(Instance::alive)
        })?;
    }

    // The template's timeout and lease, as `cargo xtask bridge` uses them (the Python peer's
    // lease is the same 30 s).
    let template = Template::load(&Layout::workspace_root().join("template.yaml"))?;
    let (timeout, claim_lease) = crate::commands::bridge::send_email_limits(&template)?;
    let tokio = tokio::runtime::Runtime::new()?;
    let elapsed = tokio.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoints).await);
        let tag = format!("drain-{}-{}", runtime.name().to_lowercase(), random_hex(4)?);
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("bench-{tag}"))
            .attributes(QueueAttributeName::VisibilityTimeout, "35")
            .send()
            .await?
            .queue_url
            .unwrap_or_default();
        for chunk in (0..events).collect::<Vec<_>>().chunks(10) {
            let mut batch = sqs.send_message_batch().queue_url(&queue_url);
            for &i in chunk {
                batch = batch.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(user_created(&format!("{tag}.{i}@example.com")))
                        .build()?,
                );
            }
            batch.send().await?;
        }
        let bridge = Arc::new(Bridge {
            sqs: sqs.clone(),
            queue_url: queue_url.clone(),
            function: Function::SendEmail.name().into(),
            functions_port: api.port(),
            region: crate::provision::REGION.into(),
            source: *source,
            timeout,
            claim_lease,
            scheduled: Vec::new(),
            schedule_every: Duration::from_secs(3600),
        });
        let queue_arn = bridge.queue_arn().await?;
        let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // When the last event was settled (pollers still waiting for messages are not counted).
        let finished = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let started = Instant::now();
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..instances {
            let (bridge, queue_arn) = (bridge.clone(), queue_arn.clone());
            let (done, failed, finished) = (done.clone(), failed.clone(), finished.clone());
            pollers.spawn(async move {
                while done.load(Ordering::SeqCst) < events {
                    let outcome = bridge.run_once(&queue_arn, Duration::from_secs(1)).await?;
                    failed.fetch_add(outcome.failed, Ordering::SeqCst);
                    if done.fetch_add(outcome.deleted, Ordering::SeqCst) + outcome.deleted >= events {
                        finished
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert_with(Instant::now);
                    }
                    anyhow::ensure!(
                        started.elapsed() < Duration::from_secs(600),
                        "not drained in 10 minutes"
                    );
                }
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(result) = pollers.join_next().await {
            result??;
        }
        let finished = *finished.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = finished.unwrap_or_else(Instant::now) - started;
        sqs.delete_queue().queue_url(&queue_url).send().await?;
        let failed = failed.load(Ordering::SeqCst);
        ensure!(
            failed == 0,
            "{} send-email: {failed} messages failed while draining",
            runtime.name()
        );
        Ok::<_, anyhow::Error>(elapsed)
    })?;
    let peak_rss = running.iter().map(|i| i.peak_rss().unwrap_or(0)).max().unwrap_or(0);
    Ok(Drained {
        events,
        elapsed,
        peak_rss,
    })
}
