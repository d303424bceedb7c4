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

/// The time left before the invocation's deadline. `None` when the runtime gives none to go
/// by: 0 (a context built by hand, as tests do), or one already past as the invocation
/// starts, which Lambda never sends and an emulator may: `cargo lambda watch` sends a fixed
/// `600000` (ten minutes after 1970), `sam local`'s emulator the real thing.
pub fn remaining(context: &Context) -> Option<Duration> {
    context
        .deadline()
        .duration_since(SystemTime::now())
        .ok()
        .filter(|left| !left.is_zero())
}

/// When the invocation must have its answer ready, on tokio's clock: [`MARGIN`] before its
/// deadline (now, if less is left); `None` without a deadline ([`remaining`]).
pub fn answer_by(context: &Context) -> Option<Instant> {
    remaining(context).map(|left| Instant::now() + left.saturating_sub(MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context_with_deadline_in;

    #[test]
    fn answers_a_margin_before_the_deadline_and_ignores_one_already_past() {
        assert_eq!(answer_by(&Context::default()), None, "no deadline, no limit");
        let in_ten_seconds = answer_by(&context_with_deadline_in(Duration::from_secs(10))).unwrap();
        let left = in_ten_seconds - Instant::now();
        assert!(
            left <= Duration::from_secs(10) - MARGIN && left > Duration::from_secs(8),
            "{left:?}"
        );
        let nearly = answer_by(&context_with_deadline_in(MARGIN / 2)).unwrap();
        assert!(nearly <= Instant::now(), "less than the margin left: answer now");
        let mut watch = Context::default();
        watch.deadline = 600_000;
        assert_eq!(
            answer_by(&watch),
            None,
            "cargo lambda watch's fixed 600000 is no deadline"
        );
    }
}
