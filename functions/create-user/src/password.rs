//! Password hashing: bcrypt, off the async executor.

use crate::timing::{Phase, timed};
use user_store::users::PasswordHash;

/// bcrypt at one cost. CPU-bound by design (~250 ms at cost 12): each hash runs on the
/// blocking pool so that the async executor keeps serving, and counts as the sign-up's hash
/// phase (see [`crate::timing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bcrypt {
    pub cost: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct HashError(String);

impl Bcrypt {
    pub fn new(cost: u32) -> Self {
        Self { cost }
    }

    pub async fn hash(&self, password: String) -> Result<PasswordHash, HashError> {
        let cost = self.cost;
        // Spawned inside the timed future, not while its argument is built: spawn_blocking
        // starts the work at once, and the stopwatch only when the future is first polled (by
        // then, on a busy machine, the hash may be done).
        let hashed = async move { tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await };
        timed(Phase::Hash, hashed)
            .await
            .map_err(|e| HashError(format!("hashing task: {e}")))?
            .map(PasswordHash::new)
            .map_err(|e| HashError(format!("bcrypt: {e}")))
    }
}
