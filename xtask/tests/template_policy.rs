//! template.yaml's security promises, checked on the template itself: least privilege (no `*`
//! resource or action in any policy) and encryption of the table, the topic and the queues.

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
fn no_policy_grants_a_wildcard() {
    let template = template();
    for key in ["Resource", "Action"] {
        let mut values = Vec::new();
        policy_values(&template, key, &mut values);
        assert!(!values.is_empty(), "the template has policies");
        let wild: Vec<_> = values.iter().filter(|v| v.contains('*')).collect();
        assert!(wild.is_empty(), "{key} with a wildcard: {wild:?}");
    }
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
