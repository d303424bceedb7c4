//! The bridge: what Lambda's event sources do on AWS, done locally. Without Docker, LocalStack
//! cannot run Lambda (nor, in its free edition, host an HTTP API), so nothing would feed the
//! functions; the bridge invokes them through cargo lambda's invoke endpoint, in three parts:
//!
//! - [`event_source`]: the SQS event source mapping that feeds send-email from the email queue;
//! - [`scheduler`]: EventBridge's schedules: every function with a Schedule event in the
//!   template (publish-outbox) is invoked every few seconds;
//! - [`http_api`]: API Gateway's HTTP API: every route of the template's under one base URL
//!   (`API_URL`), each request invoking its function with the event API Gateway sends.
//!
//! Like Lambda, each invocation gets its function's `Timeout` from template.yaml (send-email
//! 30 s, publish-outbox 60 s, the API's functions 10 s): one that has not answered by then is a
//! function error (through the HTTP API, API Gateway's 500).
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
pub mod http_api;
pub mod scheduler;

use crate::layout::Layout;
use crate::local::template::Template;
use anyhow::{Context, Result, bail};
use event_source::EventSourceMapping;
use http_api::HttpApi;
use local_stack::{REGION, StackEnv, queue_arn, sdk_config};
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

/// The bridge's three parts.
pub struct Bridge {
    pub mapping: EventSourceMapping,
    pub scheduler: Scheduler,
    pub api: HttpApi,
}

/// The three parts for the stack of `layout`, from its `stack.env` and the template; scheduled
/// functions run every `schedule_every`. Fails if the email queue does not answer: `up` takes
/// a bridge whose HTTP API answers for one that started well, so the API is served only after.
pub async fn for_stack(layout: &Layout, schedule_every: Duration) -> Result<Bridge> {
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
    queue_arn(&mapping.sqs, &mapping.queue_url)
        .await
        .context("the email queue does not answer")?;
    let api = HttpApi::for_template(&template, http.clone(), functions_port)?;
    let scheduler = Scheduler {
        http,
        functions_port,
        scheduled,
        every: schedule_every,
    };
    Ok(Bridge {
        mapping,
        scheduler,
        api,
    })
}

/// Runs the three parts, the HTTP API on `api_listener`, until the process is stopped; any
/// ending is an error.
pub async fn run(bridge: Bridge, api_listener: tokio::net::TcpListener) -> Result<()> {
    tokio::select! {
        result = Arc::new(bridge.mapping).run_forever() => result,
        () = bridge.scheduler.run_forever() => bail!("the scheduler ended"),
        result = Arc::new(bridge.api).serve(api_listener) => result,
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
