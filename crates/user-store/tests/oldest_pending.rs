//! `Outbox::oldest_pending` on DynamoDB Local (`cargo xtask up`), on a table of the test's own
//! with the users table's `pending-events` index: the stack's publish-outbox drains the shared
//! table every few seconds, so only a private table has a known oldest item.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use time::OffsetDateTime;
use user_store::adapters::dynamodb::{DynamoUserStore, PENDING_INDEX};
use user_store::outbox::Outbox;

async fn private_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("oldest-pending-test-{}", uuid::Uuid::new_v4().simple());
    let attr = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("outbox_state", ScalarAttributeType::S))
        .attribute_definitions(attr("outbox_at", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(PENDING_INDEX)
                .key_schema(key("outbox_state", KeyType::Hash))
                .key_schema(key("outbox_at", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    name
}

async fn put(client: &aws_sdk_dynamodb::Client, table: &str, key: &str, state: &str, at: OffsetDateTime) {
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(key.into()))
        .item("outbox_state", AttributeValue::S(state.into()))
        .item(
            "outbox_at",
            AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string()),
        )
        .item("event", AttributeValue::S("{}".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_oldest_pending_item_is_the_first_of_the_index_and_set_aside_ones_do_not_count() {
    let vars = testkit::stack();
    let client = testkit::dynamodb(&testkit::sdk_config(&vars).await, &vars);
    let table = private_table(&client).await;
    let store = DynamoUserStore::new(client.clone(), table.clone());
    assert_eq!(store.oldest_pending().await, Ok(None), "nothing pending");

    // Whole milliseconds, as the table stores them.
    let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let minutes = |m| now - time::Duration::minutes(m);
    put(&client, &table, "OUTBOX#young", "pending", minutes(1)).await;
    put(&client, &table, "OUTBOX#old", "pending", minutes(20)).await;
    put(&client, &table, "OUTBOX#aside", "set_aside", minutes(60)).await;
    put(&client, &table, "OUTBOX#middle", "pending", minutes(5)).await;
    assert_eq!(store.oldest_pending().await, Ok(Some(minutes(20))));

    client.delete_table().table_name(&table).send().await.unwrap();
}
