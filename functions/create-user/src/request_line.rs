//! The request line: the one log line per request, written after the answer, with its ids (from
//! the invocation's span), route, outcome, status and where its time went; never the request's
//! content. It is a contract: the benchmark (`cargo xtask bench`) reads the timings of both
//! runtimes' lines to split our own overhead from the time spent waiting, and the tests find a
//! request's line by its fields. Both read it through this module, so a renamed field breaks
//! the build rather than a figure.

use crate::timing::Timings;
use lambda_support::timing::ms;
use serde_json::Value;
use std::time::Duration;

/// The line's message: what finds it among the function's other lines.
pub const MESSAGE: &str = "create-user";

/// Its fields of time, each in milliseconds with a fraction.
pub mod field {
    /// What the client waited: from the event to the answer (the publish comes after).
    pub const LATENCY: &str = "latency_ms";
    pub const HASH: &str = "hash_ms";
    /// The user store's calls: the limit's counter, the guard read, the transaction.
    pub const STORE: &str = "store_ms";
    /// Rust's publish, after the answer: in neither the answer's time nor `latency_ms`.
    pub const PUBLISH_AFTER_ANSWER: &str = "publish_after_answer_ms";
    /// The Python peer's publish, before its answer (bench/peers/python writes it).
    pub const PUBLISH: &str = "publish_ms";
}

/// One request's line, as the handler writes it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine {
    pub status: u16,
    pub route: Option<&'static str>,
    pub outcome: Option<&'static str>,
    pub latency: Duration,
    pub timings: Timings,
    /// Whether the event went out after the answer; `None` when there was none to publish.
    pub published: Option<bool>,
}

impl RequestLine {
    /// Writes the line at INFO, in the current span (the invocation's, with its ids).
    pub fn log(&self) {
        tracing::info!(
            status = self.status,
            route = self.route,
            outcome = self.outcome,
            { field::LATENCY } = ms(self.latency),
            { field::HASH } = ms(self.timings.hash),
            { field::STORE } = ms(self.timings.store),
            { field::PUBLISH_AFTER_ANSWER } = ms(self.timings.publish),
            published = self.published,
            "{MESSAGE}"
        );
    }
}

/// A request line's status and timings, as a reader takes them from the JSON log Lambda writes
/// (every field at the top level): the Rust function's, or the Python peer's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedRequest {
    pub status: u16,
    pub latency: Duration,
    pub hash: Duration,
    /// The time the answer waited on DynamoDB and SNS: the store's, and the publish's where it
    /// came before the answer (Python's).
    pub waited: Duration,
}

impl LoggedRequest {
    /// The request line among a log's lines, if `line` is one with all its timings.
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Value = serde_json::from_str(line).ok()?;
        if fields["message"] != MESSAGE {
            return None;
        }
        let ms = |name: &str| logged_ms(fields.get(name)?);
        let store = ms(field::STORE)?;
        let waited = match ms(field::PUBLISH) {
            Some(publish) => store + publish,
            None => ms(field::PUBLISH_AFTER_ANSWER).map(|_| store)?,
        };
        Some(Self {
            status: u16::try_from(fields["status"].as_u64()?).ok()?,
            latency: ms(field::LATENCY)?,
            hash: ms(field::HASH)?,
            waited,
        })
    }
}

/// A `*_ms` field of a JSON log line: milliseconds, as a number with a fraction.
pub fn logged_ms(value: &Value) -> Option<Duration> {
    Duration::try_from_secs_f64(value.as_f64()? / 1000.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_runtimes_lines_and_nothing_else() {
        let rust = r#"{"level":"INFO","message":"create-user","status":202,"latency_ms":30.1,"hash_ms":1.0,"store_ms":20.0,"publish_after_answer_ms":5.5,"published":true}"#;
        assert_eq!(
            LoggedRequest::parse(rust),
            Some(LoggedRequest {
                status: 202,
                latency: Duration::from_secs_f64(0.0301),
                hash: Duration::from_millis(1),
                waited: Duration::from_millis(20),
            })
        );
        let python = r#"{"message": "create-user", "status": 202, "hash_ms": 250.0, "store_ms": 10, "publish_ms": 2.5, "latency_ms": 270.0}"#;
        assert_eq!(
            LoggedRequest::parse(python).unwrap().waited,
            Duration::from_secs_f64(0.0125)
        );
        for other in [
            r#"{"message": "create-user", "status": 202, "store_ms": 10}"#,
            r#"{"message":"init calls","dynamodb_ms":12.5}"#,
            "create-user status=202 latency_ms=3",
        ] {
            assert_eq!(LoggedRequest::parse(other), None, "{other}");
        }
    }

    /// What the handler writes is what readers parse: the line through a JSON subscriber.
    #[test]
    fn a_written_line_reads_back() {
        let line = RequestLine {
            status: 202,
            route: Some("POST /users"),
            outcome: Some("created"),
            latency: Duration::from_millis(30),
            timings: Timings {
                hash: Duration::from_millis(1),
                store: Duration::from_millis(20),
                publish: Duration::from_millis(5),
            },
            published: Some(true),
        };
        let written = lambda_support::testing::json_lines_of(|| line.log());
        let read = written.iter().find_map(|l| LoggedRequest::parse(l));
        assert_eq!(
            read,
            Some(LoggedRequest {
                status: 202,
                latency: Duration::from_millis(30),
                hash: Duration::from_millis(1),
                waited: Duration::from_millis(20),
            }),
            "{written:?}"
        );
    }
}
