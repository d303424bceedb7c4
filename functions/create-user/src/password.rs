//! Password hashing at the sign-up's cost, counted as its hash phase (see [`crate::timing`]).

use crate::timing::{Phase, in_phase};
use user_store::passwords::{self, HashError};
use user_store::users::PasswordHash;

/// bcrypt at one cost. CPU-bound by design (~250 ms at cost 12): each hash runs on the
/// blocking pool ([`user_store::passwords`]) so that the async executor keeps serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bcrypt {
    pub cost: u32,
}

impl Bcrypt {
    pub fn new(cost: u32) -> Self {
        Self { cost }
    }

    pub async fn hash(&self, password: String) -> Result<PasswordHash, HashError> {
        // Started inside the timed future, not while its argument is built: spawn_blocking
        // starts the work at once, and the stopwatch only when the future is first polled (by
        // then, on a busy machine, the hash may be done).
        let cost = self.cost;
        in_phase(Phase::Hash, async move { passwords::hash(password, cost).await }).await
    }
}
