//! template.yaml's security promises, checked on the template itself: least privilege (no `*`
//! action, a `*` resource only where a condition bounds it, every DynamoDB statement bounded to
//! its function's own items), limits on abuse (throttling, reserved concurrency) and
//! encryption of the table, the topic and the queues.

use serde_yaml::Value;
use xtask::layout::Layout;

fn template() -> Value {
    let text = std::fs::read_to_string(Layout::workspace_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Every `Resource` and `Action` value anywhere in the template, as text.
fn policy_values(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                if k.as_str() == Some(key) {
                    match v {
                        Value::Sequence(items) => out.extend(items.iter().map(|i| format!("{i:?}"))),
                        other => out.push(format!("{other:?}")),
                    }
                }
                policy_values(v, key, out);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| policy_values(i, key, out)),
        Value::Tagged(tagged) => policy_values(&tagged.value, key, out),
        _ => {}
    }
}

#[test]
fn no_policy_grants_a_wildcard_action() {
    let template = template();
    let mut values = Vec::new();
    policy_values(&template, "Action", &mut values);
    assert!(!values.is_empty(), "the template has policies");
    let wild: Vec<_> = values.iter().filter(|v| v.contains('*')).collect();
    assert!(wild.is_empty(), "Action with a wildcard: {wild:?}");
}

/// Every policy statement of every function, with the function's logical id.
fn statements(template: &Value) -> Vec<(String, Value)> {
    let resources = template["Resources"].as_mapping().unwrap();
    let mut out = Vec::new();
    for (id, resource) in resources {
        for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                out.push((id.as_str().unwrap().to_owned(), statement.clone()));
            }
        }
    }
    out
}

fn text(value: &Value) -> String {
    format!("{value:?}")
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::Sequence(items) => items.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        one => vec![one.as_str().unwrap().to_owned()],
    }
}

#[test]
fn a_wildcard_resource_only_where_a_condition_bounds_it() {
    let template = template();
    let statements = statements(&template);
    assert!(statements.len() > 10);
    for (function, statement) in &statements {
        if text(&statement["Resource"]).contains('*') {
            assert!(
                statement["Condition"].as_mapping().is_some_and(|c| !c.is_empty()),
                "{function}: a wildcard resource without a condition: {statement:?}"
            );
        }
    }
}

/// A DynamoDB action and the partition key prefixes it is bounded to.
type Grant = (&'static str, &'static [&'static str]);

/// What each function may do to the table, and to which items (by partition key prefix).
#[test]
fn each_function_touches_only_its_own_items() {
    let expected: [(&str, &[Grant]); 3] = [
        (
            "CreateUserFunction",
            &[
                ("dynamodb:PutItem", &["USER#*", "EMAIL#*", "OUTBOX#*"]),
                ("dynamodb:GetItem", &["EMAIL#*"]),
                ("dynamodb:DeleteItem", &["OUTBOX#*"]),
            ],
        ),
        (
            "PublishOutboxFunction",
            &[
                ("dynamodb:Query", &["pending"]),
                ("dynamodb:UpdateItem", &["OUTBOX#*"]),
                ("dynamodb:DeleteItem", &["OUTBOX#*"]),
            ],
        ),
        (
            "SendEmailFunction",
            &[
                ("dynamodb:PutItem", &["EMAIL_SENT#*"]),
                ("dynamodb:UpdateItem", &["EMAIL_SENT#*"]),
                ("dynamodb:DeleteItem", &["EMAIL_SENT#*"]),
            ],
        ),
    ];
    let template = template();
    let statements = statements(&template);
    for (function, grants) in expected {
        let mut granted: Vec<(String, Vec<String>)> = Vec::new();
        for (_, statement) in statements.iter().filter(|(f, _)| f == function) {
            let item_actions: Vec<String> = actions(statement)
                .into_iter()
                .filter(|a| a.starts_with("dynamodb:") && a != "dynamodb:DescribeTable")
                .collect();
            if item_actions.is_empty() {
                continue;
            }
            // Metadata calls name no item; every item action must name its key prefixes, with
            // an operator that means "every key of the request is one of these" (StringEquals
            // would read `USER#*` literally and deny every write; ForAnyValue would let a
            // request with one matching key through).
            let condition = &statement["Condition"];
            let (operator, keys) = condition
                .as_mapping()
                .and_then(|c| {
                    c.iter()
                        .find_map(|(op, keys)| keys.get("dynamodb:LeadingKeys").map(|k| (op.as_str().unwrap(), k)))
                })
                .unwrap_or_else(|| panic!("{function}: no dynamodb:LeadingKeys condition: {statement:?}"));
            assert!(
                ["ForAllValues:StringLike", "ForAllValues:StringEquals"].contains(&operator),
                "{function}: LeadingKeys under {operator}"
            );
            let keys: Vec<String> = keys
                .as_sequence()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            for action in item_actions {
                granted.push((action, keys.clone()));
            }
        }
        granted.sort();
        let mut want: Vec<(String, Vec<String>)> = grants
            .iter()
            .map(|(a, k)| (a.to_string(), k.iter().map(|k| k.to_string()).collect()))
            .collect();
        want.sort();
        assert_eq!(granted, want, "{function}");
    }
}

#[test]
fn ses_sends_only_from_the_sender_address() {
    let template = template();
    let ses: Vec<_> = statements(&template)
        .into_iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a.starts_with("ses:")))
        .collect();
    assert_eq!(ses.len(), 1, "one SES statement");
    let (function, statement) = &ses[0];
    assert_eq!(function, "SendEmailFunction");
    assert_eq!(actions(statement), ["ses:SendEmail"]);
    let from = &statement["Condition"]["StringEquals"]["ses:FromAddress"];
    assert!(
        text(from).contains("Ref") && text(from).contains("SenderEmail"),
        "ses:FromAddress must be exactly the SenderEmail parameter: {from:?}"
    );
}

#[test]
fn sign_ups_are_throttled_and_concurrency_is_bounded() {
    let template = template();
    let resources = &template["Resources"];
    let api = &resources["HttpApi"];
    assert_eq!(api["Type"].as_str(), Some("AWS::Serverless::HttpApi"));
    let route = &api["Properties"]["DefaultRouteSettings"];
    for (setting, parameter) in [
        ("ThrottlingRateLimit", "ApiThrottlingRateLimit"),
        ("ThrottlingBurstLimit", "ApiThrottlingBurstLimit"),
    ] {
        assert!(
            text(&route[setting]).contains(parameter),
            "{setting}: {:?}",
            route[setting]
        );
        assert!(
            template["Parameters"][parameter]["Default"].as_u64().is_some(),
            "{parameter} default"
        );
    }
    let create_user = &resources["CreateUserFunction"]["Properties"];
    assert!(text(&create_user["ReservedConcurrentExecutions"]).contains("CreateUserReservedConcurrency"));
    assert!(text(&create_user["Events"]["CreateUser"]["Properties"]["ApiId"]).contains("HttpApi"));
    let outbox = &resources["PublishOutboxFunction"]["Properties"];
    assert_eq!(outbox["ReservedConcurrentExecutions"].as_u64(), Some(1));
    assert_eq!(outbox["EventInvokeConfig"]["MaximumRetryAttempts"].as_u64(), Some(0));
    assert_eq!(
        outbox["Events"]["EveryMinute"]["Properties"]["RetryPolicy"]["MaximumRetryAttempts"].as_u64(),
        Some(0)
    );
    let send_email = &resources["SendEmailFunction"]["Properties"];
    assert!(
        text(&send_email["Environment"]["Variables"]["EMAIL_MAX_SENDS_PER_SECOND"]).contains("EmailSendRatePerSecond")
    );
}

#[test]
fn table_topic_and_queues_are_encrypted() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let of_type = |t: &'static str| resources.values().filter(move |r| r["Type"].as_str() == Some(t));
    for table in of_type("AWS::DynamoDB::Table") {
        assert_eq!(table["Properties"]["SSESpecification"]["SSEEnabled"], Value::Bool(true));
    }
    for topic in of_type("AWS::SNS::Topic") {
        assert!(
            topic["Properties"]["KmsMasterKeyId"].as_str().is_some(),
            "topic encrypted"
        );
    }
    let queues: Vec<_> = of_type("AWS::SQS::Queue").collect();
    assert_eq!(queues.len(), 2, "queue and DLQ");
    for queue in queues {
        assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], Value::Bool(true));
    }
}
