//! What send-email's integration tests share.

#![allow(dead_code)] // each test binary uses its own part of it

use aws_sdk_dynamodb::types::AttributeValue;
use send_email::adapters::{dynamodb_claims::DynamoClaims, mailers::SesMailer, recipient_log::DynamoRecipientLog};
use send_email::domain::deliver::Caps;
use std::collections::HashMap;
use uuid::Uuid;

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
