//! Publishes `user.created` to SNS with the message attributes subscriptions filter on, under
//! the sign-up's trace.

use crate::outbox::{EventPublisher, PublishError, StoredEvent};
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use user_events::{attributes, trace};

/// Clones share the client (and its connections).
#[derive(Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

fn attribute(data_type: &str, value: String) -> Result<MessageAttributeValue, PublishError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| PublishError(e.to_string()))
}

impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &StoredEvent) -> Result<(), PublishError> {
        // The event's trace goes in the header SNS reads it from, and on to SQS as the message's
        // AWSTraceHeader. Set here rather than left to the SDK, which sends the *invocation's*
        // trace (`_X_AMZN_TRACE_ID`): for a flush, that is the flush's, not the sign-up's. The
        // SDK leaves a header already set alone.
        let trace = event.trace.as_ref().map(|t| t.as_str().to_owned());
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&event.json)
            .message_attributes(attributes::EVENT_TYPE, attribute("String", event.event_type.clone())?)
            .message_attributes(attributes::VERSION, attribute("Number", event.version.to_string())?)
            .customize()
            .mutate_request(move |request| {
                if let Some(trace) = &trace {
                    request.headers_mut().insert(trace::HTTP_HEADER, trace.clone());
                }
            })
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PublishError(DisplayErrorContext(&e).to_string()))
    }
}
