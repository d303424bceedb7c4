//! template.yaml's security promises, checked on the template itself: least privilege (no `*`
//! action, a `*` resource only where a condition bounds it, every DynamoDB statement bounded to
//! its function's own items), limits on abuse (throttling, reserved concurrency) and
//! encryption of the table, the topic and the queues; and its alarms: every DLQ, every
//! function, the sign-up endpoint and the outbox watched, each alarm explained and notifying
//! the alarm topic.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use xtask::layout::Layout;
use xtask::local::template::Template;

/// The template in CloudFormation's JSON form: `!Ref X` reads as `{"Ref": "X"}`.
fn template() -> Value {
    Template::load(&Layout::workspace_root().join("template.yaml"))
        .unwrap()
        .json()
        .clone()
}

/// Every `Resource` and `Action` value anywhere in the template, as text.
fn policy_values(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    match v {
                        Value::Array(items) => out.extend(items.iter().map(Value::to_string)),
                        other => out.push(other.to_string()),
                    }
                }
                policy_values(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| policy_values(i, key, out)),
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
    let resources = template["Resources"].as_object().unwrap();
    let mut out = Vec::new();
    for (id, resource) in resources {
        for policy in resource["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                out.push((id.clone(), statement.clone()));
            }
        }
    }
    out
}

fn text(value: &Value) -> String {
    value.to_string()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::Array(items) => items.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
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
                statement["Condition"].as_object().is_some_and(|c| !c.is_empty()),
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
    let expected: [(&str, &[Grant]); 5] = [
        (
            "SignInFunction",
            &[
                ("dynamodb:GetItem", &["EMAIL#*", "USER#*"]),
                ("dynamodb:UpdateItem", &["LIMIT#*", "USER#*"]),
            ],
        ),
        (
            "CreateUserFunction",
            &[
                ("dynamodb:PutItem", &["USER#*", "EMAIL#*", "OUTBOX#*"]),
                ("dynamodb:UpdateItem", &["USER#*", "EMAIL#*", "LIMIT#*"]),
                ("dynamodb:GetItem", &["EMAIL#*"]),
                ("dynamodb:ConditionCheckItem", &["EMAIL#*"]),
                ("dynamodb:DeleteItem", &["OUTBOX#*"]),
            ],
        ),
        (
            "VerifyEmailFunction",
            &[
                ("dynamodb:GetItem", &["USER#*"]),
                ("dynamodb:UpdateItem", &["USER#*", "EMAIL#*", "LIMIT#*"]),
                ("dynamodb:PutItem", &["OUTBOX#*"]),
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
                ("dynamodb:GetItem", &["MAIL_LOG#*"]),
                ("dynamodb:PutItem", &["MAIL_LOG#*"]),
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
                .as_object()
                .and_then(|c| {
                    c.iter()
                        .find_map(|(op, keys)| keys.get("dynamodb:LeadingKeys").map(|k| (op.as_str(), k)))
                })
                .unwrap_or_else(|| panic!("{function}: no dynamodb:LeadingKeys condition: {statement:?}"));
            assert!(
                ["ForAllValues:StringLike", "ForAllValues:StringEquals"].contains(&operator),
                "{function}: LeadingKeys under {operator}"
            );
            let keys: Vec<String> = keys
                .as_array()
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

/// The abuse limits reach the functions from parameters (the local stack's tests raise them
/// the same way), pending sign-ups expire through the table's TTL, and every send names the
/// configuration set that suppresses bouncing and complaining addresses.
#[test]
fn the_abuse_limits_are_parameters_and_ses_suppresses_bad_addresses() {
    let template = template();
    let resources = &template["Resources"];
    let env =
        |function: &str, variable: &str| text(&resources[function]["Properties"]["Environment"]["Variables"][variable]);
    for (function, variable, parameter, default) in [
        ("CreateUserFunction", "SIGNUP_LIMIT_PER_IP", "SignupLimitPerIp", 30),
        (
            "CreateUserFunction",
            "SIGNUP_LIMIT_WINDOW_SECONDS",
            "SignupLimitWindowSeconds",
            300,
        ),
        ("CreateUserFunction", "PENDING_TTL_HOURS", "PendingTtlHours", 24),
        (
            "SendEmailFunction",
            "EMAILS_PER_ADDRESS_PER_HOUR",
            "EmailsPerAddressPerHour",
            3,
        ),
        ("SendEmailFunction", "VERIFY_TOKEN_TTL_HOURS", "VerifyTokenTtlHours", 24),
        ("SignInFunction", "SIGNIN_LIMIT_PER_IP", "SignInLimitPerIp", 30),
        (
            "SignInFunction",
            "SIGNIN_FAILURES_PER_ACCOUNT",
            "SignInFailuresPerAccount",
            10,
        ),
        (
            "SignInFunction",
            "SIGNIN_FAILURE_WINDOW_SECONDS",
            "SignInFailureWindowSeconds",
            900,
        ),
    ] {
        assert!(env(function, variable).contains(parameter), "{function} {variable}");
        assert_eq!(template["Parameters"][parameter]["Default"], default, "{parameter}");
    }
    let ttl = &resources["UsersTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(
        (ttl["AttributeName"].as_str(), ttl["Enabled"].as_bool()),
        (Some("expires_at"), Some(true))
    );
    let set = &resources["EmailConfigurationSet"];
    assert_eq!(set["Type"], "AWS::SES::ConfigurationSet");
    assert_eq!(
        set["Properties"]["SuppressionOptions"]["SuppressedReasons"],
        json!(["BOUNCE", "COMPLAINT"])
    );
    assert!(env("SendEmailFunction", "EMAIL_CONFIGURATION_SET").contains("EmailConfigurationSet"));
    // The two keys are two parameters, and only the functions that use a key may read it.
    let readers = |parameter: &str| -> Vec<String> {
        statements(&template)
            .into_iter()
            .filter(|(_, s)| {
                actions(s).contains(&"ssm:GetParameter".to_owned())
                    && text(&s["Resource"]).contains(&format!("parameter${{{parameter}}}"))
            })
            .map(|(f, _)| f)
            .collect()
    };
    let mut session_readers = readers("JwtSecretParameterName");
    session_readers.sort();
    assert_eq!(session_readers, ["SignInFunction", "VerifyEmailFunction"]);
    let mut link_readers = readers("VerifyTokenSecretParameterName");
    link_readers.sort();
    assert_eq!(link_readers, ["SendEmailFunction", "VerifyEmailFunction"]);
}

#[test]
fn table_topic_and_queues_are_encrypted() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let of_type = |t: &'static str| resources.values().filter(move |r| r["Type"].as_str() == Some(t));
    for table in of_type("AWS::DynamoDB::Table") {
        assert_eq!(table["Properties"]["SSESpecification"]["SSEEnabled"], Value::Bool(true));
    }
    // The one exception: the alarm topic, which CloudWatch could not publish to under the AWS
    // managed key (see the template). It must carry nothing but alarms, then: no function may
    // publish to it.
    let topics: Vec<_> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SNS::Topic"))
        .collect();
    assert_eq!(topics.len(), 2, "user.created and the alarm topic");
    for (id, topic) in topics {
        let key = &topic["Properties"]["KmsMasterKeyId"];
        if id == ALARM_TOPIC {
            assert!(
                key.is_null(),
                "{id}: CloudWatch cannot use alias/aws/sns; a customer managed key needs a key policy for cloudwatch.amazonaws.com: {key}"
            );
        } else {
            assert!(key.as_str().is_some(), "{id} encrypted");
        }
    }
    let publishers: Vec<_> = statements(&template)
        .into_iter()
        .filter(|(_, s)| text(&s["Resource"]).contains(ALARM_TOPIC))
        .collect();
    assert!(
        publishers.is_empty(),
        "only CloudWatch publishes alarms: {publishers:?}"
    );
    let queues: Vec<_> = of_type("AWS::SQS::Queue").collect();
    assert_eq!(queues.len(), 2, "queue and DLQ");
    for queue in queues {
        assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], Value::Bool(true));
    }
}

/// One trace from sign-up to email: every function traced, the topic they publish to traced
/// actively, and SNS allowed to write its segments for that topic only.
#[test]
fn every_function_and_the_event_topic_are_traced() {
    let template = template();
    let resources = template["Resources"].as_object().unwrap();
    let global = &template["Globals"]["Function"]["Tracing"];
    let functions: Vec<_> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect();
    assert_eq!(functions.len(), 5);
    for (id, function) in functions {
        let tracing = function["Properties"].get("Tracing").unwrap_or(global);
        assert_eq!(tracing, "Active", "{id}");
    }
    let topic = &resources["UserEventsTopic"];
    assert_eq!(topic["Properties"]["TracingConfig"], "Active");

    let policies: Vec<_> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::XRay::ResourcePolicy")
        .collect();
    assert_eq!(policies.len(), 1, "one X-Ray resource policy, for the topic");
    let properties = &policies[0]["Properties"];
    assert_eq!(
        properties["PolicyName"],
        json!({"Fn::Sub": "${AWS::StackName}-sns-tracing"})
    );
    // A string (X-Ray's API takes one), with the account and the topic substituted in.
    let document = properties["PolicyDocument"]["Fn::Sub"].as_str().expect("a !Sub string");
    let document: Value = serde_json::from_str(document).expect("the policy is JSON");
    let statements = document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{document}");
    let statement = &statements[0];
    assert_eq!(statement["Principal"], json!({"Service": "sns.amazonaws.com"}));
    assert_eq!(
        statement["Action"],
        json!([
            "xray:PutTraceSegments",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets"
        ])
    );
    // X-Ray's actions take no resource: the condition is what bounds the grant, to this
    // account's one topic.
    assert_eq!(
        statement["Condition"],
        json!({
            "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
            "ArnEquals": {"aws:SourceArn": "${UserEventsTopic}"}
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Alarms. Each check takes the template and says what is missing, so that the last test can
// delete every alarm in turn and see some check notice.

const ALARM_TOPIC: &str = "AlarmTopic";

/// One metric an alarm watches: a plain alarm's, or each `MetricStat` of a metric-math one.
#[derive(Debug)]
struct Watched<'a> {
    alarm: &'a str,
    namespace: &'a Value,
    name: &'a Value,
    /// Dimension name -> value, intrinsics in long form (`{"Ref": "CreateUserFunction"}`).
    dimensions: BTreeMap<String, Value>,
    statistic: &'a Value,
    unit: &'a Value,
    /// The alarm's own properties (threshold, comparison, missing data).
    properties: &'a Value,
}

fn alarms(template: &Value) -> Vec<(&str, &Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, r)| (id.as_str(), &r["Properties"]))
        .collect()
}

fn watched(template: &Value) -> Vec<Watched<'_>> {
    let dimensions = |metric: &Value| -> BTreeMap<String, Value> {
        metric["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["Name"].as_str().unwrap_or_default().to_owned(), d["Value"].clone()))
            .collect()
    };
    let mut out = Vec::new();
    for (alarm, properties) in alarms(template) {
        if properties["MetricName"].is_string() {
            out.push(Watched {
                alarm,
                namespace: &properties["Namespace"],
                name: &properties["MetricName"],
                dimensions: dimensions(properties),
                statistic: &properties["Statistic"],
                unit: &properties["Unit"],
                properties,
            });
        }
        for query in properties["Metrics"].as_array().into_iter().flatten() {
            let stat = &query["MetricStat"];
            if stat.is_object() {
                out.push(Watched {
                    alarm,
                    namespace: &stat["Metric"]["Namespace"],
                    name: &stat["Metric"]["MetricName"],
                    dimensions: dimensions(&stat["Metric"]),
                    statistic: &stat["Stat"],
                    unit: &stat["Unit"],
                    properties,
                });
            }
        }
    }
    out
}

fn find<'a>(
    watched: &'a [Watched<'a>],
    namespace: &str,
    name: &str,
    dimensions: &[(&str, Value)],
) -> Option<&'a Watched<'a>> {
    let want: BTreeMap<String, Value> = dimensions.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    watched
        .iter()
        .find(|w| w.namespace == namespace && w.name == name && w.dimensions == want)
}

fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(message()) }
}

fn logical_id_of_get_att(value: &Value) -> Option<&str> {
    value["Fn::GetAtt"].as_array()?.first()?.as_str()
}

/// Every queue with a redrive policy: an alarm on its DLQ's depth, at any message.
fn check_dlqs(template: &Value) -> Result<(), String> {
    let watched = watched(template);
    let mut dlqs = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let target = &resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
        if resource["Type"] != "AWS::SQS::Queue" || target.is_null() {
            continue;
        }
        let dlq = logical_id_of_get_att(target).ok_or_else(|| format!("{id}: DLQ is not a !GetAtt: {target}"))?;
        dlqs.push(dlq.to_owned());
        let depth = find(
            &watched,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &[("QueueName", json!({"Fn::GetAtt": [dlq, "QueueName"]}))],
        )
        .ok_or_else(|| format!("{id}'s DLQ {dlq} has no ApproximateNumberOfMessagesVisible alarm"))?;
        let p = depth.properties;
        ensure(
            depth.statistic == "Maximum"
                && ((p["ComparisonOperator"] == "GreaterThanThreshold" && p["Threshold"] == 0)
                    || (p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" && p["Threshold"] == 1)),
            || format!("{}: must fire on any message (Maximum > 0): {p}", depth.alarm),
        )?;
    }
    ensure(!dlqs.is_empty(), || "no queue has a DLQ".into())
}

/// Every function: an Errors alarm and a Throttles alarm on its name, quiet without data.
fn check_functions(template: &Value) -> Result<(), String> {
    let watched = watched(template);
    let functions: Vec<&String> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    ensure(functions.len() == 5, || format!("five functions: {functions:?}"))?;
    for function in functions {
        for metric in ["Errors", "Throttles"] {
            let alarm = find(
                &watched,
                "AWS/Lambda",
                metric,
                &[("FunctionName", json!({"Ref": function}))],
            )
            .ok_or_else(|| format!("{function} has no {metric} alarm"))?;
            ensure(
                alarm.statistic == "Sum" && alarm.properties["TreatMissingData"] == "notBreaching",
                || format!("{}: Sum, notBreaching: {}", alarm.alarm, alarm.properties),
            )?;
        }
    }
    Ok(())
}

/// The API's 5xx answers, at the HTTP API; send-email's failed messages and the emails it
/// dropped over their address's cap, from its EMF line.
fn check_sign_ups_and_emails(template: &Value) -> Result<(), String> {
    let watched = watched(template);
    let api = find(
        &watched,
        "AWS/ApiGateway",
        "5xx",
        &[("ApiId", json!({"Ref": "HttpApi"})), ("Stage", json!("$default"))],
    )
    .ok_or("no 5xx alarm on HttpApi's $default stage (an HTTP API's dimensions: ApiId, Stage)")?;
    ensure(api.statistic == "Sum", || format!("{}: Sum", api.alarm))?;
    let failures = find(
        &watched,
        "UserSignup",
        "EmailFailures",
        &[("FunctionName", json!({"Ref": "SendEmailFunction"}))],
    )
    .ok_or("no alarm on UserSignup/EmailFailures{FunctionName=!Ref SendEmailFunction}")?;
    ensure(
        failures.statistic == "Sum" && failures.properties["TreatMissingData"] == "notBreaching",
        || format!("{}: Sum, notBreaching: {}", failures.alarm, failures.properties),
    )?;
    let capped = find(
        &watched,
        "UserSignup",
        "EmailsCapped",
        &[("FunctionName", json!({"Ref": "SendEmailFunction"}))],
    )
    .ok_or("no alarm on UserSignup/EmailsCapped{FunctionName=!Ref SendEmailFunction}")?;
    ensure(
        capped.statistic == "Sum" && capped.properties["Threshold"] == json!({"Ref": "CappedEmailsAlarmThreshold"}),
        || {
            format!(
                "{}: Sum over CappedEmailsAlarmThreshold: {}",
                capped.alarm, capped.properties
            )
        },
    )?;
    let stuffing = find(
        &watched,
        "UserSignup",
        "SignInFailures",
        &[("FunctionName", json!({"Ref": "SignInFunction"}))],
    )
    .ok_or("no alarm on UserSignup/SignInFailures{FunctionName=!Ref SignInFunction}")?;
    ensure(
        stuffing.statistic == "Sum" && stuffing.properties["Period"] == 60,
        || format!("{}: Sum per minute: {}", stuffing.alarm, stuffing.properties),
    )
}

/// The outbox-age alarm, exactly as publish-outbox's EMF line reports it; no data pages.
fn check_outbox(template: &Value) -> Result<(), String> {
    let watched = watched(template);
    let age = find(
        &watched,
        "UserSignup",
        "OldestPendingEventAge",
        &[("FunctionName", json!({"Ref": "PublishOutboxFunction"}))],
    )
    .ok_or("no alarm on UserSignup/OldestPendingEventAge{FunctionName=!Ref PublishOutboxFunction}")?;
    let p = age.properties;
    ensure(age.unit == "Seconds", || format!("{}: Unit Seconds", age.alarm))?;
    ensure(age.statistic == "Maximum", || format!("{}: Maximum", age.alarm))?;
    ensure(
        p["Threshold"] == json!({"Ref": "OutboxMaxAgeSeconds"}) && p["ComparisonOperator"] == "GreaterThanThreshold",
        || format!("{}: Maximum > OutboxMaxAgeSeconds: {p}", age.alarm),
    )?;
    ensure(p["TreatMissingData"] == "breaching", || {
        format!(
            "{}: a run reports every minute, so no data means none runs: breaching",
            age.alarm
        )
    })?;
    ensure(template["Parameters"]["OutboxMaxAgeSeconds"]["Default"] == 300, || {
        "OutboxMaxAgeSeconds defaults to 300".into()
    })?;
    // A set-aside item is an event never published: one is enough to page.
    let aside = find(
        &watched,
        "UserSignup",
        "EventsSetAside",
        &[("FunctionName", json!({"Ref": "PublishOutboxFunction"}))],
    )
    .ok_or("no alarm on UserSignup/EventsSetAside{FunctionName=!Ref PublishOutboxFunction}")?;
    let p = aside.properties;
    ensure(
        aside.statistic == "Sum"
            && p["Threshold"] == 1
            && p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            && p["TreatMissingData"] == "notBreaching",
        || format!("{}: Sum >= 1, missing data not breaching: {p}", aside.alarm),
    )
}

/// Every alarm: says what it means, and notifies the alarm topic when it fires and clears.
fn check_every_alarm(template: &Value) -> Result<(), String> {
    ensure(template["Resources"][ALARM_TOPIC]["Type"] == "AWS::SNS::Topic", || {
        format!("{ALARM_TOPIC} is an SNS topic")
    })?;
    let alarms = alarms(template);
    ensure(!alarms.is_empty(), || "no alarms".into())?;
    let topic = json!({"Ref": ALARM_TOPIC});
    for (id, p) in alarms {
        let description = p["AlarmDescription"].as_str().unwrap_or_default();
        ensure(description.trim().len() >= 80, || {
            format!("{id}: AlarmDescription must say what it means and what to do first: {description:?}")
        })?;
        for actions in ["AlarmActions", "OKActions"] {
            ensure(p[actions].as_array().is_some_and(|a| a.contains(&topic)), || {
                format!("{id}: {actions} must include !Ref {ALARM_TOPIC}: {}", p[actions])
            })?;
        }
    }
    Ok(())
}

/// A check of the template: what is missing, if anything.
type Check = fn(&Value) -> Result<(), String>;

fn pass(check: Check) {
    if let Err(missing) = check(&template()) {
        panic!("{missing}");
    }
}

#[test]
fn every_queue_with_a_dlq_has_an_alarm_on_its_dlq() {
    pass(check_dlqs);
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm() {
    pass(check_functions);
}

#[test]
fn sign_up_5xx_and_failed_emails_are_alarmed() {
    pass(check_sign_ups_and_emails);
}

#[test]
fn the_outbox_age_alarm_matches_publish_outboxs_metric() {
    pass(check_outbox);
}

#[test]
fn every_alarm_explains_itself_and_notifies_the_alarm_topic() {
    pass(check_every_alarm);
}

#[test]
fn the_alarm_email_is_optional() {
    let template = template();
    assert_eq!(template["Parameters"]["AlarmEmail"]["Default"], "");
    let subscriptions: Vec<_> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::SNS::Subscription" && r["Properties"]["TopicArn"] == json!({"Ref": ALARM_TOPIC}))
        .collect();
    assert_eq!(subscriptions.len(), 1, "one email subscription");
    let condition = subscriptions[0]["Condition"]
        .as_str()
        .expect("the subscription has a condition");
    assert_eq!(
        template["Conditions"][condition],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
}

/// The checks above are not vacuous: without any one alarm, or with one that explains nothing
/// or notifies no one, one of them fails.
#[test]
fn every_alarm_is_load_bearing() {
    let checks: [Check; 5] = [
        check_dlqs,
        check_functions,
        check_sign_ups_and_emails,
        check_outbox,
        check_every_alarm,
    ];
    let template = template();
    let ids: Vec<String> = alarms(&template).into_iter().map(|(id, _)| id.to_owned()).collect();
    assert!(ids.len() >= 10, "{ids:?}");
    let fails = |t: &Value| checks.iter().any(|check| check(t).is_err());
    assert!(!fails(&template));
    for id in &ids {
        let mut without = template.clone();
        without["Resources"].as_object_mut().unwrap().remove(id);
        assert!(fails(&without), "no check notices {id} missing");
        for (key, value) in [
            ("AlarmDescription", json!("")),
            ("AlarmActions", json!([])),
            ("OKActions", json!([])),
        ] {
            let mut broken = template.clone();
            broken["Resources"][id]["Properties"][key] = value;
            assert!(check_every_alarm(&broken).is_err(), "{id} without {key} passes");
        }
    }
}

/// Abuse can be traced to a client: the HTTP API writes an access log line per request with
/// the client's address, the route, the status, the latency and the request id, to a log group
/// that expires; and nothing of the request's body or query.
#[test]
fn the_http_api_writes_access_logs() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let group = logical_id_of_get_att(&api["DestinationArn"]).expect("DestinationArn: !GetAtt <log group>.Arn");
    let group = &template["Resources"][group];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
    let format = api["Format"].as_str().expect("a Format");
    let line: Value = serde_json::from_str(format).expect("the format is a JSON line");
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("sourceIp", "$context.identity.sourceIp"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("responseLatency", "$context.responseLatency"),
    ] {
        assert_eq!(line[field], variable, "{field}");
    }
    for secret in ["$context.requestBody", "$input", "querystring"] {
        assert!(!format.contains(secret), "{secret} in the access log");
    }
}

/// The users table survives a stray DeleteTable, not only a stack deletion.
#[test]
fn the_users_table_is_protected_from_deletion() {
    let template = template();
    let table = &template["Resources"]["UsersTable"];
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
}

/// Every function that reads a key parameter may decrypt it with the stack's customer managed
/// KMS key when one is given (`KmsKeyArn`), and only then, only that key, only through SSM;
/// and reads the parameter again every `KeyRefreshSeconds`, so a rotation reaches it.
#[test]
fn key_readers_may_decrypt_with_the_given_kms_key_only_and_refresh_their_keys() {
    let template = template();
    assert_eq!(
        template["Conditions"]["HasKmsKey"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]})
    );
    assert_eq!(template["Parameters"]["KmsKeyArn"]["Default"], "");
    let readers: Vec<String> = statements(&template)
        .into_iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a == "ssm:GetParameter"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(readers.len(), 3, "send-email, verify-email, sign-in: {readers:?}");
    for id in readers {
        let function = &template["Resources"][&id]["Properties"];
        assert_eq!(
            function["Environment"]["Variables"]["KEY_REFRESH_SECONDS"],
            json!({"Ref": "KeyRefreshSeconds"}),
            "{id}"
        );
        let grants: Vec<&Value> = function["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("Fn::If").is_some())
            .collect();
        assert_eq!(grants.len(), 1, "{id}: one conditional policy");
        let branches = grants[0]["Fn::If"].as_array().unwrap();
        assert_eq!(branches[0], "HasKmsKey", "{id}");
        assert_eq!(
            branches[2],
            json!({"Ref": "AWS::NoValue"}),
            "{id}: nothing without a key"
        );
        let statements = branches[1]["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{id}");
        let grant = &statements[0];
        assert_eq!(grant["Action"], "kms:Decrypt", "{id}");
        assert_eq!(grant["Resource"], json!({"Ref": "KmsKeyArn"}), "{id}");
        assert_eq!(
            grant["Condition"]["StringEquals"]["kms:ViaService"],
            json!({"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}),
            "{id}"
        );
    }
}
