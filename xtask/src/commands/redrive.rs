//! `cargo xtask redrive`: moves every message from the email DLQ back to the email queue,
//! bodies and message attributes untouched, once the cause of the failures is fixed. send-email
//! then emails each event exactly once (its claims dedupe anything already sent).
//! On AWS, SQS's own redrive does the same: `aws sqs start-message-move-task --source-arn <DLQ arn>`.

use crate::env_file::StackEnv;
use crate::layout::Layout;
use crate::provision::sdk_config;
use anyhow::{Result, bail};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

pub fn run(layout: &Layout) -> Result<()> {
    let env = StackEnv::load(layout)?;
    let (dlq, queue) = (env.var("EMAIL_DLQ_URL")?, env.var("EMAIL_QUEUE_URL")?);
    let moved = tokio::runtime::Runtime::new()?.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(&env.endpoints()?).await);
        redrive(&sqs, &dlq, &queue).await
    })?;
    eprintln!("moved {moved} message(s) from the DLQ back to the email queue");
    Ok(())
}

pub async fn redrive(sqs: &aws_sdk_sqs::Client, dlq: &str, queue: &str) -> Result<usize> {
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        let mut batch = sqs.send_message_batch().queue_url(queue);
        for (i, m) in messages.iter().enumerate() {
            batch = batch.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body.clone().unwrap_or_default())
                    .set_message_attributes(m.message_attributes.clone())
                    .build()?,
            );
        }
        let sent = batch.send().await?;
        if !sent.failed.is_empty() {
            bail!(
                "could not send {} message(s) back; they stay in the DLQ: {:?}",
                sent.failed.len(),
                sent.failed
            );
        }
        // Only what was sent back leaves the DLQ.
        for m in &messages {
            if let Some(handle) = &m.receipt_handle {
                sqs.delete_message()
                    .queue_url(dlq)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
        moved += messages.len();
    }
}
