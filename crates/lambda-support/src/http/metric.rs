//! The metrics every API function reports of its answers: its refusals and failures, by
//! [`ErrorCode`] (the `metrics` facade; [`crate::metrics`] writes them as EMF).

use super::ErrorCode;

/// Requests answered 4xx, all reasons: FunctionName only.
pub const REJECTIONS: &str = "Rejections";
/// The same by [`REASON`], the answer's error code (a document has one dimension set:
/// hence a metric of its own).
pub const REJECTIONS_BY_REASON: &str = "RejectionsByReason";
/// Requests answered 5xx (503 retryable, 500), all reasons: FunctionName only.
pub const SERVER_ERRORS: &str = "ServerErrors";
/// The same by [`REASON`]: `service_unavailable` or `internal`.
pub const SERVER_ERRORS_BY_REASON: &str = "ServerErrorsByReason";
/// The dimension: the answer's [`ErrorCode`], fixed words of the code, never a value from
/// the request.
pub const REASON: &str = "Reason";

/// Units for the recorder; once, at init.
pub fn describe() {
    use metrics::{Unit, describe_counter};
    describe_counter!(REJECTIONS, Unit::Count, "requests answered 4xx");
    describe_counter!(
        REJECTIONS_BY_REASON,
        Unit::Count,
        "requests answered 4xx, by error code"
    );
    describe_counter!(SERVER_ERRORS, Unit::Count, "requests answered 5xx");
    describe_counter!(
        SERVER_ERRORS_BY_REASON,
        Unit::Count,
        "requests answered 5xx, by error code"
    );
}

/// Counts one answer: the totals on every request (0 when it moved none), the reason's
/// count when it had one.
pub fn count(status: u16, error: Option<ErrorCode>) {
    let (rejected, failed) = ((400..500).contains(&status), status >= 500);
    metrics::counter!(REJECTIONS).increment(u64::from(rejected));
    metrics::counter!(SERVER_ERRORS).increment(u64::from(failed));
    if let Some(code) = error {
        let name = if failed {
            SERVER_ERRORS_BY_REASON
        } else {
            REJECTIONS_BY_REASON
        };
        metrics::counter!(name, REASON => code.as_str()).increment(1);
    }
}
