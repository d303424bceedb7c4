//! The memory store's [`Outbox`]: pending events, their claims, and what a test can make of
//! them (a lagging index, a claim taken over).

use super::MemoryStore;
use crate::outbox::{ClaimToken, Outbox, Page, PendingItem, SettleError, StoredEvent};
use crate::users::StoreError;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

impl Outbox for MemoryStore {
    /// The position in the pending list after the page.
    type Cursor = usize;

    async fn pending(
        &self,
        before: OffsetDateTime,
        limit: usize,
        after: Option<usize>,
    ) -> Result<Page<usize>, StoreError> {
        // Lets a concurrent flush run in between, as a network call would.
        tokio::task::yield_now().await;
        let published = self.published.lock().unwrap();
        let set_aside = self.set_aside.lock().unwrap();
        let visible: Vec<PendingItem> = self
            .outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.at < before && !set_aside.contains(&i.key))
            .filter(|i| self.stale_index || !published.contains(&i.key))
            .map(|i| PendingItem {
                key: i.key.clone(),
                event: i.event.clone(),
            })
            .collect();
        let start = after.unwrap_or(0);
        let items: Vec<PendingItem> = visible.iter().skip(start).take(limit).cloned().collect();
        let end = start + items.len();
        Ok(Page {
            next: (end < visible.len()).then_some(end),
            items,
        })
    }

    async fn claim(&self, key: &str, lease: Duration) -> Result<Option<ClaimToken>, StoreError> {
        if self.published.lock().unwrap().contains(key) {
            return Ok(None);
        }
        let mut claims = self.claims.lock().unwrap();
        let now = Instant::now();
        if claims.get(key).is_some_and(|(until, _)| *until > now) {
            return Ok(None);
        }
        let token = ClaimToken::random();
        let owner = if self.taken_over.lock().unwrap().contains(key) {
            ClaimToken::random()
        } else {
            token.clone()
        };
        claims.insert(key.to_owned(), (now + lease, owner));
        Ok(Some(token))
    }

    async fn complete(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let claims = self.claims.lock().unwrap();
        let mut published = self.published.lock().unwrap();
        match claims.get(key) {
            Some((_, owner)) if owner == token && !published.contains(key) => {
                published.insert(key.to_owned());
                Ok(())
            }
            _ => Err(SettleError::NotOwner),
        }
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), SettleError> {
        let mut claims = self.claims.lock().unwrap();
        match claims.get(key) {
            Some((_, owner)) if owner == token && !self.published.lock().unwrap().contains(key) => {
                claims.remove(key);
                Ok(())
            }
            _ => Err(SettleError::NotOwner),
        }
    }

    async fn set_aside(&self, key: &str, _reason: &str) -> Result<(), StoreError> {
        self.set_aside.lock().unwrap().push(key.to_owned());
        Ok(())
    }

    async fn oldest_pending(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let published = self.published.lock().unwrap();
        let set_aside = self.set_aside.lock().unwrap();
        Ok(self
            .outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !published.contains(&i.key) && !set_aside.contains(&i.key))
            .map(|i| i.at)
            .min())
    }
}

impl MemoryStore {
    /// The events still pending (not published, not set aside).
    pub fn pending_events(&self) -> Vec<StoredEvent> {
        let published = self.published.lock().unwrap();
        self.outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !published.contains(&i.key))
            .filter_map(|i| i.event.clone().ok())
            .collect()
    }
}
