//! create-user against the real local stack (`cargo xtask up`): DynamoDB Local for the table,
//! LocalStack's SNS for the topic, and a queue of the test's own subscribed to read what was
//! published. Run through `cargo xtask test`, or `cargo test` after `cargo xtask up`.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use create_user::adapters::{dynamodb::DynamoUserStore, sns::SnsPublisher};
use create_user::domain::signup::SignUp;
use create_user::token::JwtIssuer;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use testkit::stack;

struct Harness {
    signup: SignUp<DynamoUserStore, SnsPublisher>,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    /// A queue of this test's own, subscribed to the topic with raw delivery.
    queue_url: String,
}

async fn harness() -> Harness {
    let vars = stack();
    let sdk: SdkConfig = testkit::sdk_config(&vars).await;
    let ddb = testkit::dynamodb(&sdk, &vars);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = vars["USER_CREATED_TOPIC_ARN"].clone();

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
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let table = vars["USERS_TABLE"].clone();
    let signup = SignUp {
        store: DynamoUserStore::new(ddb.clone(), table.clone()),
        publisher: SnsPublisher::new(sns, topic),
        tokens: JwtIssuer::new(&[9u8; 32], "test".into(), 3600).unwrap(),
        bcrypt_cost: 4,
    };
    Harness {
        signup,
        ddb,
        sqs,
        table,
        queue_url,
    }
}

impl Harness {
    async fn post(&self, body: Value) -> (u16, Value) {
        let event = json!({
            "version": "2.0", "routeKey": "POST /users", "rawPath": "/users", "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/users", "protocol": "HTTP/1.1",
                                        "sourceIp": "127.0.0.1", "userAgent": "test"},
                               "requestId": "test", "stage": "$default", "timeEpoch": 0},
            "body": body.to_string(), "isBase64Encoded": false
        });
        let reply = create_user::handler::handle(&self.signup, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        let status = reply["statusCode"].as_u64().unwrap() as u16;
        (status, serde_json::from_str(reply["body"].as_str().unwrap()).unwrap())
    }

    /// Every message published for `email` that reaches our queue within `wait`.
    async fn events_for(&self, email: &str, wait: Duration) -> Vec<aws_sdk_sqs::types::Message> {
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
                .send()
                .await
                .unwrap();
            for m in out.messages.unwrap_or_default() {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                if body["user"]["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
                {
                    found.push(m);
                }
            }
        }
        found
    }

    async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
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

fn unique_email() -> String {
    format!("Ann.{}@Example.io", uuid::Uuid::new_v4().simple())
}

fn s(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item[key].as_s().unwrap().clone()
}

#[tokio::test]
async fn a_sign_up_stores_user_and_guard_and_publishes_exactly_the_contract() {
    let h = harness().await;
    let email = unique_email();
    let (status, body) = h
        .post(json!({"name": " Ann ", "email": email, "password": "correct horse"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let user = &body["user"];
    assert_eq!(
        (user["name"].as_str(), user["email"].as_str()),
        (Some("Ann"), Some(email.as_str()))
    );
    let id = user["id"].as_str().unwrap();
    assert_eq!(h.signup.tokens.verify(body["token"].as_str().unwrap()).unwrap().sub, id);

    let stored = h.item(&format!("USER#{id}")).await.expect("user item");
    let hash = s(&stored, "password_hash");
    assert!(bcrypt::verify("correct horse", &hash).unwrap());
    let guard = h
        .item(&format!("EMAIL#{}", email.to_lowercase()))
        .await
        .expect("email guard item");
    assert_eq!(s(&guard, "user_id"), id);
    assert!(!body.to_string().contains(&hash) && !body.to_string().contains("correct horse"));

    let events = h.events_for(&email, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 1, "exactly one user.created");
    let raw = events[0].body().unwrap();
    assert!(!raw.contains("correct horse") && !raw.contains(&hash) && !raw.contains("password"));
    let event = user_events::decode_sqs_body(raw).unwrap();
    assert_eq!(serde_json::to_value(&event.user).unwrap(), *user);
    let attrs = events[0].message_attributes().unwrap();
    assert_eq!(attrs["event_type"].string_value(), Some("user.created"));
    assert_eq!(
        (attrs["version"].data_type(), attrs["version"].string_value()),
        ("Number", Some("1"))
    );
}

#[tokio::test]
async fn the_same_email_in_another_case_is_409_and_publishes_nothing_more() {
    let h = harness().await;
    let email = unique_email();
    let (first, _) = h
        .post(json!({"name": "Ann", "email": email, "password": "correct horse"}))
        .await;
    assert_eq!(first, 201);
    let (second, body) = h
        .post(json!({"name": "Ann", "email": email.to_uppercase(), "password": "other horse"}))
        .await;
    assert_eq!((second, body["error"].as_str()), (409, Some("email_taken")));
    assert_eq!(h.events_for(&email, Duration::from_secs(4)).await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_sign_ups_with_one_email_create_exactly_one_user() {
    let h = Arc::new(harness().await);
    let email = unique_email();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let h = h.clone();
            let body = json!({"name": format!("Racer {i}"), "email": email, "password": "correct horse"});
            tokio::spawn(async move { h.post(body).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 49, "{statuses:?}");
    assert_eq!(h.events_for(&email, Duration::from_secs(5)).await.len(), 1);
}
