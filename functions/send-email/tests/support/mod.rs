//! What send-email's integration tests share.

#![allow(dead_code)] // each test binary uses its own part of it

use aws_sdk_dynamodb::types::AttributeValue;
use send_email::adapters::mailers::ses_client;
use send_email::adapters::{dynamodb_claims::DynamoClaims, mailers::SesMailer, recipient_log::DynamoRecipientLog};
use send_email::domain::deliver::Caps;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The local stack, as the tests reach it: its coordinates, the SDK configuration with the
/// functions' deadlines, and DynamoDB Local.
pub struct Stack {
    pub vars: HashMap<String, String>,
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Stack {
    pub async fn new() -> Self {
        let vars = testkit::stack();
        let sdk = testkit::sdk_config(&vars).await;
        let dynamodb = testkit::dynamodb(&sdk, &vars);
        Self { vars, sdk, dynamodb }
    }

    pub fn claims(&self) -> DynamoClaims {
        DynamoClaims::new(self.dynamodb.clone(), self.vars["USERS_TABLE"].clone())
    }

    pub fn log(&self) -> DynamoRecipientLog {
        DynamoRecipientLog::new(self.dynamodb.clone(), self.vars["USERS_TABLE"].clone())
    }

    /// The claim's item as DynamoDB Local holds it.
    pub async fn item(&self, event_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        claim_item(&self.dynamodb, &self.vars["USERS_TABLE"], event_id).await
    }

    /// The claim's `status`, if there is a claim.
    pub async fn claim_status(&self, event_id: Uuid) -> Option<String> {
        Some(self.item(event_id).await?.get("status")?.as_s().ok()?.clone())
    }

    /// The function's SES client, sending to `endpoint` (`None`: LocalStack's SES).
    pub fn ses(&self, endpoint: Option<&str>) -> aws_sdk_ses::Client {
        match endpoint {
            Some(url) => ses_client(&self.sdk.to_builder().endpoint_url(url).build()),
            None => ses_client(&self.sdk),
        }
    }

    /// The use case with the function's SES client at `endpoint`, its claims' lease `lease`.
    pub fn deliver(&self, endpoint: Option<&str>, lease: Duration) -> Arc<Deliver> {
        let mut deliver = deliver(&self.dynamodb, &self.vars, self.ses(endpoint));
        deliver.claims = deliver.claims.with_lease(lease);
        Arc::new(deliver)
    }
}

/// The use case over the real adapters.
pub type Deliver = send_email::domain::deliver::Deliver<DynamoClaims, SesMailer, DynamoRecipientLog>;

/// The use case on the stack's table (claims and recipient log) with `ses` for SES, the
/// default caps and the test key's links.
pub fn deliver(
    dynamodb: &aws_sdk_dynamodb::Client,
    stack: &HashMap<String, String>,
    ses: aws_sdk_ses::Client,
) -> Deliver {
    let table = stack["USERS_TABLE"].clone();
    Deliver {
        claims: DynamoClaims::new(dynamodb.clone(), table.clone()),
        mailer: SesMailer::new(
            ses,
            stack["EMAIL_FROM"].clone(),
            stack.get("EMAIL_CONFIGURATION_SET").cloned(),
        ),
        log: DynamoRecipientLog::new(dynamodb.clone(), table),
        links: send_email::testing::links(),
        caps: Caps::DEFAULT,
    }
}

/// The claim record of `event_id` as DynamoDB Local holds it, if there is one.
pub async fn claim_item(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    event_id: Uuid,
) -> Option<HashMap<String, AttributeValue>> {
    dynamodb
        .get_item()
        .table_name(table)
        .key("pk", DynamoClaims::key(event_id))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}
