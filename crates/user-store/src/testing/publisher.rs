//! An [`EventPublisher`] in memory: what it published, or a topic that fails or hangs.

use crate::outbox::{EventPublisher, PublishError, StoredEvent};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryPublisher {
    pub events: Mutex<Vec<StoredEvent>>,
    pub fail: bool,
    /// Never answers, like an SNS endpoint that accepts the connection and hangs.
    pub hang: bool,
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, event: &StoredEvent) -> Result<(), PublishError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.fail {
            return Err(PublishError("topic unreachable".into()));
        }
        tokio::task::yield_now().await;
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}
