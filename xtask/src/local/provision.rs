//! Provisions the template's resources on the running emulators through the AWS SDK: the
//! CloudFormation stack on LocalStack, the table on DynamoDB Local, the SES sender identity
//! and configuration set, and the two signing secrets in SSM.

use super::template::{self, LocalStackMode, TableSpec, Template};
use crate::{random, ui};
use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use local_stack::{Endpoints, REGION, StackEnv, dynamodb_client, sdk_config};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const STACK_NAME: &str = "user-signup";
pub const TABLE_NAME: &str = "user-signup-users";
pub const DEFAULT_EMAIL_FROM: &str = "welcome@example.com";
/// The template's `EmailConfigurationSet`'s name for the stack (`${AWS::StackName}-email`).
pub const CONFIGURATION_SET: &str = "user-signup-email";

pub struct Settings {
    pub email_from: String,
}

/// Provisions everything and returns the coordinates for `stack.env`.
pub async fn provision(template: &Template, endpoints: &Endpoints, settings: &Settings) -> Result<StackEnv> {
    let config = sdk_config(endpoints).await;
    let outputs = deploy_stack(&config, template, settings).await?;
    let (_, table) = template.table()?;
    create_table(&dynamodb_client(&config, endpoints), TABLE_NAME, &table).await?;
    let ses = aws_sdk_ses::Client::new(&config);
    ses.verify_email_identity()
        .email_address(&settings.email_from)
        .send()
        .await
        .context("verifying the SES sender identity")?;
    ensure_configuration_set(&ses, CONFIGURATION_SET).await?;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let mut secrets = Vec::new();
    for (parameter, variable) in [
        ("JwtSecretParameterName", "JWT_SECRET_PARAM"),
        ("VerifyTokenSecretParameterName", "VERIFY_TOKEN_SECRET_PARAM"),
    ] {
        let name = template
            .parameter_default(parameter)
            .with_context(|| format!("template has no {parameter} default"))?;
        ensure_secret(&ssm, &name).await?;
        secrets.push((variable, name));
    }

    let output = |key: &str| {
        outputs
            .get(key)
            .cloned()
            .with_context(|| format!("stack output {key} missing"))
    };
    let mut env = emulator_coordinates(endpoints);
    env.push("USERS_TABLE", TABLE_NAME);
    env.push("USER_EVENTS_TOPIC_ARN", output("UserEventsTopicArn")?);
    env.push("EMAIL_QUEUE_URL", output("EmailQueueUrl")?);
    env.push("EMAIL_DLQ_URL", output("EmailDlqUrl")?);
    env.push("EMAIL_FROM", settings.email_from.clone());
    env.push("EMAIL_CONFIGURATION_SET", CONFIGURATION_SET);
    for (variable, name) in secrets {
        env.push(variable, name);
    }
    env.push(
        "JWT_ISSUER",
        template.parameter_default("JwtIssuer").unwrap_or_default(),
    );
    Ok(env)
}

/// What the SDKs and the AWS CLI need to talk to the emulators rather than to AWS.
fn emulator_coordinates(endpoints: &Endpoints) -> StackEnv {
    let mut env = StackEnv::default();
    env.push("AWS_ENDPOINT_URL", endpoints.localstack.clone());
    env.push("AWS_ENDPOINT_URL_DYNAMODB", endpoints.dynamodb.clone());
    // AWS CLI v1 sends SQS calls to its legacy global endpoint unless told per service.
    env.push("AWS_ENDPOINT_URL_SQS", endpoints.localstack.clone());
    env.push("AWS_REGION", REGION);
    env.push("AWS_DEFAULT_REGION", REGION);
    env.push("AWS_ACCESS_KEY_ID", local_stack::ACCESS_KEY_ID);
    env.push("AWS_SECRET_ACCESS_KEY", local_stack::SECRET_ACCESS_KEY);
    env.push("LOCALSTACK_HOST", endpoints.localstack.trim_start_matches("http://"));
    env
}

/// Creates or updates the LocalStack stack and returns its outputs.
async fn deploy_stack(config: &SdkConfig, template: &Template, settings: &Settings) -> Result<HashMap<String, String>> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let status = stack_status(&cfn).await?;
    ui::detail(format!("stack {STACK_NAME}: {status:?}"));
    let create = match status {
        None => true,
        Some(StackStatus::RollbackComplete | StackStatus::CreateFailed | StackStatus::DeleteComplete) => {
            cfn.delete_stack().stack_name(STACK_NAME).send().await?;
            wait_stack(&cfn, true).await?;
            true
        }
        Some(_) => false,
    };
    let body = template.for_localstack(LocalStackMode::Host)?;
    let params = vec![
        Parameter::builder()
            .parameter_key("SenderEmail")
            .parameter_value(&settings.email_from)
            .build(),
    ];
    let capabilities = vec![Capability::CapabilityIam, Capability::CapabilityAutoExpand];
    if create {
        cfn.create_stack()
            .stack_name(STACK_NAME)
            .template_body(body)
            .set_parameters(Some(params))
            .set_capabilities(Some(capabilities))
            .send()
            .await
            .context("CreateStack")?;
    } else {
        let update = cfn
            .update_stack()
            .stack_name(STACK_NAME)
            .template_body(body)
            .set_parameters(Some(params))
            .set_capabilities(Some(capabilities))
            .send()
            .await;
        if let Err(err) = update {
            let text = format!("{}", aws_sdk_cloudformation::error::DisplayErrorContext(&err));
            if !text.contains("No updates are to be performed") {
                bail!("UpdateStack: {text}");
            }
        }
    }
    wait_stack(&cfn, false).await?;
    stack_outputs(&cfn).await
}

async fn stack_outputs(cfn: &aws_sdk_cloudformation::Client) -> Result<HashMap<String, String>> {
    let stacks = cfn
        .describe_stacks()
        .stack_name(STACK_NAME)
        .send()
        .await?
        .stacks
        .unwrap_or_default();
    Ok(stacks
        .first()
        .and_then(|s| s.outputs.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value?)))
        .collect())
}

async fn stack_status(cfn: &aws_sdk_cloudformation::Client) -> Result<Option<StackStatus>> {
    match cfn.describe_stacks().stack_name(STACK_NAME).send().await {
        Ok(out) => Ok(out
            .stacks
            .unwrap_or_default()
            .first()
            .and_then(|s| s.stack_status.clone())),
        Err(err)
            if format!("{}", aws_sdk_cloudformation::error::DisplayErrorContext(&err)).contains("does not exist") =>
        {
            Ok(None)
        }
        Err(err) => Err(err).context("DescribeStacks"),
    }
}

/// Polls until the stack settles (LocalStack takes seconds, so poll often); fails with the
/// reasons CloudFormation gave.
async fn wait_stack(cfn: &aws_sdk_cloudformation::Client, deleting: bool) -> Result<()> {
    let started = Instant::now();
    loop {
        let status = stack_status(cfn).await?;
        let text = status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "DELETE_COMPLETE".into());
        if !text.ends_with("IN_PROGRESS") {
            let ok = if deleting {
                text == "DELETE_COMPLETE"
            } else {
                matches!(text.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE")
            };
            if ok {
                return Ok(());
            }
            bail!("stack {STACK_NAME} ended in {text}: {}", failure_reasons(cfn).await);
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!("stack {STACK_NAME} still {text} after 180 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn failure_reasons(cfn: &aws_sdk_cloudformation::Client) -> String {
    let Ok(out) = cfn.describe_stack_events().stack_name(STACK_NAME).send().await else {
        return String::new();
    };
    out.stack_events
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.resource_status
                .as_ref()
                .is_some_and(|s| s.as_str().ends_with("FAILED"))
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.logical_resource_id.unwrap_or_default(),
                e.resource_status_reason.unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Creates the table on DynamoDB Local from the template's properties. Point-in-time recovery
/// and encryption at rest are left to AWS: an in-memory emulator has neither to offer.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) -> Result<()> {
    if ddb.describe_table().table_name(name).send().await.is_ok() {
        ui::detail(format!("table {name} exists"));
        return Ok(());
    }
    let mut create = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(
            spec.billing_mode.as_deref().unwrap_or("PAY_PER_REQUEST"),
        ))
        .set_key_schema(Some(key_schema(&spec.key_schema)?));
    for attr in &spec.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attr.attribute_name)
                .attribute_type(ScalarAttributeType::from(attr.attribute_type.as_str()))
                .build()?,
        );
    }
    for gsi in &spec.global_secondary_indexes {
        create = create.global_secondary_indexes(global_secondary_index(gsi)?);
    }
    create
        .send()
        .await
        .with_context(|| format!("creating table {name} on DynamoDB Local"))?;
    if let Some(ttl) = &spec.time_to_live_specification {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()?,
            )
            .send()
            .await
            .context("enabling TTL on DynamoDB Local")?;
    }
    Ok(())
}

fn key_schema(elements: &[template::KeySchemaElement]) -> Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

fn global_secondary_index(gsi: &template::GlobalSecondaryIndex) -> Result<GlobalSecondaryIndex> {
    let projection = &gsi.projection;
    Ok(GlobalSecondaryIndex::builder()
        .index_name(&gsi.index_name)
        .set_key_schema(Some(key_schema(&gsi.key_schema)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(projection.projection_type.as_str()))
                .set_non_key_attributes(
                    (!projection.non_key_attributes.is_empty()).then(|| projection.non_key_attributes.clone()),
                )
                .build(),
        )
        .build()?)
}

/// The SES configuration set every send names, as the template declares it (LocalStack
/// records the set and accepts sends that name it; it has no suppression list to apply).
async fn ensure_configuration_set(ses: &aws_sdk_ses::Client, name: &str) -> Result<()> {
    let sets = ses
        .list_configuration_sets()
        .send()
        .await
        .context("listing SES configuration sets")?;
    if sets.configuration_sets().iter().any(|set| set.name() == name) {
        return Ok(());
    }
    let set = aws_sdk_ses::types::ConfigurationSet::builder().name(name).build()?;
    ses.create_configuration_set()
        .configuration_set(set)
        .send()
        .await
        .context("creating the SES configuration set")?;
    Ok(())
}

/// A random signing secret, created once per stack; an existing one is kept so tokens issued
/// earlier stay valid while the stack runs.
async fn ensure_secret(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<()> {
    if ssm.get_parameter().name(name).send().await.is_ok() {
        return Ok(());
    }
    ssm.put_parameter()
        .name(name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(random::hex(32)?)
        .description("a signing secret of the local stack (cargo xtask up)")
        .send()
        .await
        .context("storing the JWT secret in SSM")?;
    Ok(())
}
