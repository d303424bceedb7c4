//! Every invocation answers before Lambda's deadline, whatever its dependencies do.
//!
//! Each SDK call has its own timeouts ([`crate::aws`]), but calls add up: a sign-up's guard
//! read, three transaction attempts and a final read, each up to 3 s, outlast create-user's
//! 10 s Timeout. Past it Lambda kills the invocation and API Gateway answers the client 500,
//! whatever the code would have said; an SQS batch then fails whole. So each function's work
//! runs against the invocation's own deadline (`Context::deadline`), less [`MARGIN`]: the API
//! functions answer 503 `retryable` at it ([`crate::start`]), send-email fails the messages
//! still in flight.

use lambda_runtime::Context;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Room left before Lambda's deadline to post the answer: a loopback call to the runtime API
/// (milliseconds), with slack for a fractional vCPU's scheduling (128 MB is 1/14 of one).
pub const MARGIN: Duration = Duration::from_millis(500);

/// When the invocation must have its answer ready, on tokio's clock: [`MARGIN`] before its
/// deadline, or now if that has passed. `None` when the context has no deadline (0: a context
/// built by hand, as tests do; the runtime always sets one).
pub fn answer_by(context: &Context) -> Option<Instant> {
    if context.deadline == 0 {
        return None;
    }
    let remaining = context.deadline().duration_since(SystemTime::now()).unwrap_or_default();
    Some(Instant::now() + remaining.saturating_sub(MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(deadline: SystemTime) -> Context {
        let mut context = Context::default();
        context.deadline = deadline.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        context
    }

    #[test]
    fn answers_a_margin_before_the_deadline_and_never_in_the_past() {
        assert_eq!(answer_by(&Context::default()), None, "no deadline, no limit");
        let in_ten_seconds = answer_by(&context(SystemTime::now() + Duration::from_secs(10))).unwrap();
        let left = in_ten_seconds - Instant::now();
        assert!(
            left <= Duration::from_secs(10) - MARGIN && left > Duration::from_secs(8),
            "{left:?}"
        );
        let passed = answer_by(&context(SystemTime::now() - Duration::from_secs(1))).unwrap();
        assert!(passed <= Instant::now(), "a deadline gone by: answer now");
    }
}
