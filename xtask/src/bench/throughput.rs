//! send-email throughput: events queued on a fresh queue, drained by the bridge's event source
//! mapping (the template's batch size, batching window and pollers) into instances of the
//! function, Rust or Python, served by the benchmark's runtime API. Both languages get the same
//! queue setup and pollers; [`super::curves`] runs it at each number of pollers.

use super::curves::{Cpu, Meter};
use super::events::user_created;
use super::functions::{Function, INIT_TIMEOUT, Instance, Language, Launcher};
use super::runtime_api::RuntimeApi;
use crate::bridge::event_source::EventSourceMapping;
use crate::local::template::Template;
use crate::random;
use anyhow::{Result, ensure};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use local_stack::{Endpoints, REGION, sdk_config};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long draining may take before the run fails.
const DRAINED_WITHIN: Duration = Duration::from_secs(600);

pub struct Drained {
    pub pollers: usize,
    pub events: usize,
    /// From the first poll to the last message deleted, redeliveries included.
    pub elapsed: Duration,
    /// Messages the function reported as failed (batch item failures) and the queue delivered
    /// again after its visibility timeout. Under overload LocalStack answers SES later than the
    /// function's operation timeout; the run goes on until every message is sent, as the event
    /// source mapping does, and says how many needed a second try.
    pub retried: usize,
    /// Peak RSS of the busiest instance.
    pub peak_rss: u64,
    /// How busy the cores were while it drained.
    pub cpu: Cpu,
}

impl Drained {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

pub async fn drain(
    launcher: &Launcher,
    language: Language,
    endpoints: &Endpoints,
    template: &Template,
    events: usize,
    pollers: usize,
) -> Result<Drained> {
    let api = RuntimeApi::start()?;
    let source = template.sqs_event_source(Function::SendEmail.name())?;
    // One instance per poller, as Lambda runs one batch per execution environment.
    let instances = pollers.max(1);
    // All instances initialised before the clock starts: this measures steady throughput. One
    // at a time, like Lambda scaling out, rather than five inits racing for 2 cores.
    let mut running: Vec<Instance> = Vec::with_capacity(instances);
    for i in 0..instances {
        running.push(launcher.spawn_under(&[], i, language, Function::SendEmail, &api, 4)?);
        api.wait_for_next(i, INIT_TIMEOUT, &mut || {
            running.iter_mut().try_for_each(Instance::alive)
        })
        .await?;
    }

    let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoints).await);
    let tag = format!("drain-{}-{}", language.name().to_lowercase(), random::hex(4)?);
    let queue_url = queue_events(&sqs, &tag, events).await?;
    // The template's timeout and lease, as `cargo xtask bridge` uses them (the Python peer's
    // lease is the same 30 s).
    let (timeout, claim_lease) = crate::bridge::send_email_limits(template)?;
    let mapping = EventSourceMapping {
        http: local_stack::http_client(),
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
        function: Function::SendEmail.name().into(),
        functions_port: api.port(),
        region: REGION.into(),
        source,
        timeout,
        claim_lease,
    };
    let meter = Meter::start(launcher.metered(running.iter().map(Instance::pid).collect()))?;
    let settled = poll_until_settled(Arc::new(mapping), instances, events).await;
    let cpu = meter.stop()?;
    let deleted = sqs.delete_queue().queue_url(&queue_url).send().await;
    let Settled { elapsed, failed } = settled?;
    deleted?;
    let peak_rss = running.iter().map(|i| i.peak_rss().unwrap_or(0)).max().unwrap_or(0);
    Ok(Drained {
        pollers: instances,
        events,
        elapsed,
        retried: failed,
        peak_rss,
        cpu,
    })
}

/// Waits until the stack's own email queue is empty: the sign-ups measured before (warm runs,
/// curves) publish `user.created`, which LocalStack fans out to it and the stack's bridge drains
/// through `cargo lambda watch`'s send-email. Measured while that goes on, a throughput or a
/// cold start is the emulators' leftover work's as much as the function's (on AWS the services
/// do not share the function's cores).
pub async fn wait_until_quiet(endpoints: &Endpoints, queue_url: &str) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoints).await);
    let deadline = Instant::now() + DRAINED_WITHIN;
    loop {
        let left = super::load::queue_depth(&sqs, queue_url).await?;
        if left == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the stack's queue {queue_url} still holds {left} messages after {} minutes",
            DRAINED_WITHIN.as_secs() / 60
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A fresh queue named after `tag` holding `events` `user.created` events; its URL.
async fn queue_events(sqs: &aws_sdk_sqs::Client, tag: &str, events: usize) -> Result<String> {
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
    Ok(queue_url)
}

struct Settled {
    /// From the first poll to the last event settled (pollers still waiting for messages after
    /// it are not counted).
    elapsed: Duration,
    failed: usize,
}

/// `pollers` pollers of `mapping`, like the event source mapping's concurrent batches, until
/// `events` messages have been deleted.
async fn poll_until_settled(mapping: Arc<EventSourceMapping>, pollers: usize, events: usize) -> Result<Settled> {
    let queue_arn = local_stack::queue_arn(&mapping.sqs, &mapping.queue_url).await?;
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let finished = Arc::new(Mutex::new(None::<Instant>));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..pollers {
        let (mapping, queue_arn) = (mapping.clone(), queue_arn.clone());
        let (done, failed, finished) = (done.clone(), failed.clone(), finished.clone());
        tasks.spawn(async move {
            while done.load(Ordering::SeqCst) < events {
                let outcome = mapping.run_once(&queue_arn, Duration::from_secs(1)).await?;
                failed.fetch_add(outcome.failed, Ordering::SeqCst);
                if done.fetch_add(outcome.deleted, Ordering::SeqCst) + outcome.deleted >= events {
                    finished
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(Instant::now);
                }
                ensure!(
                    started.elapsed() < DRAINED_WITHIN,
                    "not drained in {} minutes",
                    DRAINED_WITHIN.as_secs() / 60
                );
            }
            Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let finished = *finished.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Settled {
        elapsed: finished.unwrap_or_else(Instant::now) - started,
        failed: failed.load(Ordering::SeqCst),
    })
}
