//! [`RateLimiter`] on the table: a counter item per limit, window and subject, updated in
//! place.

use super::DynamoUserStore;
use super::items::{s, seconds, unreadable};
use crate::dynamo::unavailable;
use crate::limits::{Decision, Limit, RateLimiter};
use crate::users::StoreError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;
use time::OffsetDateTime;

impl RateLimiter for DynamoUserStore {
    async fn hit(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            // Gone a minute after its window: TTL deletes within days, but no read ever looks
            // at a window that is over.
            .expression_attribute_values(":expires", seconds(now + left + Duration::from_secs(60)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| unreadable("hits"))?;
        Ok(limit.decide(hits, now))
    }

    async fn take(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(limit.max.to_string()))
            .expression_attribute_values(":expires", seconds(now + left + Duration::from_secs(60)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Decision::Allowed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Decision::Denied { retry_after: left })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn give_back(&self, limit: &Limit, subject: &str, taken_at: OffsetDateTime) -> Result<(), StoreError> {
        let (start, _) = limit.window_at(taken_at);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(limit_key(limit, start, subject)))
            .update_expression("ADD hits :minus_one")
            // Never creates a counter (a window already over and deleted), never below zero.
            .condition_expression("hits > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The counter of `subject` for `limit` in the window that starts at `start`.
pub fn limit_key(limit: &Limit, start: i64, subject: &str) -> String {
    format!("LIMIT#{}#{start}#{subject}", limit.name)
}
