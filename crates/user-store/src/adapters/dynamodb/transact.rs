//! The writes of a transaction (a put, an update, each conditioned), the transaction itself,
//! and what its cancellation means.

use super::DynamoUserStore;
use super::items::s;
use crate::dynamo::unavailable;
use crate::users::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

impl DynamoUserStore {
    pub(super) fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        values: Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values.into_option())
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn update(
        &self,
        key: String,
        update: &str,
        condition: &str,
        names: Names,
        values: Values,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names.into_option())
            .set_expression_attribute_values(values.into_option())
            .build()
            .map_err(built)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes `items` in one transaction. A cancellation whose reasons say that one of the
    /// items at `state_items` failed its condition is [`StoreError::StateChanged`]; see
    /// [`cancellation`] for the rest.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        state_items: &[usize],
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let codes: Vec<Option<&str>> = cancelled.cancellation_reasons().iter().map(|r| r.code()).collect();
                    Err(cancellation(&codes, state_items))
                }
                _ => Err(unavailable(SdkError::ServiceError(e))),
            },
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Expression attribute names and values, built up by the writes above.
#[derive(Default)]
pub(super) struct Names(HashMap<String, String>);
#[derive(Default)]
pub(super) struct Values(HashMap<String, AttributeValue>);

impl Names {
    pub(super) fn with(mut self, name: &str, attribute: &str) -> Self {
        self.0.insert(name.to_owned(), attribute.to_owned());
        self
    }
    fn into_option(self) -> Option<HashMap<String, String>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

impl Values {
    pub(super) fn with(mut self, name: &str, value: AttributeValue) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }
    fn into_option(self) -> Option<HashMap<String, AttributeValue>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

pub(super) fn built(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// What a cancelled transaction means, from its per-item reason codes (one per item, in order;
/// `None` for an item that was fine). One of `state_items` (the user or guard the write was
/// conditioned on) failing its condition is [`StoreError::StateChanged`], whatever else
/// happened. `TransactionConflict` (another transaction on one of the items, which real
/// DynamoDB reports and DynamoDB Local never does) is worth retrying. Everything else (a
/// colliding random id, throttling, a validation error) is the store's failure: the client may
/// retry, and nothing was written.
pub fn cancellation(codes: &[Option<&str>], state_items: &[usize]) -> StoreError {
    let failed = |i: &usize| codes.get(*i).copied().flatten() == Some("ConditionalCheckFailed");
    if state_items.iter().any(failed) {
        return StoreError::StateChanged;
    }
    if codes.contains(&Some("TransactionConflict")) {
        return StoreError::Conflict;
    }
    let reasons: Vec<String> = codes
        .iter()
        .enumerate()
        .filter_map(|(i, code)| code.filter(|c| *c != "None").map(|c| format!("item {i}: {c}")))
        .collect();
    StoreError::Unavailable(format!("transaction cancelled ({})", reasons.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamodb::users::GUARD_ITEM;

    /// Every reason code DynamoDB documents for a cancelled TransactWriteItems, on each item.
    #[test]
    fn every_cancellation_reason_maps_to_what_it_means() {
        const CODES: [&str; 7] = [
            "None",
            "ConditionalCheckFailed",
            "ItemCollectionSizeLimitExceeded",
            "TransactionConflict",
            "ProvisionedThroughputExceeded",
            "ThrottlingError",
            "ValidationError",
        ];
        for item in 0..3 {
            for code in CODES {
                let mut codes = [Some("None"); 3];
                codes[item] = Some(code);
                let got = cancellation(&codes, &[GUARD_ITEM]);
                let want = match (item, code) {
                    (GUARD_ITEM, "ConditionalCheckFailed") => StoreError::StateChanged,
                    (_, "TransactionConflict") => StoreError::Conflict,
                    _ => StoreError::Unavailable(String::new()),
                };
                match (&got, &want) {
                    (StoreError::Unavailable(why), StoreError::Unavailable(_)) => {
                        assert!(code == "None" || why.contains(code), "{item} {code}: {why}")
                    }
                    _ => assert_eq!(got, want, "item {item}: {code}"),
                }
            }
        }
    }

    #[test]
    fn a_changed_state_wins_over_a_conflict_elsewhere_and_a_conflict_over_other_failures() {
        let taken = [
            Some("TransactionConflict"),
            Some("ConditionalCheckFailed"),
            Some("None"),
        ];
        assert_eq!(cancellation(&taken, &[GUARD_ITEM]), StoreError::StateChanged);
        let conflict = [
            Some("ConditionalCheckFailed"),
            Some("None"),
            Some("TransactionConflict"),
        ];
        assert_eq!(cancellation(&conflict, &[GUARD_ITEM]), StoreError::Conflict);
        assert_eq!(
            cancellation(&conflict, &[0, 1]),
            StoreError::StateChanged,
            "the user is a state item too"
        );
        assert!(matches!(cancellation(&[], &[GUARD_ITEM]), StoreError::Unavailable(_)));
        assert!(matches!(
            cancellation(&[None, None, None], &[GUARD_ITEM]),
            StoreError::Unavailable(_)
        ));
    }
}
