//! The harness of the local-stack tests: create-user's real adapters on DynamoDB Local and
//! LocalStack's SNS, and a queue of the test's own subscribed to read what was published.
#![allow(dead_code)] // each test binary uses its own part of it

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use create_user::domain::signup::SignUp;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use testkit::stack;
use user_store::adapters::dynamodb::guard_key;
use user_store::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use uuid::Uuid;

/// The password every test signs up with.
pub const PASSWORD: &str = "correct horse";

pub struct Harness {
    pub signup: SignUp<DynamoUserStore, SnsPublisher>,
    pub ddb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    /// A queue of this test's own, subscribed to the topic with raw delivery.
    pub queue_url: String,
}

pub async fn harness() -> Harness {
    harness_with(Overrides::default()).await
}

/// Publishes somewhere else than the stack's topic (a missing one, to make SNS fail).
pub async fn harness_publishing_to(topic: &str) -> Harness {
    harness_with(Overrides {
        topic: Some(topic.to_owned()),
        ..Default::default()
    })
    .await
}

/// What a test points elsewhere to inject a fault.
#[derive(Default)]
pub struct Overrides {
    /// Another DynamoDB endpoint for the store (a closed port, a listener that hangs).
    pub dynamodb: Option<String>,
    /// Another SNS endpoint for the publisher.
    pub sns: Option<String>,
    /// Another topic for the publisher.
    pub topic: Option<String>,
}

pub async fn harness_with(overrides: Overrides) -> Harness {
    let vars = stack();
    let sdk: SdkConfig = testkit::sdk_config(&vars).await;
    let ddb = testkit::dynamodb(&sdk, &vars);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = vars["USER_EVENTS_TOPIC_ARN"].clone();
    let queue_url = subscribed_queue(&sqs, &sns, &topic).await;

    let table = vars["USERS_TABLE"].clone();
    let store_client = match &overrides.dynamodb {
        Some(endpoint) => aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(endpoint)
                .build(),
        ),
        None => ddb.clone(),
    };
    let publisher_client = match &overrides.sns {
        Some(endpoint) => {
            aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(endpoint).build())
        }
        None => sns,
    };
    let signup = create_user::testing::signup(
        DynamoUserStore::new(store_client, table.clone()),
        SnsPublisher::new(publisher_client, overrides.topic.unwrap_or(topic)),
    );
    Harness {
        signup,
        ddb,
        sqs,
        table,
        queue_url,
    }
}

/// A new queue of the test's own, subscribed to `topic` with raw delivery.
async fn subscribed_queue(sqs: &aws_sdk_sqs::Client, sns: &aws_sdk_sns::Client, topic: &str) -> String {
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("create-user-test-{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    queue_url
}

impl Harness {
    /// `POST /users` with `body`, through the handler: the status and the JSON answer.
    pub async fn post(&self, body: Value) -> (u16, Value) {
        self.post_in(body, Context::default()).await
    }

    /// [`Harness::post`] in the invocation `context` (its trace header, say).
    pub async fn post_in(&self, body: Value, context: Context) -> (u16, Value) {
        let reply = self
            .invoke_in(create_user::testing::sign_up(&body.to_string()), context)
            .await;
        let status = reply["statusCode"].as_u64().unwrap() as u16;
        (status, serde_json::from_str(reply["body"].as_str().unwrap()).unwrap())
    }

    /// Invokes the handler with `event`, and runs what it does after its answer (the
    /// publish, a resend): the answer, as API Gateway gets it.
    pub async fn invoke(&self, event: Value) -> Value {
        self.invoke_in(event, Context::default()).await
    }

    /// As Lambda runs it: within the invocation's deadline, if `context` has one
    /// (`lambda_support::start::within_deadline`, as `main` serves it).
    pub async fn invoke_in(&self, event: Value, context: Context) -> Value {
        let handle = |event| create_user::handler::handle(&self.signup, event);
        let (reply, rest) = lambda_support::start::within_deadline(LambdaEvent::new(event, context), handle).await;
        if let Some(rest) = rest {
            rest.await;
        }
        reply
    }

    /// Signs `name` up with `email` and [`PASSWORD`], which must be accepted: the id of the
    /// user the address's guard names then (the answer names none).
    pub async fn sign_up(&self, name: &str, email: &str) -> Uuid {
        self.sign_up_in(name, email, Context::default()).await
    }

    /// [`Harness::sign_up`] in the invocation `context`.
    pub async fn sign_up_in(&self, name: &str, email: &str, context: Context) -> Uuid {
        let (status, body) = self
            .post_in(json!({"name": name, "email": email, "password": PASSWORD}), context)
            .await;
        assert_eq!(status, 202, "{body}");
        self.user_of(email).await.expect("a guard for the address")
    }

    /// The user the guard of `email` names, as stored (pending or verified, live or not).
    pub async fn user_of(&self, email: &str) -> Option<Uuid> {
        let guard = self.item(&guard_key(&email.to_lowercase())).await?;
        Some(s(&guard, "user_id").parse().unwrap())
    }

    /// Every message published for `email` that reaches our queue within `wait`.
    pub async fn events_for(&self, email: &str, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
        let mut found = self.all_events(wait).await;
        found.retain(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            body["user"]["email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        found
    }

    /// Every message that reaches our queue within `wait` (each received once: they stay
    /// invisible to later reads).
    pub async fn all_events(&self, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut found = Vec::new();
        while tokio::time::Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader)
                .send()
                .await
                .unwrap();
            found.extend(out.messages.unwrap_or_default());
        }
        found
    }

    pub async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        let key = AttributeValue::S(pk.to_owned());
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", key)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }
}

pub fn unique_email() -> String {
    format!("Ann.{}@Example.io", uuid::Uuid::new_v4().simple())
}

pub fn s(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item[key].as_s().unwrap().clone()
}
