//! A deferred message sent to the queue again, as a copy with a delay (SQS `SendMessage`): its
//! body, its message attributes, its trace header, and how often it has been deferred.

use crate::domain::deliver::PortError;
use crate::handler::{DEFERRALS_ATTRIBUTE, Requeue};
use aws_lambda_events::sqs::SqsMessage;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use std::time::Duration;

pub struct SqsRequeue {
    client: aws_sdk_sqs::Client,
    /// The queue send-email is fed from (`EMAIL_QUEUE_URL`).
    queue_url: String,
}

impl SqsRequeue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

/// The trace header SQS carries as a system attribute (`AWSTraceHeader`).
const TRACE_HEADER: &str = "AWSTraceHeader";

impl Requeue for SqsRequeue {
    async fn later(&self, message: &SqsMessage, deferrals: u32, delay: Duration) -> Result<(), PortError> {
        let value = |data_type: &str, text: String| {
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(text)
                .build()
                .map_err(|e| PortError(e.to_string()))
        };
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.body.clone().unwrap_or_default())
            // SQS takes at most 900 s.
            .delay_seconds(delay.as_secs().min(900) as i32)
            .message_attributes(DEFERRALS_ATTRIBUTE, value("Number", deferrals.to_string())?);
        for (name, attribute) in &message.message_attributes {
            let data_type = attribute.data_type.as_deref().unwrap_or("String");
            if name == DEFERRALS_ATTRIBUTE || data_type.starts_with("Binary") {
                continue;
            }
            if let Some(text) = &attribute.string_value {
                send = send.message_attributes(name, value(data_type, text.clone())?);
            }
        }
        if let Some(trace) = message.attributes.get(TRACE_HEADER) {
            let header = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace)
                .build()
                .map_err(|e| PortError(e.to_string()))?;
            send = send.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, header);
        }
        send.send()
            .await
            .map_err(|e| PortError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// No queue configured (`EMAIL_QUEUE_URL` unset): a message over the send rate cannot be
/// deferred, and fails as any other, for SQS to retry.
impl<R: Requeue> Requeue for Option<R> {
    async fn later(&self, message: &SqsMessage, deferrals: u32, delay: Duration) -> Result<(), PortError> {
        match self {
            Some(requeue) => requeue.later(message, deferrals, delay).await,
            None => Err(PortError("EMAIL_QUEUE_URL is not set: nowhere to defer to".into())),
        }
    }
}
