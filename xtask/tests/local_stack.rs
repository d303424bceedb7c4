//! The local stack, end to end and isolated from the developer's: `up` on its own state dir
//! and free ports, every resource checked against template.yaml itself, an event through
//! topic -> queue -> bridge -> send-email -> SES (and one the filter policy drops), then
//! `down` leaving no process behind, functions included.

use aws_sdk_dynamodb::types::TableDescription;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::{StackEnv, dynamodb_client, queue_arn, sdk_config, ses};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use xtask::layout::Layout;
use xtask::local::process::ServiceRecord;
use xtask::local::services;
use xtask::local::template::{TableSpec, Template};

mod support;
use support::{StackGuard, state_dir, stderr, xtask};

#[tokio::test]
async fn stack_comes_up_as_the_template_says_carries_user_created_and_goes_down_clean() {
    let state = state_dir("stack");
    let _guard = StackGuard(state.clone());
    let up = xtask(&state, &["up"]);
    assert!(up.status.success(), "up failed:\n{}", stderr(&up));
    let again = xtask(&state, &["up"]);
    assert!(
        again.status.success(),
        "a second up must be harmless:\n{}",
        stderr(&again)
    );

    let env = StackEnv::read(&state.join("stack.env")).unwrap();
    let var = |key: &str| env.var(key).unwrap();
    for key in [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "EMAIL_FROM",
        "JWT_SECRET_PARAM",
        "VERIFY_TOKEN_SECRET_PARAM",
        "EMAIL_CONFIGURATION_SET",
        "CREATE_USER_URL",
        "RESEND_URL",
        "VERIFY_URL",
        "API_URL",
    ] {
        assert!(!var(key).is_empty(), "{key} is empty");
    }
    // The HTTP API answers: a path the template does not route is API Gateway's own 404.
    let api = local_stack::http_client().get(var("API_URL")).send().await.unwrap();
    assert_eq!(api.status(), 404);
    assert_eq!(api.text().await.unwrap(), r#"{"message":"Not Found"}"#);
    let endpoints = env.endpoints().unwrap();
    let config = sdk_config(&endpoints).await;
    let template = Template::load(&Layout::workspace_root().join("template.yaml")).unwrap();

    check_table(&dynamodb_client(&config, &endpoints), &var("USERS_TABLE"), &template).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let (queue_url, topic_arn) = (var("EMAIL_QUEUE_URL"), var("USER_EVENTS_TOPIC_ARN"));
    check_queues(&sqs, &queue_url, &var("EMAIL_DLQ_URL"), &topic_arn, &template).await;
    check_subscription(&sns, &topic_arn, &queue_arn(&sqs, &queue_url).await.unwrap(), &template).await;
    check_secret_and_sender(&config, &var("JWT_SECRET_PARAM"), &var("EMAIL_FROM")).await;
    check_secret_and_sender(&config, &var("VERIFY_TOKEN_SECRET_PARAM"), &var("EMAIL_FROM")).await;
    let sets = aws_sdk_ses::Client::new(&config)
        .list_configuration_sets()
        .send()
        .await
        .unwrap();
    assert!(
        sets.configuration_sets()
            .iter()
            .any(|s| s.name() == var("EMAIL_CONFIGURATION_SET")),
        "the template's configuration set, created through SES"
    );
    check_filtered_delivery(&sns, &endpoints.localstack, &topic_arn).await;
    goes_down_clean(&state);
}

/// `down` leaves no process behind, functions included, no port served, no coordinates.
fn goes_down_clean(state: &Path) {
    let records: Vec<ServiceRecord> = services::ALL
        .iter()
        .map(|n| ServiceRecord::load(&state.join("run"), n).expect("a record per service"))
        .collect();
    // Captured while running: the functions run in process groups of their own under
    // cargo lambda, and must go too.
    let families: Vec<_> = records.iter().map(|r| (r.name.clone(), r.family())).collect();
    assert!(
        families.iter().all(|(_, f)| !f.is_empty()),
        "every service runs: {families:?}"
    );
    let down = xtask(state, &["down"]);
    assert!(down.status.success(), "down failed:\n{}", stderr(&down));
    for (name, family) in families {
        let left: Vec<_> = family.iter().filter(|p| p.is_alive()).collect();
        assert!(left.is_empty(), "{name} left processes behind: {left:?}");
    }
    for record in records {
        // Nothing listens there any more. (Not "bindable": this test's own keep-alive
        // connections leave the server's side of them closing for a while, bound to the port.)
        let listening = record.port != 0 && std::net::TcpStream::connect(("127.0.0.1", record.port)).is_ok();
        assert!(!listening, "{}'s port {} still served", record.name, record.port);
    }
    assert!(
        !state.join("stack.env").exists(),
        "down must remove the stale coordinates"
    );
}

async fn check_table(ddb: &aws_sdk_dynamodb::Client, name: &str, template: &Template) {
    let (_, spec) = template.table().unwrap();
    let table = ddb
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
        .collect();
    let want: Vec<(String, String)> = spec
        .key_schema
        .iter()
        .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
        .collect();
    assert_eq!(keys, want, "key schema");
    let attrs: Vec<(String, String)> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
        .collect();
    let want: Vec<(String, String)> = spec
        .attribute_definitions
        .iter()
        .map(|a| (a.attribute_name.clone(), a.attribute_type.clone()))
        .collect();
    assert_eq!(attrs, want, "attribute definitions");
    let billing = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|m| m.as_str().to_owned());
    assert_eq!(billing, spec.billing_mode, "billing mode");
    check_indexes(&table, &spec);
    check_ttl(ddb, name, &spec).await;
}

fn check_indexes(table: &TableDescription, spec: &TableSpec) {
    let mut indexes: Vec<(String, Vec<(String, String)>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let keys = i
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()));
            (i.index_name().unwrap_or_default().to_owned(), keys.collect())
        })
        .collect();
    indexes.sort();
    let mut want: Vec<(String, Vec<(String, String)>)> = spec
        .global_secondary_indexes
        .iter()
        .map(|i| {
            let keys = i
                .key_schema
                .iter()
                .map(|k| (k.attribute_name.clone(), k.key_type.clone()));
            (i.index_name.clone(), keys.collect())
        })
        .collect();
    want.sort();
    assert_eq!(indexes, want, "global secondary indexes");
}

async fn check_ttl(ddb: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) {
    let ttl = ddb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    let want = spec
        .time_to_live_specification
        .as_ref()
        .expect("the template enables TTL");
    assert_eq!(
        ttl.attribute_name(),
        Some(want.attribute_name.as_str()),
        "TTL attribute"
    );
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED"),
        "TTL status"
    );
}

async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> std::collections::HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
}

/// A template property as a string, the way SQS reports attributes.
fn property(template: &Template, id: &str, name: &str) -> String {
    match &template.properties(id).unwrap()[name] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => panic!("{id}.{name} is not a literal: {other:?}"),
    }
}

async fn check_queues(sqs: &aws_sdk_sqs::Client, queue: &str, dlq: &str, topic_arn: &str, template: &Template) {
    let attrs = queue_attributes(sqs, queue).await;
    let dlq_attrs = queue_attributes(sqs, dlq).await;
    assert_eq!(
        attrs[&QueueAttributeName::VisibilityTimeout],
        property(template, "EmailQueue", "VisibilityTimeout")
    );
    assert_eq!(
        attrs[&QueueAttributeName::SqsManagedSseEnabled],
        "true",
        "queue encryption"
    );
    assert_eq!(
        dlq_attrs[&QueueAttributeName::SqsManagedSseEnabled],
        "true",
        "DLQ encryption"
    );
    assert_eq!(
        dlq_attrs[&QueueAttributeName::MessageRetentionPeriod],
        property(template, "EmailDeadLetterQueue", "MessageRetentionPeriod")
    );

    let redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        json!(dlq_attrs[&QueueAttributeName::QueueArn])
    );
    let max_receive = template.parameter_default("EmailMaxReceiveCount").unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string(),
        max_receive,
        "redrive maxReceiveCount"
    );

    // Only the topic may send: one statement, for SNS, SendMessage, conditioned on the topic.
    let policy: Value = serde_json::from_str(&attrs[&QueueAttributeName::Policy]).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "queue policy: {policy}");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Principal"], json!({"Service": "sns.amazonaws.com"}));
    assert_eq!(statement["Action"], "sqs:SendMessage");
    assert_eq!(statement["Resource"], json!(attrs[&QueueAttributeName::QueueArn]));
    assert_eq!(
        statement["Condition"],
        json!({"ArnEquals": {"aws:SourceArn": topic_arn}})
    );
}

async fn check_subscription(sns: &aws_sdk_sns::Client, topic_arn: &str, queue_arn: &str, template: &Template) {
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .unwrap();
    let subs = subs.subscriptions();
    assert_eq!(subs.len(), 1, "one subscription on the topic: {subs:?}");
    assert_eq!(subs[0].endpoint(), Some(queue_arn));
    assert_eq!(subs[0].protocol(), Some("sqs"));
    let attrs = sns
        .get_subscription_attributes()
        .subscription_arn(subs[0].subscription_arn().unwrap())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let props = template.properties("EmailSubscription").unwrap();
    let want: Value = serde_json::to_value(&props["FilterPolicy"]).unwrap();
    let got: Value = serde_json::from_str(&attrs["FilterPolicy"]).unwrap();
    assert_eq!(got, want, "filter policy");
    assert_eq!(
        attrs.get("FilterPolicyScope").map(String::as_str),
        props["FilterPolicyScope"].as_str()
    );
    assert_eq!(
        attrs["RawMessageDelivery"],
        property(template, "EmailSubscription", "RawMessageDelivery")
    );
}

async fn check_secret_and_sender(config: &aws_config::SdkConfig, param: &str, sender: &str) {
    let ssm = aws_sdk_ssm::Client::new(config);
    let p = ssm
        .get_parameter()
        .name(param)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap();
    assert_eq!(p.r#type().map(|t| t.as_str()), Some("SecureString"));
    assert!(
        p.value().unwrap().len() >= 32,
        "a signing secret must hold at least 32 bytes"
    );
    let ses = aws_sdk_ses::Client::new(config);
    let identities = ses.list_identities().send().await.unwrap();
    assert!(
        identities.identities().iter().any(|i| i == sender),
        "{sender} verified in SES"
    );
}

/// Through the running pipeline (the bridge consumes the queue, so the check is where its
/// messages end up): an event with `event_type=user.created` becomes an email; the same kind of
/// event without the attribute, and a `user.verified` (no email), are dropped by the
/// subscription's filter policy.
async fn check_filtered_delivery(sns: &aws_sdk_sns::Client, localstack: &str, topic: &str) {
    let string = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    // Each event has its own event id, so that send-email's deduplication cannot be what stops one.
    let event = |email: &str| user_events::testing::user_created("Filter", email).to_json();
    let (filtered, delivered, verified) = ("filtered@example.com", "delivered@example.com", "verified@example.com");
    // Published first, so they would arrive first if the filter let them through.
    let filtered_event = event(filtered);
    sns.publish()
        .topic_arn(topic)
        .message(filtered_event)
        .send()
        .await
        .unwrap();
    let verified_event = user_events::UserVerified::new(
        time::OffsetDateTime::now_utc(),
        user_events::testing::user("Filter", verified),
    );
    sns.publish()
        .topic_arn(topic)
        .message(verified_event.to_json())
        .message_attributes("event_type", string("user.verified"))
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(topic)
        .message(event(delivered))
        .message_attributes("event_type", string("user.created"))
        .send()
        .await
        .unwrap();

    let outbox = ses::Outbox::at(localstack);
    let emails_to = async |address: &str| outbox.emails_to(address).await.unwrap().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while emails_to(delivered).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the matching event never became an email"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(emails_to(delivered).await, 1);
    assert_eq!(
        emails_to(filtered).await,
        0,
        "the event without event_type must be filtered out"
    );
    assert_eq!(emails_to(verified).await, 0, "user.verified is no email");
}

#[test]
fn a_taken_port_is_refused_with_a_clear_message() {
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let state = state_dir("taken-port");
    let out = xtask(&state, &["up", "--localstack-port", &port]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {port}")) && err.contains("taken"),
        "unclear message:\n{err}"
    );
    assert!(
        ServiceRecord::load(&state.join("run"), services::LOCALSTACK).is_none(),
        "nothing may be started"
    );
}
