//! Reads `template.yaml`, the one definition of the infrastructure, and derives what the local
//! emulators can host from it, so that no resource is ever defined twice.
//!
//! LocalStack's free edition cannot run Lambda functions without Docker, has no HTTP APIs at
//! all, and its DynamoDB breaks on Python 3.11. So the LocalStack deployment is the template
//! minus those resources (and whatever refers to them), and the table goes to DynamoDB Local,
//! created from the template's own table properties.
//!
//! The template is read twice over: as YAML (saphyr's tree, which keeps short-form tags such as
//! `!Ref X`, so the LocalStack variant is written back as it was written), and as CloudFormation's
//! JSON form, where every intrinsic is in long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ...}`): one
//! shape to query, whichever form the template's author chose (`json_form`).
//!
//! What LocalStack deploys of it is [`localstack`]'s.

mod json_form;
pub mod localstack;

pub use json_form::references;
pub use localstack::LocalStackMode;

use anyhow::{Context, Result, bail};
use json_form::to_json;
use saphyr::{LoadableYamlNode, YamlOwned};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Template {
    /// As written, tags and all: what [`Template::for_localstack`] filters and writes back.
    yaml: YamlOwned,
    /// The same document in JSON form (see the module doc): what every query reads.
    doc: Value,
}

/// A YAML document (the template, the OpenAPI document) in JSON form, a CloudFormation tag in
/// its long form.
pub fn yaml_to_json(text: &str) -> Result<Value> {
    let yaml = YamlOwned::load_from_str(text)?
        .into_iter()
        .next()
        .context("an empty document")?;
    to_json(&yaml)
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let yaml = YamlOwned::load_from_str(text)?
            .into_iter()
            .next()
            .context("an empty document")?;
        let doc = to_json(&yaml)?;
        if !doc.get("Resources").is_some_and(Value::is_object) {
            bail!("no Resources section");
        }
        Ok(Self { yaml, doc })
    }

    fn section(&self, name: &str) -> Map<String, Value> {
        self.doc
            .get(name)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// The whole template in JSON form, intrinsics in long form. Its mappings are ordered by
    /// key (serde_json's map), not as written: the lists below come in logical-id order.
    pub fn json(&self) -> &Value {
        &self.doc
    }

    /// Logical ids of the resources of one type.
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<String> {
        self.section("Resources")
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(resource_type))
            .map(|(id, _)| id.clone())
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
            .and_then(Value::as_object)
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
                .and_then(Value::as_array)
                .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
        })
    }

    /// The `Timeout` of the function built from `binary`: its own, else `Globals.Function`'s,
    /// else Lambda's default of 3 s. A number, or a `!Ref` to a parameter's default.
    pub fn function_timeout(&self, binary: &str) -> Result<Duration> {
        let seconds = self.function_number(binary, "Timeout")?.unwrap_or(3);
        if !(1..=900).contains(&seconds) {
            bail!("{binary}: Timeout {seconds} s is outside Lambda's 1-900 s");
        }
        Ok(Duration::from_secs(seconds))
    }

    /// The `MemorySize` of the function built from `binary`, in MB: its own, else
    /// `Globals.Function`'s, else Lambda's default of 128 MB.
    pub fn function_memory_mb(&self, binary: &str) -> Result<u64> {
        let mb = self.function_number(binary, "MemorySize")?.unwrap_or(128);
        if !(128..=10_240).contains(&mb) {
            bail!("{binary}: MemorySize {mb} MB is outside Lambda's 128-10240 MB");
        }
        Ok(mb)
    }

    /// The whole-number property `name` of the function built from `binary`: its own, else
    /// `Globals.Function`'s; a number, or a `!Ref` to a parameter's numeric default.
    fn function_number(&self, binary: &str, name: &str) -> Result<Option<u64>> {
        let resources = self.section("Resources");
        let function = resources
            .values()
            .find(|r| binary_of(r) == Some(binary))
            .with_context(|| format!("no function with BuildProperties.Binary = {binary}"))?;
        let global = self.doc.get("Globals").and_then(|g| g.get("Function"));
        let value = [function.get("Properties"), global]
            .into_iter()
            .flatten()
            .find_map(|props| props.get(name));
        Ok(Some(match value {
            None => return Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .with_context(|| format!("{binary}: {name} {n} is not a whole number"))?,
            Some(Value::Object(intrinsic)) if intrinsic.contains_key("Ref") => intrinsic["Ref"]
                .as_str()
                .and_then(|p| self.parameter_default(p))
                .and_then(|d| d.parse().ok())
                .with_context(|| format!("{binary}: {name} refers to no parameter with a numeric default"))?,
            Some(other) => bail!("{binary}: unsupported {name} {other:?}"),
        }))
    }

    /// Every function's logical id and the names of the environment variables it declares
    /// (its own and the Globals'): under `sam local`, the only ones an env-vars file can set.
    pub fn function_variables(&self) -> Vec<(String, Vec<String>)> {
        let names = |v: Option<&Value>| -> Vec<String> {
            v.and_then(|v| v.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_object)
                .map(|vars| vars.keys().cloned().collect())
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
                    .and_then(Value::as_object);
                events.is_some_and(|e| {
                    e.values()
                        .any(|e| e.get("Type").and_then(Value::as_str) == Some("Schedule"))
                })
            })
            .filter_map(|r| binary_of(r).map(str::to_owned))
            .collect()
    }

    /// The HTTP API's route table: every function's `HttpApi` events, in logical-id order.
    /// An event without `Path` and `Method` is SAM's `$default` route; `Method: any` is `ANY`.
    pub fn http_api_routes(&self) -> Result<Vec<HttpRoute>> {
        let mut routes = Vec::new();
        for (id, resource) in self.section("Resources") {
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_object);
            let http_events = events
                .into_iter()
                .flat_map(|e| e.values())
                .filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi"));
            for event in http_events {
                let function = binary_of(&resource)
                    .with_context(|| format!("{id} has an HttpApi event but no BuildProperties.Binary"))?;
                let text = |key: &str| event.get("Properties")?.get(key)?.as_str();
                let key = match (text("Method"), text("Path")) {
                    (None, None) => "$default".to_owned(),
                    (Some(method), Some(path)) => format!("{} {path}", method.to_ascii_uppercase()),
                    _ => bail!("{id}: an HttpApi event needs both Method and Path, or neither"),
                };
                routes.push(HttpRoute {
                    key,
                    function: function.to_owned(),
                });
            }
        }
        Ok(routes)
    }

    /// The one DynamoDB table of the template, as DynamoDB Local must create it.
    pub fn table(&self) -> Result<(String, TableSpec)> {
        let ids = self.resources_of_type("AWS::DynamoDB::Table");
        let [id] = ids.as_slice() else {
            bail!("expected exactly one AWS::DynamoDB::Table, found {ids:?}")
        };
        let props = self.properties(id).with_context(|| format!("{id} has no Properties"))?;
        let spec = serde_json::from_value(props)
            .with_context(|| format!("{id}: the local stack needs literal table properties (no intrinsics)"))?;
        Ok((id.clone(), spec))
    }
}

/// One route of the HTTP API and the function behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// API Gateway's route key, as the event carries it: `POST /users`, `ANY /{proxy+}`,
    /// `$default`.
    pub key: String,
    /// The function's binary (cargo lambda's name for it).
    pub function: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const TEMPLATE: &str = r#"
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
    fn memory_sizes_come_from_the_function_the_globals_or_lambdas_default() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        assert_eq!(template.function_memory_mb("create-user").unwrap(), 1024);
        assert_eq!(template.function_memory_mb("send-email").unwrap(), 128);
        let of = |yaml: &str| Template::parse(yaml).unwrap().function_memory_mb("f");
        let function = "Resources: {F: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: f}}";
        assert_eq!(of(&format!("{function}}}}}")).unwrap(), 128);
        assert_eq!(
            of(&format!("Globals: {{Function: {{MemorySize: 512}}}}\n{function}}}}}")).unwrap(),
            512
        );
        assert_eq!(
            of(&format!(
                "Globals: {{Function: {{MemorySize: 512}}}}\n{function}, Properties: {{MemorySize: 2048}}}}}}"
            ))
            .unwrap(),
            2048
        );
        assert!(of(&format!("{function}, Properties: {{MemorySize: 64}}}}}}")).is_err());
    }

    #[test]
    fn http_api_routes_come_from_the_functions_events() {
        let template = Template::load(&crate::layout::Layout::workspace_root().join("template.yaml")).unwrap();
        let routes: Vec<(String, String)> = template
            .http_api_routes()
            .unwrap()
            .into_iter()
            .map(|r| (r.key, r.function))
            .collect();
        let expected = [
            ("POST /users", "create-user"),
            ("POST /users/verification", "create-user"),
            ("POST /sessions", "sign-in"),
            ("GET /users/verify", "verify-email"),
            ("POST /users/verify", "verify-email"),
        ];
        for (key, function) in expected {
            assert!(
                routes.contains(&(key.to_owned(), function.to_owned())),
                "{key} -> {function} missing from {routes:?}"
            );
        }
        assert_eq!(routes.len(), expected.len(), "{routes:?}");
        let of = |events: &str| {
            let yaml = format!(
                "Resources: {{F: {{Type: AWS::Serverless::Function, Metadata: {{BuildProperties: {{Binary: f}}}}, Properties: {{Events: {events}}}}}}}"
            );
            Template::parse(&yaml).unwrap().http_api_routes()
        };
        assert_eq!(of("{A: {Type: HttpApi}}").unwrap()[0].key, "$default");
        assert_eq!(
            of(r#"{A: {Type: HttpApi, Properties: {Method: any, Path: "/{proxy+}"}}}"#).unwrap()[0].key,
            "ANY /{proxy+}"
        );
        assert!(of("{A: {Type: HttpApi, Properties: {Path: /x}}}").is_err());
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
