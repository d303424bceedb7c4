//! The outbox's claims on DynamoDB Local (`cargo xtask up`): only a claim's owner completes or
//! releases it. The rest of the adapter is tested through create-user's tests, on the same
//! stack (sign-ups, flushes, unreadable items).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;
use user_store::adapters::dynamodb::DynamoUserStore;
use user_store::outbox::{Outbox, SettleError};

struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
    vars: HashMap<String, String>,
    sdk: aws_config::SdkConfig,
}

impl Table {
    async fn new() -> Self {
        let vars = testkit::stack();
        let sdk = testkit::sdk_config(&vars).await;
        Self {
            client: testkit::dynamodb(&sdk, &vars),
            name: vars["USERS_TABLE"].clone(),
            vars,
            sdk,
        }
    }

    fn store(&self) -> DynamoUserStore {
        DynamoUserStore::new(self.client.clone(), self.name.clone())
    }

    /// A pending outbox item of the test's own, dated a day ahead: flushes (the stack's
    /// publish-outbox, other tests) only query items older than now, so none takes it.
    async fn pending_item(&self) -> String {
        let key = format!("OUTBOX#claims-test-{}", uuid::Uuid::new_v4());
        let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        let millis = tomorrow.unix_timestamp_nanos() / 1_000_000;
        self.client
            .put_item()
            .table_name(&self.name)
            .item("pk", AttributeValue::S(key.clone()))
            .item("outbox_state", AttributeValue::S("pending".into()))
            .item("outbox_at", AttributeValue::N(millis.to_string()))
            .item("event", AttributeValue::S("{}".into()))
            .send()
            .await
            .unwrap();
        key
    }

    async fn item(&self, key: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }
}

fn attr<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

#[tokio::test]
async fn only_the_owner_of_a_claim_completes_or_releases_it() {
    let table = Table::new().await;
    let store = table.store();
    let key = table.pending_item().await;
    let lease = Duration::from_secs(60);

    // A claim whose lease is over at once, as if its flush had stalled past it, then taken
    // over (a pause so that the next claim's clock is past the first one's lease).
    let stale = store.claim(&key, Duration::ZERO).await.unwrap().expect("a new claim");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let owner = store
        .claim(&key, lease)
        .await
        .unwrap()
        .expect("an expired claim is taken over");
    assert_ne!(stale, owner);
    assert_eq!(store.claim(&key, lease).await, Ok(None), "a live claim excludes others");

    assert_eq!(store.release(&key, &stale).await, Err(SettleError::NotOwner));
    assert_eq!(store.complete(&key, &stale).await, Err(SettleError::NotOwner));
    let item = table.item(&key).await.expect("the stale owner deleted nothing");
    assert_eq!(attr(&item, "claimed_by"), Some(owner.as_str()));

    // The owner gives it back: claimable again, at once.
    store.release(&key, &owner).await.unwrap();
    let item = table.item(&key).await.unwrap();
    assert_eq!((attr(&item, "claimed_by"), item.get("claimed_until")), (None, None));
    let last = store.claim(&key, lease).await.unwrap().expect("released: claimable");
    assert_eq!(
        store.release(&key, &owner).await,
        Err(SettleError::NotOwner),
        "a released claim is not ours"
    );

    store.complete(&key, &last).await.unwrap();
    assert_eq!(table.item(&key).await, None, "completed: the item is gone");
    assert_eq!(store.complete(&key, &last).await, Err(SettleError::NotOwner));
    assert_eq!(store.release(&key, &last).await, Err(SettleError::NotOwner));
    assert_eq!(table.item(&key).await, None, "and settling it again creates nothing");
}

/// The claim's write is done and its answer lost (the attempt timed out): the SDK's retry
/// finds the item claimed by our own token, and that claim is ours (before, the flush skipped
/// the event until its own lease ran out).
#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_ours() {
    let table = Table::new().await;
    let key = table.pending_item().await;
    let late = lambda_support::aws::ATTEMPT_TIMEOUT + Duration::from_millis(500);
    let (client, _proxy) = testkit::dynamodb_losing_first_answer(&table.sdk, &table.vars, late);
    let store = DynamoUserStore::new(client, table.name.clone());
    let token = store
        .claim(&key, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("our own claim");
    let item = table.item(&key).await.unwrap();
    assert_eq!(
        item.get(user_store::claims::OWNER)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some(token.as_str())
    );
    store.complete(&key, &token).await.unwrap();
    assert_eq!(table.item(&key).await, None);
}
