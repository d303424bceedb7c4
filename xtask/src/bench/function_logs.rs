//! What the functions' own logs say, read as JSON lines: the calls init made (`init calls`),
//! and each sign-up's phase timings from its request line (`create-user`), which both the
//! Rust function and its Python peer log.

use create_user::request_line::{LoggedRequest, logged_ms};
use serde_json::Value;
use std::time::Duration;

/// The `*_ms` fields of the function's `init calls` lines, by name: what init waited for, then
/// what it set off and did not wait for (`init calls after init`: named `<call> (after init)`).
pub fn init_calls(log: &str) -> Vec<(String, Duration)> {
    let mut calls = Vec::new();
    for (message, suffix) in [("init calls", ""), ("init calls after init", " (after init)")] {
        let line = log
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|fields| fields["message"] == message);
        let Some(Value::Object(fields)) = line else { continue };
        calls.extend(fields.into_iter().filter_map(|(name, value)| {
            let call = name.strip_suffix("_ms")?;
            Some((format!("{call}{suffix}"), logged_ms(&value)?))
        }));
    }
    calls
}

/// One sign-up as its request line times it, by the function's own clock: `latency` is the
/// handler's, from the event it was handed to its answer; of it, `hash` bcrypt's and `waited`
/// the waits on DynamoDB and, for the Python peer, SNS.
pub type SignUpTimes = LoggedRequest;

/// Where one warm sign-up's own overhead (its time at the runtime API's socket minus
/// [`SignUpTimes::waited`]) went. The three add up to it when the handler hashes and waits one
/// after the other (the Python peer); Rust's hashes beside its guard read, so part of bcrypt's
/// time is inside the wait, the parts add up to more, and `handler` reads 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverheadParts {
    /// bcrypt.
    pub hash: Duration,
    /// The handler's own work besides bcrypt: parsing, validation, the SDK's request building
    /// and signing, the answer's JSON.
    pub handler: Duration,
    /// Outside the handler: the runtime client (reading the event, posting the answer), the
    /// runtime API's round trip, and the waits for a core between them.
    pub outside: Duration,
}

impl OverheadParts {
    /// What [`OverheadParts::parts`] are, for the report.
    pub const NAMES: [&str; 3] = [
        "bcrypt, as the function times it",
        "the handler's own work besides bcrypt (parsing, validation, SDK requests)",
        "outside the handler (runtime client, runtime API round trip, waits for a core)",
    ];

    pub fn parts(&self) -> [Duration; 3] {
        [self.hash, self.handler, self.outside]
    }

    /// The parts of an invocation that took `duration` at the socket.
    pub fn of(duration: Duration, times: &SignUpTimes) -> Self {
        Self {
            hash: times.hash,
            handler: times.latency.saturating_sub(times.waited + times.hash),
            outside: duration.saturating_sub(times.latency),
        }
    }
}

/// Each sign-up's [`SignUpTimes`], in order: the request lines (both runtimes log one, read by
/// create-user's own [`LoggedRequest`]) of status 202.
pub fn sign_up_times(log: &str) -> Vec<SignUpTimes> {
    log.lines()
        .filter_map(LoggedRequest::parse)
        .filter(|request| request.status == 202)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_init_calls_line() {
        let log = [
            "START RequestId: not json",
            r#"{"level":"INFO","message":"init calls","dynamodb_ms":12.5}"#,
            r#"{"level":"INFO","message":"init calls after init","ssm_ms":38.25}"#,
            r#"{"level":"INFO","message":"create-user","status":202,"store_ms":20.0}"#,
        ]
        .join("\n");
        let ms = |n: f64| Duration::from_secs_f64(n / 1000.0);
        assert_eq!(
            init_calls(&log),
            [("dynamodb".into(), ms(12.5)), ("ssm (after init)".into(), ms(38.25))]
        );
        assert!(
            init_calls("{\"message\": \"create-user\"}").is_empty(),
            "the Python peer logs none"
        );
    }

    #[test]
    fn reads_phase_timings_from_both_log_shapes() {
        let log = [
            // Rust: the sign-up's own line, then the request line with its timings, the
            // publish after the answer.
            r#"{"level":"INFO","message":"user created","request_id":"r1","user_id":"u","event_id":"e"}"#,
            r#"{"level":"INFO","message":"create-user","status":202,"latency_ms":30.1,"hash_ms":1.0,"store_ms":20.0,"publish_after_answer_ms":5.5,"published":true,"request_id":"r1","user_id":"u","event_id":"e"}"#,
            // Not a sign-up: a taken email's request line.
            r#"{"level":"INFO","message":"create-user","status":429,"latency_ms":3.0,"hash_ms":0.0,"store_ms":2.0,"publish_after_answer_ms":0.0,"request_id":"r2"}"#,
            // The Python peer, which publishes before it answers.
            r#"{"message": "create-user", "status": 202, "hash_ms": 250.0, "store_ms": 10, "publish_ms": 2.5, "latency_ms": 270.0}"#,
            "START RequestId: not json",
            // A sign-up's line without its timings is none.
            r#"{"message": "create-user", "status": 202, "store_ms": 10}"#,
        ]
        .join("\n");
        let ms = |n: u64| Duration::from_micros(n * 100);
        assert_eq!(
            sign_up_times(&log),
            [
                SignUpTimes {
                    status: 202,
                    latency: ms(301),
                    hash: ms(10),
                    waited: ms(200)
                },
                SignUpTimes {
                    status: 202,
                    latency: ms(2700),
                    hash: ms(2500),
                    waited: ms(125)
                }
            ]
        );
    }

    #[test]
    fn overhead_parts_add_up_to_the_overhead() {
        let ms = Duration::from_millis;
        let times = SignUpTimes {
            status: 202,
            latency: ms(30),
            hash: ms(2),
            waited: ms(20),
        };
        let parts = OverheadParts::of(ms(34), &times);
        assert_eq!(
            parts,
            OverheadParts {
                hash: ms(2),
                handler: ms(8),
                outside: ms(4)
            }
        );
        assert_eq!(parts.hash + parts.handler + parts.outside, ms(34) - times.waited);
    }
}
