//! The handler's tests: its request line, its trace, one answer whatever the address (the
//! hostile-input table is `hostile_input`, beside this file).

use super::*;

mod request_line {
    use super::*;
    use crate::adapters::timed::Timed;
    use crate::request_line::{MESSAGE, field};
    use lambda_runtime::Context;
    use user_store::testing::{MemoryPublisher, MemoryStore};

    /// The number logged as `name=` on `line`.
    fn field(line: &str, name: &str) -> f64 {
        let start = line
            .find(&format!(" {name}="))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            + name.len()
            + 2;
        line[start..].split(' ').next().unwrap().parse().unwrap()
    }

    /// What the benchmark reads (and an operator greps for): one line per request with its
    /// status, route, outcome and where its time went, and nothing of what the request carried.
    #[tokio::test]
    async fn every_request_logs_its_status_and_timings_and_nothing_it_was_sent() {
        let logs = lambda_support::testing::logs();
        let signup = crate::testing::signup(Timed(MemoryStore::default()), Timed(MemoryPublisher::default()));
        let body = json!({"name": "Ann", "email": "line.private@x.io", "password": "correct horse"}).to_string();
        let mut lines = Vec::new();
        for outcome in ["created", "replaced"] {
            let mut context = Context::default();
            context.request_id = format!("request-line-{}", uuid::Uuid::new_v4());
            let event = LambdaEvent::new(crate::testing::sign_up(&body), context.clone());
            let span = lambda_support::logging::invocation_span(&context.request_id, None);
            async {
                let (_, rest) = handle(&signup, event).await;
                rest.await;
            }
            .instrument(span)
            .await;
            let line = logs.lines_with(&context.request_id).join("\n");
            let request_line = line
                .lines()
                .find(|l| l.contains(MESSAGE))
                .unwrap_or_else(|| panic!("{line}"));
            assert!(
                request_line.contains("status=202") && request_line.contains(&format!("outcome=\"{outcome}\"")),
                "{line}"
            );
            // The user's and its event's ids are on every line from the change on.
            assert!(
                request_line.contains("user_id=") && request_line.contains("event_id="),
                "{request_line}"
            );
            // bcrypt, even at cost 4, takes a measurable time, whatever the address.
            assert!(field(request_line, field::HASH) > 0.0, "{request_line}");
            assert!(
                field(request_line, field::STORE) >= 0.0 && field(request_line, field::PUBLISH_AFTER_ANSWER) >= 0.0
            );
            lines.push(line);
        }
        for line in &lines {
            assert!(!line.contains("correct horse") && !line.contains("private@"), "{line}");
        }
    }
}

mod trace {
    use super::*;
    use crate::adapters::timed::Timed;
    use lambda_runtime::Context;
    use user_store::testing::{MemoryPublisher, MemoryStore};

    /// The invocation's trace header (Lambda's `Lambda-Runtime-Trace-Id`) is the one the event
    /// is published under; a malformed one is none.
    #[tokio::test]
    async fn the_event_goes_out_under_the_invocations_trace() {
        let signup = crate::testing::signup(Timed(MemoryStore::default()), Timed(MemoryPublisher::default()));
        let trace = user_events::testing::trace_header();
        for (header, expected) in [(trace.as_str(), Some(trace.clone())), ("Root=not-one", None)] {
            let body =
                json!({"name": "Ann", "email": format!("{}@x.io", uuid::Uuid::new_v4()), "password": "correct horse"});
            let mut context = Context::default();
            context.xray_trace_id = Some(header.to_owned());
            let event = LambdaEvent::new(crate::testing::sign_up(&body.to_string()), context);
            let (_, rest) = handle(&signup, event).await;
            assert!(
                signup.publisher.0.events.lock().unwrap().is_empty(),
                "not before the answer"
            );
            rest.await;
            let published = signup.publisher.0.events.lock().unwrap().pop().unwrap();
            assert_eq!(published.trace, expected, "{header}");
        }
    }
}

mod one_answer {
    //! What a caller sees of a valid request cannot tell a new address from a pending or a
    //! verified one, nor an unknown one from any of those for a resend.
    use super::*;
    use lambda_runtime::Context;
    use lambda_support::testing::HttpApiRequest;
    use user_store::testing::{MemoryPublisher, MemoryStore};

    fn post(path: &str, body: Value, source_ip: &str) -> Value {
        HttpApiRequest {
            path,
            body: Some(body.to_string()),
            source_ip,
            ..Default::default()
        }
        .event()
    }

    async fn answer(signup: &SignUp<MemoryStore, MemoryPublisher>, event: Value) -> Value {
        let (answer, rest) = handle(signup, LambdaEvent::new(event, Context::default())).await;
        rest.await;
        answer
    }

    #[tokio::test]
    async fn a_new_a_pending_and_a_verified_address_get_the_same_answer() {
        let signup = crate::testing::signup(MemoryStore::default(), MemoryPublisher::default());
        let sign_up = |email: &str| {
            post(
                "/users",
                json!({"name": "Ann", "email": email, "password": "correct horse"}),
                "203.0.113.9",
            )
        };
        let new = answer(&signup, sign_up("ann@x.io")).await;
        let pending = answer(&signup, sign_up("ann@x.io")).await;
        signup.store.verify_now("ann@x.io");
        let verified = answer(&signup, sign_up("ANN@x.io")).await;
        assert_eq!(new["statusCode"], 202, "{new}");
        assert_eq!(new, pending);
        assert_eq!(new, verified);
        let body = new["body"].as_str().unwrap();
        assert!(
            !body.contains("ann") && !body.contains("token") && !body.contains("id"),
            "{body}"
        );

        let resend = |email: &str| post("/users/verification", json!({"email": email}), "203.0.113.9");
        let unknown = answer(&signup, resend("nobody@x.io")).await;
        for email in ["ann@x.io", "pending@x.io"] {
            assert_eq!(answer(&signup, resend(email)).await, unknown);
        }
        assert_eq!(unknown, new, "one answer for both routes");
    }

    #[tokio::test]
    async fn a_client_over_its_limit_gets_429_with_retry_after_and_others_do_not() {
        let mut signup = crate::testing::signup(MemoryStore::default(), MemoryPublisher::default());
        signup.limit.max = 3;
        let sign_up = |i: usize, ip: &str| {
            post(
                "/users",
                json!({"name": "Ann", "email": format!("{i}@x.io"), "password": "correct horse"}),
                ip,
            )
        };
        for i in 0..2 {
            assert_eq!(answer(&signup, sign_up(i, "198.51.100.1")).await["statusCode"], 202);
        }
        // Resends count against the same limit.
        let resend = post("/users/verification", json!({"email": "0@x.io"}), "198.51.100.1");
        assert_eq!(answer(&signup, resend.clone()).await["statusCode"], 202);
        let over = answer(&signup, resend).await;
        assert_eq!(over["statusCode"], 429, "{over}");
        let retry_after: u64 = over["headers"]["retry-after"].as_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry_after), "{over}");
        let body: Value = serde_json::from_str(over["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "too_many_requests");
        assert_eq!(
            answer(&signup, sign_up(9, "198.51.100.2")).await["statusCode"],
            202,
            "another client"
        );
        // Invalid requests are answered without counting.
        let invalid = post("/users", json!({"email": "x"}), "198.51.100.3");
        for _ in 0..5 {
            assert_eq!(answer(&signup, invalid.clone()).await["statusCode"], 400);
        }
        assert_eq!(answer(&signup, sign_up(10, "198.51.100.3")).await["statusCode"], 202);
    }
}
