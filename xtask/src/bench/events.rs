//! The benchmark's inputs, each one new: a sign-up for create-user as an HTTP API sends it,
//! and for send-email a batch of `user.created` events (the template's batch size) as the SQS
//! event source mapping sends it. The events come from the contract crate's builders, so they
//! are what create-user publishes, not a copy of its shape; the HTTP API event from
//! lambda-support's, the one create-user's tests use.

use super::functions::Function;
use crate::bridge::event_source::sqs_event;
use lambda_support::testing::HttpApiRequest;
use local_stack::REGION;
use serde_json::{Value, json};
use uuid::Uuid;

/// The queue the SQS records say they come from (the function only reports it back).
const QUEUE: &str = "bench";

/// Unique inputs: each sign-up has an address of its own, and so has each event of a batch.
pub struct Events {
    tag: String,
    count: usize,
    /// Messages per send-email invocation: the template's `BatchSize`.
    batch_size: usize,
}

impl Events {
    /// `tag` makes this run's addresses its own (`{tag}.{n}@example.com`).
    pub fn new(tag: String, batch_size: usize) -> Self {
        Self {
            tag,
            count: 0,
            batch_size,
        }
    }

    pub fn next(&mut self, function: Function) -> String {
        self.count += 1;
        let (tag, count) = (&self.tag, self.count);
        match function {
            Function::CreateUser => sign_up_request(&format!("{tag}.{count}@example.com")).to_string(),
            Function::SendEmail => {
                let messages: Vec<_> = (0..self.batch_size)
                    .map(|i| message(&format!("{tag}.{count}.{i}@example.com")))
                    .collect();
                let queue_arn = format!("arn:aws:sqs:{REGION}:000000000000:{QUEUE}");
                sqs_event(&messages, &queue_arn, REGION).to_string()
            }
        }
    }
}

/// What a client posts to create-user to sign up.
pub fn sign_up(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email, "password": "correct horse battery"})
}

/// A sign-up as the template's HTTP API route (payload 2.0) hands it to create-user.
pub fn sign_up_request(email: &str) -> Value {
    HttpApiRequest {
        path: "/users",
        route_key: "POST /users",
        body: Some(sign_up("Bench User", email).to_string()),
        ..Default::default()
    }
    .event()
}

/// An SQS message carrying a `user.created` event (raw delivery).
fn message(email: &str) -> aws_sdk_sqs::types::Message {
    aws_sdk_sqs::types::Message::builder()
        .message_id(Uuid::new_v4().to_string())
        .receipt_handle(Uuid::new_v4().to_string())
        .body(user_created(email))
        .build()
}

/// A `user.created` event of a new user with this address, as create-user publishes it.
pub fn user_created(email: &str) -> String {
    user_events::testing::user_created("Bench User", email).to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_unique_and_well_formed() {
        let mut events = Events::new("t".into(), 7);
        let a: Value = serde_json::from_str(&events.next(Function::CreateUser)).unwrap();
        let b: Value = serde_json::from_str(&events.next(Function::CreateUser)).unwrap();
        assert_ne!(a["body"], b["body"]);
        let batch: Value = serde_json::from_str(&events.next(Function::SendEmail)).unwrap();
        let records = batch["Records"].as_array().unwrap();
        assert_eq!(records.len(), 7, "the batch size asked for");
        let decoded: Vec<_> = records
            .iter()
            .map(|r| user_events::decode_sqs_body(r["body"].as_str().unwrap()).unwrap())
            .collect();
        assert!(
            decoded
                .iter()
                .all(|e| matches!(e, user_events::UserEvent::Created(c) if c.user.email.starts_with("t.3.")))
        );
        let ids: std::collections::HashSet<_> = records.iter().map(|r| &r["messageId"]).collect();
        assert_eq!(ids.len(), records.len(), "message ids are unique");
    }
}
