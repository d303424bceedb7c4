//! The memory store's [`RateLimiter`]: counters keyed as the DynamoDB adapter keys them.

use super::MemoryStore;
use crate::limits::{Decision, Limit, RateLimiter};
use crate::users::StoreError;
use time::OffsetDateTime;

impl RateLimiter for MemoryStore {
    async fn hit(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, _) = limit.window_at(now);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        let mut hits = self.hits.lock().unwrap();
        let count = hits.entry(key).or_insert(0);
        *count += 1;
        Ok(limit.decide(*count, now))
    }

    async fn take(&self, limit: &Limit, subject: &str, now: OffsetDateTime) -> Result<Decision, StoreError> {
        let (start, left) = limit.window_at(now);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        let mut hits = self.hits.lock().unwrap();
        let count = hits.entry(key).or_insert(0);
        if *count >= u64::from(limit.max) {
            return Ok(Decision::Denied { retry_after: left });
        }
        *count += 1;
        Ok(Decision::Allowed)
    }

    async fn give_back(&self, limit: &Limit, subject: &str, taken_at: OffsetDateTime) -> Result<(), StoreError> {
        let (start, _) = limit.window_at(taken_at);
        let key = crate::adapters::dynamodb::limit_key(limit, start, subject);
        if let Some(count) = self.hits.lock().unwrap().get_mut(&key) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}
