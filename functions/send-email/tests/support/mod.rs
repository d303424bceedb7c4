//! What send-email's integration tests share.

use aws_sdk_dynamodb::types::AttributeValue;
use send_email::adapters::dynamodb_claims::DynamoClaims;
use std::collections::HashMap;
use uuid::Uuid;

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
