//! The Lambda handler: event -> route -> use case -> response; after the response, the work
//! the client does not wait for (the sign-up's publish, or the resend itself), and one log
//! line per request, with where its time went (see [`crate::timing`]). Each request counts its
//! [`metric`]s.

use crate::domain::signup::{Accepted, Outcome, SignUp, SignUpError};
use crate::domain::validation::{ResendRequest, validate, validate_resend};
use crate::http::{self, Route};
use crate::timing;
use lambda_runtime::LambdaEvent;
use lambda_support::http::{ErrorCode, Reply, read_event, render};
use lambda_support::timing::ms;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use user_events::trace::TraceHeader;
use user_store::limits::{Decision, RateLimiter};
use user_store::outbox::{EventPublisher, StoredEvent};
use user_store::users::{StoreError, UserStore};

/// The metrics a request reports (the `metrics` facade; `lambda_support::metrics` writes them
/// as EMF after each invocation, in `main`).
pub mod metric {
    /// Sign-ups accepted (202).
    pub const SIGN_UPS: &str = "SignUps";
    /// Resends accepted (202).
    pub const RESENDS: &str = "Resends";
    /// Accepted sign-ups by what they did, in the dimension [`OUTCOME`]: `created`, `replaced`
    /// (a pending address signed up again), `owner_notified` (a verified one). Never in an
    /// answer: what an operator may know, a caller may not.
    pub const SIGN_UP_OUTCOMES: &str = "SignUpOutcomes";
    pub const OUTCOME: &str = "Outcome";
    /// bcrypt's time per request that hashed, from the request's timings.
    pub const HASH_TIME: &str = "HashTime";
    /// Refusals and failures, by reason: every API function's.
    pub use lambda_support::http::metric::{
        REASON, REJECTIONS, REJECTIONS_BY_REASON, SERVER_ERRORS, SERVER_ERRORS_BY_REASON,
    };

    /// Units for the recorder; once, at init.
    pub fn describe() {
        use metrics::{Unit, describe_counter, describe_histogram};
        describe_counter!(SIGN_UPS, Unit::Count, "sign-ups accepted");
        describe_counter!(RESENDS, Unit::Count, "resends accepted");
        describe_counter!(SIGN_UP_OUTCOMES, Unit::Count, "sign-ups accepted, by what they did");
        lambda_support::http::metric::describe();
        describe_histogram!(HASH_TIME, Unit::Milliseconds, "bcrypt time per sign-up");
    }
}

/// What one request was, for its log line and its metrics.
struct Answered {
    reply: Reply,
    route: Option<Route>,
    outcome: Option<Outcome>,
    after: After,
}

/// The work after the answer.
enum After {
    /// The event stored with the sign-up's change.
    Publish(StoredEvent),
    /// The resend, all of it: its answer is the same whatever it finds.
    Resend(ResendRequest),
    Nothing,
}

impl Answered {
    fn refused(reply: Reply, route: Option<Route>) -> Self {
        Self {
            reply,
            route,
            outcome: None,
            after: After::Nothing,
        }
    }
}

/// Counts one answered request, by its status and error code. The totals are touched on every
/// request, so that one that moved none still reports them as 0.
fn count(answered: (u16, Option<ErrorCode>, Option<Route>, Option<Outcome>), timings: &timing::Timings) {
    let (status, error, route, outcome) = answered;
    let accepted = |r| u64::from(status == 202 && route == Some(r));
    metrics::counter!(metric::SIGN_UPS).increment(accepted(Route::SignUp));
    metrics::counter!(metric::RESENDS).increment(accepted(Route::Resend));
    lambda_support::http::metric::count(status, error);
    if let Some(outcome) = outcome {
        metrics::counter!(metric::SIGN_UP_OUTCOMES, metric::OUTCOME => outcome.as_str()).increment(1);
    }
    if !timings.hash.is_zero() {
        metrics::histogram!(metric::HASH_TIME).record(ms(timings.hash));
    }
}

/// The answer to `event`, and the rest of the request, which the client does not wait for:
/// publishing the sign-up's event (or doing the resend), then the request's log line and its
/// metrics. `main` runs the rest once the answer is posted (`lambda_support::after_answer`); a
/// sign-up's event is stored by then, and published by the outbox's flush if the rest never
/// runs.
pub async fn handle<'a, S: UserStore + RateLimiter, P: EventPublisher>(
    signup: &'a SignUp<S, P>,
    event: LambdaEvent<Value>,
) -> (Value, impl Future<Output = ()> + 'a) {
    let started = Instant::now();
    let request_id = event.context.request_id;
    let trace = event.context.xray_trace_id.as_deref().and_then(TraceHeader::parse);
    let (shape, invocation) = read_event(event.payload);
    // The ids of the user and its event, once known, on every line logged from then on, the
    // request line included (the invocation's span has the request and trace ids).
    let span = tracing::error_span!("sign_up", user_id = Empty, event_id = Empty);
    let answered = respond(signup, invocation, trace.clone(), &request_id);
    let (answered, answer_timings) = timing::measure(answered).instrument(span.clone()).await;
    let Answered {
        reply,
        route,
        outcome,
        after,
    } = answered;
    let (status, error) = (reply.status, reply.error);
    let answer = render(reply, shape);
    let latency = started.elapsed();
    let rest = async move {
        let (published, after_timings) = timing::measure(async {
            match after {
                After::Publish(event) => Some(signup.publish(&event).await),
                // Its event, if any, is the outbox's flush's to publish (see `SignUp::resend`).
                After::Resend(request) => match signup.resend(&request, trace).await {
                    Ok(_) => None,
                    Err(e) => {
                        // Nothing stored: the client may ask again (its answer said nothing
                        // of whether this address has a pending sign-up to resend).
                        tracing::error!(error = %e, "resend not stored");
                        None
                    }
                },
                After::Nothing => None,
            }
        })
        .await;
        let timings = answer_timings.and(after_timings);
        // The request line: ids, numbers, the route and the status only, never the request's
        // content. `latency_ms` is what the client waited; the publish came after it.
        tracing::info!(
            status,
            route = route.map(Route::as_str),
            outcome = outcome.map(Outcome::as_str),
            latency_ms = ms(latency),
            hash_ms = ms(timings.hash),
            store_ms = ms(timings.store),
            publish_after_answer_ms = ms(timings.publish),
            published,
            "create-user"
        );
        count((status, error, route, outcome), &timings);
    };
    (answer, rest.instrument(span))
}

/// The reply to a request, and the work after it.
async fn respond<S: UserStore + RateLimiter, P: EventPublisher>(
    signup: &SignUp<S, P>,
    invocation: Result<lambda_support::http::Invocation, Reply>,
    trace: Option<TraceHeader>,
    request_id: &str,
) -> Answered {
    let routed = match invocation.and_then(http::route) {
        Ok(routed) => routed,
        Err(reply) => return Answered::refused(reply, None),
    };
    let route = Some(routed.route);
    let invalid = |fields| {
        Answered::refused(
            Reply::error_with(ErrorCode::Validation, json!({"fields": fields})),
            route,
        )
    };
    let request = match routed.route {
        Route::SignUp => validate(&routed.body).map(Valid::SignUp),
        Route::Resend => validate_resend(&routed.body).map(Valid::Resend),
    };
    let request = match request {
        Ok(request) => request,
        Err(fields) => return invalid(fields),
    };
    // Valid requests only: each costs a hash or an email, and one client may send so many.
    if let Some(ip) = &routed.source_ip {
        match signup.admit(ip).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Denied { retry_after }) => {
                tracing::info!(retry_after_s = retry_after.as_secs(), "over the per-client limit");
                return Answered::refused(Reply::too_many_requests(retry_after), route);
            }
            Err(e) => return Answered::refused(failure(e, request_id), route),
        }
    }
    match request {
        Valid::SignUp(request) => match signup.run(request, trace).await {
            Ok(Accepted {
                outcome,
                user_id,
                event,
            }) => {
                let span = tracing::Span::current();
                span.record("user_id", tracing::field::display(user_id));
                span.record("event_id", tracing::field::display(event.event_id));
                Answered {
                    reply: http::accepted(),
                    route,
                    outcome: Some(outcome),
                    after: After::Publish(event),
                }
            }
            Err(error) => Answered::refused(failure(error, request_id), route),
        },
        Valid::Resend(request) => Answered {
            reply: http::accepted(),
            route,
            outcome: None,
            after: After::Resend(request),
        },
    }
}

enum Valid {
    SignUp(crate::domain::validation::SignUpRequest),
    Resend(ResendRequest),
}

/// Maps a failure to its reply. Server-side failures are logged here, once, with their cause;
/// the client gets the request id to quote, never internals.
fn failure(error: impl Into<SignUpError>, request_id: &str) -> Reply {
    match error.into() {
        SignUpError::Store(cause) => {
            if cause == StoreError::Conflict {
                // Contention on one address, not a fault: the client's retry will settle it.
                tracing::warn!(%cause, "transaction conflicts outlasted the retries");
            } else {
                tracing::error!(%cause, "user store failed");
            }
            // Nothing was written (or, after a timeout, everything was: the retry then
            // replaces the credential it wrote, and answers the same).
            Reply::unavailable(request_id)
        }
        SignUpError::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            Reply::internal(request_id)
        }
    }
}

impl From<StoreError> for SignUpError {
    fn from(e: StoreError) -> Self {
        SignUpError::Store(e)
    }
}

#[cfg(test)]
mod request_line {
    use super::*;
    use crate::timing::Timed;
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
                .find(|l| l.contains("create-user"))
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
            assert!(field(request_line, "hash_ms") > 0.0, "{request_line}");
            assert!(field(request_line, "store_ms") >= 0.0 && field(request_line, "publish_after_answer_ms") >= 0.0);
            lines.push(line);
        }
        for line in &lines {
            assert!(!line.contains("correct horse") && !line.contains("private@"), "{line}");
        }
    }
}

#[cfg(test)]
mod trace {
    use super::*;
    use crate::timing::Timed;
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

#[cfg(test)]
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

#[cfg(test)]
mod hostile_input {
    //! Every one of these must get a 4xx with a JSON error naming the problem: never a 5xx,
    //! never a panic, never a stored user.
    use super::*;
    use base64::Engine;
    use lambda_runtime::Context;
    use lambda_support::testing::HttpApiRequest;
    use user_store::testing::{MemoryPublisher, MemoryStore};

    fn v2(method: &str, path: &str, content_type: Option<&str>, body: Option<String>, base64: bool) -> Value {
        HttpApiRequest {
            method,
            path,
            content_type,
            body,
            base64,
            ..Default::default()
        }
        .event()
    }

    /// A REST API (v1) proxy event, readable as such.
    fn v1(content_type: Option<&str>, body: &str) -> Value {
        let headers = match content_type {
            Some(ct) => json!({"Content-Type": ct}),
            None => json!({}),
        };
        json!({"httpMethod": "POST", "path": "/users", "headers": headers, "requestContext": {"httpMethod": "POST"},
               "body": body, "isBase64Encoded": false})
    }

    fn post(body: &str) -> Value {
        crate::testing::sign_up(body)
    }

    fn with(name: Value, email: Value, password: Value) -> Value {
        post(&json!({"name": name, "email": email, "password": password}).to_string())
    }

    fn ok_fields() -> (Value, Value, Value) {
        (json!("Ann"), json!("ann@example.com"), json!("correct horse"))
    }

    /// Names that render blank, reorder text or mean nothing; each passed before issue 11.
    const INVISIBLE_NAMES: [(&str, &str); 24] = [
        ("Hangul filler name", "\u{3164}"),
        ("Hangul filler in a name", "Ann\u{3164}"),
        ("Hangul choseong filler", "\u{115F}"),
        ("Hangul jungseong filler", "\u{1160}"),
        ("halfwidth Hangul filler", "\u{FFA0}"),
        ("braille blank name", "\u{2800}\u{2800}"),
        ("braille blank after a name", "Ann\u{2800}"),
        ("Khitan filler", "\u{16FE4}"),
        ("combining grapheme joiner", "Ann\u{034F}"),
        ("Arabic letter mark", "\u{061C}Ann"),
        ("line separator", "Ann\u{2028}Lee"),
        ("paragraph separator", "Ann\u{2029}Lee"),
        ("tag characters", "Ann\u{E0041}\u{E007F}"),
        ("language tag", "Ann\u{E0001}"),
        ("soft hyphen", "An\u{AD}n"),
        ("word joiner", "Ann\u{2060}"),
        ("next line control", "Ann\u{85}Lee"),
        ("private use", "Ann\u{E000}"),
        ("unassigned", "Ann\u{378}"),
        ("noncharacter", "Ann\u{FFFF}"),
        ("only a variation selector", "\u{FE0F}"),
        ("only a combining mark", "\u{301}"),
        ("only marks and selectors", "\u{301}\u{20DD}\u{FE0F}"),
        ("only an ideographic variation selector", "\u{E0100}"),
    ];

    /// The error the newer cases must get: a 4xx for another reason would not prove the rule.
    fn expected_errors() -> Vec<(&'static str, &'static str)> {
        let mut expected = vec![
            ("base64 of a duplicate key", "invalid_json"),
            ("duplicate name", "invalid_json"),
            ("duplicate email", "invalid_json"),
            ("duplicate key spelt with an escape", "invalid_json"),
            ("duplicate key nested in an object", "invalid_json"),
            ("duplicate key nested in an array", "invalid_json"),
            ("no Content-Type", "unsupported_media_type"),
            ("base64 without Content-Type", "unsupported_media_type"),
            ("empty Content-Type", "unsupported_media_type"),
            ("two media types in one Content-Type", "unsupported_media_type"),
            ("REST v1 without Content-Type", "unsupported_media_type"),
            ("REST v1 with broken JSON", "invalid_json"),
            ("direct invoke with an invisible name", "validation"),
        ];
        expected.extend(INVISIBLE_NAMES.iter().map(|(what, _)| (*what, "validation")));
        expected
    }

    fn cases() -> Vec<(&'static str, Value)> {
        let (_, e, p) = ok_fields();
        let mut cases = [
            not_json(),
            bad_shapes(),
            bad_values(),
            size_encoding_and_duplicates(),
            media_types(),
            methods_and_routes(),
            direct_invokes(),
        ]
        .concat();
        for (what, name) in INVISIBLE_NAMES {
            cases.push((what, with(json!(name), e.clone(), p.clone())));
        }
        cases
    }

    /// Bodies that are not one JSON object, or not JSON at all.
    fn not_json() -> Vec<(&'static str, Value)> {
        let deep_array = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let deep_field = format!(
            r#"{{"name":{}1{},"email":"a@b.io","password":"12345678"}}"#,
            "[".repeat(300),
            "]".repeat(300)
        );
        vec![
            ("broken JSON", post("{")),
            ("missing value", post(r#"{"name":}"#)),
            ("trailing garbage", post(r#"{"name":"a"} x"#)),
            ("byte order mark", post("\u{feff}{}")),
            (
                "lone surrogate",
                post(r#"{"name":"\ud800","email":"a@b.io","password":"12345678"}"#),
            ),
            ("number out of range", post(r#"{"name":1e999}"#)),
            ("JSON null", post("null")),
            ("JSON array", post("[]")),
            ("JSON string", post(r#""sign me up""#)),
            ("JSON number", post("42")),
            ("empty object", post("{}")),
            ("deep nesting", post(&deep_array)),
            ("deep nesting in a field", post(&deep_field)),
            (
                "empty body",
                v2("POST", "/users", Some("application/json"), Some(String::new()), false),
            ),
            ("whitespace body", post(" \n\t ")),
            ("no body", v2("POST", "/users", Some("application/json"), None, false)),
        ]
    }

    /// A JSON object with fields of the wrong type, missing, or unknown.
    fn bad_shapes() -> Vec<(&'static str, Value)> {
        let (n, e, p) = ok_fields();
        vec![
            ("name is a number", with(json!(7), e.clone(), p.clone())),
            ("email is an array", with(n.clone(), json!(["a@b.io"]), p.clone())),
            (
                "password is an object",
                with(n.clone(), e.clone(), json!({"v": "12345678"})),
            ),
            ("all null", with(Value::Null, Value::Null, Value::Null)),
            ("boolean password", with(n.clone(), e.clone(), json!(true))),
            (
                "extra field",
                post(r#"{"name":"Ann","email":"ann@example.com","password":"correct horse","admin":true}"#),
            ),
            (
                "prototype pollution key",
                post(r#"{"name":"Ann","email":"ann@example.com","password":"correct horse","__proto__":{}}"#),
            ),
            ("huge unknown key", post(&format!(r#"{{"{}":1}}"#, "k".repeat(10_000)))),
            ("huge string", with(json!("a".repeat(20_000)), e.clone(), p.clone())),
        ]
    }

    /// Fields of the right type whose values break the rules: characters, formats, lengths.
    fn bad_values() -> Vec<(&'static str, Value)> {
        let (n, e, p) = ok_fields();
        vec![
            ("NUL in name", with(json!("An\u{0}n"), e.clone(), p.clone())),
            ("bell in name", with(json!("An\u{7}n"), e.clone(), p.clone())),
            ("zero-width name", with(json!("\u{200b}\u{200b}"), e.clone(), p.clone())),
            (
                "bidi override in name",
                with(json!("\u{202e}nnA"), e.clone(), p.clone()),
            ),
            ("blank name", with(json!("   "), e.clone(), p.clone())),
            ("101-character name", with(json!("a".repeat(101)), e.clone(), p.clone())),
            ("email without @", with(n.clone(), json!("ann.example.com"), p.clone())),
            ("email with two @", with(n.clone(), json!("a@b@c.io"), p.clone())),
            ("email with a space", with(n.clone(), json!("a b@c.io"), p.clone())),
            (
                "email with a newline",
                with(n.clone(), json!("a@b.io\nBcc: x@y.io"), p.clone()),
            ),
            ("non-ASCII local part", with(n.clone(), json!("ännä@b.io"), p.clone())),
            (
                "65-byte local part",
                with(n.clone(), json!(format!("{}@b.io", "a".repeat(65))), p.clone()),
            ),
            (
                "64-byte domain label",
                with(n.clone(), json!(format!("a@{}.io", "b".repeat(64))), p.clone()),
            ),
            (
                "255-byte email",
                with(
                    n.clone(),
                    json!(format!("{}@{}.io", "a".repeat(60), "b.".repeat(96))),
                    p.clone(),
                ),
            ),
            ("73-byte password", with(n.clone(), e.clone(), json!("x".repeat(73)))),
            (
                "74-byte password of 37 characters",
                with(n.clone(), e.clone(), json!("é".repeat(37))),
            ),
            ("7-character password", with(n.clone(), e.clone(), json!("1234567"))),
            ("NUL in password", with(n.clone(), e.clone(), json!("12345678\u{0}"))),
        ]
    }

    /// Bodies too large, badly encoded, or ambiguous (a key twice).
    fn size_encoding_and_duplicates() -> Vec<(&'static str, Value)> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let json_ct = Some("application/json");
        let dup_email =
            r#"{"name":"Ann","email":"evil@example.com","email":"ann@example.com","password":"correct horse"}"#;
        vec![
            ("1 MB body", post(&"x".repeat(1 << 20))),
            (
                "huge base64 body",
                v2("POST", "/users", json_ct, Some("QUFB".repeat(100_000)), true),
            ),
            (
                "invalid base64",
                v2("POST", "/users", json_ct, Some("!!not base64!!".into()), true),
            ),
            (
                "base64 of invalid UTF-8",
                v2("POST", "/users", json_ct, Some(b64(&[0xc3, 0x28, 0xff])), true),
            ),
            (
                "base64 of a duplicate key",
                v2("POST", "/users", json_ct, Some(b64(dup_email.as_bytes())), true),
            ),
            // Parsers disagree on which of two equal keys wins; each of these is a valid sign-up
            // if the last one does.
            (
                "duplicate name",
                post(r#"{"name":"Admin","name":"Ann","email":"ann@example.com","password":"correct horse"}"#),
            ),
            ("duplicate email", post(dup_email)),
            (
                "duplicate key spelt with an escape",
                post(
                    r#"{"name":"Ann","email":"evil@example.com","\u0065mail":"ann@example.com","password":"correct horse"}"#,
                ),
            ),
            (
                "duplicate key nested in an object",
                post(r#"{"name":{"first":"A","first":"B"},"email":"ann@example.com","password":"correct horse"}"#),
            ),
            (
                "duplicate key nested in an array",
                post(r#"{"name":[{"a":1,"a":2}],"email":"ann@example.com","password":"correct horse"}"#),
            ),
        ]
    }

    /// A good sign-up sent as another media type than JSON, or with none.
    fn media_types() -> Vec<(&'static str, Value)> {
        let (n, e, p) = ok_fields();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let good = json!({"name": n, "email": e, "password": p}).to_string();
        vec![
            // A page on another site can send these in a CORS simple request.
            ("no Content-Type", v2("POST", "/users", None, Some(good.clone()), false)),
            (
                "base64 without Content-Type",
                v2("POST", "/users", None, Some(b64(good.as_bytes())), true),
            ),
            (
                "empty Content-Type",
                v2("POST", "/users", Some(""), Some(good.clone()), false),
            ),
            (
                "two media types in one Content-Type",
                v2(
                    "POST",
                    "/users",
                    Some("text/plain, application/json"),
                    Some(good.clone()),
                    false,
                ),
            ),
            ("REST v1 without Content-Type", v1(None, &good)),
            (
                "text/plain",
                v2(
                    "POST",
                    "/users",
                    Some("text/plain"),
                    Some(post("{}")["body"].as_str().unwrap().into()),
                    false,
                ),
            ),
            (
                "form encoded",
                v2(
                    "POST",
                    "/users",
                    Some("application/x-www-form-urlencoded"),
                    Some("name=a".into()),
                    false,
                ),
            ),
            (
                "multipart",
                v2(
                    "POST",
                    "/users",
                    Some("multipart/form-data; boundary=x"),
                    Some("--x--".into()),
                    false,
                ),
            ),
        ]
    }

    /// Other methods and paths than `POST /users`, and REST v1's own shape.
    fn methods_and_routes() -> Vec<(&'static str, Value)> {
        vec![
            ("GET", v2("GET", "/users", None, None, false)),
            (
                "PUT",
                v2("PUT", "/users", Some("application/json"), Some("{}".into()), false),
            ),
            ("DELETE", v2("DELETE", "/users", None, None, false)),
            (
                "unknown path",
                v2("POST", "/admin", Some("application/json"), Some("{}".into()), false),
            ),
            (
                "sub-resource path",
                v2("POST", "/users/123", Some("application/json"), Some("{}".into()), false),
            ),
            ("REST v1 with broken JSON", v1(Some("application/json"), "{")),
        ]
    }

    /// Direct invokes: the body is the event itself.
    fn direct_invokes() -> Vec<(&'static str, Value)> {
        vec![
            ("direct invoke of an array", json!([1, 2, 3])),
            (
                "direct invoke with an extra field",
                json!({"name": "Ann", "email": "ann@example.com", "password": "correct horse", "role": "admin"}),
            ),
            ("direct invoke of a huge object", json!({"name": "a".repeat(20_000)})),
            (
                "direct invoke with an invisible name",
                json!({"name": "\u{3164}", "email": "ann@example.com", "password": "correct horse"}),
            ),
        ]
    }

    #[tokio::test]
    async fn every_hostile_request_gets_a_json_4xx() {
        let signup = crate::testing::signup(MemoryStore::default(), MemoryPublisher::default());
        let cases = cases();
        assert!(cases.len() >= 90, "{}", cases.len());
        let mut bodies = std::collections::BTreeMap::new();
        for (name, event) in cases {
            let (reply, rest) = handle(&signup, LambdaEvent::new(event, Context::default())).await;
            rest.await;
            let status = reply["statusCode"].as_u64().unwrap();
            let body: Value = match &reply["body"] {
                Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| panic!("{name}: body not JSON")),
                other => other.clone(),
            };
            assert!((400..500).contains(&status), "{name}: {status} {body}");
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name}: no error named: {body}"
            );
            let code = ErrorCode::ALL.into_iter().find(|c| body["error"] == c.as_str());
            assert_eq!(
                code.map(|c| u64::from(c.status())),
                Some(status),
                "{name}: a code of the list, its status: {body}"
            );
            assert!(bodies.insert(name, body).is_none(), "two cases named {name}");
        }
        for (name, error) in expected_errors() {
            let body = &bodies[name];
            assert_eq!(body["error"], error, "{name}: {body}");
            if error == "validation" {
                assert!(body["fields"]["name"].is_string(), "{name}: {body}");
            }
        }
        assert!(
            signup.store.users.lock().unwrap().is_empty(),
            "no hostile request may store a user"
        );
        assert!(signup.publisher.events.lock().unwrap().is_empty());
    }
}
