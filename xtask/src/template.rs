//! Reads `template.yaml`, the one definition of the infrastructure, and derives what the local
//! emulators can host from it, so that no resource is ever defined twice.
//!
//! LocalStack's free edition cannot run Lambda functions without Docker, has no HTTP APIs at
//! all, and its DynamoDB breaks on Python 3.11. So the LocalStack deployment is the template
//! minus those resources (and whatever refers to them), and the table goes to DynamoDB Local,
//! created from the template's own table properties.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Resource types LocalStack's free edition cannot host: no HTTP APIs at all, and the
/// functions run under cargo lambda (or `samlocal deploy`, with Docker) instead.
const NOT_ON_LOCALSTACK: &[&str] = &[
    "AWS::Serverless::Function",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::Lambda::Function",
    "AWS::ApiGatewayV2::Api",
];

/// Where LocalStack runs decides what it can host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStackMode {
    /// On the host (no Docker): its DynamoDB breaks on Python 3.11, so the table goes to
    /// DynamoDB Local.
    Host,
    /// In its Docker image (`localstack/compose.yaml`), where its DynamoDB works.
    Docker,
}

#[derive(Debug, Clone)]
pub struct Template {
    doc: Value,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_yaml::from_str(text)?;
        if !doc.get("Resources").is_some_and(Value::is_mapping) {
            bail!("no Resources section");
        }
        Ok(Self { doc })
    }

    fn section(&self, name: &str) -> Mapping {
        self.doc
            .get(name)
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default()
    }

    /// Logical ids of the resources of one type.
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<String> {
        self.section("Resources")
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(resource_type))
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
            .collect()
    }

    pub fn properties(&self, logical_id: &str) -> Option<Value> {
        self.doc.get("Resources")?.get(logical_id)?.get("Properties").cloned()
    }

    pub fn parameter_default(&self, name: &str) -> Option<String> {
        match self.doc.get("Parameters")?.get(name)?.get("Default")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The template LocalStack deploys: everything but the resources it cannot host, and
    /// (transitively) whatever refers to them, outputs included.
    pub fn for_localstack(&self, mode: LocalStackMode) -> Result<String> {
        let mut doc = self.doc.clone();
        let map = doc.as_mapping_mut().context("template is not a mapping")?;
        let parameters: BTreeSet<String> = keys(&self.section("Parameters"));

        let mut resources = self.section("Resources");
        let elsewhere =
            |t: &str| NOT_ON_LOCALSTACK.contains(&t) || (mode == LocalStackMode::Host && t == "AWS::DynamoDB::Table");
        let hosted = |t: &str| !elsewhere(t);
        resources.retain(|_, r| r.get("Type").and_then(Value::as_str).is_none_or(hosted));
        loop {
            let known: BTreeSet<String> = keys(&resources).union(&parameters).cloned().collect();
            let before = resources.len();
            resources.retain(|_, r| references(r).iter().all(|name| known.contains(name)));
            if resources.len() == before {
                break;
            }
        }
        let known: BTreeSet<String> = keys(&resources).union(&parameters).cloned().collect();
        let mut outputs = self.section("Outputs");
        outputs.retain(|_, o| references(o).iter().all(|name| known.contains(name)));

        let serverless_left = resources.values().any(|r| {
            r.get("Type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("AWS::Serverless::"))
        });
        if !serverless_left {
            map.shift_remove("Transform");
            map.shift_remove("Globals");
        }
        map.insert("Resources".into(), Value::Mapping(resources));
        map.insert("Outputs".into(), Value::Mapping(outputs));
        Ok(serde_yaml::to_string(&doc)?)
    }

    /// The SQS event source of the function built from `binary` (cargo lambda's name for it):
    /// what the local bridge must imitate.
    pub fn sqs_event_source(&self, binary: &str) -> Result<SqsEventSource> {
        let resources = self.section("Resources");
        let function = resources
            .values()
            .find(|r| binary_of(r) == Some(binary))
            .with_context(|| format!("no function with BuildProperties.Binary = {binary}"))?;
        let events = function
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let source = events
            .values()
            .find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
            .and_then(|e| e.get("Properties"))
            .with_context(|| format!("{binary} has no SQS event"))?;
        let number = |key: &str, default: u64| source.get(key).and_then(Value::as_u64).unwrap_or(default);
        Ok(SqsEventSource {
            batch_size: number("BatchSize", 10) as i32,
            max_concurrency: source
                .get("ScalingConfig")
                .and_then(|c| c.get("MaximumConcurrency"))
                .and_then(Value::as_u64)
                .unwrap_or(1) as u32,
            batching_window_seconds: number("MaximumBatchingWindowInSeconds", 0),
            report_batch_item_failures: source
                .get("FunctionResponseTypes")
                .and_then(Value::as_sequence)
                .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
        })
    }

    /// The `Timeout` of the function built from `binary`: its own, else `Globals.Function`'s,
    /// else Lambda's default of 3 s. A number, or a `!Ref` to a parameter's default.
    pub fn function_timeout(&self, binary: &str) -> Result<Duration> {
        let resources = self.section("Resources");
        let function = resources
            .values()
            .find(|r| binary_of(r) == Some(binary))
            .with_context(|| format!("no function with BuildProperties.Binary = {binary}"))?;
        let global = self.doc.get("Globals").and_then(|g| g.get("Function"));
        let timeout = [function.get("Properties"), global]
            .into_iter()
            .flatten()
            .find_map(|props| props.get("Timeout"));
        let seconds = match timeout {
            None => 3,
            Some(Value::Number(n)) => n
                .as_u64()
                .with_context(|| format!("{binary}: Timeout {n} is not whole seconds"))?,
            Some(Value::Tagged(t)) if t.tag.to_string().trim_start_matches('!') == "Ref" => t
                .value
                .as_str()
                .and_then(|name| self.parameter_default(name))
                .and_then(|d| d.parse().ok())
                .with_context(|| format!("{binary}: Timeout refers to no parameter with a numeric default"))?,
            Some(other) => bail!("{binary}: unsupported Timeout {other:?}"),
        };
        if !(1..=900).contains(&seconds) {
            bail!("{binary}: Timeout {seconds} s is outside Lambda's 1-900 s");
        }
        Ok(Duration::from_secs(seconds))
    }

    /// Every function's logical id and the names of the environment variables it declares
    /// (its own and the Globals'): under `sam local`, the only ones an env-vars file can set.
    pub fn function_variables(&self) -> Vec<(String, Vec<String>)> {
        let names = |v: Option<&Value>| -> Vec<String> {
            v.and_then(|v| v.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
                .map(|vars| vars.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let globals = names(self.doc.get("Globals").and_then(|g| g.get("Function")));
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .map(|id| {
                let mut vars = globals.clone();
                vars.extend(names(self.properties(&id).as_ref()));
                (id, vars)
            })
            .collect()
    }

    /// Binaries (cargo lambda's names) of every function.
    pub fn function_binaries(&self) -> Vec<String> {
        self.section("Resources")
            .values()
            .filter_map(|r| binary_of(r).map(str::to_owned))
            .collect()
    }

    /// Binaries (cargo lambda's names) of the functions that run on a schedule.
    pub fn scheduled_functions(&self) -> Vec<String> {
        self.section("Resources")
            .values()
            .filter(|r| {
                let events = r
                    .get("Properties")
                    .and_then(|p| p.get("Events"))
                    .and_then(Value::as_mapping);
                events.is_some_and(|e| {
                    e.values()
                        .any(|e| e.get("Type").and_then(Value::as_str) == Some("Schedule"))
                })
            })
            .filter_map(|r| binary_of(r).map(str::to_owned))
            .collect()
    }

    /// The one DynamoDB table of the template, as DynamoDB Local must create it.
    pub fn table(&self) -> Result<(String, TableSpec)> {
        let ids = self.resources_of_type("AWS::DynamoDB::Table");
        let [id] = ids.as_slice() else {
            bail!("expected exactly one AWS::DynamoDB::Table, found {ids:?}")
        };
        let props = self.properties(id).with_context(|| format!("{id} has no Properties"))?;
        let spec = serde_yaml::from_value(props)
            .with_context(|| format!("{id}: the local stack needs literal table properties (no intrinsics)"))?;
        Ok((id.clone(), spec))
    }
}

/// An SQS event source mapping's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqsEventSource {
    pub batch_size: i32,
    /// `ScalingConfig.MaximumConcurrency`: concurrent batches (1 when unset, locally).
    pub max_concurrency: u32,
    pub batching_window_seconds: u64,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    #[serde(default)]
    pub billing_mode: Option<String>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLive>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

/// The binary cargo lambda builds for a function resource (its `rust-cargolambda` metadata).
fn binary_of(resource: &Value) -> Option<&str> {
    resource
        .get("Metadata")?
        .get("BuildProperties")?
        .get("Binary")?
        .as_str()
}

fn keys(map: &Mapping) -> BTreeSet<String> {
    map.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect()
}

/// Logical ids and parameters a fragment refers to through Ref, GetAtt, Sub or DependsOn, in
/// short (`!Ref X`) or long (`{Ref: X}`) form. Pseudo parameters (`AWS::...`) are left out.
pub fn references(value: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_references(value, &mut names);
    names.retain(|n| !n.starts_with("AWS::"));
    names
}

fn collect_references(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Tagged(tagged) => {
            intrinsic(tagged.tag.to_string().trim_start_matches('!'), &tagged.value, names);
            collect_references(&tagged.value, names);
        }
        Value::Mapping(map) => {
            for (key, inner) in map {
                match key.as_str() {
                    Some("Ref") => intrinsic("Ref", inner, names),
                    Some("Fn::GetAtt") => intrinsic("GetAtt", inner, names),
                    Some("Fn::Sub") => intrinsic("Sub", inner, names),
                    Some("DependsOn") => intrinsic("DependsOn", inner, names),
                    _ => {}
                }
                collect_references(inner, names);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect_references(v, names)),
        _ => {}
    }
}

fn intrinsic(function: &str, arg: &Value, names: &mut BTreeSet<String>) {
    match (function, arg) {
        ("Ref", Value::String(name)) => {
            names.insert(name.clone());
        }
        ("GetAtt", Value::String(path)) => {
            names.insert(path.split('.').next().unwrap_or(path).to_owned());
        }
        ("GetAtt", Value::Sequence(parts)) => {
            if let Some(Value::String(name)) = parts.first() {
                names.insert(name.clone());
            }
        }
        ("Sub", Value::String(text)) => names.extend(sub_variables(text)),
        ("Sub", Value::Sequence(parts)) => {
            if let (Some(Value::String(text)), Some(Value::Mapping(vars))) = (parts.first(), parts.get(1)) {
                let local = keys(vars);
                names.extend(sub_variables(text).into_iter().filter(|v| !local.contains(v)));
            }
        }
        ("DependsOn", Value::String(name)) => {
            names.insert(name.clone());
        }
        ("DependsOn", Value::Sequence(items)) => {
            names.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)))
        }
        _ => {}
    }
}

/// `${Name}` and `${Name.Attr}` in a Sub string; `${!Literal}` is an escape, not a variable.
fn sub_variables(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(var, _)| var))
        .filter(|var| !var.starts_with('!'))
        .map(|var| var.split('.').next().unwrap_or(var).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals: {Function: {Runtime: provided.al2023}}
Parameters:
  Sender: {Type: String}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queue}
  Sub:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Topic, Endpoint: !GetAtt Queue.Arn}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Environment: {Variables: {T: !Ref Table, S: !Ref Sender}}}
  FnAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {Dimensions: [{Value: !Sub "${Fn}-x"}]}
  LongForm:
    Type: AWS::SNS::Topic
    Properties: {DisplayName: {"Fn::Sub": "${AWS::StackName}-${!Literal}"}}
Outputs:
  TopicArn: {Value: !Ref Topic}
  Api: {Value: !Sub "https://${ServerlessHttpApi}.example"}
  TableName: {Value: {Ref: Table}}
"#;

    #[test]
    fn localstack_variant_drops_what_it_cannot_host_and_its_dependents() {
        let template = Template::parse(TEMPLATE).unwrap();
        let local = Template::parse(&template.for_localstack(LocalStackMode::Host).unwrap()).unwrap();
        let resources = keys(&local.section("Resources"));
        assert_eq!(
            resources,
            ["LongForm", "Queue", "Sub", "Topic"].map(String::from).into()
        );
        assert_eq!(keys(&local.section("Outputs")), ["TopicArn".to_string()].into());
        assert!(local.doc.get("Transform").is_none() && local.doc.get("Globals").is_none());
        // Short-form tags survive the round trip.
        assert_eq!(
            local.properties("Sub").unwrap()["TopicArn"],
            Template::parse(TEMPLATE).unwrap().properties("Sub").unwrap()["TopicArn"]
        );
    }

    #[test]
    fn references_cover_short_long_and_sub_forms() {
        let fragment: Value = serde_yaml::from_str(
            r#"{a: !Ref A, b: !GetAtt B.Arn, c: !Sub "${C}/${D.Arn}/${!E}/${AWS::Region}", d: {"Fn::GetAtt": [F, Arn]},
                e: !Sub ["${G}${H}", {H: !Ref I}], DependsOn: [J]}"#,
        )
        .unwrap();
        assert_eq!(
            references(&fragment),
            ["A", "B", "C", "D", "F", "G", "I", "J"].map(String::from).into()
        );
    }

    #[test]
    fn the_real_templates_email_event_source() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        let source = template.sqs_event_source("send-email").unwrap();
        assert!(
            source.report_batch_item_failures,
            "send-email must report partial batch failures"
        );
        assert!((1..=10).contains(&source.batch_size));
        assert_eq!(template.scheduled_functions(), ["publish-outbox"]);
    }

    #[test]
    fn function_timeouts_come_from_the_function_the_globals_or_lambdas_default() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        assert_eq!(
            template.function_timeout("send-email").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            template.function_timeout("publish-outbox").unwrap(),
            Duration::from_secs(60)
        );
        let of = |yaml: &str| Template::parse(yaml).unwrap().function_timeout("f");
        let function = "Resources: {F: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: f}}";
        assert_eq!(of(&format!("{function}}}}}")).unwrap(), Duration::from_secs(3));
        assert_eq!(
            of(&format!("Globals: {{Function: {{Timeout: 7}}}}\n{function}}}}}")).unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(
            of(&format!(
                "Globals: {{Function: {{Timeout: 7}}}}\n{function}, Properties: {{Timeout: 9}}}}}}"
            ))
            .unwrap(),
            Duration::from_secs(9)
        );
        assert_eq!(
            of(&format!(
                "Parameters: {{T: {{Type: Number, Default: 12}}}}\n{function}, Properties: {{Timeout: !Ref T}}}}}}"
            ))
            .unwrap(),
            Duration::from_secs(12)
        );
        assert!(of(&format!("{function}, Properties: {{Timeout: 901}}}}}}")).is_err());
        assert!(
            Template::parse(TEMPLATE).unwrap().function_timeout("f").is_err(),
            "no such function"
        );
    }

    #[test]
    fn table_spec_comes_from_the_template() {
        let (id, spec) = Template::parse(TEMPLATE).unwrap().table().unwrap();
        assert_eq!(id, "Table");
        assert_eq!(
            spec.key_schema,
            vec![KeySchemaElement {
                attribute_name: "pk".into(),
                key_type: "HASH".into()
            }]
        );
        assert_eq!(spec.time_to_live_specification.unwrap().attribute_name, "expires_at");
    }
}
