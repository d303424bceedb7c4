//! The bridge: what Lambda's event sources do on AWS, done locally. Without Docker, LocalStack
//! cannot run Lambda, so nothing would feed the functions; the bridge invokes them through
//! cargo lambda's invoke endpoint, in two parts:
//!
//! - [`event_source`]: the SQS event source mapping that feeds send-email from the email queue;
//! - [`scheduler`]: EventBridge's schedules: every function with a Schedule event in the
//!   template (publish-outbox) is invoked every few seconds.
//!
//! Like Lambda, each invocation gets its function's `Timeout` from template.yaml (send-email
//! 30 s, publish-outbox 60 s): one that has not answered by then is a function error.
//!
//! Deliberate differences from AWS, so that retries, the DLQ and the outbox can be watched
//! locally in a few minutes rather than a quarter of an hour:
//! - a failed message (in `batchItemFailures`) becomes visible again after the claim lease
//!   (send-email's is its Timeout: 31 s with a second's margin) instead of the
//!   queue's visibility timeout (3 minutes);
//! - messages in flight (received by a bridge that dies, or in a batch whose invocation failed
//!   or timed out) come back after [`event_source::in_flight_visibility`] (35 s for
//!   send-email) instead of the queue's visibility timeout;
//! - schedules run every few seconds instead of at their rate, one invocation at a time;
//! - an invocation past its timeout is abandoned, not stopped: cargo lambda watch lets the
//!   function run on, where Lambda would end it. A send still running when its batch comes
//!   back (and its lease has run out) can be doubled; send-email's sends take milliseconds.

pub mod event_source;
pub mod scheduler;

use crate::layout::Layout;
use crate::local::template::Template;
use anyhow::{Context, Result, bail};
use event_source::EventSourceMapping;
use local_stack::{REGION, StackEnv, sdk_config};
use scheduler::{Scheduled, Scheduler};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The function the event source mapping feeds, by its binary name in template.yaml.
pub const FUNCTION: &str = "send-email";

/// send-email's Timeout (template.yaml) and its claim lease. The lease is the Timeout:
/// `LEASE_SECONDS` in functions/send-email/src/adapters/dynamodb_claims.rs is no shorter (a
/// send still running is never taken over) and is the Timeout itself. Failed messages are
/// retried no sooner than the lease, whatever runs the bridge: there is no knob to go below it.
pub fn send_email_limits(template: &Template) -> Result<(Duration, Duration)> {
    let timeout = template.function_timeout(FUNCTION)?;
    Ok((timeout, timeout))
}

/// Both parts for the stack of `layout`, from its `stack.env` and the template; scheduled
/// functions run every `schedule_every`.
pub async fn for_stack(layout: &Layout, schedule_every: Duration) -> Result<(EventSourceMapping, Scheduler)> {
    let env = StackEnv::read(&layout.stack_env())?;
    let template = Template::load(&layout.template())?;
    let (timeout, claim_lease) = send_email_limits(&template)?;
    let http = local_stack::http_client();
    let functions_port = env.port("FUNCTIONS_URL")?;
    let mapping = EventSourceMapping {
        http: http.clone(),
        sqs: aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints()?).await),
        queue_url: env.var("EMAIL_QUEUE_URL")?,
        function: FUNCTION.to_owned(),
        timeout,
        claim_lease,
        functions_port,
        region: REGION.to_owned(),
        source: template.sqs_event_source(FUNCTION)?,
    };
    let scheduled = template
        .scheduled_functions()
        .into_iter()
        .map(|function| {
            let timeout = template.function_timeout(&function)?;
            Ok(Scheduled { function, timeout })
        })
        .collect::<Result<_>>()?;
    let scheduler = Scheduler {
        http,
        functions_port,
        scheduled,
        every: schedule_every,
    };
    Ok((mapping, scheduler))
}

/// Runs both parts until the process is stopped; either ending is an error.
pub async fn run(mapping: EventSourceMapping, scheduler: Scheduler) -> Result<()> {
    tokio::select! {
        result = Arc::new(mapping).run_forever() => result,
        () = scheduler.run_forever() => bail!("the scheduler ended"),
    }
}

/// Invokes `function` through cargo lambda's invoke endpoint; a function error is an error,
/// and so is no answer within `timeout` (the function's Timeout).
async fn invoke(http: &reqwest::Client, port: u16, function: &str, event: &Value, timeout: Duration) -> Result<Value> {
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        local_stack::loopback_url(port)
    );
    // The whole exchange, body included, within the Timeout.
    let answer = async {
        let response = http.post(&url).timeout(timeout).json(event).send().await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    };
    let (status, reply) = match answer.await {
        Ok(answer) => answer,
        Err(e) if e.is_timeout() => bail!(
            "{function}: function error: no answer within its Timeout of {} s",
            timeout.as_secs_f64()
        ),
        Err(e) => return Err(e).with_context(|| format!("invoking {function}")),
    };
    let reply: Value = serde_json::from_str(&reply).with_context(|| format!("HTTP {status}: {reply}"))?;
    if status != 200 || reply.get("errorType").is_some() || reply.get("errorMessage").is_some() {
        bail!("{function}: function error (HTTP {status}): {reply}");
    }
    Ok(reply)
}
