//! The email DLQ's redrive (`cargo xtask redrive`): every message moved back to the email
//! queue, once the cause of the failures is fixed. send-email then emails each event exactly
//! once (its claims dedupe anything already sent).
//!
//! It is SQS's own redrive (`StartMessageMoveTask`, bodies and attributes untouched), so the
//! same call works on AWS: `aws sqs start-message-move-task --source-arn <DLQ arn>`.

use crate::layout::Layout;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::ListMessageMoveTasksResultEntry;
use local_stack::{StackEnv, queue_arn, sdk_config};
use std::time::{Duration, Instant};

pub async fn run(layout: &Layout) -> Result<()> {
    let env = StackEnv::read(&layout.stack_env())?;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints()?).await);
    let moved = redrive(&sqs, &env.var("EMAIL_DLQ_URL")?, &env.var("EMAIL_QUEUE_URL")?).await?;
    eprintln!("moved {moved} message(s) from the DLQ back to the email queue");
    Ok(())
}

/// How long `redrive` waits for a move task to finish. One still running then goes on in SQS;
/// `redrive` ends with an error that says so rather than waiting without end.
const MOVE_WITHIN: Duration = Duration::from_secs(300);

/// Moves the DLQ's messages to `queue` and waits for the move to finish; returns how many moved.
/// A move still running from an interrupted redrive is waited for first (SQS runs one per
/// queue), and what it moved is counted.
pub async fn redrive(sqs: &aws_sdk_sqs::Client, dlq: &str, queue: &str) -> Result<i64> {
    let dlq_arn = queue_arn(sqs, dlq).await?;
    let earlier = move_tasks(sqs, &dlq_arn).await?;
    // Newest first: the one before ours, by SQS's own clock.
    let newest_before = earlier.first().map(|t| t.started_timestamp);
    let mut moved = 0;
    if let Some(running) = earlier.iter().find(|t| unfinished(t)) {
        eprintln!("waiting for the move an earlier redrive started");
        let started = running.started_timestamp;
        let finished = finish(sqs, &dlq_arn, |t| t.started_timestamp == started).await?;
        if finished.status.as_deref() == Some("COMPLETED") {
            moved += finished.approximate_number_of_messages_moved;
        }
    }
    let handle = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(queue_arn(sqs, queue).await?)
        .send()
        .await
        .context("StartMessageMoveTask")?
        .task_handle
        .context("StartMessageMoveTask returned no task handle")?;
    // Only a running task is listed with its handle; once finished, ours is the one that
    // started after every task listed before it.
    let ours = finish(sqs, &dlq_arn, |t| {
        t.task_handle.as_deref() == Some(handle.as_str())
            || newest_before.is_none_or(|before| t.started_timestamp > before)
    })
    .await?;
    match ours.status.as_deref() {
        Some("COMPLETED") => Ok(moved + ours.approximate_number_of_messages_moved),
        other => bail!(
            "the move task ended {}: {} of {} message(s) moved; the rest stay in the DLQ ({})",
            other.unwrap_or("without a status"),
            ours.approximate_number_of_messages_moved,
            ours.approximate_number_of_messages_to_move
                .map_or("?".to_owned(), |n| n.to_string()),
            ours.failure_reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

/// The DLQ's most recent move tasks, newest first.
async fn move_tasks(sqs: &aws_sdk_sqs::Client, dlq_arn: &str) -> Result<Vec<ListMessageMoveTasksResultEntry>> {
    Ok(sqs
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        // The most SQS lists; without it, only the newest.
        .max_results(10)
        .send()
        .await
        .context("ListMessageMoveTasks")?
        .results
        .unwrap_or_default())
}

fn unfinished(task: &ListMessageMoveTasksResultEntry) -> bool {
    matches!(task.status.as_deref(), Some("RUNNING" | "CANCELLING"))
}

/// Waits (up to [`MOVE_WITHIN`]) until the task `is_it` picks has finished, and returns it.
async fn finish(
    sqs: &aws_sdk_sqs::Client,
    dlq_arn: &str,
    is_it: impl Fn(&ListMessageMoveTasksResultEntry) -> bool,
) -> Result<ListMessageMoveTasksResultEntry> {
    let deadline = Instant::now() + MOVE_WITHIN;
    loop {
        let task = move_tasks(sqs, dlq_arn).await?.into_iter().find(&is_it);
        match task {
            Some(task) if !unfinished(&task) => return Ok(task),
            _ if Instant::now() > deadline => bail!(
                "the move task has not finished after {} s; it goes on in SQS, and `cargo xtask redrive` \
                 waits for it",
                MOVE_WITHIN.as_secs()
            ),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}
